//! The broadcast channel's fd doorbell: one bell per subscriber seat, so that every
//! subscriber sleeping on its fd hears every publication.
//!
//! The queue's doorbell (`doorbell.rs`) has one flag and one FIFO per side: a byte wakes
//! whichever handle drains it first, enough when any receiver may take the message. A
//! broadcast subscriber must see every message, so each seat has its own flag (in the
//! seat, `segment::seat`) and its own bell (`seat_bell.rs`). The signal's `waiters` word
//! still counts every armed subscriber in its high half, so that a publisher learns from
//! the one load it makes anyway (after the light barrier, `signal/mod.rs`) whether any
//! seat is armed:
//!
//! ```text
//! armed subscriber (seat i)                       publisher
//! drain its bell                                  publish (Release)
//! flag[i] = 1 (Relaxed)                           light barrier
//! waiters += unit (first arming only)             w = waiters (Relaxed)
//! heavy barrier                      <-pairs->    if w's high half != 0:
//! re-check the ring                                   for each seat j: if flag[j] == 1
//! sleep on its fd                                         and flag[j].swap(0) == 1: ring j
//! ```
//!
//! The argument is the queue's, seat by seat. The two barriers order as two SeqCst
//! fences. If the publisher's comes first, the subscriber's re-check sees the
//! publication. If the subscriber's comes first, the publisher sees a non-zero high
//! half, and then `flag[i] == 1` (or 0 from another publisher that swapped it after this
//! arming, and rang seat `i`). Either way a publication the re-check missed leaves a byte
//! in seat `i`'s bell. The loom suite checks it with two subscribers (`seat_doorbell.rs`
//! there); its `DoorbellArm` breakage (a re-arm without the heavy barrier) shows the
//! barrier is needed here too.
//!
//! Costs: a publisher that finds the high half zero (no subscriber armed: a saturated
//! stream whose subscribers never find it empty) touches no flag and makes no system
//! call. While some subscriber is armed, each publication loads every seat's flag (a
//! line the cursors' stores do not touch) and rings, once per arming, the seats it swaps.
//!
//! The flags and the count are in shared memory: a scribbled flag costs a spurious ring
//! (one system call per scribble and seat), a scribbled count a scan of the flags or a
//! lost ring, which every wait bounds by re-checking on a timer.

use crate::{
    signal::{doorbell::Armed, Signal},
    sync::{AtomicU32, Ordering::Relaxed},
};

/// Lowers every raised flag among `flags` (seat index, flag) and calls `ring` with the
/// index of each seat whose flag this call lowered. Call only when
/// [`Signal::notify_parked`] said some handle is armed.
pub(crate) fn ring_armed<'a>(flags: impl Iterator<Item = (usize, &'a AtomicU32)>, mut ring: impl FnMut(usize)) {
    for (seat, flag) in flags {
        // SYNC: Relaxed, both; ordered after the arming subscriber's `flag = 1` by the
        // barrier pair (the light one in `notify_parked`, the heavy one in `Armed::arm_flag`).
        // The swap only decides which publisher rings once per arming.
        if flag.load(Relaxed) != 0 && flag.swap(0, Relaxed) != 0 {
            ring(seat);
        }
    }
}

impl Armed {
    /// Stops counting the subscriber as armed, and lowers its seat's `flag` (it no longer
    /// sleeps on the fd; the seat may go to another subscriber).
    pub(crate) fn disarm_seat(&self, signal: &Signal, flag: &AtomicU32) {
        if self.is_armed() && !crate::sync::abandoned_by_loom() {
            // SYNC: Relaxed; a stale flag costs a publisher one needless ring, never a
            // lost one.
            flag.store(0, Relaxed);
        }
        self.disarm(signal);
    }
}
