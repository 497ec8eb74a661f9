//! `ferry-bench` (also run as `ferry bench`): a quick run of every measurement, one table
//! of ferry beside its baselines, a verdict on each target, and the results as JSON.
//!
//! Each measurement's processes are started once and kept for the whole run. The run
//! goes round all of them several times, in an order that puts each ferry figure next
//! to its baseline, and reports the median of the rounds: on a machine whose host moves
//! the virtual CPUs every few seconds, a ferry figure and its floor measured seconds
//! apart can sit on different levels; measured side by side, round after round, their
//! ratio holds.
//!
//! Beside the SPSC ring of fixed slots runs the SPSC channel sized in bytes (latency,
//! 64 B throughput, and a mixed stream of 64 B and 64 KiB messages, with the shared
//! memory each channel takes), and beside the copy API the limit for a ring in shared
//! memory: a plain SPSC ring written by hand ([`Link::PlainRing`]). Beside the MPMC ring
//! of slots, two senders to two receivers, runs the MPMC channel sized in bytes
//! ([`Link::FerryMpmcBytes`]), holding as many 64 B messages.

use std::{
    fmt::Write as _,
    io::{self, Write as _},
    process::ExitCode,
    time::{Duration, Instant},
};

use super::{memcpy_bandwidth, Api, Cpus, Link, Percentiles, PingPong, Sizes, Stream, Wait, MIXED_EVERY};

/// How `ferry bench` runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// A few iterations of everything, once: checks that every measurement runs, in
    /// seconds; the figures mean nothing.
    pub tiny: bool,
    /// Where to write the results as JSON (`-` for standard output, then the table goes
    /// to standard error).
    pub json: Option<String>,
    /// Only the event-loop measurements (`event_loop.rs`), printed.
    pub event_loop_only: bool,
}

impl Options {
    /// Parses `ferry bench`'s arguments: `[--tiny] [--json PATH|-]`.
    ///
    /// # Errors
    ///
    /// An unknown argument, or `--json` without a path.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tiny" => options.tiny = true,
                "--event-loop" => options.event_loop_only = true,
                "--json" => options.json = Some(args.next().ok_or("--json needs a path (or -)")?.clone()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }
}

/// The usage lines of `ferry bench` and of the `ferry-bench` binary it runs.
pub const USAGE: &str =
    "ferry bench [--tiny] [--json PATH|-] [--event-loop]\n   or: ferry-bench [--tiny] [--json PATH|-] [--event-loop]";

/// Runs `ferry bench` with its arguments (those after `bench`, which are those of
/// `ferry-bench`): measures, prints the table, writes the JSON. Call
/// [`super::child_main_if_requested`] first in `main`.
pub fn main(args: &[String]) -> ExitCode {
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ferry bench: {e}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    };
    let (rounds, stream) = if options.tiny { (200, 100_000) } else { (20_000, 10_000_000) };
    if options.event_loop_only {
        return match crate::event_loop::report(rounds, stream) {
            Ok(lines) => {
                print!("{lines}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferry bench: the event-loop measurements: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let results = match run(&options) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("ferry bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut table = results.table();
    match crate::event_loop::report(rounds, stream) {
        Ok(lines) => table.push_str(&lines),
        Err(e) => {
            eprintln!("ferry bench: the event-loop measurements: {e}");
            return ExitCode::FAILURE;
        }
    }
    let written = match options.json.as_deref() {
        Some("-") => {
            eprint!("{table}");
            io::stdout().write_all(results.json().as_bytes())
        }
        Some(path) => {
            print!("{table}");
            std::fs::write(path, results.json())
        }
        None => {
            print!("{table}");
            Ok(())
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry bench: cannot write the JSON: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One measurement of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// One-way latency over a ping-pong.
    Latency {
        /// The link.
        link: Link,
        /// How ferry's shared-memory endpoints wait.
        wait: Wait,
        /// Message size in bytes.
        size: usize,
    },
    /// One-way throughput.
    Throughput {
        /// The link.
        link: Link,
        /// ferry's copy or zero-copy API.
        api: Api,
        /// Message size in bytes.
        size: usize,
        /// Sender processes, and as many receiver processes.
        pairs: usize,
    },
    /// One-way throughput of the mixed stream ([`Sizes::Mixed`]: every 10th message of
    /// 64 KiB, the others of 64 B), one sender and one receiver.
    Mixed {
        /// The link.
        link: Link,
        /// ferry's copy or zero-copy API.
        api: Api,
    },
    /// Single-process `memcpy` between page-aligned buffers of `size` bytes.
    Memcpy {
        /// Bytes per copy.
        size: usize,
    },
}

impl Probe {
    /// A short label: `latency ferry-spsc spin 8 B`, `throughput pipe copy 64 KiB`, ...
    pub fn label(&self) -> String {
        match *self {
            Self::Latency { link, wait, size } if link.is_ferry() => {
                format!("latency {} {} {}", link.name(), wait.name(), bytes(size))
            }
            Self::Latency { link, size, .. } => format!("latency {} {}", link.name(), bytes(size)),
            Self::Throughput { link, api, size, pairs } if link.is_broadcast() => {
                format!("throughput {} 1x{pairs} {} {}", link.name(), api.name(), bytes(size))
            }
            Self::Throughput { link, api, size, pairs } if pairs > 1 => {
                format!("throughput {} {pairs}x{pairs} {} {}", link.name(), api.name(), bytes(size))
            }
            Self::Throughput { link, api, size, .. } => {
                format!("throughput {} {} {}", link.name(), api.name(), bytes(size))
            }
            Self::Mixed { link, api } => format!("throughput {} {} {}", link.name(), api.name(), mixed()),
            Self::Memcpy { size } => format!("memcpy {}", bytes(size)),
        }
    }

    /// The sizes of the probe's messages.
    fn sizes(&self) -> Sizes {
        match *self {
            Self::Latency { size, .. } | Self::Throughput { size, .. } | Self::Memcpy { size } => Sizes::Fixed(size),
            Self::Mixed { .. } => Sizes::Mixed,
        }
    }
}

/// The mixed stream in short: `mixed 64 B/64 KiB`.
fn mixed() -> String {
    let (small, large) = (Sizes::Mixed.of(0), Sizes::Mixed.largest());
    format!("mixed {}/{}", bytes(small), bytes(large))
}

/// `8 B`, `1 KiB`, `64 KiB`, `1 MiB`.
fn bytes(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn lat(link: Link, wait: Wait, size: usize) -> Probe {
    Probe::Latency { link, wait, size }
}

fn thr(link: Link, api: Api, size: usize) -> Probe {
    Probe::Throughput { link, api, size, pairs: 1 }
}

/// Every measurement of the run, each ferry figure next to its baseline.
pub fn probes() -> Vec<Probe> {
    use Link::*;
    let mut probes = vec![
        lat(CacheLine, Wait::Spin, 8),
        lat(FerrySpsc, Wait::Spin, 8),
        lat(FerryBytes, Wait::Spin, 8),
        lat(FerrySpsc, Wait::Spin, KIB),
        lat(FerryMpmc, Wait::Spin, 8),
        lat(FerryBroadcast, Wait::Spin, 8),
        lat(Futex, Wait::Park, 8),
        lat(FerrySpsc, Wait::Park, 8),
        lat(FerryBytes, Wait::Park, 8),
        lat(FerrySpsc, Wait::Park, KIB),
        lat(UnixStream, Wait::Park, 8),
        lat(FerryUnix, Wait::Park, 8),
        lat(UnixStream, Wait::Park, KIB),
        lat(UnixSeqpacket, Wait::Park, 8),
        lat(Pipe, Wait::Park, 8),
        lat(FerryFifo, Wait::Park, 8),
    ];
    for size in [64, KIB, 64 * KIB, MIB] {
        if size == 64 {
            probes.push(thr(FerryBytes, Api::Copy, size));
        }
        probes.push(thr(FerrySpsc, Api::Copy, size));
        if size <= KIB {
            // The ceiling between the copy API, one message per call, and the batches.
            probes.push(thr(PlainRing, Api::Copy, size));
        }
        if size == 64 {
            probes.push(thr(FerrySpsc, Api::Batch, size));
        }
        probes.push(thr(FerrySpsc, Api::ZeroCopy, size));
        if size == 64 {
            probes.push(thr(FerryBytes, Api::ZeroCopy, size));
        }
        if size == 64 * KIB {
            probes.push(Probe::Mixed { link: FerrySpsc, api: Api::Copy });
            probes.push(Probe::Mixed { link: FerryBytes, api: Api::Copy });
        }
        if size == MIB {
            probes.push(Probe::Memcpy { size });
        }
        probes.push(thr(UnixStream, Api::Copy, size));
        if size <= 64 * KIB {
            probes.push(thr(UnixSeqpacket, Api::Copy, size));
        }
        probes.push(thr(Pipe, Api::Copy, size));
        if size == 64 {
            probes.push(thr(FerryMpmc, Api::Copy, size));
            probes.push(Probe::Throughput { link: FerryMpmc, api: Api::Copy, size, pairs: 2 });
            probes.push(Probe::Throughput { link: FerryMpmcBytes, api: Api::Copy, size, pairs: 2 });
            probes.push(thr(FerryBroadcast, Api::Copy, size));
            probes.push(thr(FerryBroadcastBytes, Api::Copy, size));
            probes.push(Probe::Throughput { link: FerryBroadcast, api: Api::Copy, size, pairs: 4 });
            for api in [Api::Copy, Api::Batch] {
                probes.push(thr(FerryUnix, api, size));
                probes.push(thr(FerryFifo, api, size));
            }
        }
    }
    probes
}

/// One figure of one round.
#[derive(Debug, Clone, Copy)]
enum Figure {
    Latency(Percentiles),
    /// Messages per second.
    Rate(f64),
}

/// What a measurement found over all rounds.
#[derive(Debug, Clone)]
pub struct Measured {
    /// What was measured.
    pub probe: Probe,
    /// For latency: the median over the rounds of each percentile (ns).
    pub latency: Option<Percentiles>,
    /// For throughput and memcpy: the median over the rounds, messages (copies) per second.
    pub rate: Option<f64>,
    /// Each round's p50 (latency, ns) or rate (per second), in order.
    pub rounds: Vec<f64>,
    /// Where the processes ran.
    pub cpus: Vec<Cpus>,
    /// The bytes of shared memory a throughput measurement's channel takes (the file of
    /// its segment, or of the plain ring); `None` for sockets, pipes and the others.
    pub shared_bytes: Option<u64>,
}

impl Measured {
    /// Bytes per second, for throughput and memcpy (for the mixed stream, messages per
    /// second times the mean message size of its pattern).
    pub fn bytes_per_s(&self) -> Option<f64> {
        self.rate.map(|r| r * self.probe.sizes().mean())
    }

    /// The headline figure: p50 in ns, or messages per second.
    pub fn headline(&self) -> f64 {
        self.latency.map_or(self.rate.unwrap_or(0.0), |p| p.p50 as f64)
    }
}

/// A measurement in progress. (A few dozen per run: their size does not matter.)
#[allow(clippy::large_enum_variant)]
enum Session {
    Ping(PingPong, u64),
    Stream(Stream, u64),
    Memcpy(Duration),
}

/// How much each round measures.
struct Effort {
    rounds: usize,
    spin_round_trips: u64,
    kernel_round_trips: u64,
    /// How long one throughput run should take (its message count is calibrated).
    run_time: Duration,
}

impl Effort {
    fn of(options: &Options) -> Self {
        if options.tiny {
            Self { rounds: 1, spin_round_trips: 200, kernel_round_trips: 50, run_time: Duration::from_millis(1) }
        } else {
            Self { rounds: 5, spin_round_trips: 20_000, kernel_round_trips: 3_000, run_time: Duration::from_millis(40) }
        }
    }
}

fn start(probe: Probe, effort: &Effort) -> io::Result<Session> {
    Ok(match probe {
        Probe::Latency { link, wait, size } => {
            let spins = link == Link::CacheLine
                || (matches!(
                    link,
                    Link::FerrySpsc
                        | Link::FerryBytes
                        | Link::FerryMpmc
                        | Link::FerryMpmcBytes
                        | Link::FerryBroadcast
                        | Link::FerryBroadcastBytes
                ) && wait == Wait::Spin);
            let rounds = if spins { effort.spin_round_trips } else { effort.kernel_round_trips };
            let mut session = PingPong::start(link, wait, size)?;
            // Warm up: page faults, caches, the first wake-ups.
            session.round_trips(rounds / 10 + 1, &mut Vec::new())?;
            Session::Ping(session, rounds)
        }
        Probe::Throughput { link, api, size, pairs } => calibrate(Stream::start(link, api, size, pairs)?, effort)?,
        Probe::Mixed { link, api } => calibrate(Stream::start_sized(link, api, Sizes::Mixed, 1)?, effort)?,
        Probe::Memcpy { .. } => Session::Memcpy(effort.run_time),
    })
}

/// Finds how many messages a run of `stream` takes for the effort's run time: grows the
/// run until it takes a tenth of that, then scales.
fn calibrate(mut stream: Stream, effort: &Effort) -> io::Result<Session> {
    let mut messages = 4u64;
    loop {
        let took = stream.run(messages)?;
        if took >= effort.run_time / 10 || messages >= 1 << 30 {
            let scale = effort.run_time.as_secs_f64() / took.as_secs_f64().max(1e-9);
            messages = ((messages as f64 * scale) as u64).max(4);
            break;
        }
        messages *= 4;
    }
    Ok(Session::Stream(stream, messages))
}

fn measure(probe: Probe, session: &mut Session) -> io::Result<Figure> {
    Ok(match session {
        Session::Ping(ping, rounds) => {
            let mut samples = Vec::new();
            ping.round_trips(*rounds, &mut samples)?;
            Figure::Latency(Percentiles::of(&mut samples))
        }
        Session::Stream(stream, messages) => {
            let took = stream.run(*messages)?;
            Figure::Rate(*messages as f64 / took.as_secs_f64())
        }
        Session::Memcpy(time) => {
            let size = probe.sizes().largest();
            Figure::Rate(memcpy_bandwidth(size, *time)? / size as f64)
        }
    })
}

/// Ends a measurement: where its processes ran, and the shared memory its channel took
/// (read while the channel is still there).
fn finish(session: Session) -> io::Result<(Vec<Cpus>, Option<u64>)> {
    match session {
        Session::Ping(ping, _) => Ok((ping.finish()?, None)),
        Session::Stream(stream, _) => {
            let shared = stream.shared_bytes();
            Ok((stream.finish()?, shared))
        }
        Session::Memcpy(_) => {
            Ok((vec![Cpus { process: "parent".into(), start: super::current_cpu(), end: super::current_cpu() }], None))
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The results of a run of `ferry bench`.
#[derive(Debug, Clone)]
pub struct Results {
    /// Every measurement, in the order of [`probes`].
    pub measured: Vec<Measured>,
    /// How many rounds each measurement ran.
    pub rounds: usize,
    /// How long the whole run took.
    pub elapsed: Duration,
    /// Whether it was a `--tiny` run.
    pub tiny: bool,
}

/// Starts every measurement, goes round them, and gathers the medians.
///
/// # Errors
///
/// A measurement failed (its processes are ended).
pub fn run(options: &Options) -> io::Result<Results> {
    let began = Instant::now();
    let effort = Effort::of(options);
    let probes = probes();
    let mut sessions = Vec::with_capacity(probes.len());
    for &probe in &probes {
        let session = start(probe, &effort).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", probe.label())))?;
        sessions.push(session);
    }
    let mut figures: Vec<Vec<Figure>> = vec![Vec::new(); probes.len()];
    for _ in 0..effort.rounds {
        for (i, &probe) in probes.iter().enumerate() {
            let figure = measure(probe, &mut sessions[i])
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", probe.label())))?;
            figures[i].push(figure);
        }
    }
    let mut measured = Vec::with_capacity(probes.len());
    for ((probe, session), figures) in probes.into_iter().zip(sessions).zip(figures) {
        let (cpus, shared_bytes) = finish(session)?;
        let (mut latency, mut rate, mut rounds) = (None, None, Vec::new());
        let percentiles: Vec<Percentiles> =
            figures.iter().filter_map(|f| if let Figure::Latency(p) = f { Some(*p) } else { None }).collect();
        if !percentiles.is_empty() {
            let med = |get: fn(&Percentiles) -> u64| median(percentiles.iter().map(|p| get(p) as f64).collect()) as u64;
            latency = Some(Percentiles {
                count: percentiles.iter().map(|p| p.count).sum(),
                p50: med(|p| p.p50),
                p99: med(|p| p.p99),
                p999: med(|p| p.p999),
                max: percentiles.iter().map(|p| p.max).max().unwrap_or(0),
            });
            rounds = percentiles.iter().map(|p| p.p50 as f64).collect();
        }
        let rates: Vec<f64> =
            figures.iter().filter_map(|f| if let Figure::Rate(r) = f { Some(*r) } else { None }).collect();
        if !rates.is_empty() {
            rate = Some(median(rates.clone()));
            rounds = rates;
        }
        measured.push(Measured { probe, latency, rate, rounds, cpus, shared_bytes });
    }
    Ok(Results { measured, rounds: effort.rounds, elapsed: began.elapsed(), tiny: options.tiny })
}

/// One line of the table: a ferry figure beside its baseline.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is compared.
    pub what: String,
    /// The ferry measurement.
    pub ferry: Probe,
    /// The baseline measurement.
    pub baseline: Probe,
    /// ferry's headline figure over the baseline's (latency: p50 over p50, lower is
    /// better; throughput: bytes per second over bytes per second, higher is better).
    pub ratio: f64,
}

/// A target of the issue, checked against this run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The target, in words.
    pub what: &'static str,
    /// The ratio measured.
    pub ratio: f64,
    /// The bound on the ratio.
    pub bound: f64,
    /// Whether the ratio must stay at or below the bound (else reach it, or exceed it
    /// if `strict`).
    pub at_most: bool,
    /// Whether the bound itself fails (`>` rather than `>=`).
    pub strict: bool,
    /// How the ratio was formed, with the figures.
    pub how: String,
}

impl Target {
    /// Whether the target holds in this run.
    pub fn holds(&self) -> bool {
        match (self.at_most, self.strict) {
            (true, _) => self.ratio <= self.bound,
            (false, false) => self.ratio >= self.bound,
            (false, true) => self.ratio > self.bound,
        }
    }
}

impl Results {
    fn find(&self, probe: Probe) -> Option<&Measured> {
        self.measured.iter().find(|m| m.probe == probe)
    }

    fn figure(&self, probe: Probe) -> f64 {
        self.find(probe).map_or(0.0, |m| m.bytes_per_s().unwrap_or_else(|| m.headline()))
    }

    fn row(&self, what: &str, ferry: Probe, baseline: Probe) -> Row {
        let ratio = self.figure(ferry) / self.figure(baseline);
        Row { what: what.to_owned(), ferry, baseline, ratio }
    }

    /// The table's rows.
    pub fn rows(&self) -> Vec<Row> {
        use Link::*;
        let spin8 = lat(FerrySpsc, Wait::Spin, 8);
        let spin1k = lat(FerrySpsc, Wait::Spin, KIB);
        let line = lat(CacheLine, Wait::Spin, 8);
        let futex = lat(Futex, Wait::Park, 8);
        let mut rows = vec![
            self.row("latency 8 B, busy-poll", spin8, line),
            self.row("latency 8 B, busy-poll, bytes vs slots", lat(FerryBytes, Wait::Spin, 8), spin8),
            self.row("latency 1 KiB, busy-poll", spin1k, line),
            self.row("latency 8 B, busy-poll, MPMC", lat(FerryMpmc, Wait::Spin, 8), line),
            self.row("latency 8 B, busy-poll, broadcast vs SPSC", lat(FerryBroadcast, Wait::Spin, 8), spin8),
            self.row("latency 8 B, blocking", lat(FerrySpsc, Wait::Park, 8), futex),
            self.row(
                "latency 8 B, blocking, bytes vs slots",
                lat(FerryBytes, Wait::Park, 8),
                lat(FerrySpsc, Wait::Park, 8),
            ),
            self.row("latency 1 KiB, blocking", lat(FerrySpsc, Wait::Park, KIB), futex),
            self.row("latency 8 B vs unix stream", spin8, lat(UnixStream, Wait::Park, 8)),
            self.row("latency 8 B vs unix seqpacket", spin8, lat(UnixSeqpacket, Wait::Park, 8)),
            self.row("latency 8 B vs pipe", spin8, lat(Pipe, Wait::Park, 8)),
            self.row("latency 1 KiB vs unix stream", spin1k, lat(UnixStream, Wait::Park, KIB)),
            self.row("latency 8 B, ferry unix:", lat(FerryUnix, Wait::Park, 8), lat(UnixStream, Wait::Park, 8)),
            self.row("latency 8 B, ferry fifo:", lat(FerryFifo, Wait::Park, 8), lat(Pipe, Wait::Park, 8)),
        ];
        for size in [64, KIB, 64 * KIB, MIB] {
            let copy = thr(FerrySpsc, Api::Copy, size);
            let zero = thr(FerrySpsc, Api::ZeroCopy, size);
            let n = bytes(size);
            rows.push(self.row(&format!("{n}/msg, copy vs unix stream"), copy, thr(UnixStream, Api::Copy, size)));
            if size <= 64 * KIB {
                rows.push(self.row(&format!("{n}/msg, copy vs seqpacket"), copy, thr(UnixSeqpacket, Api::Copy, size)));
            }
            rows.push(self.row(&format!("{n}/msg, copy vs pipe"), copy, thr(Pipe, Api::Copy, size)));
            rows.push(self.row(&format!("{n}/msg, zero-copy vs copy"), zero, copy));
            if size <= KIB {
                rows.push(self.row(&format!("{n}/msg, copy vs plain ring"), copy, thr(PlainRing, Api::Copy, size)));
            }
            if size == 64 {
                let batch = thr(FerrySpsc, Api::Batch, size);
                rows.push(self.row("64 B/msg, batched vs plain ring", batch, thr(PlainRing, Api::Copy, size)));
                rows.push(self.row("64 B/msg, bytes copy vs slots", thr(FerryBytes, Api::Copy, size), copy));
                rows.push(self.row("64 B/msg, bytes zero-copy vs slots", thr(FerryBytes, Api::ZeroCopy, size), zero));
            }
            if size == 64 * KIB {
                rows.push(self.row(
                    &format!("{}, bytes vs slots", mixed()),
                    Probe::Mixed { link: FerryBytes, api: Api::Copy },
                    Probe::Mixed { link: FerrySpsc, api: Api::Copy },
                ));
            }
            if size == 64 {
                let batch = thr(FerrySpsc, Api::Batch, size);
                rows.push(self.row("64 B/msg, batched vs unix stream", batch, thr(UnixStream, Api::Copy, size)));
                rows.push(self.row("64 B/msg, batched vs copy", batch, copy));
                let mpmc = Probe::Throughput { link: FerryMpmc, api: Api::Copy, size, pairs: 2 };
                rows.push(self.row("64 B/msg, MPMC 1x1 vs SPSC", thr(FerryMpmc, Api::Copy, size), copy));
                rows.push(self.row("64 B/msg, MPMC 2x2 vs SPSC", mpmc, copy));
                let mpmc_bytes = Probe::Throughput { link: FerryMpmcBytes, api: Api::Copy, size, pairs: 2 };
                rows.push(self.row("64 B/msg, MPMC 2x2 bytes vs slots", mpmc_bytes, mpmc));
                let fanout = Probe::Throughput { link: FerryBroadcast, api: Api::Copy, size, pairs: 4 };
                let broadcast = thr(FerryBroadcast, Api::Copy, size);
                rows.push(self.row("64 B/msg, broadcast 1 sub vs SPSC", broadcast, copy));
                let broadcast_bytes = thr(FerryBroadcastBytes, Api::Copy, size);
                rows.push(self.row("64 B/msg, broadcast 1 sub bytes vs slots", broadcast_bytes, broadcast));
                rows.push(self.row("64 B/msg, broadcast 4 subs (each) vs SPSC", fanout, copy));
                // The fallbacks, one message per call and batched, beside their stream
                // written one message per call.
                for (label, link, api, stream) in [
                    ("64 B/msg, ferry unix: vs unix", FerryUnix, Api::Copy, UnixStream),
                    ("64 B/msg, ferry fifo: vs pipe", FerryFifo, Api::Copy, Pipe),
                    ("64 B/msg, ferry unix: batched vs unix", FerryUnix, Api::Batch, UnixStream),
                    ("64 B/msg, ferry fifo: batched vs pipe", FerryFifo, Api::Batch, Pipe),
                ] {
                    rows.push(self.row(label, thr(link, api, size), thr(stream, Api::Copy, size)));
                }
            }
            if size == MIB {
                rows.push(self.row("1 MiB/msg, copy vs memcpy", copy, Probe::Memcpy { size }));
                rows.push(self.row("1 MiB/msg, zero-copy vs memcpy", zero, Probe::Memcpy { size }));
            }
        }
        rows
    }

    /// The issue's targets, checked.
    pub fn targets(&self) -> Vec<Target> {
        use Link::*;
        let spin8 = lat(FerrySpsc, Wait::Spin, 8);
        let ratio = |a: Probe, b: Probe| self.figure(a) / self.figure(b);
        let how = |a: Probe, b: Probe| format!("{} / {}", self.show(a), self.show(b));
        let target = |what, a, b, bound, at_most, strict| Target {
            what,
            ratio: ratio(a, b),
            bound,
            at_most,
            strict,
            how: how(a, b),
        };
        let copy64 = thr(FerrySpsc, Api::Copy, 64);
        let copy1m = thr(FerrySpsc, Api::Copy, MIB);
        vec![
            target(
                "busy-poll latency p50, SPSC 8 B <= 1.3 x cache-line floor",
                spin8,
                lat(CacheLine, Wait::Spin, 8),
                1.3,
                true,
                false,
            ),
            target(
                "blocking latency p50, SPSC 8 B <= 1.2 x raw futex floor",
                lat(FerrySpsc, Wait::Park, 8),
                lat(Futex, Wait::Park, 8),
                1.2,
                true,
                false,
            ),
            target(
                "unix stream latency p50 >= 50 x SPSC busy-poll (8 B)",
                lat(UnixStream, Wait::Park, 8),
                spin8,
                50.0,
                false,
                false,
            ),
            target(
                "64 B throughput, SPSC copy >= 50 x unix stream",
                copy64,
                thr(UnixStream, Api::Copy, 64),
                50.0,
                false,
                false,
            ),
            target(
                "64 B throughput, SPSC batched copy >= 50 x unix stream",
                thr(FerrySpsc, Api::Batch, 64),
                thr(UnixStream, Api::Copy, 64),
                50.0,
                false,
                false,
            ),
            target(
                "1 MiB throughput, copy API >= 0.8 x memcpy",
                copy1m,
                Probe::Memcpy { size: MIB },
                0.8,
                false,
                false,
            ),
            target("1 MiB throughput, zero-copy > copy", thr(FerrySpsc, Api::ZeroCopy, MIB), copy1m, 1.0, false, true),
            target("64 B throughput, MPMC 1x1 >= 0.5 x SPSC", thr(FerryMpmc, Api::Copy, 64), copy64, 0.5, false, false),
            target(
                "64 B throughput, broadcast 1 subscriber >= 0.8 x SPSC",
                thr(FerryBroadcast, Api::Copy, 64),
                copy64,
                0.8,
                false,
                false,
            ),
            target(
                "64 B throughput, broadcast 4 subscribers, each >= 0.5 x SPSC",
                Probe::Throughput { link: FerryBroadcast, api: Api::Copy, size: 64, pairs: 4 },
                copy64,
                0.5,
                false,
                false,
            ),
            target(
                "busy-poll latency p50, broadcast 8 B <= 1.3 x SPSC",
                lat(FerryBroadcast, Wait::Spin, 8),
                spin8,
                1.3,
                true,
                false,
            ),
            // Latency: the byte-sized channel at 0.9 x the speed of the ring of slots.
            target(
                "busy-poll latency p50 8 B, slots / bytes-sized >= 0.9",
                spin8,
                lat(FerryBytes, Wait::Spin, 8),
                0.9,
                false,
                false,
            ),
            target(
                "64 B throughput, bytes-sized copy >= 0.9 x slots copy",
                thr(FerryBytes, Api::Copy, 64),
                copy64,
                0.9,
                false,
                false,
            ),
            target(
                "64 B throughput, MPMC 2x2 bytes-sized >= 0.9 x slots",
                Probe::Throughput { link: FerryMpmcBytes, api: Api::Copy, size: 64, pairs: 2 },
                Probe::Throughput { link: FerryMpmc, api: Api::Copy, size: 64, pairs: 2 },
                0.9,
                false,
                false,
            ),
            target(
                "64 B throughput, broadcast 1 subscriber bytes-sized >= 0.9 x slots",
                thr(FerryBroadcastBytes, Api::Copy, 64),
                thr(FerryBroadcast, Api::Copy, 64),
                0.9,
                false,
                false,
            ),
            target(
                "64 B throughput, SPSC copy >= 0.8 x plain ring",
                copy64,
                thr(PlainRing, Api::Copy, 64),
                0.8,
                false,
                false,
            ),
            target(
                "64 B throughput, SPSC batched copy >= 0.9 x plain ring",
                thr(FerrySpsc, Api::Batch, 64),
                thr(PlainRing, Api::Copy, 64),
                0.9,
                false,
                false,
            ),
        ]
    }

    /// A measurement's figure in words: `176 ns (p99 250 ns)`, `13.20 M/s 845 MB/s`, or
    /// for the mixed stream `0.31 M/s 2050 MB/s, shm 1024.6 KiB`.
    fn show(&self, probe: Probe) -> String {
        match self.find(probe) {
            Some(Measured { latency: Some(p), .. }) => format!("{} (p99 {})", nanos(p.p50), nanos(p.p99)),
            Some(m @ Measured { rate: Some(r), .. }) => {
                let mb = m.bytes_per_s().unwrap_or(0.0) / 1e6;
                if let Probe::Mixed { .. } = probe {
                    let shm = m.shared_bytes.map_or("-".into(), |b| format!("{:.1} KiB", b as f64 / KIB as f64));
                    format!("{:.2} M/s {mb:.0} MB/s, shm {shm}", r / 1e6)
                } else if probe.sizes().largest() >= 64 * KIB {
                    format!("{mb:.0} MB/s")
                } else {
                    format!("{:.2} M/s {mb:.0} MB/s", r / 1e6)
                }
            }
            _ => "-".into(),
        }
    }

    /// The whole report: the table, the targets, the cores.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ferry bench: {} ({} round{} of each measurement, medians; {:.1} s){}",
            machine(),
            self.rounds,
            if self.rounds == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            if self.tiny { " -- TINY RUN, the figures mean nothing" } else { "" }
        );
        let _ = writeln!(out, "latency: one-way = round trip / 2; throughput: one way, every byte written and read");
        let _ = writeln!(
            out,
            "{}: every {MIXED_EVERY}th message {}, the others {}; shm: the shared memory of the channel\n",
            mixed(),
            bytes(Sizes::Mixed.largest()),
            bytes(Sizes::Mixed.of(0))
        );
        let _ = writeln!(out, "{:<32} {:<36} {:<44} {:>9}", "", "ferry", "baseline", "ratio");
        for row in self.rows() {
            let name = |p: Probe| match p {
                Probe::Latency { link, wait, .. } if link.is_ferry() => format!("{} {}", link.name(), wait.name()),
                Probe::Latency { link, .. } => link.name().to_owned(),
                Probe::Throughput { link, api, pairs, .. } if link.is_broadcast() => {
                    format!("{} 1x{pairs} {}", link.name(), api.name())
                }
                Probe::Throughput { link, api, pairs, .. } if pairs > 1 => {
                    format!("{} {pairs}x{pairs} {}", link.name(), api.name())
                }
                Probe::Throughput { link, api, .. } => format!("{} {}", link.name(), api.name()),
                Probe::Mixed { link, api } => format!("{} {} mixed", link.name(), api.name()),
                Probe::Memcpy { .. } => "memcpy".into(),
            };
            let _ = writeln!(
                out,
                "{:<32} {:<36} {:<44} {:>7.2} x",
                row.what,
                format!("{}: {}", name(row.ferry), self.show(row.ferry)),
                format!("{}: {}", name(row.baseline), self.show(row.baseline)),
                row.ratio
            );
        }
        let _ = writeln!(out, "\ntargets:");
        for t in self.targets() {
            let _ = writeln!(
                out,
                "  {:<60} {:>8.2} x  {}  ({})",
                t.what,
                t.ratio,
                if t.holds() { "holds" } else { "DOES NOT HOLD" },
                t.how
            );
        }
        let _ = writeln!(
            out,
            "\ncores (sched_getcpu at start -> end) of each measurement's processes \
             (each pinned to a CPU of its own where there are as many CPUs as processes):"
        );
        let mut shared = 0;
        for m in &self.measured {
            let cpus: Vec<String> = m.cpus.iter().map(|c| c.to_string()).collect();
            let distinct: std::collections::BTreeSet<i32> = m.cpus.iter().flat_map(|c| [c.start, c.end]).collect();
            if m.cpus.len() > 1 && distinct.len() == 1 {
                shared += 1;
            }
            let _ = writeln!(out, "  {:<40} {}", m.probe.label(), cpus.join(", "));
        }
        let _ = writeln!(out, "  ({shared} multi-process measurement(s) saw every process on one and the same cpu)");
        out
    }

    /// The results as JSON (written by hand: a small, flat structure).
    pub fn json(&self) -> String {
        let mut out = String::from("{\n");
        let _ = writeln!(out, "  \"machine\": {},", json_str(&machine()));
        let _ = writeln!(out, "  \"rounds\": {},", self.rounds);
        let _ = writeln!(out, "  \"tiny\": {},", self.tiny);
        let _ = writeln!(out, "  \"elapsed_s\": {},", json_num(self.elapsed.as_secs_f64()));
        out.push_str("  \"measurements\": [\n");
        for (i, m) in self.measured.iter().enumerate() {
            let mut fields = vec![format!("\"name\": {}", json_str(&m.probe.label()))];
            match m.probe {
                Probe::Latency { link, wait, size } => {
                    fields.push("\"kind\": \"latency\"".into());
                    fields.push(format!("\"link\": {}", json_str(link.name())));
                    fields.push(format!("\"wait\": {}", json_str(wait.name())));
                    fields.push(format!("\"size\": {size}"));
                }
                Probe::Throughput { link, api, size, pairs } => {
                    fields.push("\"kind\": \"throughput\"".into());
                    fields.push(format!("\"link\": {}", json_str(link.name())));
                    fields.push(format!("\"api\": {}", json_str(api.name())));
                    fields.push(format!("\"size\": {size}"));
                    fields.push(format!("\"pairs\": {pairs}"));
                }
                Probe::Mixed { link, api } => {
                    fields.push("\"kind\": \"throughput\"".into());
                    fields.push(format!("\"link\": {}", json_str(link.name())));
                    fields.push(format!("\"api\": {}", json_str(api.name())));
                    fields.push(format!("\"sizes\": {}", json_str(&mixed())));
                    fields.push(format!("\"mean_size\": {}", json_num(Sizes::Mixed.mean())));
                    fields.push("\"pairs\": 1".into());
                }
                Probe::Memcpy { size } => {
                    fields.push("\"kind\": \"memcpy\"".into());
                    fields.push(format!("\"size\": {size}"));
                }
            }
            if let Some(shared) = m.shared_bytes {
                fields.push(format!("\"shared_bytes\": {shared}"));
            }
            if let Some(p) = m.latency {
                fields.push(format!(
                    "\"p50_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}, \"max_ns\": {}, \"samples\": {}",
                    p.p50, p.p99, p.p999, p.max, p.count
                ));
            }
            if let Some(r) = m.rate {
                fields.push(format!("\"per_s\": {}", json_num(r)));
                fields.push(format!("\"bytes_per_s\": {}", json_num(m.bytes_per_s().unwrap_or(0.0))));
            }
            let rounds: Vec<String> = m.rounds.iter().map(|&r| json_num(r)).collect();
            fields.push(format!("\"rounds\": [{}]", rounds.join(", ")));
            let cpus: Vec<String> = m
                .cpus
                .iter()
                .map(|c| {
                    format!("{{\"process\": {}, \"start\": {}, \"end\": {}}}", json_str(&c.process), c.start, c.end)
                })
                .collect();
            fields.push(format!("\"cpus\": [{}]", cpus.join(", ")));
            let comma = if i + 1 < self.measured.len() { "," } else { "" };
            let _ = writeln!(out, "    {{{}}}{comma}", fields.join(", "));
        }
        out.push_str("  ],\n  \"rows\": [\n");
        let rows = self.rows();
        for (i, row) in rows.iter().enumerate() {
            let comma = if i + 1 < rows.len() { "," } else { "" };
            let _ = writeln!(
                out,
                "    {{\"what\": {}, \"ferry\": {}, \"baseline\": {}, \"ratio\": {}}}{comma}",
                json_str(&row.what),
                json_str(&row.ferry.label()),
                json_str(&row.baseline.label()),
                json_num(row.ratio)
            );
        }
        out.push_str("  ],\n  \"targets\": [\n");
        let targets = self.targets();
        for (i, t) in targets.iter().enumerate() {
            let comma = if i + 1 < targets.len() { "," } else { "" };
            let _ = writeln!(
                out,
                "    {{\"target\": {}, \"ratio\": {}, \"bound\": {}, \"holds\": {}, \"how\": {}}}{comma}",
                json_str(t.what),
                json_num(t.ratio),
                json_num(t.bound),
                t.holds(),
                json_str(&t.how)
            );
        }
        out.push_str("  ]\n}\n");
        out
    }
}

/// A latency in words: `176 ns`, `15.2 us`.
fn nanos(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else {
        format!("{:.1} us", ns as f64 / 1000.0)
    }
}

/// `2 cpus, AMD EPYC` (from `/proc/cpuinfo`).
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("{cpus} cpus, {model}")
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (JSON has no NaN or infinity: those become `null`).
fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let args = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(Options::parse(&args(&[])), Ok(Options::default()));
        assert_eq!(
            Options::parse(&args(&["--tiny", "--json", "-"])),
            Ok(Options { tiny: true, json: Some("-".into()), event_loop_only: false })
        );
        assert_eq!(
            Options::parse(&args(&["--event-loop"])),
            Ok(Options { event_loop_only: true, ..Options::default() })
        );
        assert!(Options::parse(&args(&["--json"])).is_err());
        assert!(Options::parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn json_strings_and_numbers_are_escaped() {
        assert_eq!(json_str("a \"b\" \\ \n"), r#""a \"b\" \\ \u000a""#);
        assert_eq!(json_num(f64::NAN), "null");
        assert_eq!(json_num(1.5), "1.5");
    }

    #[test]
    fn every_row_and_target_names_a_probe_of_the_run() {
        let probes = probes();
        let results = Results { measured: Vec::new(), rounds: 0, elapsed: Duration::ZERO, tiny: true };
        for row in results.rows() {
            assert!(probes.contains(&row.ferry) && probes.contains(&row.baseline), "{}", row.what);
        }
        assert_eq!(results.targets().len(), 17);
    }

    #[test]
    fn the_byte_channel_and_the_plain_ring_sit_beside_their_baselines() {
        let probes = probes();
        let at = |p: Probe| probes.iter().position(|&q| q == p).unwrap_or_else(|| panic!("{} is not run", p.label()));
        let (copy, plain) = (thr(Link::FerrySpsc, Api::Copy, 64), thr(Link::PlainRing, Api::Copy, 64));
        // Measured one after the other, round after round.
        assert_eq!(at(plain), at(copy) + 1);
        assert_eq!(at(thr(Link::FerrySpsc, Api::Batch, 64)), at(plain) + 1);
        assert_eq!(at(thr(Link::FerryBytes, Api::Copy, 64)) + 1, at(copy));
        assert_eq!(at(lat(Link::FerryBytes, Wait::Spin, 8)), at(lat(Link::FerrySpsc, Wait::Spin, 8)) + 1);
        let mixed = |link| Probe::Mixed { link, api: Api::Copy };
        assert_eq!(at(mixed(Link::FerryBytes)), at(mixed(Link::FerrySpsc)) + 1);
        assert!(probes.contains(&thr(Link::PlainRing, Api::Copy, KIB)));
        let two = |link| Probe::Throughput { link, api: Api::Copy, size: 64, pairs: 2 };
        assert_eq!(at(two(Link::FerryMpmcBytes)), at(two(Link::FerryMpmc)) + 1);
        assert_eq!(two(Link::FerryMpmcBytes).label(), "throughput ferry-mpmc-bytes 2x2 copy 64 B");
        // A mixed stream carries a tenth of its messages at 64 KiB: its bytes count so.
        let m = Measured {
            probe: mixed(Link::FerryBytes),
            latency: None,
            rate: Some(10.0),
            rounds: vec![10.0],
            cpus: Vec::new(),
            shared_bytes: Some(MIB as u64),
        };
        assert_eq!(m.bytes_per_s(), Some(9.0 * 64.0 + 65536.0));
        assert_eq!(mixed(Link::FerrySpsc).label(), "throughput ferry-spsc copy mixed 64 B/64 KiB");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(
            [bytes(8), bytes(1024), bytes(65536), bytes(1 << 20), bytes(1000)],
            ["8 B", "1 KiB", "64 KiB", "1 MiB", "1000 B"]
        );
    }
}
