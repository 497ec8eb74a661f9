//! How long a call may wait, from the C arguments.

use std::time::Duration;

use ferry::WaitPolicy;

/// Which form of a call C asked for: the plain (blocking) one, `try_`, or `_timeout`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// Wait as long as it takes.
    Block,
    /// Do not wait.
    Try,
    /// Wait at most this long.
    For(Duration),
}

impl Patience {
    /// A timeout in nanoseconds, as the `_timeout` functions take it.
    pub(crate) fn nanos(timeout_ns: u64) -> Self {
        Self::For(Duration::from_nanos(timeout_ns))
    }
}

/// A wait policy from the nanosecond arguments of `ferry_*_set_wait_policy`.
pub(crate) fn policy(spin_ns: u64, yield_ns: u64) -> WaitPolicy {
    WaitPolicy::new().spin(Duration::from_nanos(spin_ns)).yield_for(Duration::from_nanos(yield_ns))
}
