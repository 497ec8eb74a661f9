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
