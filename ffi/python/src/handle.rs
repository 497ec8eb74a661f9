//! A Python handle serves one thread at a time: the mutex each class wraps its Rust
//! handle in is taken for one call, never waited for.

use std::sync::{Mutex, MutexGuard, TryLockError};

use pyo3::prelude::*;

use crate::errors;

/// Takes `inner` for one call on the `what` (`"sender"`, ...); `Busy` if another thread
/// is in a call on it (it released the GIL to wait).
pub(crate) fn lock<'a, T>(py: Python<'_>, inner: &'a Mutex<T>, what: &'static str) -> PyResult<MutexGuard<'a, T>> {
    match inner.try_lock() {
        Ok(inner) => Ok(inner),
        // A panic inside ferry left it locked: PyO3 turned the panic into an exception
        // then; what the mutex holds is consistent between calls.
        Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => Err(errors::in_use(py, what)),
    }
}
