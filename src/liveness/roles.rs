//! The two ends of a channel, and the word each has in the segment's header.
//!
//! SPSC: each role is held by at most one process at a time; its word is 0 (never held),
//! the holder's process identity (see `process`), or [`DETACHED`]. MPMC: any number of
//! handles hold it, each in a seat (see `seats`); the word is [`EVER_HELD`] from the
//! first attach on, so that "never held" can be told from "all gone".

use crate::{segment::Segment, sync::AtomicU64};

/// SPSC role-word value of a role that was held and released.
pub(crate) const DETACHED: u64 = u64::MAX;
/// MPMC role-word value once any handle has held the role (who holds it now is in the
/// seats).
pub(crate) const EVER_HELD: u64 = 1;

/// One end of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Sender = 1,
    Receiver = 2,
}

impl Role {
    /// The role's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Receiver => "receiver",
        }
    }

    /// The role's word in `segment`'s header.
    pub(crate) fn word(self, segment: &Segment) -> &AtomicU64 {
        match self {
            Self::Sender => segment.header().sender_word(),
            Self::Receiver => segment.header().receiver_word(),
        }
    }
}
