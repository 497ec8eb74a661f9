//! A same-uid process scribbling on the signals of a live `Signaling::Semaphore`
//! channel: whatever it writes there must cost at most spurious wake-ups or waits
//! bounded by each call's timeout, never a signal to the process (glibc's `sem_t`
//! aborted with SIGABRT on a scribbled word) and never a `try_send` that blocks.
//!
//! Each test re-executes this test binary as a child running
//! `child_semaphore_workload` by its exact name (without `WORKLOAD_ENV` that test
//! returns at once, so a plain `cargo test` runs it as a no-op). In the child a sender
//! and a receiver on a small ring park often, while a third thread writes chosen and
//! random values into the two signals of the ring (`not_empty`, `not_full`: the futex
//! word, the waiter count and the semaphore's words) through the segment's file,
//! `/dev/shm/ferry.NAME`, at the offsets of layout v5 (`src/ring/mod.rs`: the ring's
//! control block follows the 128-byte header, and on MPMC the 128 seats of 64 bytes;
//! `not_empty` and `not_full` are its third and fourth 128-byte lines). The child times
//! every call and fails if one overran its bound; a watchdog turns a hang into an exit
//! status. The parent fails if the child died by a signal or did not finish.

use std::{
    env,
    fs::OpenOptions,
    os::unix::{fs::FileExt, process::ExitStatusExt},
    process::{self, Command},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, SendError, Sender, Signaling, WaitPolicy};

mod support;
use support::{mix, shm_path, start_watchdog, Cleanup};

/// `<spsc|mpmc>:<name>` for `child_semaphore_workload`.
const WORKLOAD_ENV: &str = "FERRY_HOSTILE_SEMAPHORE_WORKLOAD";
/// Printed by the child once it has checked everything.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";
/// How long the child's threads run while the scribbler writes.
const RUN: Duration = Duration::from_secs(3);
/// A child that runs longer than this exits with status 3: a hang.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);

/// Byte offsets of the ring in the segment, and of the two signals in the ring.
const HEADER: u64 = 128;
const SEATS: u64 = 128;
const SEAT: u64 = 64;
const AT_NOT_EMPTY: u64 = 256;
const AT_NOT_FULL: u64 = 384;
/// Bytes of each signal that are scribbled on: the futex word, the waiter count, and
/// the 32 bytes after them (the semaphore; glibc's `sem_t` was 32 bytes there).
const SIGNAL_BYTES: u64 = 40;

/// The wait of each `recv_timeout`, and of each `send_timeout`.
const RECV_WAIT: Duration = Duration::from_millis(10);
const SEND_WAIT: Duration = Duration::from_millis(20);
/// How much longer than its timeout a call may take on a loaded machine.
const SLACK: Duration = Duration::from_secs(1);
/// The longest a `try_send` may take: it must never wait.
const TRY_BOUND: Duration = Duration::from_millis(500);

/// Values that glibc's semaphore words gave meaning to, and their extremes: zero and
/// all ones, the top bit (its waiters flag in the 32-bit layout), `FUTEX_PRIVATE_FLAG`
/// (128) and `FUTEX_CLOCK_REALTIME` (256) and their mixes with futex operation numbers
/// (6 is `FUTEX_LOCK_PI`), counts near the maximum.
const CHOSEN: &[u32] = &[
    0,
    1,
    2,
    6,
    7,
    13,
    0x80,
    0x86,
    0x100,
    0x180,
    0x186,
    0x7fff_fffe,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0xc000_0000,
    u32::MAX - 1,
    u32::MAX,
];

fn ring_at(kind: RingKind) -> u64 {
    match kind {
        RingKind::Spsc | RingKind::SpscBytes => HEADER,
        RingKind::Mpmc => HEADER + SEATS * SEAT,
        other => unreachable!("this test scribbles on the queues, not on {other:?}"),
    }
}

/// Runs the workload in a child and checks how it ended.
fn scribble_on(kind: RingKind) {
    let tag = if kind == RingKind::Spsc { "spsc" } else { "mpmc" };
    let name = format!("hostile-sem-{tag}-{}", process::id());
    let _cleanup = Cleanup(name.clone());
    let output = Command::new(env::current_exe().expect("the test binary's path"))
        .args(["--exact", "child_semaphore_workload", "--nocapture", "--test-threads=1"])
        .env(WORKLOAD_ENV, format!("{tag}:{name}"))
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("child stdout:\n{stdout}\nchild stderr:\n{stderr}");
    if let Some(signal) = output.status.signal() {
        panic!("the child was killed by signal {signal} while its semaphore was scribbled on\n{report}");
    }
    assert_eq!(output.status.code(), Some(0), "the child failed (3: a call hung past the watchdog)\n{report}");
    assert!(stdout.contains(CHILD_DONE), "the child ran no workload\n{report}");
    println!("{stdout}");
}

#[test]
fn a_scribbled_spsc_semaphore_never_aborts_or_hangs() {
    scribble_on(RingKind::Spsc);
}

#[test]
fn a_scribbled_mpmc_semaphore_never_aborts_or_hangs() {
    scribble_on(RingKind::Mpmc);
}

/// The longest call of each kind, and how many calls there were.
#[derive(Debug, Default)]
struct Timings {
    calls: u64,
    ok: u64,
    longest: Duration,
    overruns: Vec<String>,
}

impl Timings {
    fn record(&mut self, what: &str, took: Duration, bound: Duration, ok: bool) {
        self.calls += 1;
        self.ok += u64::from(ok);
        self.longest = self.longest.max(took);
        if took > bound && self.overruns.len() < 10 {
            self.overruns.push(format!("{what} took {took:?} (bound {bound:?})"));
        }
    }
}

/// The child: a sender and a receiver parking on the semaphore while a third thread
/// scribbles on it.
#[test]
fn child_semaphore_workload() {
    let Ok(task) = env::var(WORKLOAD_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (tag, name) = task.split_once(':').expect("<kind>:<name>");
    let kind = if tag == "spsc" { RingKind::Spsc } else { RingKind::Mpmc };
    let config = Config::new().kind(kind).signaling(Signaling::Semaphore).slot_size(8).capacity(4);
    let mut rx = Receiver::create(name, &config).expect("create the receiver");
    let mut tx = Sender::open(name).expect("open the sender");
    rx.set_wait_policy(WaitPolicy::park_at_once());
    tx.set_wait_policy(WaitPolicy::park_at_once());
    // Every thread stops at the same instant.
    let end = Instant::now() + RUN;
    let running = move || Instant::now() < end;

    let scribbler = {
        let file = OpenOptions::new().read(true).write(true).open(shm_path(name)).expect("open the segment's file");
        let base = ring_at(kind);
        thread::spawn(move || {
            let mut writes = 0u64;
            while running() {
                let h = mix(writes ^ 0x7363_7269_6262_6c65);
                let signal = if h & 1 == 0 { AT_NOT_EMPTY } else { AT_NOT_FULL };
                // Three times in four a word of the semaphore, else the futex word or
                // the waiter count.
                let word =
                    if (h >> 1).is_multiple_of(4) { (h >> 3) % 2 } else { 2 + (h >> 3) % (SIGNAL_BYTES / 4 - 2) };
                let value = if (h >> 8).is_multiple_of(3) {
                    (h >> 16) as u32
                } else {
                    CHOSEN[(h >> 16) as usize % CHOSEN.len()]
                };
                file.write_all_at(&value.to_le_bytes(), base + signal + word * 4).expect("scribble");
                writes += 1;
                if writes.is_multiple_of(64) {
                    thread::sleep(Duration::from_micros(200));
                }
            }
            writes
        })
    };

    let sender = {
        thread::spawn(move || {
            let (mut tries, mut timed) = (Timings::default(), Timings::default());
            let mut i = 0u64;
            while running() {
                let message = i.to_le_bytes();
                let started = Instant::now();
                if i.is_multiple_of(2) {
                    let result = tx.try_send(&message);
                    let ok = match result {
                        Ok(()) => true,
                        Err(SendError::Full(_)) => false,
                        Err(e) => panic!("try_send: {e}"),
                    };
                    tries.record("try_send", started.elapsed(), TRY_BOUND, ok);
                } else {
                    let result = tx.send_timeout(&message, SEND_WAIT);
                    let ok = match result {
                        Ok(()) => true,
                        Err(SendError::Timeout(_)) => false,
                        Err(e) => panic!("send_timeout: {e}"),
                    };
                    timed.record("send_timeout", started.elapsed(), SEND_WAIT + SLACK, ok);
                }
                i += 1;
            }
            // The receiver may be parked: leave without waking it through `Drop`'s
            // clean-up, which is not what is measured here.
            std::mem::forget(tx);
            (tries, timed)
        })
    };

    let receiver = {
        thread::spawn(move || {
            let (mut timed, mut tries) = (Timings::default(), Timings::default());
            let mut i = 0u64;
            while running() {
                let started = Instant::now();
                if i % 8 == 7 {
                    let ok = match rx.try_recv() {
                        Ok(_) => true,
                        Err(RecvError::Empty) => false,
                        Err(e) => panic!("try_recv: {e}"),
                    };
                    tries.record("try_recv", started.elapsed(), TRY_BOUND, ok);
                } else {
                    let ok = match rx.recv_timeout(RECV_WAIT) {
                        Ok(_) => true,
                        Err(RecvError::Timeout) => false,
                        Err(e) => panic!("recv_timeout: {e}"),
                    };
                    timed.record("recv_timeout", started.elapsed(), RECV_WAIT + SLACK, ok);
                }
                // Now and then let the ring fill, so the sender parks too.
                if i.is_multiple_of(16) {
                    thread::sleep(Duration::from_millis(2));
                }
                i += 1;
            }
            std::mem::forget(rx);
            (timed, tries)
        })
    };

    let writes = scribbler.join().expect("the scribbler");
    let (try_send, send_timeout) = sender.join().expect("the sender thread");
    let (recv_timeout, try_recv) = receiver.join().expect("the receiver thread");
    println!("{writes} scribbles");
    let all = [
        ("try_send", try_send),
        ("send_timeout", send_timeout),
        ("recv_timeout", recv_timeout),
        ("try_recv", try_recv),
    ];
    let mut overruns = Vec::new();
    for (what, timings) in &all {
        println!("{what}: {} calls, {} succeeded, longest {:?}", timings.calls, timings.ok, timings.longest);
        overruns.extend(timings.overruns.iter().cloned());
    }
    assert!(overruns.is_empty(), "calls overran their bounds: {overruns:#?}");
    assert!(all.iter().all(|(_, t)| t.calls > 0), "every kind of call must have run");
    assert!(all[0].1.ok + all[1].1.ok > 0 && all[2].1.ok > 0, "messages must have gone through");
    assert!(writes > 0, "the scribbler must have written");
    println!("{CHILD_DONE}");
}
