//! A channel sized in bytes between two processes: messages of mixed sizes (0 B, 1 B,
//! 64 B, 4 KiB, 1 MiB and the 2 MiB maximum) arrive whole, in order, once; and a
//! producer SIGKILLed while writing a large message never delivers it torn and never
//! wedges the channel (a new producer takes over and its message arrives).
//!
//! Each test re-executes this binary as the producer (a `child_*` test chosen by its
//! exact name, with environment variables naming the channel). Every message's bytes
//! are a function of its sequence number (which its first 8 bytes hold when it has room
//! for them), and the receiver recomputes and compares all of them: a stronger check
//! than a checksum, which it subsumes.
//!
//! `FERRY_BYTES_MESSAGES` sets the number of messages (default 3,000; the issue's
//! figure is 1,000,000); `FERRY_BYTES_KILL_RUNS` the kill runs (default 20; `.ci/run`
//! runs the 200 in a step of its own).

use std::{
    env,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use ferry::{Config, Receiver, RecvError, Sender};

mod support;
use support::{mix, start_watchdog, Cleanup};

/// The largest message.
const MAX: usize = 2 << 20;
/// The ring: the smallest power of two holding two records of the maximum.
const CAPACITY: usize = 8 << 20;
const STREAM_ENV: &str = "FERRY_BYTES_STREAM";
const KILL_ENV: &str = "FERRY_BYTES_KILL";
const COUNT_ENV: &str = "FERRY_BYTES_COUNT";
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);
const GENEROUS: Duration = Duration::from_secs(20);

fn config() -> Config {
    Config::new().capacity_bytes(CAPACITY).max_message(MAX)
}

fn messages() -> u64 {
    env::var("FERRY_BYTES_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
}

/// The size of message `seq`, drawn from the mix (large ones rare, so the default run
/// moves about 150 MB).
fn message_len(seq: u64) -> usize {
    match mix(seq ^ 0x6279_7465_735f_6c6e) % 100 {
        0..20 => 0,
        20..40 => 1,
        40..70 => 64,
        70..95 => 4096,
        95..98 => 1 << 20,
        _ => MAX,
    }
}

/// Writes message `seq`'s bytes into `buf` (its whole length).
fn write_message(seq: u64, buf: &mut [u8]) {
    let mut chunks = buf.chunks_mut(8);
    if let Some(first) = chunks.next() {
        first.copy_from_slice(&seq.to_le_bytes()[..first.len()]);
    }
    for (i, chunk) in chunks.enumerate() {
        let word = mix(seq.wrapping_mul(0x1_0000_0001) ^ i as u64).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Checks that `got` is message `seq`, whole.
fn check_message(seq: u64, got: &[u8], scratch: &mut Vec<u8>) {
    let len = message_len(seq);
    assert_eq!(got.len(), len, "message {seq}: length {} instead of {len} (lost, duplicated or torn)", got.len());
    scratch.resize(len, 0);
    write_message(seq, scratch);
    if let Some(at) = got.iter().zip(scratch.iter()).position(|(g, e)| g != e) {
        panic!("message {seq} ({len} bytes) torn or stale at byte {at}");
    }
}

fn child(test: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env::current_exe().expect("the test binary's path"));
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).stdin(Stdio::null());
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

#[test]
fn mixed_sizes_arrive_whole_in_order_once() {
    let name = format!("bytes-xp-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &config()).expect("create");
    let count = messages();
    let mut sender = child("child_mixed_sender", &[(STREAM_ENV, &name), (COUNT_ENV, &count.to_string())])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the producer");
    let mut scratch = Vec::new();
    for seq in 0..count {
        let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("message {seq}: {e}"));
        check_message(seq, &guard, &mut scratch);
    }
    assert_eq!(rx.recv_timeout(GENEROUS).unwrap_err(), RecvError::Disconnected, "nothing after the last message");
    assert!(sender.wait().expect("wait").success(), "the producer failed");
}

/// The producer of `mixed_sizes_arrive_whole_in_order_once`: every send path in turn.
#[test]
fn child_mixed_sender() {
    let Ok(name) = env::var(STREAM_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let count: u64 = env::var(COUNT_ENV).expect("count").parse().expect("a number");
    let mut tx = Sender::open(&name).expect("child: open");
    assert_eq!((tx.slot_size(), tx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    let mut scratch = vec![0u8; MAX];
    for seq in 0..count {
        let len = message_len(seq);
        match mix(seq ^ 0x7061_7468) % 3 {
            0 => {
                write_message(seq, &mut scratch[..len]);
                tx.send(&scratch[..len]).expect("child: send");
            }
            1 => {
                let mut loan = tx.loan_bytes(len).expect("child: loan");
                write_message(seq, &mut loan);
                loan.commit(len);
            }
            _ => {
                // Loan the maximum, commit fewer.
                let mut loan = tx.loan_bytes(MAX).expect("child: loan the maximum");
                write_message(seq, &mut loan[..len]);
                loan.commit(len);
            }
        }
    }
}

#[test]
fn producer_killed_mid_message_never_tears_or_wedges() {
    let runs: u64 = env::var("FERRY_BYTES_KILL_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut scratch = Vec::new();
    for run in 0..runs {
        let name = format!("bytes-kill-{}-{run}", std::process::id());
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &config()).expect("create");
        let mut producer = child("child_large_sender", &[(KILL_ENV, &name)])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the producer");
        // Once it has attached (a sender that never attached cannot be told from one not
        // started yet; libtest may print its own words first on that line): killed while
        // the receiver drains, so most often in the middle of writing a large message.
        let out = std::io::BufReader::new(producer.stdout.take().expect("the child's stdout"));
        let attached = std::io::BufRead::lines(out).map_while(Result::ok).any(|line| line.ends_with("attached"));
        assert!(attached, "run {run}: the producer did not attach");
        let delay = Duration::from_micros(mix(run) % 40_000);
        let killer = thread::spawn(move || {
            thread::sleep(delay);
            producer.kill().expect("kill");
            producer.wait().expect("reap");
        });
        // Everything delivered is whole and in order; then the death is noticed.
        let mut seq = 0;
        loop {
            match rx.recv_timeout(GENEROUS) {
                Ok(guard) => {
                    let got = u64::from_le_bytes(guard[..8].try_into().expect("8 bytes"));
                    assert_eq!(got, seq, "run {run}: message out of order");
                    assert_eq!(guard.len(), MAX, "run {run}: message {seq} torn");
                    scratch.resize(MAX, 0);
                    write_message(seq, &mut scratch);
                    assert!(guard[..] == scratch[..], "run {run}: message {seq} torn");
                    seq += 1;
                }
                Err(RecvError::Disconnected) => break,
                Err(e) => panic!("run {run}: after {seq} messages: {e} (wedged?)"),
            }
        }
        killer.join().expect("the killer thread");
        // Not wedged: a new producer takes the dead one's role, and its message arrives.
        let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("run {run}: take over: {e}"));
        let mut loan = tx.loan_bytes_timeout(MAX, GENEROUS).unwrap_or_else(|e| panic!("run {run}: {e}"));
        write_message(seq, &mut loan);
        loan.commit(MAX);
        let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("run {run}: after the takeover: {e}"));
        assert_eq!(u64::from_le_bytes(guard[..8].try_into().expect("8 bytes")), seq, "run {run}: the new message");
    }
}

/// The producer of the kill test: maximum-size messages written through loans, slowly
/// (a chunk at a time), until it is killed.
#[test]
fn child_large_sender() {
    let Ok(name) = env::var(KILL_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut tx = Sender::open(&name).expect("child: open");
    println!("attached");
    std::io::Write::flush(&mut std::io::stdout()).expect("child: flush stdout");
    let mut whole = vec![0u8; MAX];
    for seq in 0.. {
        write_message(seq, &mut whole);
        let mut loan = tx.loan_bytes(MAX).expect("child: loan");
        for (to, from) in loan.chunks_mut(64 << 10).zip(whole.chunks(64 << 10)) {
            to.copy_from_slice(from);
            thread::yield_now();
        }
        loan.commit(MAX);
    }
}

#[test]
fn inspect_reports_bytes_used_and_capacity() {
    let name = format!("bytes-ls-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let _rx = Receiver::create(&name, &Config::new().capacity_bytes(1 << 12).max_message(1000)).expect("create");
    let mut tx = Sender::open(&name).expect("open");
    tx.send(&[5; 100]).expect("send");
    let info = ferry::inspect(&name).expect("inspect");
    assert_eq!(info.kind, ferry::RingKind::SpscBytes);
    // One record: a 16-byte header and 100 bytes rounded up to 112.
    assert_eq!((info.capacity, info.slot_size, info.in_flight), (1 << 12, 1000, 128));
}
