//! One-way throughput between processes: the sender writes every byte of every message
//! and the receiver reads every byte (a checksum the bench verifies), for 64 B, 1 KiB,
//! 64 KiB and 1 MiB messages. ferry's SPSC ring through the copy and the zero-copy API,
//! its MPMC ring with one and with two sender and receiver processes, its Unix-socket and
//! FIFO fallbacks; beside a plain Unix stream and seqpacket socket, a plain pipe, and
//! single-process `memcpy` between page-aligned buffers (the ceiling for a copy).
//!
//! `cargo bench -p ferry-bench --bench throughput`. Each criterion sample is one run of
//! that many messages (per sender) through processes kept for the whole benchmark.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use ferry_bench::{Api, CopyBuffers, Link, Stream};

fn main() {
    // This binary is also the sender and receiver processes.
    ferry_bench::child_main_if_requested();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    for size in [64, 1024, 64 * 1024, 1024 * 1024] {
        throughput(&mut criterion, size);
    }
    criterion.final_summary();
}

fn throughput(criterion: &mut Criterion, size: usize) {
    use Link::*;
    let mut group = criterion.benchmark_group(format!("throughput/{size}B"));
    group.throughput(Throughput::Bytes(size as u64));
    let mut buffers = CopyBuffers::new(size, 0).expect("memcpy buffers");
    group.bench_function("memcpy-ceiling", |b| b.iter_custom(|copies| buffers.copy(copies)));
    let cases = [
        (FerrySpsc, Api::Copy, 1),
        (FerrySpsc, Api::ZeroCopy, 1),
        (FerrySpsc, Api::Batch, 1),
        (FerryMpmc, Api::Copy, 1),
        (FerryMpmc, Api::ZeroCopy, 1),
        (FerryMpmc, Api::Copy, 2),
        (FerryUnix, Api::Copy, 1),
        (FerryFifo, Api::Copy, 1),
        (UnixStream, Api::Copy, 1),
        (UnixSeqpacket, Api::Copy, 1),
        (Pipe, Api::Copy, 1),
    ];
    for (link, api, pairs) in cases {
        let name = match pairs {
            1 => format!("{}-{}", link.name(), api.name()),
            n => format!("{}-{n}x{n}-{}", link.name(), api.name()),
        };
        let mut stream = match Stream::start(link, api, size, pairs) {
            Ok(stream) => stream,
            // The seqpacket baseline cannot carry 1 MiB in one message.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                println!("{name}: skipped at {size} B: {e}");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        group.throughput(Throughput::Bytes((size * pairs) as u64));
        group.bench_function(&name, |b| {
            b.iter_custom(|messages| stream.run(messages).unwrap_or_else(|e| panic!("{e}")))
        });
        let cpus = stream.finish().unwrap_or_else(|e| panic!("{name}: {e}"));
        let cpus: Vec<String> = cpus.iter().map(ToString::to_string).collect();
        println!("{name} ran on: {}", cpus.join(", "));
    }
    group.finish();
}
