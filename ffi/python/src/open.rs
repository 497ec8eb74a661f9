//! Opening a channel that may not exist yet: `Sender.open(endpoint, timeout=...)`.
//!
//! The core's `open_timeout` waits the same way, but holds the caller for the whole
//! timeout; here the wait is ours so that Python's signal handlers run between
//! attempts (Ctrl-C ends it) and the GIL is released while it sleeps: try to open; while
//! the channel is not found, sleep [`RETRY`] without the GIL and try again until the
//! deadline, which raises `ferry.Timeout` naming the endpoint. Any other error is raised
//! at once.

use std::time::{Duration, Instant};

use ferry::AttachError;
use pyo3::prelude::*;

use crate::{errors, wait::Patience};

/// How long to sleep between two attempts to open.
const RETRY: Duration = Duration::from_millis(2);

/// Opens with `open`, waiting as `patience` allows for the channel to be created.
pub(crate) fn within<T>(
    py: Python<'_>,
    endpoint: &str,
    timeout: Option<f64>,
    open: impl Fn() -> Result<T, AttachError>,
) -> PyResult<T> {
    // No timeout: one attempt, as in Rust's `open`.
    let Some(seconds) = timeout else { return open().map_err(|e| errors::attach(py, e)) };
    let patience = Patience::from_timeout(Some(seconds))?.started();
    loop {
        match open() {
            Err(AttachError::NotFound { .. }) if !passed(patience) => {
                py.detach(|| std::thread::sleep(RETRY));
                py.check_signals()?;
            }
            Err(AttachError::NotFound { .. }) => {
                return Err(errors::raise(
                    py,
                    "Timeout",
                    format!("no channel `{endpoint}` was created within {seconds} s: has its creator started?"),
                ))
            }
            other => return other.map_err(|e| errors::attach(py, e)),
        }
    }
}

fn passed(patience: Patience) -> bool {
    match patience {
        Patience::Try => true,
        Patience::Until(deadline) => Instant::now() >= deadline,
        Patience::For(_) | Patience::Forever => false,
    }
}
