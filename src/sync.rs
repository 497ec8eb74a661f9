//! The one facade over atomics and interior mutability.
//!
//! Every other module takes its atomics, fences and `UnsafeCell` from here, so the same
//! ring code compiles against `std` normally and against [loom] under `--cfg ferry_loom`
//! (a project-specific cfg, so dependencies that react to the bare `loom` cfg do not
//! change). Loom's atomics cannot live in a mapping shared with another process; under
//! loom the rings run on heap memory through exactly the same code.
//!
//! [loom]: https://docs.rs/loom

#[cfg(ferry_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(ferry_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Gives up the rest of this thread's time slice (a loom scheduling point under loom).
pub(crate) fn yield_now() {
    #[cfg(ferry_loom)]
    loom::thread::yield_now();
    #[cfg(not(ferry_loom))]
    std::thread::yield_now();
}

/// Whether a destructor must leave shared state alone: under loom, while a failed model
/// unwinds, loom's atomics can no longer be touched (doing so aborts the process and
/// hides loom's report). Always `false` in production.
pub(crate) fn abandoned_by_loom() -> bool {
    cfg!(ferry_loom) && std::thread::panicking()
}

/// Hints the CPU that this is a spin loop (a loom scheduling point under loom).
pub(crate) fn spin_loop() {
    #[cfg(ferry_loom)]
    loom::hint::spin_loop();
    #[cfg(not(ferry_loom))]
    std::hint::spin_loop();
}

#[cfg(ferry_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's closure-based access API, so that code written
/// against it is checked by loom (which records every access) under `ferry_loom`.
#[cfg(not(ferry_loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(ferry_loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared pointer to the contents.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with an exclusive pointer to the contents.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Sleeps while `word` holds `expected`, for at most `timeout`; may return early.
///
/// A shared (not `FUTEX_PRIVATE_FLAG`) futex: the word may be in memory mapped by
/// several processes. Interruption, a changed word and a timeout all simply return.
#[cfg(not(ferry_loom))]
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: std::time::Duration) {
    use rustix::thread::futex;
    let timeout = futex::Timespec::try_from(timeout).ok();
    let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
}

/// Wakes every thread, in any process, sleeping in `futex_wait` on `word`.
#[cfg(not(ferry_loom))]
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// Loom's model of a futex: one global condition variable stands for the kernel's wait
/// queues. Waiting checks the word under the lock, so a wake between the check and the
/// sleep cannot be lost, exactly as the kernel guarantees. Timeouts are not modelled: a
/// waiter sleeps until woken, so a lost wake-up shows as a deadlock that loom reports.
#[cfg(ferry_loom)]
mod futex_model {
    use loom::sync::{Condvar, Mutex};

    loom::lazy_static! {
        pub(super) static ref KERNEL: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }
}

/// Loom model of `futex_wait`: sleeps until woken while `word` holds `expected`.
#[cfg(ferry_loom)]
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _timeout: std::time::Duration) {
    let (lock, queue) = &*futex_model::KERNEL;
    let guard = lock.lock().unwrap();
    if word.load(Ordering::SeqCst) == expected {
        drop(queue.wait(guard).unwrap());
    }
}

/// Loom model of `futex_wake_all`.
#[cfg(ferry_loom)]
pub(crate) fn futex_wake_all(_word: &AtomicU32) {
    let (lock, queue) = &*futex_model::KERNEL;
    let _guard = lock.lock().unwrap();
    queue.notify_all();
}

/// Deliberate breakages, one per model in the loom suite, that the suite expects loom to
/// report: the proof that each model can fail. Each names the operation it weakens.
/// Compiled only under `ferry_loom`; in production [`weaken`] is the identity.
#[cfg(ferry_loom)]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutation {
    /// No breakage.
    None = 0,
    /// The SPSC producer publishes a slot's sequence with Relaxed instead of Release.
    SpscPublish,
    /// The SPSC consumer releases `head` with Relaxed instead of Release.
    SpscRelease,
    /// The MPMC producer publishes a slot's sequence with Relaxed instead of Release.
    MpmcPublish,
    /// The waker reads the waiter count with a Relaxed load instead of an AcqRel RMW.
    NotifyLoad,
    /// The creator publishes the segment's magic with Relaxed instead of Release.
    InitMagic,
    /// An MPMC handle claims a position (its CAS on tail or head) with Relaxed instead of
    /// Release, so a recoverer may see the position claimed but not the announcement.
    MpmcClaim,
}

#[cfg(ferry_loom)]
static MUTATION: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Selects the breakage the next models run with.
#[cfg(ferry_loom)]
#[doc(hidden)]
pub fn set_mutation(mutation: Mutation) {
    MUTATION.store(mutation as u8, std::sync::atomic::Ordering::SeqCst);
}

/// Whether `mutation` is selected.
#[cfg(ferry_loom)]
pub(crate) fn mutated(mutation: Mutation) -> bool {
    MUTATION.load(std::sync::atomic::Ordering::SeqCst) == mutation as u8
}

/// `order`, or `Relaxed` while the loom suite has selected `mutation`.
#[cfg(ferry_loom)]
pub(crate) fn weaken(order: Ordering, mutation: Mutation) -> Ordering {
    if mutated(mutation) {
        Ordering::Relaxed
    } else {
        order
    }
}

/// The operations a mutation can weaken (see the loom-only enum of the same name).
#[cfg(not(ferry_loom))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mutation {
    SpscPublish,
    SpscRelease,
    MpmcPublish,
    InitMagic,
    MpmcClaim,
}

/// `order`: mutations exist only under loom.
#[cfg(not(ferry_loom))]
#[inline(always)]
pub(crate) fn weaken(order: Ordering, _: Mutation) -> Ordering {
    order
}
