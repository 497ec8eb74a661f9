//! Creates a channel, receives in place until the producer leaves, and checks every
//! message.
//!
//! `cargo run --release --example consumer -- [NAME] [COUNT]`, then start `producer` with
//! the same arguments.

use std::{error::Error, process::ExitCode, time::Instant};

use ferry::{Config, Receiver, RecvError};

mod wire;
use wire::{now_ns, Message, LATENCY_SAMPLES};

/// Runs the example, printing what went wrong in words; `demo` calls it in its own
/// process.
pub fn main() -> ExitCode {
    wire::report("consumer", run())
}

fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let (name, count) = wire::args();
    let config = Config::new().slot_size(size_of::<Message>()).capacity(1024);
    let mut rx = Receiver::create(&name, &config)?;
    println!("consumer: created `{name}` ({} slots of {} B), waiting for the producer", rx.capacity(), rx.slot_size());

    let mut start = None;
    let mut throughput_secs = 0.0;
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES as usize);
    let mut seq = 0u64;
    loop {
        let guard = match rx.recv() {
            Ok(guard) => guard,
            Err(RecvError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        };
        // Zero-copy: the message is read in place in the ring.
        let message = guard.value::<Message>()?;
        if !message.is_valid(seq) {
            return Err(format!("message {seq} is wrong: {message:?}").into());
        }
        if message.sent_ns != 0 {
            latencies.push(now_ns().saturating_sub(message.sent_ns));
        }
        drop(guard);
        seq += 1;
        let began = *start.get_or_insert_with(Instant::now);
        if seq == count {
            throughput_secs = began.elapsed().as_secs_f64();
        }
    }

    if seq != count + LATENCY_SAMPLES {
        return Err(format!("expected {} messages, received {seq}", count + LATENCY_SAMPLES).into());
    }
    let megabytes = (count * size_of::<Message>() as u64) as f64 / 1e6;
    println!(
        "consumer: received {count} messages ({megabytes:.1} MB) in {throughput_secs:.3} s: {:.2} M msg/s, {:.0} MB/s; \
         every sequence number and checksum verified",
        count as f64 / throughput_secs / 1e6,
        megabytes / throughput_secs,
    );
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "consumer: one-way latency over {} probes: p50 {} ns, p99 {} ns, max {} ns",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
