//! Ping-pong latency and MPMC throughput between processes, with the floors measured in
//! the same run.
//!
//! `cargo run --release --example pingpong -- [ROUND_TRIPS]`
//!
//! - blocking ping-pong over two ferry SPSC channels whose receivers park at once
//!   (futex, then semaphore signaling), beside a raw futex ping-pong between the same
//!   two processes: the floor for a hand-off to a sleeping process;
//! - the same ping-pong with the default wait policy (spin, yield, then park);
//! - MPMC throughput, one receiver and 1, 2 or 4 sender processes.
//!
//! One-way latency is half the round trip. This binary starts itself for the other roles.

use std::{
    env,
    error::Error,
    fs::OpenOptions,
    process::{Child, Command, ExitCode},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, Sender, Signaling, WaitPolicy};

const ROLE: &str = "FERRY_PINGPONG_ROLE";
const MPMC_MESSAGES: u64 = 1_000_000;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Runs the example, printing what went wrong in words (not its `Debug` form).
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pingpong: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    match env::var(ROLE).as_deref() {
        Ok("echo") => return echo(&args[0], &args[1], args[2] == "park"),
        Ok("futex-echo") => return futex_echo(&args[0], args[1].parse()?),
        Ok("mpmc-send") => return mpmc_send(&args[0], args[1].parse()?),
        _ => {}
    }
    let rounds: u64 = args.first().map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    println!("one-way latency = round trip / 2, {rounds} round trips, two processes");
    println!("{:<44} {:>9} {:>9} {:>9}", "", "p50", "p99", "p99.9");
    let floor = futex_pingpong(rounds)?;
    report("raw futex ping-pong (floor)", &floor, None);
    for (label, signaling) in
        [("ferry blocking, futex", Signaling::Futex), ("ferry blocking, semaphore", Signaling::Semaphore)]
    {
        let lat = ferry_pingpong(rounds, signaling, true)?;
        report(label, &lat, Some(&floor));
    }
    let lat = ferry_pingpong(rounds, Signaling::Futex, false)?;
    report("ferry, default wait policy (spins first)", &lat, None);

    println!("\nMPMC throughput, 64-byte messages, {MPMC_MESSAGES} in all, one receiver");
    for senders in [1, 2, 4] {
        let (secs, received) = mpmc_throughput(senders)?;
        println!(
            "{senders} sender process(es): {:>6.2} M msg/s ({received} messages in {secs:.3} s)",
            received as f64 / secs / 1e6
        );
    }
    Ok(())
}

fn spawn(role: &str, args: &[&str]) -> Result<Child> {
    Ok(Command::new(env::current_exe()?).env(ROLE, role).args(args).spawn()?)
}

fn report(label: &str, one_way_ns: &[u64], floor: Option<&[u64]>) {
    let p = |q: f64| one_way_ns[((one_way_ns.len() - 1) as f64 * q) as usize];
    let ratio =
        floor.map(|f| format!("  {:.2} x floor", p(0.5) as f64 / f[(f.len() - 1) / 2] as f64)).unwrap_or_default();
    println!("{label:<44} {:>6} ns {:>6} ns {:>6} ns{ratio}", p(0.5), p(0.99), p(0.999));
}

/// Round trips over two ferry channels; returns sorted one-way latencies in ns.
fn ferry_pingpong(rounds: u64, signaling: Signaling, park: bool) -> Result<Vec<u64>> {
    let base = format!("pingpong-{}-{}", std::process::id(), signaling as u32);
    let (ping, pong) = (format!("{base}-ping"), format!("{base}-pong"));
    let config = Config::new().slot_size(64).capacity(64).signaling(signaling);
    let policy = if park { WaitPolicy::park_at_once() } else { WaitPolicy::default() };
    let mut tx = Sender::create(&ping, &config)?;
    let mut rx = Receiver::create(&pong, &config)?;
    tx.set_wait_policy(policy);
    rx.set_wait_policy(policy);
    let mut child = spawn("echo", &[&ping, &pong, if park { "park" } else { "spin" }])?;
    let mut lat = Vec::with_capacity(rounds as usize);
    for seq in 0..rounds + 1000 {
        let start = Instant::now();
        tx.send_value(seq)?;
        let back = rx.recv_value::<u64>()?;
        let rtt = start.elapsed().as_nanos() as u64;
        assert_eq!(back, seq, "echo out of order");
        if seq >= 1000 {
            lat.push(rtt / 2);
        }
    }
    drop(tx);
    assert!(child.wait()?.success(), "echo process failed");
    lat.sort_unstable();
    Ok(lat)
}

fn echo(ping: &str, pong: &str, park: bool) -> Result<()> {
    let mut rx = Receiver::open(ping)?;
    let mut tx = Sender::open(pong)?;
    if park {
        rx.set_wait_policy(WaitPolicy::park_at_once());
        tx.set_wait_policy(WaitPolicy::park_at_once());
    }
    loop {
        match rx.recv_value::<u64>() {
            Ok(seq) => tx.send_value(seq)?,
            Err(RecvError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Two futex words in a shared file: the parent writes odd numbers into `words[0]` and
/// waits for the echo in `words[1]`; every hand-off is a wake of a sleeping process.
fn futex_pingpong(rounds: u64) -> Result<Vec<u64>> {
    let path = format!("/dev/shm/ferry-pingpong-raw-{}", std::process::id());
    let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    file.set_len(128)?;
    let map = memmap2::MmapOptions::new().len(128).map_raw(&file)?;
    let words = words(&map);
    let mut child = spawn("futex-echo", &[&path, &rounds.to_string()])?;
    let mut lat = Vec::with_capacity(rounds as usize);
    for seq in 1..=rounds + 1000 {
        let start = Instant::now();
        words[0].store(seq as u32, Ordering::Release);
        futex::wake(&words[0], futex::Flags::empty(), 1)?;
        while words[1].load(Ordering::Acquire) != seq as u32 {
            let _ = futex::wait(&words[1], futex::Flags::empty(), seq as u32 - 1, None);
        }
        if seq > 1000 {
            lat.push(start.elapsed().as_nanos() as u64 / 2);
        }
    }
    assert!(child.wait()?.success(), "futex echo failed");
    std::fs::remove_file(&path)?;
    lat.sort_unstable();
    Ok(lat)
}

fn futex_echo(path: &str, rounds: u64) -> Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let map = memmap2::MmapOptions::new().len(128).map_raw(&file)?;
    let words = words(&map);
    for seq in 1..=rounds + 1000 {
        while words[0].load(Ordering::Acquire) != seq as u32 {
            let _ = futex::wait(&words[0], futex::Flags::empty(), seq as u32 - 1, None);
        }
        words[1].store(seq as u32, Ordering::Release);
        futex::wake(&words[1], futex::Flags::empty(), 1)?;
    }
    Ok(())
}

use rustix::thread::futex;

#[allow(clippy::disallowed_types, reason = "the raw futex floor ferry is measured against, outside ferry")]
fn words(map: &memmap2::MmapRaw) -> &[std::sync::atomic::AtomicU32; 2] {
    // SAFETY: the mapping is 128 bytes, page-aligned, shared, and lives as long as the
    // borrow; atomics of u32 may alias plain memory.
    unsafe { &*map.as_mut_ptr().cast::<[std::sync::atomic::AtomicU32; 2]>() }
}

/// One receiver here, `senders` sender processes; returns (seconds, messages).
fn mpmc_throughput(senders: u64) -> Result<(f64, u64)> {
    let name = format!("pingpong-mpmc-{}-{senders}", std::process::id());
    let config = Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(1024);
    let mut rx = Receiver::create(&name, &config)?;
    let each = MPMC_MESSAGES / senders;
    let children = (0..senders).map(|_| spawn("mpmc-send", &[&name, &each.to_string()])).collect::<Result<Vec<_>>>()?;
    let mut received = 0;
    let mut start = None;
    let mut buf = [0u8; 64];
    while received < each * senders {
        match rx.recv_into_timeout(&mut buf, Duration::from_secs(10)) {
            Ok(_) => {
                start.get_or_insert_with(Instant::now);
                received += 1;
            }
            Err(e) => return Err(format!("after {received} messages: {e}").into()),
        }
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    for mut child in children {
        assert!(child.wait()?.success(), "sender failed");
    }
    Ok((secs, received))
}

fn mpmc_send(name: &str, count: u64) -> Result<()> {
    let mut tx = Sender::open(name)?;
    let payload = [7u8; 64];
    for _ in 0..count {
        tx.send(&payload)?;
    }
    Ok(())
}
