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
