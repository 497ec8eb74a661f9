//! ferry's benchmark suite: measurements between two real processes, ferry beside the
//! baselines and the limits.
//!
//! This crate is the measuring core of `cargo bench -p ferry-bench` (the criterion
//! benches `benches/latency.rs` and `benches/throughput.rs`) and of the `ferry-bench`
//! binary, which `ferry bench` runs. It is not part of the `ferry` library and uses
//! ferry only through its public API. Every cross-process figure comes from two (or
//! more) real processes: the measuring binary starts itself again
//! (`std::env::current_exe()`) with [`CHILD_ENV`] naming the role the copy plays, so a
//! binary that uses this crate must call [`child_main_if_requested`] first thing in
//! `main`.
//!
//! - [`PingPong`]: round trips through an echo process. One-way latency is half the round
//!   trip; every sample is kept, and [`Percentiles`] reports p50, p99, p99.9 and the
//!   maximum, not a mean. Over ferry (shared memory, busy-polling or parking at once, or
//!   the socket and FIFO fallbacks), over a plain Unix stream or seqpacket socket and a
//!   plain pipe, and the two floors: a cache line flipped between the two processes
//!   (the fastest any shared-memory hand-off can be) and a raw futex ping-pong (the
//!   fastest a hand-off to a sleeping process can be).
//! - [`Stream`]: one-way throughput from sender processes to receiver processes. The
//!   sender writes every byte of every message and the receiver reads every byte (a
//!   checksum that the coordinating process verifies), through the copy API
//!   (`send` / `recv_into`) or the zero-copy API (`loan` / `recv` in place).
//! - [`memcpy_bandwidth`]: one process copying between two page-aligned buffers, the
//!   ceiling for a copy.
//! - [`report`]: the quick run behind `ferry-bench` (and `ferry bench`), its table, its
//!   verdict on each target, and its JSON.
//!
//! Each process samples the CPU it runs on when it starts and when it finishes
//! ([`Cpus`]): on a machine whose host moves the virtual CPUs, the figures are only
//! comparable with that in view.
//!
//! # Examples
//!
//! ```no_run
//! use ferry_bench::{Link, Percentiles, PingPong, Wait};
//!
//! fn main() -> std::io::Result<()> {
//!     ferry_bench::child_main_if_requested(); // this process may be the echo
//!     let mut session = PingPong::start(Link::FerrySpsc, Wait::Spin, 8)?;
//!     let mut samples = Vec::new();
//!     session.round_trips(10_000, &mut samples)?;
//!     let cpus = session.finish()?;
//!     println!("{} on {cpus:?}", Percentiles::of(&mut samples));
//!     Ok(())
//! }
//! ```

// The baselines share memory between processes through std atomics: this crate is a
// user of ferry, not part of its loom-checked core, so the facade rule does not apply.
#![allow(clippy::disallowed_types)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

mod baselines;
pub mod event_loop;
mod process;
pub mod report;
mod workloads;

use std::fmt;

pub use baselines::{memcpy_bandwidth, CopyBuffers};
pub use workloads::{PingPong, Stream};

/// The environment variable that makes a measuring binary play a child role.
pub const CHILD_ENV: &str = "FERRY_BENCH_CHILD";

/// Runs the child role named by [`CHILD_ENV`] and exits, if the variable is set;
/// returns at once otherwise. Call it first thing in `main` of any binary that measures
/// with this module.
pub fn child_main_if_requested() {
    let Ok(role) = std::env::var(CHILD_ENV) else { return };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match workloads::child(&role, &args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("ferry bench: child `{role}` failed: {e}");
            std::process::exit(1)
        }
    }
}

/// What carries the messages between the processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// ferry's SPSC ring in shared memory (`shm:NAME`).
    FerrySpsc,
    /// ferry's MPMC ring in shared memory (`shm:NAME`, `RingKind::Mpmc`).
    FerryMpmc,
    /// ferry's broadcast ring in shared memory (`shm:NAME`, `RingKind::Broadcast`, block
    /// mode): one publisher, every message to every subscriber.
    FerryBroadcast,
    /// ferry over its Unix-socket fallback (`unix:PATH`).
    FerryUnix,
    /// ferry over its named-pipe fallback (`fifo:PATH`).
    FerryFifo,
    /// A plain Unix domain stream socket: `write` and `read` of whole messages.
    UnixStream,
    /// A plain Unix domain seqpacket socket: one `send` / `recv` per message.
    UnixSeqpacket,
    /// A plain pipe (a named FIFO): `write` and `read` of whole messages.
    Pipe,
    /// The busy-poll floor: one cache line in a shared mapping, whose counter the two
    /// processes flip (latency only).
    CacheLine,
    /// The blocking floor: two futex words in a shared mapping, each hand-off a wake of
    /// a sleeping process (latency only).
    Futex,
}

impl Link {
    /// A short name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::FerrySpsc => "ferry-spsc",
            Self::FerryMpmc => "ferry-mpmc",
            Self::FerryBroadcast => "ferry-broadcast",
            Self::FerryUnix => "ferry-unix",
            Self::FerryFifo => "ferry-fifo",
            Self::UnixStream => "unix-stream",
            Self::UnixSeqpacket => "unix-seqpacket",
            Self::Pipe => "pipe",
            Self::CacheLine => "cache-line",
            Self::Futex => "futex",
        }
    }

    /// Whether this is one of ferry's own transports.
    pub fn is_ferry(self) -> bool {
        matches!(self, Self::FerrySpsc | Self::FerryMpmc | Self::FerryBroadcast | Self::FerryUnix | Self::FerryFifo)
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::FerrySpsc,
            Self::FerryMpmc,
            Self::FerryBroadcast,
            Self::FerryUnix,
            Self::FerryFifo,
            Self::UnixStream,
            Self::UnixSeqpacket,
            Self::Pipe,
            Self::CacheLine,
            Self::Futex,
        ]
        .into_iter()
        .find(|l| l.name() == s)
    }
}

/// How a waiting ferry endpoint waits (the other links always block in the kernel,
/// except the cache line, which always spins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// Busy-poll: spin on the ring and never park (while a round trip lasts under a
    /// second).
    Spin,
    /// Park in the kernel as soon as the ring is empty (`WaitPolicy::park_at_once`).
    Park,
}

impl Wait {
    fn name(self) -> &'static str {
        match self {
            Self::Spin => "spin",
            Self::Park => "park",
        }
    }

    fn policy(self) -> ferry::WaitPolicy {
        match self {
            Self::Spin => {
                ferry::WaitPolicy::new().spin(std::time::Duration::from_secs(1)).yield_for(Default::default())
            }
            Self::Park => ferry::WaitPolicy::park_at_once(),
        }
    }
}

/// Which half of ferry's API moves the bytes of a throughput run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `send(&[u8])` from a private buffer the sender filled; `recv_into(&mut [u8])`
    /// into a private buffer the receiver then reads. (The only API of the baselines.)
    Copy,
    /// `loan()`, fill the slot in place, `commit`; `recv()` and read the slot in place.
    ZeroCopy,
    /// The copy API through batches (`Sender::batch`, `Receiver::batch`): up to
    /// [`BATCH`] messages published, or released, with one store and one wake-up check.
    Batch,
}

/// Most messages a [`Api::Batch`] sender publishes, or receiver releases, at once.
pub const BATCH: u64 = 32;

impl Api {
    /// A short name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::ZeroCopy => "zero-copy",
            Self::Batch => "batched",
        }
    }

    /// The API named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Copy, Self::ZeroCopy, Self::Batch].into_iter().find(|api| api.name() == name)
    }
}

/// Percentiles of a set of samples in nanoseconds (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Sorts `samples` and reads the percentiles off them (all zero if there are none).
    pub fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of them at or below it.
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        if samples.is_empty() {
            return Self::default();
        }
        Self { count: samples.len(), p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1.0) }
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns ({} samples)",
            self.p50, self.p99, self.p999, self.max, self.count
        )
    }
}

/// Where one process of a measurement ran: the CPU it was on when it started and when it
/// finished (`sched_getcpu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus {
    /// The process's part: `parent`, `echo`, `sender 1`, `receiver 2`, ...
    pub process: String,
    /// Its CPU when it started.
    pub start: i32,
    /// Its CPU when it finished.
    pub end: i32,
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{} on cpu {}", self.process, self.start)
        } else {
            write!(f, "{} on cpu {} then {}", self.process, self.start, self.end)
        }
    }
}

/// The CPU this thread runs on now (-1 if the kernel cannot say).
pub fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu takes no argument and touches no memory of ours.
    unsafe { libc::sched_getcpu() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.count, p.p50, p.p99, p.p999, p.max), (1000, 500, 990, 999, 1000));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        assert_eq!(Percentiles::of(&mut [7]).p999, 7);
    }

    #[test]
    fn link_names_parse_back() {
        for link in [Link::FerrySpsc, Link::FerryFifo, Link::UnixSeqpacket, Link::CacheLine, Link::Futex] {
            assert_eq!(Link::parse(link.name()), Some(link));
        }
        assert_eq!(Link::parse("carrier-pigeon"), None);
    }
}
