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
//!   (`send` / `recv_into`) or the zero-copy API (`loan_bytes` / `recv` in place); every
//!   message of one size, or a mixed stream ([`Sizes`]). Over ferry, the baselines, and
//!   the limit for a ring in shared memory: a plain SPSC ring written by hand
//!   ([`Link::PlainRing`]).
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
    let pinned = match std::env::var(process::CPU_ENV) {
        Ok(cpu) => cpu.parse().map_err(|_| process::failure(format!("bad cpu `{cpu}`"))).and_then(process::pin),
        Err(_) => Ok(()),
    };
    match pinned.and_then(|()| workloads::child(&role, &args)) {
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
    /// ferry's SPSC ring in shared memory (`shm:NAME`), a ring of fixed slots.
    FerrySpsc,
    /// ferry's SPSC channel sized in bytes (`shm:NAME`, `Config::capacity_bytes`):
    /// variable-length records, each its length rounded up to 16 plus a 16-byte header.
    FerryBytes,
    /// ferry's MPMC ring in shared memory (`shm:NAME`, `RingKind::Mpmc`).
    FerryMpmc,
    /// ferry's MPMC channel sized in bytes (`shm:NAME`, `RingKind::Mpmc` with
    /// `Config::capacity_bytes`): the records of [`Link::FerryBytes`], claimed by any
    /// number of senders and receivers.
    FerryMpmcBytes,
    /// ferry's broadcast ring in shared memory (`shm:NAME`, `RingKind::Broadcast`, block
    /// mode): one publisher, every message to every subscriber.
    FerryBroadcast,
    /// ferry's broadcast channel sized in bytes (`shm:NAME`, `RingKind::Broadcast` with
    /// `Config::capacity_bytes`): the records of [`Link::FerryBytes`], read by every
    /// subscriber.
    FerryBroadcastBytes,
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
    /// The throughput limit for a ring in shared memory: a plain SPSC ring written by
    /// hand, fixed slots, a head and a tail, `memcpy` in and out, both sides busy-spinning
    /// (throughput only, copy API).
    PlainRing,
}

impl Link {
    /// Every link.
    pub const ALL: [Self; 14] = [
        Self::FerrySpsc,
        Self::FerryBytes,
        Self::FerryMpmc,
        Self::FerryMpmcBytes,
        Self::FerryBroadcast,
        Self::FerryBroadcastBytes,
        Self::FerryUnix,
        Self::FerryFifo,
        Self::UnixStream,
        Self::UnixSeqpacket,
        Self::Pipe,
        Self::CacheLine,
        Self::Futex,
        Self::PlainRing,
    ];

    /// A short name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::FerrySpsc => "ferry-spsc",
            Self::FerryBytes => "ferry-bytes",
            Self::FerryMpmc => "ferry-mpmc",
            Self::FerryMpmcBytes => "ferry-mpmc-bytes",
            Self::FerryBroadcast => "ferry-broadcast",
            Self::FerryBroadcastBytes => "ferry-broadcast-bytes",
            Self::FerryUnix => "ferry-unix",
            Self::FerryFifo => "ferry-fifo",
            Self::UnixStream => "unix-stream",
            Self::UnixSeqpacket => "unix-seqpacket",
            Self::Pipe => "pipe",
            Self::CacheLine => "cache-line",
            Self::Futex => "futex",
            Self::PlainRing => "plain-ring",
        }
    }

    /// Whether this is one of ferry's own transports.
    pub fn is_ferry(self) -> bool {
        matches!(
            self,
            Self::FerrySpsc
                | Self::FerryBytes
                | Self::FerryMpmc
                | Self::FerryMpmcBytes
                | Self::FerryBroadcast
                | Self::FerryBroadcastBytes
                | Self::FerryUnix
                | Self::FerryFifo
        )
    }

    /// Whether this is one of ferry's broadcast channels (one publisher, subscribers).
    pub fn is_broadcast(self) -> bool {
        matches!(self, Self::FerryBroadcast | Self::FerryBroadcastBytes)
    }

    /// The link named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
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
    /// `loan_bytes(n)` for the message's exact size, fill it in place, `commit`; `recv()`
    /// and read the message in place. (On a ring of slots, the loan is a slot.)
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

/// The sizes of the messages of a throughput run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sizes {
    /// Every message this many bytes.
    Fixed(usize),
    /// A mixed stream, in a fixed pattern: every [`MIXED_EVERY`]th message (the 10th,
    /// the 20th, ...) of [`MIXED_LARGE`] bytes, the others of [`MIXED_SMALL`] bytes.
    Mixed,
}

/// The small messages of [`Sizes::Mixed`]: 64 B.
pub const MIXED_SMALL: usize = 64;
/// The large messages of [`Sizes::Mixed`]: 64 KiB.
pub const MIXED_LARGE: usize = 64 * 1024;
/// One message in this many of [`Sizes::Mixed`] is large: 1 in 10.
pub const MIXED_EVERY: u64 = 10;

impl Sizes {
    /// The size of a sender's `n`th message (counting from 0).
    pub fn of(self, n: u64) -> usize {
        match self {
            Self::Fixed(size) => size,
            Self::Mixed if (n + 1).is_multiple_of(MIXED_EVERY) => MIXED_LARGE,
            Self::Mixed => MIXED_SMALL,
        }
    }

    /// The largest message.
    pub fn largest(self) -> usize {
        match self {
            Self::Fixed(size) => size,
            Self::Mixed => MIXED_LARGE,
        }
    }

    /// The mean message size over the pattern, in bytes.
    pub fn mean(self) -> f64 {
        match self {
            Self::Fixed(size) => size as f64,
            Self::Mixed => {
                let every = MIXED_EVERY as usize;
                ((every - 1) * MIXED_SMALL + MIXED_LARGE) as f64 / every as f64
            }
        }
    }

    /// The sizes as a child's argument: the size, or `mixed`.
    fn arg(self) -> String {
        match self {
            Self::Fixed(size) => size.to_string(),
            Self::Mixed => "mixed".into(),
        }
    }

    /// The sizes from a child's argument ([`Sizes::arg`]).
    fn parse(arg: &str) -> Option<Self> {
        match arg {
            "mixed" => Some(Self::Mixed),
            size => size.parse().ok().map(Self::Fixed),
        }
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
        for link in Link::ALL {
            assert_eq!(Link::parse(link.name()), Some(link));
        }
        assert_eq!(Link::parse("ferry-bytes"), Some(Link::FerryBytes));
        assert_eq!(Link::parse("ferry-mpmc-bytes"), Some(Link::FerryMpmcBytes));
        assert_eq!(Link::parse("plain-ring"), Some(Link::PlainRing));
        assert!(Link::FerryBytes.is_ferry() && Link::FerryMpmcBytes.is_ferry() && !Link::PlainRing.is_ferry());
        assert_eq!(Link::parse("carrier-pigeon"), None);
        let names: std::collections::HashSet<_> = Link::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names.len(), Link::ALL.len(), "two links share a name");
    }

    #[test]
    fn the_mixed_stream_is_one_large_message_in_ten() {
        let sizes: Vec<usize> = (0..20).map(|n| Sizes::Mixed.of(n)).collect();
        assert_eq!(sizes.iter().filter(|&&s| s == MIXED_LARGE).count(), 2);
        assert_eq!((sizes[9], sizes[19], sizes[0], sizes[10]), (MIXED_LARGE, MIXED_LARGE, MIXED_SMALL, MIXED_SMALL));
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        assert_eq!(Sizes::Mixed.mean(), mean);
        assert_eq!((Sizes::Mixed.largest(), Sizes::Fixed(64).of(9), Sizes::Fixed(64).mean()), (MIXED_LARGE, 64, 64.0));
        for sizes in [Sizes::Mixed, Sizes::Fixed(0), Sizes::Fixed(65536)] {
            assert_eq!(Sizes::parse(&sizes.arg()), Some(sizes));
        }
        assert_eq!(Sizes::parse("lots"), None);
    }
}
