//! The loom world: what [`crate::sync`] is under `--cfg ferry_loom`.
//!
//! Loom's atomics and `UnsafeCell` record every access, its yield and spin hints are
//! scheduling points, and the futex is a model (below). The loom suite also selects here
//! the deliberate breakage ([`Mutation`]) its next models run with.

use std::time::Duration;

pub(crate) use loom::{
    cell::UnsafeCell,
    sync::atomic::{fence, AtomicU32, AtomicU64, Ordering},
};

use super::Mutation;

// The asymmetric barrier pair (the std world's `light_load` and `heavy_add`) is modelled
// by the pair of AcqRel read-modify-writes on the same word that it replaces, which
// gives the same guarantee: of a store before the light side and a store before the
// heavy side, at least one is seen by the other side's later load. Not by SeqCst
// fences: loom joins every SeqCst fence's clock with every later one's, so a fence in
// every wake would order the rings' own accesses and hide their bugs (the byte ring's
// `BytesRelease` breakage went unreported that way).

/// The light side: reads `word` (modelled as an AcqRel read-modify-write of 0).
pub(crate) fn light_load(word: &AtomicU32) -> u32 {
    // SYNC: AcqRel; pairs with the AcqRel add in `heavy_add` (the model of the pair).
    word.fetch_add(0, Ordering::AcqRel)
}

/// The heavy side: adds `n` to `word` (modelled as an AcqRel read-modify-write); never
/// refused here.
pub(crate) fn heavy_add(word: &AtomicU32, n: u32) -> bool {
    // SYNC: AcqRel; pairs with the AcqRel read-modify-write in `light_load`.
    word.fetch_add(n, Ordering::AcqRel);
    true
}

/// Nothing to register in the model.
pub(crate) fn register_light_barrier() {}

/// Gives up the rest of this thread's time slice: a loom scheduling point.
pub(crate) fn yield_now() {
    loom::thread::yield_now();
}

/// Hints that this is a spin loop: a loom scheduling point.
pub(crate) fn spin_loop() {
    loom::hint::spin_loop();
}

/// Whether a destructor must leave shared state alone: while a failed model unwinds,
/// loom's atomics can no longer be touched (doing so aborts the process and hides loom's
/// report).
pub(crate) fn abandoned_by_loom() -> bool {
    std::thread::panicking()
}

// Loom's model of a futex: one global condition variable stands for the kernel's wait
// queues. Waiting checks the word under the lock, so a wake between the check and the
// sleep cannot be lost, exactly as the kernel guarantees. Timeouts are not modelled: a
// waiter sleeps until woken, so a lost wake-up shows as a deadlock that loom reports.
loom::lazy_static! {
    static ref KERNEL: (loom::sync::Mutex<()>, loom::sync::Condvar) = Default::default();
}

/// Loom model of the futex wait: sleeps until woken while `word` holds `expected`.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _timeout: Duration) {
    let (lock, queue) = &*KERNEL;
    let guard = lock.lock().unwrap();
    // SYNC: SeqCst under the model kernel's lock, as the kernel compares the word under
    // its hash-bucket lock; pairs with the waker's store of the word before
    // `futex_wake_all`, which takes the same lock.
    if word.load(Ordering::SeqCst) == expected {
        drop(queue.wait(guard).unwrap());
    }
}

/// Loom model of the futex wake: wakes every modelled waiter.
pub(crate) fn futex_wake_all(_word: &AtomicU32) {
    let (lock, queue) = &*KERNEL;
    let _guard = lock.lock().unwrap();
    queue.notify_all();
}

/// The selected [`Mutation`], as its discriminant. A std atomic on purpose: the suite sets
/// it outside any model, and reading it must not be an access loom schedules around.
#[allow(clippy::disallowed_types, reason = "the mutation switch lives outside loom's model")]
static MUTATION: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(Mutation::None as u8);

/// Selects the breakage the next models run with.
#[doc(hidden)]
pub fn set_mutation(mutation: Mutation) {
    // SYNC: SeqCst; set between models, read by the model threads spawned after it
    // (thread spawn orders it anyway).
    MUTATION.store(mutation as u8, Ordering::SeqCst);
}

/// Whether `mutation` is selected.
pub(crate) fn mutated(mutation: Mutation) -> bool {
    // SYNC: SeqCst; pairs with the store in `set_mutation`.
    MUTATION.load(Ordering::SeqCst) == mutation as u8
}
