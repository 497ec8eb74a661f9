//! Sends messages into a channel created by `consumer`, zero-copy.
//!
//! `cargo run --release --example producer -- [NAME] [COUNT]`, with `consumer` started
//! before or up to five seconds after it.
//! It streams COUNT 64-byte messages as fast as the ring takes them, then sends
//! latency probes one at a time into an empty ring, each stamped with the send time.

use std::{
    error::Error,
    process::ExitCode,
    time::{Duration, Instant},
};

use ferry::Sender;

mod wire;
use wire::{now_ns, Message, LATENCY_SAMPLES};

/// Runs the example, printing what went wrong in words; `demo` calls it in its own
/// process.
pub fn main() -> ExitCode {
    wire::report("producer", run())
}

fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let (name, count) = wire::args();
    // Waits up to five seconds for the consumer to create the channel.
    let mut tx = Sender::open_timeout(&name, Duration::from_secs(5))?;

    let start = Instant::now();
    for seq in 0..count {
        // Zero-copy: the message is written straight into the slot, then published.
        tx.loan()?.write_value(Message::new(seq, 0));
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "producer: sent {count} messages of 64 B in {:.3} s ({:.2} M msg/s) through `{name}`",
        elapsed,
        count as f64 / elapsed / 1e6
    );

    for seq in count..count + LATENCY_SAMPLES {
        while tx.in_flight()? > 0 {
            std::hint::spin_loop();
        }
        tx.send_value(Message::new(seq, now_ns()))?;
    }
    println!("producer: sent {LATENCY_SAMPLES} latency probes, one at a time");
    Ok(())
}
