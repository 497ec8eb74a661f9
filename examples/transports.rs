//! Throughput and latency of every transport, 64-byte and 64-KiB messages, in one run.
//!
//! `cargo run --release --example transports`
//!
//! For each transport (shared memory, Unix socket, FIFO) and size: one-way throughput
//! (a second process receives and checks every message) and ping-pong latency (one-way
//! = round trip / 2, p50). This binary starts itself for the other roles.

use std::{
    env,
    error::Error,
    process::{Child, Command, ExitCode},
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, Sender};

const ROLE: &str = "FERRY_TRANSPORTS_ROLE";
/// How long a process waits for the other to create its endpoint.
const START: Duration = Duration::from_secs(5);
type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Runs the example, printing what went wrong in words (not its `Debug` form).
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transports: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    match env::var(ROLE).as_deref() {
        Ok("sink") => return sink(&args[0], args[1].parse()?),
        Ok("echo") => return echo(&args[0], &args[1]),
        _ => {}
    }
    let dir = env::temp_dir().join(format!("ferry-transports-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("{:<8} {:>8} {:>14} {:>12} {:>14}", "", "size", "messages/s", "MB/s", "latency p50");
    for size in [64usize, 64 * 1024] {
        for transport in ["shm", "unix", "fifo"] {
            let endpoint = |tag: &str| match transport {
                "shm" => format!("shm:transports-{}-{tag}-{size}", std::process::id()),
                other => format!("{other}:{}", dir.join(format!("{tag}-{size}")).display()),
            };
            let count = if size == 64 { 1_000_000 } else { 20_000 };
            let rate = throughput(&endpoint("data"), size, count)?;
            let p50 = latency(&endpoint("ping"), &endpoint("pong"), size, 5_000)?;
            println!(
                "{transport:<8} {:>8} {:>14.0} {:>12.0} {:>11} ns",
                if size == 64 { "64 B" } else { "64 KiB" },
                rate,
                rate * size as f64 / 1e6,
                p50
            );
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn spawn(role: &str, args: &[&str]) -> Result<Child> {
    Ok(Command::new(env::current_exe()?).env(ROLE, role).args(args).spawn()?)
}

fn config(size: usize) -> Config {
    Config::new().slot_size(size).capacity(if size == 64 { 1024 } else { 64 })
}

/// Messages per second from this process to a sink process that reads every byte.
fn throughput(endpoint: &str, size: usize, count: u64) -> Result<f64> {
    // The sink creates the endpoint (a socket or FIFO is created by its receiver).
    let mut child = spawn("sink", &[endpoint, &size.to_string()])?;
    let mut tx = Sender::open_timeout(endpoint, START)?;
    let message: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let start = Instant::now();
    for _ in 0..count {
        tx.send(&message)?;
    }
    drop(tx);
    if !child.wait()?.success() {
        return Err("the sink failed".into());
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn sink(endpoint: &str, size: usize) -> Result<()> {
    let mut rx = Receiver::create(endpoint, &config(size))?;
    let mut sum = 0u64;
    loop {
        match rx.recv() {
            Ok(message) => sum = message.iter().fold(sum, |s, &b| s.wrapping_add(u64::from(b))),
            Err(RecvError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    std::hint::black_box(sum);
    Ok(())
}

/// p50 one-way latency in ns: round trips through an echo process, halved.
fn latency(ping: &str, pong: &str, size: usize, rounds: usize) -> Result<u64> {
    let mut rx = Receiver::create(pong, &config(size))?;
    let mut child = spawn("echo", &[ping, pong])?;
    let mut tx = Sender::open_timeout(ping, START)?;
    let message = vec![7u8; size];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 500 {
        let start = Instant::now();
        tx.send(&message)?;
        let back = rx.recv()?;
        let rtt = start.elapsed().as_nanos() as u64;
        assert_eq!(back.len(), size);
        if round >= 500 {
            samples.push(rtt / 2);
        }
    }
    drop(tx);
    if !child.wait()?.success() {
        return Err("the echo failed".into());
    }
    samples.sort_unstable();
    Ok(samples[samples.len() / 2])
}

fn echo(ping: &str, pong: &str) -> Result<()> {
    let size = 64 * 1024;
    let mut rx = Receiver::create(ping, &config(size))?;
    let mut tx = Sender::open_timeout(pong, START)?;
    let mut buf = vec![0u8; size];
    loop {
        match rx.recv_into(&mut buf) {
            Ok(n) => tx.send(&buf[..n])?,
            Err(RecvError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}
