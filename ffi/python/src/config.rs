//! `ferry.Config`: the shape of a channel, as its creator chooses it.

use ferry::{Policy, RingKind, Signaling};
use pyo3::prelude::*;

use crate::errors;

/// The shape of a channel, chosen by its creator: `Config(slot_size=256, capacity=64)`.
///
/// `slot_size` is the largest message in bytes; `capacity` how many messages the
/// channel holds at once (any number from 1 to 2**24; a power of two on a broadcast
/// channel); `kind` is `"spsc"` (one sender, one receiver) or
/// `"mpmc"` (any number of each; each message goes to one receiver); `signaling` is how
/// blocked calls sleep, `"futex"` or `"semaphore"`; `mode` the permission bits of the
/// shared-memory object (0o600 unless asked). For a broadcast channel
/// (`ferry.Publisher`): `policy` is `"block"` (a publisher waits for the slowest
/// subscriber) or `"overwrite"` (it never waits; a subscriber a ring behind gets
/// `ferry.Lagged`), `history` how many of the latest messages a late subscriber may ask
/// for, `subscribers` how many may be attached at once. With `capacity_bytes`, the channel
/// (`"spsc"`, `"mpmc"`, or a broadcast one) is sized in bytes: a ring of that many bytes
/// (a power of two, at least `2 * (16 + slot_size)`) carries messages of any size up to
/// `slot_size`, each taking only the room it needs (`Sender.loan(size=n)` and
/// `Publisher.loan(size=n)` lend exactly `n` bytes); `capacity` is then ignored. A
/// broadcast channel sized in bytes blocks and keeps no history. Immutable; compare with
/// `==`.
#[pyclass(frozen, eq, module = "ferry")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// The largest message, in bytes.
    #[pyo3(get)]
    slot_size: usize,
    /// How many messages the channel holds at once.
    #[pyo3(get)]
    capacity: usize,
    /// `"spsc"` or `"mpmc"`.
    #[pyo3(get)]
    kind: &'static str,
    /// `"futex"` or `"semaphore"`.
    #[pyo3(get)]
    signaling: &'static str,
    /// Permission bits of the shared-memory object.
    #[pyo3(get)]
    mode: u32,
    /// 0, or the bytes of a channel sized in bytes.
    #[pyo3(get)]
    capacity_bytes: usize,
    /// Broadcast: `"block"` or `"overwrite"`.
    #[pyo3(get)]
    policy: &'static str,
    /// Broadcast: messages kept for late subscribers.
    #[pyo3(get)]
    history: usize,
    /// Broadcast: subscriber seats.
    #[pyo3(get)]
    subscribers: usize,
}

#[pymethods]
impl Config {
    #[new]
    #[pyo3(signature = (
        *, slot_size = None, capacity = None, kind = "spsc", signaling = "futex", mode = 0o600,
        policy = "block", history = 0, subscribers = None, capacity_bytes = None
    ))]
    #[expect(clippy::too_many_arguments, reason = "Python's keyword arguments, one per setting")]
    fn new(
        py: Python<'_>,
        slot_size: Option<i64>,
        capacity: Option<i64>,
        kind: &str,
        signaling: &str,
        mode: u32,
        policy: &str,
        history: i64,
        subscribers: Option<i64>,
        capacity_bytes: Option<i64>,
    ) -> PyResult<Self> {
        let defaults = ferry::Config::new();
        let count = |value: Option<i64>, default: usize, what: &str| match value {
            None => Ok(default),
            Some(n) => usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                errors::raise(py, "InvalidConfig", format!("{what} must be a positive number, not {n}"))
            }),
        };
        let kind = match kind {
            "spsc" => "spsc",
            "mpmc" => "mpmc",
            other => {
                return Err(errors::raise(
                    py,
                    "InvalidConfig",
                    format!("kind must be \"spsc\" or \"mpmc\", not {other:?}"),
                ))
            }
        };
        let signaling = match signaling {
            "futex" => "futex",
            "semaphore" => "semaphore",
            other => {
                return Err(errors::raise(
                    py,
                    "InvalidConfig",
                    format!("signaling must be \"futex\" or \"semaphore\", not {other:?}"),
                ))
            }
        };
        let policy = match policy {
            "block" => "block",
            "overwrite" => "overwrite",
            other => {
                return Err(errors::raise(
                    py,
                    "InvalidConfig",
                    format!("policy must be \"block\" or \"overwrite\", not {other:?}"),
                ))
            }
        };
        let history = usize::try_from(history).map_err(|_| {
            errors::raise(py, "InvalidConfig", format!("history must be a number of messages >= 0, not {history}"))
        })?;
        if mode > 0o777 {
            return Err(errors::raise(
                py,
                "InvalidConfig",
                format!("mode must be permission bits (at most 0o777), not {mode:#o}"),
            ));
        }
        Ok(Self {
            // A channel sized in bytes may carry empty messages only, as in Rust.
            slot_size: match (slot_size, capacity_bytes) {
                (Some(0), Some(_)) => 0,
                (slot_size, _) => count(slot_size, defaults.get_slot_size(), "slot_size")?,
            },
            capacity: count(capacity, defaults.get_capacity(), "capacity")?,
            kind,
            signaling,
            mode,
            policy,
            history,
            subscribers: count(subscribers, defaults.get_subscribers(), "subscribers")?,
            capacity_bytes: match capacity_bytes {
                None => 0,
                bytes => count(bytes, 0, "capacity_bytes")?,
            },
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "ferry.Config(slot_size={}, capacity={}, kind='{}', signaling='{}', mode={:#o}, policy='{}', \
             history={}, subscribers={}, capacity_bytes={})",
            self.slot_size,
            self.capacity,
            self.kind,
            self.signaling,
            self.mode,
            self.policy,
            self.history,
            self.subscribers,
            self.capacity_bytes
        )
    }
}

impl Config {
    /// The core's `Config` for a `config=` argument: the one given, or the defaults.
    pub(crate) fn or_default(py: Python<'_>, config: Option<&Bound<'_, Self>>) -> PyResult<ferry::Config> {
        match config {
            Some(config) => Ok(config.get().to_ferry()),
            None => Ok(Self::new(py, None, None, "spsc", "futex", 0o600, "block", 0, None, None)?.to_ferry()),
        }
    }

    /// The core's `Config`.
    pub(crate) fn to_ferry(&self) -> ferry::Config {
        let config = ferry::Config::new()
            .kind(if self.kind == "mpmc" { RingKind::Mpmc } else { RingKind::Spsc })
            .signaling(if self.signaling == "semaphore" { Signaling::Semaphore } else { Signaling::Futex })
            .slot_size(self.slot_size)
            .capacity(self.capacity)
            .mode(self.mode)
            .policy(if self.policy == "overwrite" { Policy::Overwrite } else { Policy::Block })
            .history(self.history)
            .subscribers(self.subscribers);
        match self.capacity_bytes {
            0 => config,
            bytes => config.capacity_bytes(bytes),
        }
    }
}
