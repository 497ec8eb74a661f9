//! Blocking without burning a core: the wait/wake protocol.
//!
//! A side that cannot proceed (a receiver on an empty ring, a sender on a full one) spins
//! a little, yields a little, then parks in the kernel on a [`Signal`] in the segment
//! (the loop is `wait.rs`). The other side, after it publishes (or releases), enters the
//! kernel only if a waiter has announced itself. The classic protocol; what prevents a
//! lost wake-up is a pair of AcqRel read-modify-writes on the waiter count, one on each
//! side (no fences):
//!
//! ```text
//! waiter                                          waker
//!                                                 publish (Release)
//! waiters.fetch_add(1, AcqRel)   <-- pairs -->    n = waiters.fetch_add(0, AcqRel)
//! ticket = word (Acquire)                         if n > 0:
//! re-check the condition                              word += 1 (Release); wake all
//! park while word == ticket
//! waiters -= 1 (Relaxed, once done waiting)
//! ```
//!
//! The two read-modify-writes on `waiters` are ordered one way or the other in its
//! modification order. If the waker's comes first, the waiter's increment reads from it
//! (a release sequence), so the waiter's re-check sees the publication. If the waiter's
//! comes first, the waker's read-modify-write reads the increment and the waker bumps the
//! word; the waiter either read the bumped word (and with it the publication, through
//! Acquire) or parks on the old value and the kernel returns at once because the word
//! has changed. A plain load in place of the waker's read-modify-write could read a stale
//! count and lose the wake-up: the loom suite's `NotifyLoad` breakage shows it.
//!
//! Parking uses `futex` on the shared (never private) word, or, when the channel was
//! created with [`Signaling::Semaphore`], a counting semaphore on another word of the
//! same signal (`semaphore.rs`: a post leaves a token for a wait that has not slept yet).
//! The semaphore is built on ferry's own atomics rather than a POSIX `sem_t`, whose
//! words glibc trusts (a scribbled one aborts the process); it sleeps through the `sync`
//! facade's futex, which a port to a system without futex replaces by that system's
//! wait-on-address primitive.

pub(crate) mod bell;
pub(crate) mod doorbell;
mod futex;
#[cfg(ferry_loom)]
pub mod model;
pub(crate) mod seat_bell;
pub(crate) mod seat_doorbell;
mod semaphore;
pub(crate) mod wait;

use std::time::Duration;

use crate::sync::{
    AtomicU32,
    Ordering::{AcqRel, Relaxed},
};

/// How a channel's blocked sides sleep. Chosen by the creator, stored in the segment.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferry::{Config, RecvError, Signaling};
/// let (_tx, mut rx) = ferry::in_memory(&Config::new().signaling(Signaling::Semaphore))?;
/// assert_eq!(rx.recv_timeout(Duration::from_millis(10)).unwrap_err(), RecvError::Timeout);
/// # Ok::<(), ferry::AttachError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum Signaling {
    /// `futex` wait/wake on a 32-bit word in the segment (Linux).
    #[default]
    Futex = 1,
    /// A counting semaphore on a word in the segment: a wake-up with no sleeper is kept
    /// as a token for the next wait (the portable fallback's protocol).
    Semaphore = 2,
}

impl Signaling {
    pub(crate) fn from_u32(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Futex),
            2 => Some(Self::Semaphore),
            _ => None,
        }
    }
}

/// How long a blocked call spins and yields before it parks in the kernel.
///
/// Spinning answers fastest but burns a core; parking costs a system call on both
/// sides. The default spins for 5 µs and yields for 50 µs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let eager = ferry::WaitPolicy::new().spin(Duration::from_micros(50)).yield_for(Duration::ZERO);
/// let frugal = ferry::WaitPolicy::park_at_once();
/// assert_ne!(eager, frugal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    pub(crate) spin: Duration,
    pub(crate) yield_for: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        // Under loom, time-based spinning would make the explored schedules depend on
        // the wall clock: the models park at once.
        if cfg!(ferry_loom) {
            return Self::park_at_once();
        }
        Self { spin: Duration::from_micros(5), yield_for: Duration::from_micros(50) }
    }
}

impl WaitPolicy {
    /// The default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parks as soon as the condition is not met.
    pub fn park_at_once() -> Self {
        Self { spin: Duration::ZERO, yield_for: Duration::ZERO }
    }

    /// How long to spin on the CPU before yielding.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How long to yield the CPU before parking.
    pub fn yield_for(mut self, yield_for: Duration) -> Self {
        self.yield_for = yield_for;
        self
    }
}

/// Most semaphore tokens one wake-up posts (one per parked waiter, up to this).
const MAX_POSTS_PER_WAKE: u32 = 64;

/// One direction of wake-ups ("not empty" or "not full"), in shared memory.
#[repr(C)]
pub(crate) struct Signal {
    /// The futex word: bumped by every wake that found a waiter.
    word: AtomicU32,
    /// Low 16 bits ([`PARKED`]): how many threads, in any process, have announced they
    /// are about to park. High 16 bits: how many handles are armed on the fd doorbell
    /// (`doorbell.rs`), in units of [`doorbell::ARMED_UNIT`]. One word, so that the
    /// waker's one read-modify-write sees both kinds of sleeper.
    waiters: AtomicU32,
    /// The doorbell's flag: 1 while a handle armed on the fd wants the next publication
    /// rung (`doorbell.rs`); the waker that swaps it to 0 rings.
    armed: AtomicU32,
    /// Explicit padding, zero.
    _reserved: u32,
    /// The semaphore that replaces the futex under [`Signaling::Semaphore`].
    semaphore: semaphore::Semaphore,
}

/// The part of [`Signal::waiters`] that counts parked threads.
const PARKED: u32 = doorbell::ARMED_UNIT - 1;

// Cross-process layout (layout v7: v6's 40 bytes plus the doorbell flag and padding).
#[cfg(not(ferry_loom))]
const _: () = assert!(std::mem::size_of::<Signal>() == 48);

impl Signal {
    /// A signal with no waiter, ready to be written into its place in the segment and
    /// then [`Signal::init`]ialised there.
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            armed: AtomicU32::new(0),
            _reserved: 0,
            semaphore: semaphore::Semaphore::new(),
        }
    }

    /// Wakes every parked waiter if there is one, and says whether the fd doorbell must
    /// be rung (a handle armed on it). Call after publishing; ring if told to.
    #[must_use = "a `Ring` must be rung on the doorbell's file descriptor"]
    pub(crate) fn notify(&self, how: Signaling) -> doorbell::Ring {
        // SYNC: AcqRel read-modify-write; pairs with the AcqRel increment in `announce`
        // (and in `doorbell::arm`). The two RMWs are ordered in `waiters`' modification
        // order. If the waiter's comes first, this one reads its increment and wakes. If
        // this one comes first, the waiter's increment reads from it (a release
        // sequence), so the waiter's re-check sees everything published before this call.
        let waiting = self.waiting(AcqRel);
        if waiting & PARKED != 0 {
            self.wake(how);
        }
        if waiting & !PARKED != 0 {
            doorbell::take(&self.armed)
        } else {
            doorbell::Ring::Quiet
        }
    }

    /// Reads the waiter count with a read-modify-write (a plain load under the loom
    /// suite's `NotifyLoad` breakage).
    fn waiting(&self, order: crate::sync::Ordering) -> u32 {
        #[cfg(ferry_loom)]
        if crate::sync::mutated(crate::sync::Mutation::NotifyLoad) {
            return self.waiters.load(Relaxed);
        }
        self.waiters.fetch_add(0, order)
    }

    /// Wakes every parked waiter, announced or not (a peer leaving).
    pub(crate) fn wake(&self, how: Signaling) {
        match how {
            Signaling::Futex => futex::wake(&self.word),
            // The post wakes every sleeper; it leaves one token per announced waiter (at
            // least one) for those not asleep yet. Extra tokens are spurious wake-ups,
            // absorbed by the waiters' re-checks.
            Signaling::Semaphore => {
                // SYNC: Relaxed; a count to size the tokens, ordered by `notify`'s RMW.
                // It comes from shared memory: bounded, so a scribbled count costs at
                // most that many spurious wake-ups (a waiter beyond the bound that had
                // not slept yet wakes at its next park slice).
                let waiters = (self.waiters.load(Relaxed) & PARKED).clamp(1, MAX_POSTS_PER_WAKE);
                self.semaphore.post(waiters);
            }
        }
    }

    /// Announces a waiter; it stays announced until the returned guard is dropped.
    pub(crate) fn announce(&self, how: Signaling) -> Waiting<'_> {
        // SYNC: AcqRel; pairs with the AcqRel read-modify-write in `notify` (see there).
        // Every re-check of this waiter follows it, so one announcement covers them all.
        self.waiters.fetch_add(1, AcqRel);
        Waiting { signal: self, how }
    }
}

/// An announced waiter. Call [`Waiting::ticket`], re-check the condition, then
/// [`Waiting::park`] with the ticket; repeat while the condition does not hold.
pub(crate) struct Waiting<'a> {
    signal: &'a Signal,
    how: Signaling,
}

impl Waiting<'_> {
    /// Takes a ticket. The caller must re-check its condition after this and before
    /// parking.
    pub(crate) fn ticket(&self) -> u32 {
        futex::ticket(&self.signal.word)
    }

    /// Sleeps until woken, for at most `timeout`; may return early (the caller re-checks).
    pub(crate) fn park(&self, ticket: u32, timeout: Duration) {
        match self.how {
            Signaling::Futex => futex::park(&self.signal.word, ticket, timeout),
            Signaling::Semaphore => self.signal.semaphore.wait(timeout),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if crate::sync::abandoned_by_loom() {
            return;
        }
        // SYNC: Relaxed; a stale non-zero count costs the waker one needless wake, never a
        // lost one.
        self.signal.waiters.fetch_sub(1, Relaxed);
    }
}
