//! Parking on a futex word in shared memory.
//!
//! The word is process-shared, so the calls never use `FUTEX_PRIVATE_FLAG`; the
//! system calls themselves sit behind the `sync` facade, which mocks them under loom.

use std::time::Duration;

use crate::sync::{self, AtomicU32, Ordering::Acquire, Ordering::Release};

/// The word's current value, to park on.
pub(super) fn ticket(word: &AtomicU32) -> u32 {
    // SYNC: Acquire; pairs with the Release bump in `wake`: a waiter that reads the
    // bumped value sees everything the waker published before it.
    word.load(Acquire)
}

/// Sleeps while the word still holds `ticket`, for at most `timeout`.
pub(super) fn park(word: &AtomicU32, ticket: u32, timeout: Duration) {
    sync::futex_wait(word, ticket, timeout);
}

/// Changes the word and wakes every thread parked on it.
pub(super) fn wake(word: &AtomicU32) {
    // SYNC: Release; pairs with the Acquire load in `ticket`.
    word.fetch_add(1, Release);
    sync::futex_wake_all(word);
}
