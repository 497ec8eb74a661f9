//! Parking on a process-shared POSIX semaphore in shared memory: the fallback for
//! systems without futex, selectable on Linux.
//!
//! A post with no sleeper leaves a count behind, so the next wait returns at once; that
//! is a spurious wake-up, which the caller's re-check absorbs. A post is never lost.

#![allow(clippy::disallowed_types, reason = "a libc sem_t shared across processes: an FFI object loom never models")]

use std::{cell::UnsafeCell, mem::MaybeUninit, time::Duration};

/// A `sem_t` that lives in the segment.
#[repr(C)]
pub(super) struct Semaphore(UnsafeCell<MaybeUninit<libc::sem_t>>);

impl Semaphore {
    /// Uninitialised storage, to be placed in the segment and then `init`ialised.
    pub(super) fn zeroed() -> Self {
        Self(UnsafeCell::new(MaybeUninit::zeroed()))
    }

    /// Initialises the semaphore in place, shared between processes, count 0.
    pub(super) fn init(&self) {
        // SAFETY: the storage is a `sem_t` in memory that will not move again (the
        // segment), initialised once by the segment's creator before anyone else uses it.
        let rc = unsafe { libc::sem_init(self.raw(), 1, 0) };
        assert_eq!(rc, 0, "sem_init failed: {}", std::io::Error::last_os_error());
    }

    /// Adds one to the count, waking one sleeper. `false` if the count is at its
    /// maximum (EOVERFLOW): sleepers are then certain to wake anyway.
    pub(super) fn post(&self) -> bool {
        // SAFETY: `init` ran on this semaphore in the segment's creator; `sem_post` is
        // safe to call concurrently from any thread of any process mapping it.
        unsafe { libc::sem_post(self.raw()) == 0 }
    }

    /// Takes one from the count, sleeping at most `timeout` for it to be non-zero.
    pub(super) fn wait(&self, timeout: Duration) {
        let mut now = MaybeUninit::<libc::timespec>::uninit();
        // SAFETY: `now` is a valid out-pointer for one timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, now.as_mut_ptr()) };
        // SAFETY: clock_gettime with a valid clock id always fills it in.
        let now = unsafe { now.assume_init() };
        let nanos = now.tv_nsec as u64 + u64::from(timeout.subsec_nanos());
        let deadline = libc::timespec {
            tv_sec: now
                .tv_sec
                .saturating_add(timeout.as_secs() as libc::time_t + (nanos / 1_000_000_000) as libc::time_t),
            tv_nsec: (nanos % 1_000_000_000) as _,
        };
        // SAFETY: as for `post`. EINTR and ETIMEDOUT both mean "re-check and decide".
        unsafe { libc::sem_timedwait(self.raw(), &deadline) };
    }

    fn raw(&self) -> *mut libc::sem_t {
        self.0.get().cast()
    }
}
