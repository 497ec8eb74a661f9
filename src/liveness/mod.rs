//! Liveness: who is attached to a segment, who died, and what is left behind.
//!
//! - `process`: process identities (pid and start time) that survive pid reuse;
//! - `roles`: the two ends of a channel and their words in the header;
//! - `seats`: one seat per attached MPMC handle, with the position it is claiming;
//! - `attach`: taking a role (an SPSC role whose holder died is taken over) and giving
//!   it up;
//! - `holders`: what one side knows of the other, who holds each role, staleness;
//! - `subscribers`: one seat per broadcast subscriber, with its cursor;
//! - `recovery`: freeing dead MPMC and broadcast handles' seats and resolving their
//!   claims;
//! - `watcher`: a thread that waits for the holders of the segments this process uses
//!   to exit, and runs the recovery when one does.
//!
//! It works on a [`Segment`](crate::segment::Segment) through the segment's raw
//! accessors (the role words, the seats); the segment knows nothing of it.

mod attach;
mod holders;
#[cfg(ferry_loom)]
pub mod model;
mod process;
mod recovery;
mod roles;
mod seats;
pub(crate) mod subscribers;
#[cfg(not(ferry_loom))]
mod watcher;

#[cfg(not(ferry_loom))]
pub(crate) use self::holders::reclaim_if_stale;
pub(crate) use self::{
    attach::{attach, detach},
    holders::{all_gone, holders_in, is_stale, peer, peer_after_hangup, Holder, Peer},
    process::{alive, me, pid_of},
    recovery::{recover, recover_if_due},
    roles::Role,
    seats::claim,
};
