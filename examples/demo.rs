//! The quick start: a consumer and a producer, each its own process, exchanging messages
//! through a shared-memory channel.
//!
//! `cargo run --release --example demo -- [COUNT]`
//!
//! This binary holds both examples; it starts itself twice, once per role.

// Each role module declares the `wire` module it shares with its own standalone example;
// the two copies here are never mixed.
#![allow(clippy::duplicate_mod)]

use std::{
    env,
    error::Error,
    process::{Child, Command, ExitCode},
};

#[path = "consumer.rs"]
mod consumer;
#[path = "producer.rs"]
mod producer;

const ROLE: &str = "FERRY_DEMO_ROLE";

fn main() -> ExitCode {
    match env::var(ROLE).as_deref() {
        Ok("consumer") => consumer::main(),
        Ok("producer") => producer::main(),
        _ => run().map_or_else(
            |e| {
                eprintln!("demo: {e}");
                ExitCode::FAILURE
            },
            |()| ExitCode::SUCCESS,
        ),
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let count = env::args().nth(1).unwrap_or_else(|| "1000000".to_owned());
    let name = format!("ferry-demo-{}", std::process::id());
    let spawn = |role: &str| -> std::io::Result<Child> {
        Command::new(env::current_exe()?).env(ROLE, role).args([&name, &count]).spawn()
    };
    println!("demo: starting a consumer and a producer process on channel `{name}`");
    let mut consumer = spawn("consumer")?;
    let mut producer = spawn("producer")?;
    let (p, c) = (producer.wait()?, consumer.wait()?);
    if !(p.success() && c.success()) {
        return Err(format!("demo failed: producer {p}, consumer {c}").into());
    }
    println!("demo: both processes finished; the channel is gone with its creator");
    Ok(())
}
