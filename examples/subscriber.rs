//! Receives every message of a broadcast channel created by `publisher`, in place.
//!
//! `cargo run --release --example subscriber -- [NAME]` joins the channel (waiting up to
//! five seconds for the publisher to create it), reads every message where the publisher
//! wrote it, checks that none is missing or out of order, and stops when the publisher
//! has gone.

use std::{
    error::Error,
    time::{Duration, Instant},
};

use ferry::{AttachError, Start, Subscriber, SubscriberError};

fn main() -> Result<(), Box<dyn Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| String::from("ferry-broadcast"));
    let mut subscriber = open_when_created(&name)?;
    println!("subscriber {}: joined `{name}` ({} policy)", std::process::id(), subscriber.policy());

    let (mut received, mut next, mut start) = (0u64, None, None);
    loop {
        match subscriber.recv() {
            Ok(guard) => {
                start.get_or_insert_with(Instant::now);
                let seq = u64::from_le_bytes(guard[..8].try_into()?);
                if let Some(want) = next {
                    assert_eq!(seq, want, "a message is missing");
                }
                next = Some(seq + 1);
                received += 1;
            }
            // Overwrite mode only: we fell a whole ring behind.
            Err(SubscriberError::Lagged(missed)) => {
                println!("subscriber {}: missed {missed} messages", std::process::id());
                next = None;
            }
            Err(SubscriberError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let elapsed = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "subscriber {}: received {received} messages in order in {elapsed:.3} s; the publisher has gone",
        std::process::id()
    );
    Ok(())
}

/// Subscribes to `name` from its next message, waiting up to five seconds for it to be
/// created.
fn open_when_created(name: &str) -> Result<Subscriber, AttachError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Subscriber::open(name, Start::Live) {
            Err(AttachError::NotFound { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}
