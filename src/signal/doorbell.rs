//! The fd doorbell: how a handle sleeps on a file descriptor (in `poll`, `epoll`, an
//! async runtime) instead of the futex, and how a waker knows when to ring it.
//!
//! A handle that wants its fd to become readable when the other side publishes *arms*:
//! it drains the fd, raises the signal's `armed` flag, counts itself in the signal's
//! `waiters` word (once, in the word's high half, for as long as the handle stays
//! armed), makes the heavy barrier, then re-checks the ring. Only if the re-check finds
//! nothing does it sleep on the fd. A waker, after publishing, already makes the light
//! barrier and reads `waiters` (the futex protocol, `signal/mod.rs`); if the high half
//! is non-zero it looks at the flag, and the waker that swaps it from 1 to 0 writes one
//! byte to the fd ([`Ring::Bell`]). The lost-wake-up argument is the futex one, with the
//! same pair of barriers:
//!
//! ```text
//! armed handle                                     waker
//! drain the fd                                     publish (Release)
//! armed = 1 (Relaxed)                              light barrier
//! waiters += unit (first arming only)              w = waiters (Relaxed)
//! heavy barrier                     <-pairs->      if w's high half != 0 and armed == 1
//! re-check the ring                                    and armed.swap(0) == 1: ring
//! sleep on the fd
//! ```
//!
//! The barriers order as two SeqCst fences. If the waker's comes first, the handle's
//! re-check sees the publication. If the handle's comes first, the waker sees the count
//! and `armed == 1` (or a later value: 0 from another waker, which rang after the handle
//! armed). Either way a publication after the handle's re-check leaves a byte in the fd.
//! The loom suite checks this (`doorbell.rs` there), and its `DoorbellArm` breakage (a
//! re-arm without the barrier) shows the barrier is needed. Where the kernel refuses the
//! heavy barrier, a lost ring is caught by the slices every fd wait in ferry re-checks
//! on (below).
//!
//! Costs: a waker makes no system call unless a handle armed since the last ring, so a
//! stream whose receiver keeps up without ever finding the ring empty rings nothing; a
//! waker pays one extra load per publication while some handle is armed. A handle that
//! never asked for its fd never arms, and its waker pays nothing.
//!
//! Many armed handles (MPMC) share one fd: one byte makes it readable for all; the one
//! that drains it must re-check the ring before sleeping again (every path here does),
//! so a message is never left behind while every handle sleeps. The flag and the count
//! are in shared memory: a peer that scribbles them causes spurious rings at worst, or
//! lost ones, which every wait in ferry bounds by re-checking on a timer (`PARK_SLICE`,
//! `Select`'s and the async wrapper's slices).

use std::cell::Cell;

use crate::{
    signal::Signal,
    sync::{self, AtomicU32, Ordering::Relaxed},
};

/// One armed handle's share of [`Signal`]'s `waiters` word: the low 16 bits count parked
/// threads, the high 16 armed handles.
pub(crate) const ARMED_UNIT: u32 = 1 << 16;

/// What a waker must do after [`Signal::notify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "`Ring::Bell` must be rung on the doorbell's file descriptor"]
pub(crate) enum Ring {
    /// A handle armed since the last ring: write to its fd.
    Bell,
    /// Nobody waits on the fd.
    Quiet,
}

/// Whether this waker is the one to ring: the flag was raised and it lowered it.
pub(super) fn take(armed: &AtomicU32) -> Ring {
    // SYNC: Relaxed, both; ordered after the arming handle's `armed = 1` by the barrier
    // pair (the light one in `Signal::notify`, the heavy one in `Armed::arm`). The swap
    // only decides which waker rings once per arming.
    if armed.load(Relaxed) != 0 && armed.swap(0, Relaxed) != 0 {
        Ring::Bell
    } else {
        Ring::Quiet
    }
}

/// What draining a doorbell found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing was rung.
    Nothing,
    /// It had been rung (the bytes are gone now).
    Rung,
    /// Nobody can ring it any more: every holder of its writing end has closed it (the
    /// other side left or died).
    Closed,
}

/// The two operations a doorbell needs of its file descriptors (a pipe or FIFO in
/// production, a counter under loom).
pub(crate) trait Pipe {
    /// Makes the other side's fd readable (never blocks; a full pipe is rung already).
    fn ring(&self);
    /// Empties this side's fd without blocking.
    fn drain(&self) -> Drained;
}

/// Rings `pipe` if `ring` says so.
pub(crate) fn ring(ring: Ring, pipe: &impl Pipe) {
    if ring == Ring::Bell {
        pipe.ring();
    }
}

/// One handle's arming, process-local: whether it is counted in the signal's `waiters`.
#[derive(Debug, Default)]
pub(crate) struct Armed {
    counted: Cell<bool>,
}

impl Armed {
    /// Not armed.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether the handle has armed (and is counted) since it was made or disarmed.
    pub(crate) fn is_armed(&self) -> bool {
        self.counted.get()
    }

    /// Drains `pipe` and arms it on `signal`: from here on, a publication that the
    /// caller's next re-check of the ring misses rings `pipe`. The caller must re-check
    /// before it sleeps on the fd. Returns what the drain found.
    pub(crate) fn arm(&self, signal: &Signal, pipe: &impl Pipe) -> Drained {
        let drained = pipe.drain();
        self.arm_flag(signal, &signal.armed);
        drained
    }

    /// Raises `flag` (the signal's own, or a broadcast seat's) and counts the handle on
    /// `signal` (once): from here on, a publication that the caller's next re-check
    /// misses lowers the flag and rings the handle's bell. The caller must have drained
    /// its bell just before, and must re-check before it sleeps.
    pub(crate) fn arm_flag(&self, signal: &Signal, flag: &AtomicU32) {
        // SYNC: Relaxed, both; ordered before the caller's re-check by the heavy barrier
        // below, which pairs with the light barrier in `Signal::notify_parked`: either
        // the re-check sees the waker's publication, or the waker sees the count and
        // `flag == 1` and rings (module doc).
        flag.store(1, Relaxed);
        let unit = if self.counted.replace(true) { 0 } else { ARMED_UNIT };
        if unit == 0 && sync::mutated(sync::Mutation::DoorbellArm) {
            return;
        }
        sync::heavy_add(&signal.waiters, unit);
    }

    /// Stops counting the handle as armed (it no longer sleeps on the fd).
    pub(crate) fn disarm(&self, signal: &Signal) {
        if self.counted.replace(false) && !crate::sync::abandoned_by_loom() {
            // SYNC: Relaxed; a stale count costs a waker one needless look at the flag,
            // never a lost ring.
            signal.waiters.fetch_sub(ARMED_UNIT, Relaxed);
        }
    }
}
