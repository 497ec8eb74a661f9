//! An MPMC handle killed with SIGKILL while it holds a slot must not wedge the ring.
//!
//! - A producer killed between claiming a slot (a loan) and publishing it: the receivers
//!   find its claim in its seat, see its process dead, and skip the slot; the two live
//!   producers' messages all arrive, exactly once, in per-producer order.
//! - A consumer killed while it holds a message (a guard): a blocked sender finds the
//!   dead claim and releases the slot, so the ring keeps turning.
//!
//! The victims are this test binary re-executed, running one `child_*` test by its exact
//! name with an environment variable naming the channel (without it a `child_*` test
//! returns at once). A victim prints a marker once it holds its slot, then waits to be
//! killed; it kills itself if nobody does, so a failing parent cannot leave it behind.

use std::{
    env,
    io::{BufRead, BufReader, Write},
    os::unix::process::ExitStatusExt,
    process::{self, Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Holders, Process, Receiver, RecvError, RingKind, Sender};

mod support;
use support::{start_watchdog, Cleanup};

/// The channel the victim opens, and what it does: `loan` or `guard`.
const VICTIM_ENV: &str = "FERRY_MPMC_VICTIM";
/// The channel a live producer opens, and its id.
const PRODUCER_ENV: &str = "FERRY_MPMC_PRODUCER";
/// Printed by a child once it holds its slot (victim) or its sender (producer).
const READY: &str = "FERRY-CHILD-READY";
/// What the dead producer wrote into the slot it never published.
const DECOY: &[u8] = b"DECOY: never published";
/// Messages each live producer sends: the 8-slot ring wraps some 5,000 times.
const MESSAGES: u64 = 20_000;
/// A wait long enough that only a wedged ring runs into it.
const LONG: Duration = Duration::from_secs(20);
/// A child that runs longer than this kills itself.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);

fn unique(tag: &str) -> String {
    format!("mc-{tag}-{}", process::id())
}

/// Kills the child on drop (a failing test must not leave it running) and reaps it.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns this binary running `test` with `var=value`, and waits for its `READY` line.
fn spawn_ready(test: &str, var: &str, value: &str) -> Killed {
    let mut child = Command::new(env::current_exe().expect("the test binary's path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {test}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines.by_ref().map_while(Result::ok).any(|line| line.contains(READY));
    assert!(ready, "{test} ended before it was ready");
    // Keep draining its stdout so that it never blocks on a full pipe.
    thread::spawn(move || lines.for_each(drop));
    Killed(child)
}

/// SIGKILLs the victim and checks that the signal is what ended it.
fn kill(mut victim: Killed) -> u32 {
    let pid = victim.0.id();
    victim.0.kill().expect("kill the victim");
    let status = victim.0.wait().expect("reap the victim");
    assert_eq!(status.signal(), Some(9), "the victim ended with {status}, not by SIGKILL");
    pid
}

fn report_ready() {
    println!("{READY}");
    std::io::stdout().flush().expect("child: flush stdout");
}

/// Message `seq` of producer `id`: both numbers and a check word.
fn message(id: u64, seq: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&id.to_le_bytes());
    out[8..16].copy_from_slice(&seq.to_le_bytes());
    out[16..].copy_from_slice(&(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seq).to_le_bytes());
    out
}

#[test]
fn a_producer_killed_while_holding_a_claimed_slot_does_not_wedge_the_ring() {
    let name = unique("dead-producer");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(8);
    let mut rx = Receiver::create(&name, &config).expect("create");

    // The victim claims the first position, the one every later message waits behind.
    let victim = spawn_ready("child_victim", VICTIM_ENV, &format!("loan:{name}"));
    let producers: Vec<Killed> =
        (1..=2).map(|id| spawn_ready("child_producer", PRODUCER_ENV, &format!("{id}:{name}"))).collect();
    let dead = Process { pid: kill(victim), alive: false };
    // The dead producer holds its seat until a recovery frees it: perhaps already, in a
    // live producer's process, which watches every other holder for its exit.
    let senders = ferry::inspect(&name).expect("inspect").senders;
    assert!(
        matches!(&senders, Holders::Processes(all)
            if all.iter().filter(|p| p.alive).count() == 2 && all.iter().all(|p| p.alive || *p == dead)),
        "two live producers, and the dead one's seat if it is not recovered yet: {senders:?}"
    );

    let started = Instant::now();
    let mut next = [0u64; 3];
    let mut buf = [0u8; 64];
    while next[1] < MESSAGES || next[2] < MESSAGES {
        let n = rx
            .recv_into_timeout(&mut buf, LONG)
            .unwrap_or_else(|e| panic!("the ring wedged behind the dead producer's slot after {next:?} messages: {e}"));
        assert_ne!(&buf[..n], DECOY, "the dead producer's unpublished slot was delivered");
        let id = u64::from_le_bytes(buf[..8].try_into().unwrap());
        assert!(id == 1 || id == 2, "a message from no producer: {:?}", &buf[..n]);
        assert_eq!(&buf[..n], message(id, next[id as usize]), "producer {id}'s messages out of order or torn");
        next[id as usize] += 1;
    }
    let took = started.elapsed();
    // Both live producers finish and detach: then, and only then, the channel is done.
    for mut producer in producers {
        assert!(producer.0.wait().expect("reap a producer").success(), "a producer failed");
    }
    assert_eq!(rx.recv_timeout(LONG).unwrap_err(), RecvError::Disconnected);
    assert_eq!(ferry::inspect(&name).expect("inspect").senders, Holders::Left, "the dead seat was recovered");
    eprintln!("{} messages from the live producers past the dead one's slot in {took:.2?}", 2 * MESSAGES);
}

#[test]
fn a_consumer_killed_while_holding_a_message_does_not_wedge_the_ring() {
    let name = unique("dead-consumer");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(4);
    let mut tx = Sender::create(&name, &config).expect("create");
    tx.send(b"for the victim").expect("send");

    // The victim takes that message and holds it: its slot is not released.
    let victim = spawn_ready("child_victim", VICTIM_ENV, &format!("guard:{name}"));
    let mut rx = Receiver::open(&name).expect("a live receiver");
    kill(victim);

    // The ring wraps many times: the producer must get the dead consumer's slot back.
    let started = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..MESSAGES {
                tx.send_timeout(&message(0, seq), LONG)
                    .unwrap_or_else(|e| panic!("the ring wedged on the dead consumer's slot at {seq}: {e}"));
            }
        });
        let mut buf = [0u8; 64];
        for seq in 0..MESSAGES {
            let n = rx.recv_into_timeout(&mut buf, LONG).unwrap_or_else(|e| panic!("message {seq}: {e}"));
            assert_eq!(&buf[..n], message(0, seq), "message {seq}");
        }
    });
    eprintln!("{MESSAGES} messages past the dead consumer's slot in {:.2?}", started.elapsed());
}

/// `loan:NAME`: claims a slot as a sender and holds it; `guard:NAME`: takes a message as
/// a receiver and holds it. Either way, reports ready and waits to be killed.
#[test]
fn child_victim() {
    let Ok(what) = env::var(VICTIM_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (how, name) = what.split_once(':').expect("child: HOW:NAME");
    if how == "loan" {
        let mut tx = Sender::open(name).unwrap_or_else(|e| panic!("child: {e}"));
        let mut loan = tx.try_loan().unwrap_or_else(|e| panic!("child: loan: {e}"));
        loan[..DECOY.len()].copy_from_slice(DECOY);
        report_ready();
        thread::sleep(CHILD_WATCHDOG);
    } else {
        let mut rx = Receiver::open(name).unwrap_or_else(|e| panic!("child: {e}"));
        let _guard = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("child: recv: {e}"));
        report_ready();
        thread::sleep(CHILD_WATCHDOG);
    }
}

/// `ID:NAME`: sends `MESSAGES` messages as producer `ID`, once told to start.
#[test]
fn child_producer() {
    let Ok(what) = env::var(PRODUCER_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (id, name) = what.split_once(':').expect("child: ID:NAME");
    let id: u64 = id.parse().expect("child: a numeric id");
    let mut tx = Sender::open(name).unwrap_or_else(|e| panic!("child: {e}"));
    report_ready();
    for seq in 0..MESSAGES {
        tx.send_timeout(&message(id, seq), LONG).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
    }
}
