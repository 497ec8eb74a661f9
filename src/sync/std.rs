//! The std world: what [`crate::sync`] is outside the loom suite.
//!
//! std's atomics are wrapped in `#[repr(transparent)]` newtypes (same size, alignment and
//! bit validity, so they may sit in `#[repr(C)]` structs in shared memory): `clippy.toml`
//! bans std's atomic types outside this file, and the newtypes are what the rest of the
//! crate names instead. Each derefs to the std atomic, so it has std's whole API.

use std::{fmt, ops::Deref, time::Duration};

pub(crate) use std::sync::atomic::Ordering;

/// Declares a `#[repr(transparent)]` newtype over the std atomic of the same name.
macro_rules! atomic {
    ($name:ident, $int:ty) => {
        #[doc = concat!("`std::sync::atomic::", stringify!($name), "`, newtyped so that only the facade names std's.")]
        #[repr(transparent)]
        #[allow(clippy::disallowed_types, reason = "the facade's one wrapper of std's atomic")]
        pub(crate) struct $name(std::sync::atomic::$name);

        #[allow(clippy::disallowed_types, reason = "the facade's one wrapper of std's atomic")]
        impl $name {
            /// A new atomic holding `value`.
            pub(crate) const fn new(value: $int) -> Self {
                Self(std::sync::atomic::$name::new(value))
            }
        }

        #[allow(clippy::disallowed_types, reason = "the facade's one wrapper of std's atomic")]
        impl Deref for $name {
            type Target = std::sync::atomic::$name;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

atomic!(AtomicU32, u32);
atomic!(AtomicU64, u64);

/// `std::cell::UnsafeCell` with loom's closure-based access API, so that code written
/// against it is checked by loom (which records every access) under `ferry_loom`.
#[derive(Debug, Default)]
#[repr(transparent)]
#[allow(clippy::disallowed_types, reason = "the facade's one wrapper of std's UnsafeCell")]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[allow(clippy::disallowed_types, reason = "the facade's one wrapper of std's UnsafeCell")]
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

/// A memory fence: `std::sync::atomic::fence`, which only the facade names.
#[inline(always)]
#[allow(clippy::disallowed_methods, reason = "the facade's one wrapper of std's fence")]
pub(crate) fn fence(order: Ordering) {
    std::sync::atomic::fence(order);
}

/// The asymmetric barrier's state in this process: not yet asked ([`UNKNOWN`]),
/// registered for `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` ([`LIGHT`]), or refused
/// by the kernel ([`FULL`]).
#[allow(clippy::disallowed_types, reason = "process-local state, never in shared memory")]
static BARRIER: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const LIGHT: u8 = 1;
const FULL: u8 = 2;

/// The frequent side of the asymmetric barrier pair: a light barrier, then `word`
/// (Relaxed). [`heavy_add`] is the other side: of a store before this call and a store
/// before `heavy_add`'s barrier, at least one is seen by the other side's later load.
#[inline(always)]
pub(crate) fn light_load(word: &AtomicU32) -> u32 {
    light_barrier();
    // SYNC: Relaxed, after the light barrier, which pairs with `heavy_add`'s barrier.
    word.load(Ordering::Relaxed)
}

/// The rare side of the asymmetric barrier pair: adds `n` to `word` (Relaxed; nothing
/// when 0), then the heavy barrier. `false` when the kernel refused the barrier (see
/// [`heavy_barrier`]).
pub(crate) fn heavy_add(word: &AtomicU32, n: u32) -> bool {
    if n != 0 {
        // SYNC: Relaxed; ordered before the caller's later loads by the heavy barrier.
        word.fetch_add(n, Ordering::Relaxed);
    }
    heavy_barrier()
}

/// The frequent side of an asymmetric fence pair ([`heavy_barrier`] is the other).
///
/// Once this process is registered for the kernel's expedited global memory barrier, a
/// compiler fence: the rare side's `membarrier` then makes every running thread of every
/// registered process pass a full fence, which is what a `fence(SeqCst)` here would have
/// bought on every call. Until then, or where the kernel refuses, a real `fence(SeqCst)`.
/// Either way the pair orders like two SeqCst fences: of a store before this barrier and
/// a load after the heavy one (or a store before the heavy one and a load after this),
/// at least one load sees the other side's store.
#[inline(always)]
fn light_barrier() {
    // SYNC: Relaxed; process-local state. `LIGHT` is stored only after the registration
    // system call returned, so a thread that reads it runs after the kernel counts this
    // process in every later expedited barrier.
    #[allow(clippy::disallowed_methods, reason = "the facade's one compiler fence")]
    match BARRIER.load(Ordering::Relaxed) {
        LIGHT => std::sync::atomic::compiler_fence(Ordering::SeqCst),
        FULL => fence(Ordering::SeqCst),
        _ => {
            register_light_barrier();
            fence(Ordering::SeqCst);
        }
    }
}

/// Registers this process for the kernel's expedited global memory barrier, once, so
/// that [`light_barrier`] can be a compiler fence. A process that opens a channel calls
/// it then, so that the system call (and the RCU grace period the kernel may wait for
/// in a multi-threaded process) is paid at open, not by the first send.
#[cold]
pub(crate) fn register_light_barrier() {
    use rustix::thread::{membarrier, MembarrierCommand};
    // SYNC: Relaxed, both; process-local. Two threads may both register: the system
    // call is idempotent.
    if BARRIER.load(Ordering::Relaxed) != UNKNOWN {
        return;
    }
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: `forget_light_barrier` only stores to an atomic, which is
        // async-signal-safe, as a child handler of a multi-threaded fork must be.
        unsafe { libc::pthread_atfork(None, None, Some(forget_light_barrier)) };
    });
    let state = if membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok() { LIGHT } else { FULL };
    BARRIER.store(state, Ordering::Relaxed);
}

/// A forked child is a new process with its own (perhaps unregistered) memory: it
/// registers again before it trusts a compiler fence.
extern "C" fn forget_light_barrier() {
    // SYNC: Relaxed; process-local, read by this (the child's only) thread.
    BARRIER.store(UNKNOWN, Ordering::Relaxed);
}

/// The rare side of the asymmetric fence pair: a full fence here and in every running
/// thread of every process registered by [`light_barrier`]. Costs a system call (an
/// inter-processor interrupt to the CPUs running such threads), so only a side about to
/// sleep calls it. `false` when the kernel refused (a seccomp filter, say): a light
/// barrier elsewhere may then have been only a compiler fence, so the caller must not
/// sleep without a short timeout.
fn heavy_barrier() -> bool {
    use rustix::thread::{membarrier, MembarrierCommand};
    let done = membarrier(MembarrierCommand::GlobalExpedited).is_ok();
    fence(Ordering::SeqCst);
    done
}

/// Sleeps while `word` holds `expected`, for at most `timeout`; may return early.
///
/// A shared (not `FUTEX_PRIVATE_FLAG`) futex: the word may be in memory mapped by
/// several processes. Interruption, a changed word and a timeout all simply return.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    use rustix::thread::futex;
    let timeout = futex::Timespec::try_from(timeout).ok();
    let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
}

/// Wakes every thread, in any process, sleeping in `futex_wait` on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// Gives up the rest of this thread's time slice.
pub(crate) fn yield_now() {
    std::thread::yield_now();
}

/// Hints the CPU that this is a spin loop.
pub(crate) fn spin_loop() {
    std::hint::spin_loop();
}

/// Whether a destructor must leave shared state alone: only while a failed loom model
/// unwinds, so never in this world.
pub(crate) fn abandoned_by_loom() -> bool {
    false
}

/// Whether the loom suite has selected `mutation`: never outside it, so
/// [`weaken`](super::weaken) is the identity here.
#[inline(always)]
pub(crate) const fn mutated(_: super::Mutation) -> bool {
    false
}
