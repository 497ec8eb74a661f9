//! A counting semaphore on one 32-bit word in shared memory: the fallback for systems
//! without futex-based signaling, selectable on Linux.
//!
//! A post with no sleeper leaves a token behind, so the next wait returns at once; that
//! is a spurious wake-up, which the caller's re-check absorbs. A post is never lost.
//!
//! The count is ferry's own atomic word, not a POSIX `sem_t`: glibc trusts the words of a
//! `sem_t` (a waiter count, a private flag it ORs into the futex operation), so a
//! same-uid peer that scribbles on one makes glibc abort the process ("The futex facility
//! returned an unexpected error code") or turns a wake into a PI-futex lock that never
//! returns. Here every value read from the word is untrusted:
//!
//! - `post` adds tokens with a bounded compare-and-swap loop, saturating at
//!   [`MAX_COUNT`]; a count above it (only a scribble puts one there) is replaced, never
//!   incremented into nonsense. It then wakes sleepers with a shared futex wake.
//! - `wait` takes one token with a compare-and-swap if the count is in range, repairs an
//!   out-of-range count to zero (a spurious wake-up), and otherwise sleeps on the word
//!   while it is zero, for at most the caller's timeout.
//!
//! The only system calls are futex wait and wake, with flags ferry chooses (shared,
//! never private, never PI). A scribbled count therefore costs spurious wake-ups (a large
//! count) or a wait until the timeout (a count cleared under a sleeper), both bounded by
//! the caller's park slice. Being built from the `sync` facade's atomics and futex, the
//! semaphore also runs under loom.

use std::time::Duration;

use crate::sync::{
    self, AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};

/// Most tokens the count holds. Once it is reached every waiter finds a token, so a post
/// that cannot add one loses nothing.
const MAX_COUNT: u32 = 1 << 10;
/// Compare-and-swap attempts a post makes before giving up on adding (only a peer
/// rewriting the word without pause makes them all fail; the wake still goes out).
const POST_ATTEMPTS: u32 = 64;

/// The semaphore's count, in the segment.
#[repr(C)]
pub(super) struct Semaphore {
    /// Tokens available: `0..=MAX_COUNT` unless scribbled on.
    count: AtomicU32,
    /// Keeps the signal's layout (the 32 bytes a `sem_t` took); never read.
    _reserved: [u32; 7],
}

impl Semaphore {
    /// A semaphore with no token.
    pub(super) fn new() -> Self {
        Self { count: AtomicU32::new(0), _reserved: [0; 7] }
    }

    /// Adds `tokens` (saturating at [`MAX_COUNT`]) and wakes the sleepers.
    pub(super) fn post(&self, tokens: u32) {
        // SYNC: Relaxed; only a guess for the compare-and-swap below, which checks it.
        let mut seen = self.count.load(Relaxed);
        for _ in 0..POST_ATTEMPTS {
            // A count out of range comes from a scribble: replace it by a sane one.
            let next = seen.min(MAX_COUNT).saturating_add(tokens).min(MAX_COUNT);
            if next == seen {
                break;
            }
            // SYNC: Release; pairs with the Acquire compare-and-swap in `try_take`: a
            // waiter that takes this token sees what was published before the post, so
            // its re-check finds it.
            match self.count.compare_exchange_weak(seen, next, Release, Relaxed) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        // Every sleeper wakes and races for the tokens; a loser returns as a spurious
        // wake-up. Waking all also covers a count a scribbler cleared under a sleeper.
        sync::futex_wake_all(&self.count);
    }

    /// Takes one token, sleeping at most `timeout` for one to appear; may return early
    /// without one (the caller re-checks its condition either way).
    pub(super) fn wait(&self, timeout: Duration) {
        if self.try_take() {
            return;
        }
        // The kernel sleeps only while the word is still 0, so a post between the
        // attempt above and the sleep makes it return at once.
        sync::futex_wait(&self.count, 0, timeout);
        self.try_take();
    }

    /// Takes a token if the count is not zero. `true` whenever it was not: a token was
    /// taken, or the count moved under the attempt, or it was out of range and is
    /// repaired to zero; the last two are spurious wake-ups.
    fn try_take(&self) -> bool {
        // SYNC: Relaxed; only a guess for the compare-and-swap below, which checks it.
        let seen = self.count.load(Relaxed);
        let next = match seen {
            0 => return false,
            1..=MAX_COUNT => seen - 1,
            _ => 0,
        };
        // SYNC: Acquire; pairs with the Release compare-and-swap in `post`, so a waiter
        // that takes a token sees what its poster published before `notify`. One
        // attempt: a failure means the count moved, and the caller re-checks anyway, so
        // a peer rewriting the word cannot keep this call looping.
        let _ = self.count.compare_exchange(seen, next, Acquire, Relaxed);
        true
    }
}
