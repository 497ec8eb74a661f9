//! Blocking without burning a core: the wait/wake protocol.
//!
//! A side that cannot proceed (a receiver on an empty ring, a sender on a full one) spins
//! a little, yields a little, then parks in the kernel on a [`Signal`] in the segment
//! (the loop is `wait.rs`). The other side, after it publishes (or releases), enters the
//! kernel only if a waiter has announced itself. The classic protocol is a Dekker pair:
//! each side writes its own word, then a fence, then reads the other's. What is not
//! classic is that the two fences differ in cost, because the two sides differ in how
//! often they run: the waker runs once per message, the waiter once per sleep.
//!
//! ```text
//! waiter                                          waker
//!                                                 publish (Release)
//! waiters += 1 (RMW)                              light barrier
//! heavy barrier              <-- pairs -->        n = waiters (Relaxed)
//! ticket = word (Acquire)                         if n > 0:
//! re-check the condition                              word += 1 (Release); wake all
//! park while word == ticket
//! waiters -= 1 (Relaxed, once done waiting)
//! ```
//!
//! The waker's *light barrier* (`sync::light_load`) is a compiler fence once the
//! process has registered with the kernel for `membarrier`'s expedited global command;
//! the waiter's *heavy barrier* (`sync::heavy_add`) is that command, which makes
//! every running thread of every registered process pass a full memory fence before it
//! returns. Between them they order as two SeqCst fences would. Wherever the waker's
//! thread was when the barrier reached it: before its publication, and its load of
//! `waiters` comes later and sees the announcement, so it wakes; after its publication,
//! and the publication is visible to the waiter's re-check, which finds it. A thread
//! not running at that moment has passed the kernel's full fence at its last switch.
//! The waker never stalls on its store buffer (a locked read-modify-write there was most
//! of a send's cost, the stall waiting for the slot line the receiver is polling); the
//! waiter pays one system call, about a microsecond, before it sleeps.
//!
//! Where the kernel refuses the registration the light barrier is a real
//! `fence(SeqCst)` and the pairing is the textbook one. Where it refuses the waiter's
//! command (a seccomp filter on one process only) the waiter cannot trust its
//! re-check against a registered waker, so it sleeps in short slices
//! ([`UNCOVERED_SLICE`]) and re-checks. A waiter that reads the bumped word sees
//! everything published before the bump (Acquire); one that parks on the old value
//! returns at once because the kernel compares the word. The loom suite checks the
//! protocol with the pair modelled by the AcqRel read-modify-writes it replaces (the
//! same guarantee; `sync/loom.rs` says why not by SeqCst fences), and its `NotifyLoad`
//! breakage (the waker's plain load) shows the pair is needed.
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

use crate::sync::{self, AtomicU32, Ordering::Relaxed};

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

/// The longest a waiter sleeps between re-checks when the kernel refused its heavy
/// barrier (module doc).
pub(crate) const UNCOVERED_SLICE: Duration = Duration::from_millis(1);

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
    /// waker's one load sees both kinds of sleeper.
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
    #[inline]
    pub(crate) fn notify(&self, how: Signaling) -> doorbell::Ring {
        if self.notify_parked(how) {
            doorbell::take(&self.armed)
        } else {
            doorbell::Ring::Quiet
        }
    }

    /// Wakes every parked waiter if there is one, and says whether some handle is armed
    /// on an fd doorbell: the channel's ([`Signal::notify`] takes its flag) or a
    /// broadcast seat's (`seat_doorbell::ring_armed` scans theirs). Call after publishing.
    #[must_use = "armed handles must be rung"]
    #[inline]
    pub(crate) fn notify_parked(&self, how: Signaling) -> bool {
        let waiting = self.waiting();
        if waiting & PARKED != 0 {
            self.wake(how);
        }
        waiting & !PARKED != 0
    }

    /// Reads the waiter count after the light barrier (without it under the loom suite's
    /// `NotifyLoad` breakage).
    #[inline(always)]
    fn waiting(&self) -> u32 {
        if sync::mutated(sync::Mutation::NotifyLoad) {
            // SYNC: Relaxed, the breakage: nothing orders it after the publication.
            return self.waiters.load(Relaxed);
        }
        // Pairs with the heavy barrier after the increment in `announce` (and in
        // `doorbell::arm`): either this load sees that increment, or the waiter's
        // re-check sees everything published before the light barrier (module doc).
        sync::light_load(&self.waiters)
    }

    /// Wakes every parked waiter, announced or not (a peer leaving).
    pub(crate) fn wake(&self, how: Signaling) {
        match how {
            Signaling::Futex => futex::wake(&self.word),
            // The post wakes every sleeper; it leaves one token per announced waiter (at
            // least one) for those not asleep yet. Extra tokens are spurious wake-ups,
            // absorbed by the waiters' re-checks.
            Signaling::Semaphore => {
                // SYNC: Relaxed; a count to size the tokens, ordered by `notify`'s barrier.
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
        // The increment is ordered before every later re-check by the heavy barrier after
        // it, which pairs with the light barrier in `notify` (module doc). Every re-check
        // of this waiter follows it, so one announcement covers them all.
        let covered = sync::heavy_add(&self.waiters, 1);
        Waiting { signal: self, how, covered }
    }
}

/// An announced waiter. Call [`Waiting::ticket`], re-check the condition, then
/// [`Waiting::park`] with the ticket; repeat while the condition does not hold.
pub(crate) struct Waiting<'a> {
    signal: &'a Signal,
    how: Signaling,
    /// Whether the heavy barrier was made: if not, a waker's light barrier may have been
    /// a compiler fence only, and sleeps are cut to [`UNCOVERED_SLICE`].
    covered: bool,
}

impl Waiting<'_> {
    /// Takes a ticket. The caller must re-check its condition after this and before
    /// parking.
    pub(crate) fn ticket(&self) -> u32 {
        futex::ticket(&self.signal.word)
    }

    /// Sleeps until woken, for at most `timeout`; may return early (the caller re-checks).
    pub(crate) fn park(&self, ticket: u32, timeout: Duration) {
        let timeout = if self.covered { timeout } else { timeout.min(UNCOVERED_SLICE) };
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
