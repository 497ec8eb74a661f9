//! ferry: zero-copy inter-process messaging through lock-free rings in shared memory.
//!
//! A channel is a named POSIX shared-memory segment holding a ring of fixed-size slots.
//! One process creates it with a [`Config`]; another opens it by name. The [`Sender`]
//! writes a message straight into a slot ([`Sender::loan`] → [`Loan::commit`]); the
//! [`Receiver`] reads it in place ([`Receiver::recv`] → [`RecvGuard`], released on drop).
//! No serialisation, no system call on the fast path, no copy but the ones you make.
//! [`Sender::send`] and [`Receiver::recv_into`] are copy helpers over the same calls, and
//! [`Pod`] types can be sent as typed values.
//!
//! # Examples
//!
//! ```
//! use ferry::{Config, Receiver, Sender};
//!
//! # let name = format!("doc-crate-{}", std::process::id());
//! // In the receiving process:
//! let mut rx = Receiver::create(&name, &Config::new().slot_size(256).capacity(64))?;
//! // In the sending process:
//! let mut tx = Sender::open(&name)?;
//!
//! tx.send(b"hello")?;
//! let mut buf = [0u8; 256];
//! let n = rx.recv_into(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Trust
//!
//! Every position and length read from shared memory is checked before it is used, so a
//! crashed or hostile peer yields an error ([`RecvError::Corrupt`]), never an
//! out-of-bounds access. A [`RecvGuard`] reads the slot in place: a hostile sender could
//! still change its bytes while you read them. Copy the message out first
//! ([`Receiver::recv_into`]) if the peer is not trusted.
//!
//! # Beyond one machine
//!
//! With the `bridge` feature, `ferry::bridge` (and the `ferry bridge` command) forwards a
//! channel to a Zenoh key expression and back, so two hosts exchange messages through
//! their local channels. The default build does not compile Zenoh.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
// Under loom the named (mapped) segments are compiled out; their helpers go unused.
#![cfg_attr(ferry_loom, allow(dead_code, unused_imports))]

#[cfg(all(feature = "tokio", not(ferry_loom)))]
mod async_io;
#[cfg(feature = "bridge")]
pub mod bridge;
mod broadcast;
mod channel;
mod config;
mod error;
mod forked;
#[cfg(not(ferry_loom))]
mod inspect;
mod liveness;
mod owner;
mod pod;
mod ring;
mod segment;
#[cfg(not(ferry_loom))]
mod select;
mod signal;
mod sync;
mod transport;

#[cfg(all(feature = "tokio", not(ferry_loom)))]
pub use async_io::{AsyncReceiver, AsyncSender, AsyncSubscriber};
pub use broadcast::{PublishError, PublishLoan, Publisher, Start, Subscriber, SubscriberError, SubscriberGuard};
#[cfg(not(ferry_loom))]
pub use channel::unlink;
pub use channel::{in_memory, Iter, Loan, OpenOptions, Receiver, RecvBatch, RecvGuard, SendBatch, Sender, TryIter};
pub use config::Config;
pub use error::{AttachError, RecvError, SendError};
#[cfg(not(ferry_loom))]
pub use inspect::{
    inspect, inspect_broadcast, list, list_non_utf8, remove_stale, BroadcastInfo, ChannelInfo, Holders, Process,
    SubscriberInfo,
};
pub use pod::Pod;
pub use ring::{
    broadcast::{Policy, MAX_SUBSCRIBERS},
    RingKind, MAX_CAPACITY, MAX_SLOT_SIZE, SLOT_ALIGN,
};
pub use segment::{LAYOUT_VERSION, MAX_NAME_LEN};
#[cfg(not(ferry_loom))]
pub use select::Select;
#[doc(hidden)]
pub use signal::bell::doorbell_calls;
pub use signal::{Signaling, WaitPolicy};

/// Hooks for the loom suite in `loom-tests/` (only under `--cfg ferry_loom`).
#[cfg(ferry_loom)]
#[doc(hidden)]
pub mod loom_hooks {
    pub use crate::{
        liveness::model::RescueRace,
        segment::model::Handshake,
        signal::model::{DoorbellRace, SeatDoorbellRace},
        sync::{set_mutation, Mutation},
    };
}

/// Runs the README's Rust examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
