//! One-way latency between two processes (round trip / 2): ferry over shared memory
//! (busy-polling and parking at once), over its Unix-socket and FIFO fallbacks, beside a
//! plain Unix stream and seqpacket socket, a plain pipe, and the two floors: a cache line
//! flipped between the processes and a raw futex ping-pong.
//!
//! `cargo bench -p ferry-bench --bench latency`. Each criterion sample is a batch of round
//! trips with one echo process, kept for the whole benchmark. Criterion reports the mean
//! per round trip / 2; the table printed at the end gives p50, p99, p99.9 and the maximum
//! of every round trip the benchmark made (warm-up included).

use std::time::Duration;

use criterion::Criterion;
use ferry_bench::{Cpus, Link, Percentiles, PingPong, Wait};

fn main() {
    // This binary is also the echo process.
    ferry_bench::child_main_if_requested();
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let table = latency(&mut criterion);
    criterion.final_summary();
    println!("\none-way latency, every round trip of each benchmark (ns):");
    println!("{:<34} {:>9} {:>9} {:>9} {:>9} {:>9}  cpus", "", "p50", "p99", "p99.9", "max", "samples");
    for (name, p, cpus) in table {
        let cpus: Vec<String> = cpus.iter().map(Cpus::to_string).collect();
        println!("{name:<34} {:>9} {:>9} {:>9} {:>9} {:>9}  {}", p.p50, p.p99, p.p999, p.max, p.count, cpus.join(", "));
    }
}

fn latency(criterion: &mut Criterion) -> Vec<(String, Percentiles, Vec<Cpus>)> {
    use Link::*;
    let mut cases = vec![(CacheLine, Wait::Spin, 8), (Futex, Wait::Park, 8)];
    for size in [8, 1024] {
        cases.extend([
            (FerrySpsc, Wait::Spin, size),
            (FerrySpsc, Wait::Park, size),
            (FerryMpmc, Wait::Spin, size),
            (FerryMpmc, Wait::Park, size),
            (FerryUnix, Wait::Park, size),
            (FerryFifo, Wait::Park, size),
            (UnixStream, Wait::Park, size),
            (UnixSeqpacket, Wait::Park, size),
            (Pipe, Wait::Park, size),
        ]);
    }
    let mut group = criterion.benchmark_group("latency");
    let mut table = Vec::new();
    for (link, wait, size) in cases {
        let name = match (link, wait) {
            (CacheLine | Futex, _) => format!("{}-floor", link.name()),
            (FerrySpsc | FerryMpmc, Wait::Spin) => format!("{}-busy-poll/{size}B", link.name()),
            (FerrySpsc | FerryMpmc, Wait::Park) => format!("{}-blocking/{size}B", link.name()),
            _ => format!("{}/{size}B", link.name()),
        };
        let mut session = PingPong::start(link, wait, size).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut samples = Vec::new();
        group.bench_function(&name, |b| {
            b.iter_custom(|rounds| session.round_trips(rounds, &mut samples).unwrap_or_else(|e| panic!("{e}")))
        });
        let cpus = session.finish().unwrap_or_else(|e| panic!("{name}: {e}"));
        if !samples.is_empty() {
            table.push((name, Percentiles::of(&mut samples), cpus));
        }
    }
    group.finish();
    table
}
