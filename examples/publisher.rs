//! Publishes a stream to every subscriber of a broadcast channel, zero-copy.
//!
//! `cargo run --release --example publisher -- [NAME] [COUNT] [SUBSCRIBERS]` creates the
//! channel, waits (up to ten seconds) until SUBSCRIBERS `subscriber` processes have
//! joined, then publishes COUNT numbered 64-byte messages, each written once into shared
//! memory and read there by every subscriber. Start the subscribers in other terminals:
//! `cargo run --release --example subscriber -- [NAME]`.

use std::{
    error::Error,
    time::{Duration, Instant},
};

use ferry::{Config, Policy, Publisher, RingKind};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| String::from("ferry-broadcast"));
    let count: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let wanted: usize = args.next().map_or(Ok(1), |s| s.parse())?;

    // Block mode: the publisher waits for the slowest live subscriber. The channel keeps
    // the last 16 messages for subscribers that join late and ask for them.
    let config = Config::new().kind(RingKind::Broadcast).slot_size(64).capacity(1024).policy(Policy::Block).history(16);
    let mut publisher = Publisher::create(&name, &config)?;
    println!("publisher: created `{name}`, waiting for {wanted} subscriber(s)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while publisher.subscriber_count() < wanted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }

    let start = Instant::now();
    for seq in 0..count {
        // Zero-copy: the message is written straight into the ring, then published.
        let mut loan = publisher.loan()?;
        loan[..8].copy_from_slice(&seq.to_le_bytes());
        loan[8..64].fill(seq as u8);
        loan.commit(64);
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "publisher: published {count} messages of 64 B to {} subscriber(s) in {elapsed:.3} s ({:.2} M msg/s)",
        publisher.subscriber_count(),
        count as f64 / elapsed / 1e6
    );
    // Dropping the publisher tells the subscribers, once they have read everything,
    // that the stream has ended; the channel's name goes with its creator.
    Ok(())
}
