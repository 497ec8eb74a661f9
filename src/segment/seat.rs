//! The memory of the seat tables a segment holds between its header and its ring: the
//! handles' seats (MPMC, and a broadcast channel's publishers) and a broadcast channel's
//! subscriber seats.
//!
//! A seat is laid out here; what its words mean, and who may write them when, is the
//! liveness layer's (`liveness::seats`, `liveness::subscribers`).

use crate::{
    ring::{broadcast::Cursor, mpmc::NO_CLAIM, RingKind},
    sync::{AtomicU32, AtomicU64},
};

/// Seats in an MPMC segment: at most this many handles are attached at once. (Fewer
/// under loom, where every load of a seat is a step the model explores.)
pub(crate) const SEATS: usize = if cfg!(ferry_loom) { 8 } else { 128 };

/// One attached MPMC handle's words, on a cache line of their own (`claim` changes with
/// every message).
#[repr(C, align(64))]
pub(crate) struct Seat {
    /// The holder's process identity, 0 while the seat is free.
    pub(crate) owner: AtomicU64,
    /// The role the holder takes, as a number, or 0 while a new owner sets the seat up.
    pub(crate) role: AtomicU64,
    /// The ring position the handle is claiming or holds, or [`NO_CLAIM`]: the ring's
    /// claim word (see `ring::mpmc`).
    pub(crate) claim: AtomicU64,
}

impl Seat {
    /// A free seat.
    pub(crate) fn new() -> Self {
        Self { owner: AtomicU64::new(0), role: AtomicU64::new(0), claim: AtomicU64::new(NO_CLAIM) }
    }
}

#[cfg(not(ferry_loom))]
const _: () = assert!(std::mem::size_of::<Seat>() == 64);

/// Number of seats in a segment of `kind`: a broadcast channel's publishers take these.
pub(crate) fn seat_count(kind: RingKind) -> usize {
    match kind {
        RingKind::Spsc | RingKind::SpscBytes => 0,
        RingKind::Mpmc | RingKind::MpmcBytes | RingKind::Broadcast | RingKind::BroadcastBytes => SEATS,
    }
}

/// One broadcast subscriber's words, on a 128-byte block of its own: its cursor changes
/// with every message it reads, and publishers read it, so no other subscriber's line
/// (nor the adjacent line a prefetcher pairs with it) may share it.
#[repr(C, align(128))]
pub(crate) struct SubscriberSeat {
    /// The holder's process identity (for a moment, that of a process clearing a dead
    /// holder's cursor: `liveness::subscribers::free_dead`); 0 while the seat is free.
    pub(crate) owner: AtomicU64,
    /// The next position the subscriber reads (the ring's word, see `ring::broadcast`).
    pub(crate) cursor: Cursor,
    /// Explicit padding, zero: the doorbell words below sit on the seat's second line,
    /// which the cursor's stores do not touch (publishers read them while some
    /// subscriber is armed).
    _line: [u64; 6],
    /// The seat's doorbell flag: 1 while its subscriber, armed on its fd, wants the next
    /// publication rung (`signal::seat_bell`); the publisher that swaps it to 0 rings.
    pub(crate) armed: AtomicU32,
    /// Explicit padding, zero.
    _reserved: u32,
    /// The inode number of the seat's doorbell FIFO, recorded by the subscriber that took
    /// the seat once it has made or opened it (0 before, and in heap segments): openers
    /// of the FIFO compare it, never use it as an index.
    pub(crate) bell: AtomicU64,
}

impl SubscriberSeat {
    /// A free seat.
    pub(crate) fn new() -> Self {
        Self {
            owner: AtomicU64::new(0),
            cursor: Cursor::idle(),
            _line: [0; 6],
            armed: AtomicU32::new(0),
            _reserved: 0,
            bell: AtomicU64::new(0),
        }
    }
}

#[cfg(not(ferry_loom))]
const _: () = assert!(std::mem::size_of::<SubscriberSeat>() == 128);
