//! The one wait loop: spin, then yield, then park on a [`Signal`], until a condition
//! holds, the wait runs out, or the peer has gone.
//!
//! The loop knows nothing of segments or rings. The caller hands it an attempt (which
//! says "done", "not yet" or fails) and a [`Watch`] on what else it waits on: whether the
//! peer has gone, and the dead handles whose half-done claims could block the condition
//! and must be resolved (rationed, while waiting; at once, before the last look).

use std::time::{Duration, Instant};

use crate::{
    signal::{Signal, Signaling, WaitPolicy},
    sync,
};

/// Longest single park: a parked side re-checks its peer's liveness this often.
const PARK_SLICE: Duration = Duration::from_millis(20);
/// Attempts between two looks at the clock while spinning or yielding.
const ATTEMPTS_PER_LOOK: u32 = 16;
/// Spins before [`briefly`] starts yielding.
const BRIEF_SPINS: u32 = 64;

/// How long a call that may not wait still waits for a write it knows to be under way,
/// which takes nanoseconds unless the writer is preempted (see [`briefly`]).
pub(crate) const BRIEF: Duration = Duration::from_micros(500);

/// How long a call may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    Never,
    Until(Instant),
    Forever,
}

impl Wait {
    pub(crate) fn until(timeout: Duration) -> Self {
        Instant::now().checked_add(timeout).map_or(Self::Forever, Self::Until)
    }

    pub(crate) fn is_never(&self) -> bool {
        matches!(self, Self::Never)
    }

    /// Time left: `Some(None)` without limit, `Some(Some(d))` with `d` left (zero for
    /// `Never`: look once), `None` once the deadline has passed.
    pub(crate) fn remaining(&self) -> Option<Option<Duration>> {
        match *self {
            Self::Never => Some(Some(Duration::ZERO)),
            Self::Forever => Some(None),
            Self::Until(deadline) => deadline.checked_duration_since(Instant::now()).map(Some),
        }
    }
}

/// Why the wait loop gave up, other than an error of the attempt itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GaveUp {
    /// The condition did not hold at once, and the call may not wait.
    WouldBlock,
    /// The wait ran out.
    Timeout,
    /// The peer has gone, and the condition still does not hold.
    Gone,
}

/// What a blocked call watches besides its condition.
pub(crate) trait Watch {
    /// Whether the peer has gone. A departure recorded in shared memory is cheap to see;
    /// with `check_pid`, a dead process is looked for too (a system call).
    fn peer_gone(&self, check_pid: bool) -> bool;
    /// Resolves dead handles' claims, if that is due (the implementor rations it).
    fn recover_if_due(&self);
    /// Resolves every dead handle's claim now.
    fn recover(&self);
}

/// A call that may wait: for what (`signal`, parked on as `how`), how (`policy`) and how
/// long (`wait`).
pub(crate) struct Blocked<'a> {
    pub(crate) signal: &'a Signal,
    pub(crate) how: Signaling,
    pub(crate) policy: WaitPolicy,
    pub(crate) wait: Wait,
}

impl Blocked<'_> {
    /// Retries `attempt` until it returns `Ok(Some(_))` or fails, the wait runs out, or
    /// the peer has gone: spinning, then yielding, then parked on the signal. `Ok(None)`
    /// from the attempt means "not yet".
    #[inline]
    pub(crate) fn retry<R, E: From<GaveUp>>(
        &self,
        watch: &impl Watch,
        mut attempt: impl FnMut() -> Result<Option<R>, E>,
    ) -> Result<R, E> {
        // The common case, ready at the first look, inline in the caller; the loop is out
        // of line (in a busy stream this saves about a sixth of a send + receive's
        // instructions).
        if let Some(r) = attempt()? {
            return Ok(r);
        }
        self.retry_after_first_look(watch, attempt)
    }

    /// [`Blocked::retry`] once the first look found nothing (for a caller that made
    /// that look itself).
    #[inline(never)]
    pub(crate) fn retry_after_first_look<R, E: From<GaveUp>>(
        &self,
        watch: &impl Watch,
        mut attempt: impl FnMut() -> Result<Option<R>, E>,
    ) -> Result<R, E> {
        let deadline = match self.wait {
            Wait::Never => {
                // A poller must not be wedged by a dead handle's claim either.
                watch.recover_if_due();
                return Err(GaveUp::WouldBlock.into());
            }
            Wait::Until(deadline) => Some(deadline),
            Wait::Forever => None,
        };
        let expired = |now: Instant| deadline.is_some_and(|d| now >= d);

        let start = Instant::now();
        let active = self.policy.spin + self.policy.yield_for;
        let mut now = start;
        while now - start < active && !expired(now) {
            let spinning = now - start < self.policy.spin;
            for _ in 0..ATTEMPTS_PER_LOOK {
                if spinning {
                    sync::spin_loop();
                } else {
                    sync::yield_now();
                }
                if let Some(r) = attempt()? {
                    return Ok(r);
                }
            }
            now = Instant::now();
        }

        let waiting = self.signal.announce(self.how);
        // Before the first sleep: a peer that dies while this side sleeps is then watched
        // (see `liveness::recover_if_due`), and its death wakes this side.
        watch.recover_if_due();
        let mut next_liveness_check = now + PARK_SLICE;
        loop {
            let ticket = waiting.ticket();
            if let Some(r) = attempt()? {
                return Ok(r);
            }
            let now = Instant::now();
            // A detached peer shows in shared memory; a dead one needs a system call,
            // made once per slice.
            let check_pid = now >= next_liveness_check;
            if check_pid {
                next_liveness_check = now + PARK_SLICE;
                // Dead handles' claims are resolved before the peer is judged, so the
                // messages behind them are delivered before a `Gone`.
                watch.recover_if_due();
            }
            if watch.peer_gone(check_pid) {
                // The peer published everything before it left: one last look, once
                // every dead handle's claim is resolved (MPMC), so nothing waits behind one.
                watch.recover();
                return attempt()?.ok_or_else(|| GaveUp::Gone.into());
            }
            if expired(now) {
                return Err(GaveUp::Timeout.into());
            }
            let slice = deadline.map_or(PARK_SLICE, |d| (d - now).min(PARK_SLICE));
            waiting.park(ticket, slice);
        }
    }
}

/// Retries `attempt` until it returns `Some`, for at most `bound`: for a call that may
/// not wait but knows that what it waits for is being written right now (an MPMC copy
/// send between its claim and its publication). Spins a little, then yields the CPU, so
/// that a writer preempted on this core can finish. `None` once `bound` has passed.
/// (Not for loom models, whose waits park: see `WaitPolicy`.)
pub(crate) fn briefly<R>(bound: Duration, mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
    for _ in 0..BRIEF_SPINS {
        sync::spin_loop();
        if let Some(r) = attempt() {
            return Some(r);
        }
    }
    let start = Instant::now();
    loop {
        sync::yield_now();
        if let Some(r) = attempt() {
            return Some(r);
        }
        if start.elapsed() >= bound {
            return None;
        }
    }
}
