//! Blocking calls from Python: the `timeout` argument, and waiting without the GIL in
//! slices, so other Python threads run meanwhile and Ctrl-C ends the wait.
//!
//! A wait is a series of ferry `_timeout` calls of at most [`SLICE`] each, made with the
//! GIL released; between two, the GIL is taken back and Python's signal handlers run (a
//! `KeyboardInterrupt` raised by one ends the wait with that exception). ferry's own
//! wait inside a slice spins, yields, then parks on the futex, so an idle wait costs no
//! CPU and a message that arrives mid-slice is taken at once.

use std::time::{Duration, Instant};

use pyo3::{exceptions::PyValueError, prelude::*};

/// The longest ferry call made without looking at Python's signals.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// How long a call may wait: not at all (the `try_` forms), for a while from when it
/// starts to wait, until a deadline, or forever (`timeout=None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patience {
    Try,
    /// A `timeout=` not yet started: the deadline is taken when the call first has to
    /// wait ([`Patience::started`]), so a call that finds a message waiting never reads
    /// the clock.
    For(Duration),
    Until(Instant),
    Forever,
}

impl Patience {
    /// From a `timeout` argument in seconds: `None` or `inf` waits forever, `0` makes
    /// one attempt that may still report a departed peer (unlike the `try_` forms).
    pub(crate) fn from_timeout(timeout: Option<f64>) -> PyResult<Self> {
        let Some(seconds) = timeout else { return Ok(Self::Forever) };
        if seconds.is_nan() || seconds < 0.0 {
            return Err(PyValueError::new_err(format!(
                "timeout must be a number of seconds >= 0 or None, not {seconds}"
            )));
        }
        Ok(Duration::try_from_secs_f64(seconds).map_or(Self::Forever, Self::For))
    }

    /// The deadline of a `For` counted from now (one too far to represent waits
    /// forever); the other kinds as they are.
    pub(crate) fn started(self) -> Self {
        match self {
            Self::For(wait) => Instant::now().checked_add(wait).map_or(Self::Forever, Self::Until),
            other => other,
        }
    }
}

/// Makes `attempt(slice)` without the GIL, slice by slice, until it returns anything but
/// a timeout (`is_timeout`) or the deadline passes; returns what the last attempt
/// returned. Between slices, Python's signal handlers run; an exception from one is
/// returned as `Err`.
pub(crate) fn in_slices<T, E>(
    py: Python<'_>,
    patience: Patience,
    is_timeout: impl Fn(&E) -> bool,
    mut attempt: impl FnMut(Duration) -> Result<T, E> + Send,
) -> PyResult<Result<T, E>>
where
    T: Send,
    E: Send,
{
    let patience = patience.started();
    loop {
        let slice = match patience {
            Patience::Try => Duration::ZERO,
            Patience::Until(deadline) => deadline.saturating_duration_since(Instant::now()).min(SLICE),
            Patience::For(_) => unreachable!("started above"),
            Patience::Forever => SLICE,
        };
        let result = py.detach(|| attempt(slice));
        let more = match (&result, patience) {
            (Err(e), Patience::Until(deadline)) => is_timeout(e) && Instant::now() < deadline,
            (Err(e), Patience::Forever) => is_timeout(e),
            _ => false,
        };
        if !more {
            return Ok(result);
        }
        py.check_signals()?;
    }
}
