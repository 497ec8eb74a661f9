//! The Zenoh bridge end to end, on one machine (feature `bridge`):
//!
//! ```text
//! producer process -> channel A -> bridge A -> Zenoh, loopback TCP -> bridge B -> channel B -> consumer process
//! ```
//!
//! The producer and the consumer are this test binary re-executed (`child_producer`,
//! `child_consumer`, chosen by exact name and driven by environment variables); the bridges
//! are `ferry bridge` processes. Bridge B listens on a free loopback port, bridge A
//! connects to it; multicast scouting is off. Every message carries its sequence number and
//! a checksum; lengths vary from 16 bytes to a full slot.
//!
//! - `a_stream_crosses_two_bridges_once_in_order_and_survives_a_killed_bridge`: 100,000
//!   messages; bridge B is killed (SIGKILL) mid-stream and restarted. The consumer must see
//!   messages in order, intact, never twice, up to the last one; the bridges must report
//!   exactly the messages it did not see as lost (at most one more: a bridge killed between
//!   writing a message and recording it counts it as lost).
//! - `with_drop_a_bridge_with_nobody_listening_drops_counts_and_resumes`: bridge A runs
//!   with `--drop` while bridge B is down for a while, so messages are certainly lost; the
//!   restarted bridge B counts them.
//! - `a_broadcast_stream_crosses_two_bridges_to_every_subscriber`: channels A and B are
//!   broadcast channels sized in bytes; bridge A is a subscriber of A, bridge B a
//!   publisher of B, and two consumer processes subscribe to B: each receives every
//!   message once, in order, intact.
//! - `over_tls_only_a_peer_with_the_password_gets_through`: the two bridges speak TLS (a
//!   certificate authority and a server certificate made with `openssl`) and bridge B
//!   requires a user and password (`--config`): the stream arrives; a bridge with a wrong
//!   password never sees bridge B's subscriber.

#![cfg(feature = "bridge")]

use std::{
    env,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{self, Child, Command, Stdio},
    sync::{mpsc, Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use ferry::{
    Config, PublishError, Publisher, Receiver, RecvError, RingKind, SendError, Sender, Start, Subscriber,
    SubscriberError,
};

mod support;
use support::{mix, start_watchdog, Cleanup, Rng};

/// The channels' slot size: the largest message.
const SLOT: usize = 1024;
/// The shortest message: sequence number and checksum.
const MIN_LEN: usize = 16;
/// The channels' capacity.
const CAPACITY: usize = 256;
/// Salts for the lengths and the filler.
const LEN_SALT: u64 = 0x6272_6964_6765_6c01;
const FILL_SALT: u64 = 0x6272_6964_6765_6602;

/// Environment of the child processes.
const CHANNEL_ENV: &str = "FERRY_BRIDGE_TEST_CHANNEL";
const COUNT_ENV: &str = "FERRY_BRIDGE_TEST_COUNT";
const PACE_ENV: &str = "FERRY_BRIDGE_TEST_PACE_US";
/// Set: the child's channel is a broadcast channel sized in bytes, which it creates
/// (`create`) or opens (`open`).
const BROADCAST_ENV: &str = "FERRY_BRIDGE_TEST_BROADCAST";
/// The consumer prints this once it has created its channel, then `AT n` every
/// `MILESTONE` messages, then `DONE received=R last=S`.
const READY: &str = "FERRY-CHILD-READY";
const MILESTONE: u64 = 5_000;
/// A child running longer than this kills itself.
const CHILD_WATCHDOG: Duration = Duration::from_secs(300);
/// How long the consumer waits for the next message before it gives up, in the drop test
/// (where the last messages may be lost) and, much longer, in the block test.
const IDLE_END_DROP: Duration = Duration::from_secs(6);
const IDLE_END_BLOCK: Duration = Duration::from_secs(120);

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn message_len(seq: u64) -> usize {
    MIN_LEN + (mix(seq ^ LEN_SALT) % (SLOT - MIN_LEN + 1) as u64) as usize
}

/// Message `seq` into `out` (its length): the sequence number, filler, the checksum.
fn write_message(seq: u64, out: &mut [u8]) {
    let body = out.len() - 8;
    out[..8].copy_from_slice(&seq.to_le_bytes());
    Rng(mix(seq ^ FILL_SALT)).fill(&mut out[8..body]);
    let sum = checksum(&out[..body]);
    out[body..].copy_from_slice(&sum.to_le_bytes());
}

/// The sequence number of an intact message `got`, or what is wrong with it.
fn check(got: &[u8], scratch: &mut [u8]) -> Result<u64, String> {
    if !(MIN_LEN..=SLOT).contains(&got.len()) {
        return Err(format!("a message of {} bytes: every message is {MIN_LEN} to {SLOT}", got.len()));
    }
    let body = got.len() - 8;
    let seq = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    let sum = u64::from_le_bytes(got[body..].try_into().expect("8 bytes"));
    if checksum(&got[..body]) != sum {
        return Err(format!("a torn message: {} bytes claiming seq {seq}, bad checksum", got.len()));
    }
    let want = &mut scratch[..message_len(seq)];
    write_message(seq, want);
    if got != &want[..] {
        return Err(format!("message {seq} is {} bytes and not the one sent", got.len()));
    }
    Ok(seq)
}

/// The broadcast channels' shape: 64 KiB for messages of up to a slot.
fn broadcast_config() -> Config {
    Config::new().kind(RingKind::Broadcast).capacity_bytes(64 << 10).max_message(SLOT)
}

/// Creates broadcast channel A, waits for its subscriber (bridge A), and publishes
/// `COUNT` messages through loans of their size, blocking while bridge A is behind.
fn publish_all(name: &str, count: u64) {
    let mut tx = Publisher::create(name, &broadcast_config()).expect("producer: create A");
    println!("{READY}");
    std::io::stdout().flush().expect("flush");
    // A subscriber joins at the next message: start once bridge A has joined.
    let deadline = Instant::now() + Duration::from_secs(120);
    while tx.subscriber_count() == 0 {
        assert!(Instant::now() < deadline, "producer: bridge A never subscribed");
        thread::sleep(Duration::from_millis(10));
    }
    for seq in 0..count {
        let len = message_len(seq);
        let mut loan = match tx.loan_bytes_timeout(len, Duration::from_secs(120)) {
            Ok(loan) => loan,
            Err(PublishError::Timeout) => panic!("producer: bridge A read nothing for two minutes"),
            Err(e) => panic!("producer: loan: {e}"),
        };
        write_message(seq, &mut loan);
        loan.commit(len);
    }
    println!("SENT {count}");
    std::io::stdout().flush().expect("flush");
    // Wait for the parent to end us: leaving would unlink channel A under bridge A.
    let _ = std::io::stdin().read(&mut [0u8; 1]);
}

/// Creates channel A and sends `COUNT` messages into it through loans, blocking while it
/// is full, optionally pausing `PACE_US` µs between messages (a broadcast channel:
/// [`publish_all`]).
#[test]
fn child_producer() {
    let Ok(name) = env::var(CHANNEL_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let count: u64 = env::var(COUNT_ENV).expect("count").parse().expect("numeric count");
    if env::var(BROADCAST_ENV).is_ok() {
        return publish_all(&name, count);
    }
    let pace = Duration::from_micros(env::var(PACE_ENV).ok().and_then(|p| p.parse().ok()).unwrap_or(0));
    let mut tx = Sender::create(&name, &Config::new().slot_size(SLOT).capacity(CAPACITY)).expect("producer: create A");
    println!("{READY}");
    std::io::stdout().flush().expect("flush");
    for seq in 0..count {
        let mut loan = match tx.loan() {
            Ok(loan) => loan,
            // The parent stopped the bridge first (the wrong-password bridge of the TLS test).
            Err(SendError::Disconnected(())) => return,
            Err(e) => panic!("producer: loan: {e}"),
        };
        let len = message_len(seq);
        write_message(seq, &mut loan[..len]);
        loan.commit(len);
        if !pace.is_zero() {
            thread::sleep(pace);
        }
    }
    // The channel goes with its creator: stay until the bridge has taken everything.
    let deadline = Instant::now() + Duration::from_secs(120);
    while tx.in_flight().expect("producer: in_flight") > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    println!("SENT {count}");
    std::io::stdout().flush().expect("flush");
    // Wait for the parent to end us: leaving would unlink channel A under bridge A.
    let _ = std::io::stdin().read(&mut [0u8; 1]);
}

/// A consumer's end of channel B: a queue's receiver, or a broadcast subscriber.
enum Inbox {
    Queue(Receiver),
    Broadcast(Subscriber),
}

impl Inbox {
    /// The next message, copied; `None` if none came within the timeout or the senders
    /// have gone (a killed bridge, which a restarted one replaces).
    fn next(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        match self {
            Self::Queue(rx) => match rx.recv_timeout(timeout) {
                Ok(message) => Some(message.to_vec()),
                Err(RecvError::Timeout | RecvError::Disconnected) => None,
                Err(e) => panic!("consumer: {e}"),
            },
            Self::Broadcast(rx) => match rx.recv_timeout(timeout) {
                Ok(message) => Some(message.to_vec()),
                Err(SubscriberError::Timeout | SubscriberError::Disconnected) => None,
                Err(e) => panic!("consumer: {e}"),
            },
        }
    }
}

/// Creates channel B (or, a second broadcast subscriber, opens it) and receives until
/// message `COUNT - 1` arrives or nothing arrives for a long while, checking each message;
/// a departed sender (a killed bridge) is waited out, since a restarted bridge takes its
/// place.
#[test]
fn child_consumer() {
    let Ok(name) = env::var(CHANNEL_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let count: u64 = env::var(COUNT_ENV).expect("count").parse().expect("numeric count");
    let idle_end = if env::var(PACE_ENV).is_ok() { IDLE_END_DROP } else { IDLE_END_BLOCK };
    let mut rx = match env::var(BROADCAST_ENV).as_deref() {
        Ok("create") => {
            Inbox::Broadcast(Subscriber::create(&name, &broadcast_config(), Start::Live).expect("consumer: create B"))
        }
        Ok(_) => Inbox::Broadcast(
            Subscriber::open_timeout(&name, Start::Live, Duration::from_secs(60)).expect("consumer: open B"),
        ),
        Err(_) => Inbox::Queue(
            Receiver::create(&name, &Config::new().slot_size(SLOT).capacity(CAPACITY)).expect("consumer: create B"),
        ),
    };
    println!("{READY}");
    std::io::stdout().flush().expect("flush");
    let mut scratch = vec![0u8; SLOT];
    let (mut received, mut next, mut gaps) = (0u64, 0u64, Vec::new());
    let mut last_message = Instant::now();
    while next < count {
        let Some(message) = rx.next(Duration::from_millis(100)) else {
            if last_message.elapsed() < idle_end {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            break;
        };
        last_message = Instant::now();
        let seq = check(&message, &mut scratch).unwrap_or_else(|e| panic!("consumer: {e}"));
        assert!(seq >= next, "consumer: message {seq} after message {}: a duplicate or out of order", next - 1);
        if seq > next {
            gaps.push((next, seq));
        }
        received += 1;
        if (seq + 1) / MILESTONE > next / MILESTONE {
            println!("AT {}", seq + 1);
            std::io::stdout().flush().expect("flush");
        }
        next = seq + 1;
    }
    let gaps: Vec<String> = gaps.iter().map(|(a, b)| format!("{a}..{b}")).collect();
    println!("DONE received={received} next={next} gaps={}", gaps.join(","));
    std::io::stdout().flush().expect("flush");
}

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Re-executes this test binary as child test `test` on channel `name`; its stdout lines
/// arrive on the returned receiver.
fn spawn_child(test: &str, name: &str, count: u64, pace_us: Option<u64>) -> (Proc, mpsc::Receiver<String>) {
    spawn_child_with(test, name, count, pace_us, None)
}

/// [`spawn_child`], on a broadcast channel the child creates or opens (`broadcast`).
fn spawn_child_with(
    test: &str,
    name: &str,
    count: u64,
    pace_us: Option<u64>,
    broadcast: Option<&str>,
) -> (Proc, mpsc::Receiver<String>) {
    let mut command = Command::new(env::current_exe().expect("the test binary"));
    if let Some(how) = broadcast {
        command.env(BROADCAST_ENV, how);
    }
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHANNEL_ENV, name)
        .env(COUNT_ENV, count.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(pace) = pace_us {
        command.env(PACE_ENV, pace.to_string());
    }
    let mut child = command.spawn().expect("spawn a child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    (Proc { child }, lines)
}

/// Waits for a line of `lines` starting with `prefix`, failing after `timeout`.
fn expect_line(lines: &mpsc::Receiver<String>, prefix: &str, timeout: Duration, what: &str) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            // The test harness prints `test NAME ... ` before the child's first line.
            Ok(line) if line.rsplit("... ").next().is_some_and(|l| l.starts_with(prefix)) => return line,
            Ok(_) => {}
            Err(e) => panic!("{what}: no `{prefix}` line within {timeout:?} ({e})"),
        }
    }
}

/// A `ferry bridge` process whose stdout and stderr go to files.
struct BridgeProc {
    proc: Proc,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl BridgeProc {
    fn start(dir: &Path, label: &str, args: &[String]) -> Self {
        let stdout = dir.join(format!("{label}.out"));
        let stderr = dir.join(format!("{label}.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("bridge")
            .args(args)
            .env("RUST_LOG", "warn,ferry=info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn ferry bridge");
        Self { proc: Proc { child }, stdout, stderr }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    fn wait_for_log(&self, needle: &str, timeout: Duration) {
        self.wait_for_more(needle, 0, timeout);
    }

    /// How many times the log says `needle`.
    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until the log says `needle` more than `seen` times.
    fn wait_for_more(&self, needle: &str, seen: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(needle) <= seen {
            assert!(Instant::now() < deadline, "no `{needle}` in the bridge's log within {timeout:?}:\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then its final stats line (the last line of its stdout).
    fn stop(mut self) -> (String, String) {
        // kill(1) rather than libc: this test needs no unsafe code.
        let status = Command::new("kill").args(["-TERM", &self.proc.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill -TERM the bridge");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.proc.child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "the bridge did not stop on SIGTERM:\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
        let status = self.proc.child.wait().expect("wait");
        assert!(status.success(), "the bridge ended with {status}:\n{}", self.log());
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let last = out.lines().rev().find(|l| l.ends_with("(final)")).unwrap_or_default().to_owned();
        (last, self.log())
    }

    fn kill(mut self) -> String {
        self.proc.child.kill().expect("SIGKILL the bridge");
        let status = self.proc.child.wait().expect("wait");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
        self.log()
    }
}

/// The value of `name=` in `line`.
fn field(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The sum of the `lost=` counts of a bridge log's gap lines.
fn logged_losses(log: &str) -> u64 {
    log.lines().filter(|l| l.contains("gap: messages lost")).filter_map(|l| field(l, "lost")).sum()
}

/// A loopback TCP port that was free a moment ago, below Linux's ephemeral range
/// (32768-60999), so no outgoing connection of another test can take it meanwhile.
fn free_port() -> u16 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let start = 20_000 + (mix(u64::from(process::id()) ^ u64::from(now)) % 12_000) as u16;
    (start..32_000)
        .chain(20_000..start)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port between 20000 and 32000")
}

/// The end-to-end tests take turns: each runs four to five processes with timing of its
/// own (a kill mid-stream), and the machine may have two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Run {
    dir: PathBuf,
    a: String,
    b: String,
    key: String,
    port: u16,
    _cleanup: (Cleanup, Cleanup),
}

impl Run {
    fn new(test: &str) -> Self {
        let id = format!("{test}-{}", process::id());
        let dir = env::temp_dir().join(format!("ferry-bridge-test-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).expect("scratch directory");
        let (a, b) = (format!("br-a-{id}"), format!("br-b-{id}"));
        Self {
            _cleanup: (Cleanup(a.clone()), Cleanup(b.clone())),
            dir,
            key: format!("ferry-test/{id}"),
            port: free_port(),
            a,
            b,
        }
    }

    /// Writes `text` to `name` in the run's directory; returns its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write a run file");
        path.display().to_string()
    }

    fn bridge_a(&self, extra: &[&str]) -> BridgeProc {
        let mut args: Vec<String> =
            ["--from", &format!("shm:{}", self.a), "--to", &format!("zenoh:{}", self.key)].map(String::from).to_vec();
        args.extend(["--connect".into(), format!("tcp/127.0.0.1:{}", self.port), "--no-state".into()]);
        args.extend(["--stats".into(), "0.5".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        BridgeProc::start(&self.dir, "bridge-a", &args)
    }

    fn bridge_b(&self, label: &str) -> BridgeProc {
        let args: Vec<String> = [
            "--from",
            &format!("zenoh:{}", self.key),
            "--to",
            &format!("shm:{}", self.b),
            "--listen",
            &format!("tcp/127.0.0.1:{}", self.port),
            "--state",
            &self.dir.join("state").display().to_string(),
            "--stats",
            "0.5",
        ]
        .map(String::from)
        .to_vec();
        BridgeProc::start(&self.dir, label, &args)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Parses the consumer's `DONE` line: (received, next, gaps).
fn done(line: &str) -> (u64, u64, String) {
    let gaps = line.split("gaps=").nth(1).unwrap_or_default().to_owned();
    (field(line, "received").expect("received="), field(line, "next").expect("next="), gaps)
}

#[test]
fn a_stream_crosses_two_bridges_once_in_order_and_survives_a_killed_bridge() {
    let _turn = take_turn();
    const COUNT: u64 = 100_000;
    const KILL_AT: u64 = 30_000;
    let run = Run::new("block");
    let started = Instant::now();
    let (consumer, consumer_lines) = spawn_child("child_consumer", &run.b, COUNT, None);
    expect_line(&consumer_lines, READY, Duration::from_secs(60), "consumer");
    let b1 = run.bridge_b("bridge-b1");
    b1.wait_for_log("forwarding", Duration::from_secs(60));
    let a = run.bridge_a(&[]);
    let (producer, producer_lines) = spawn_child("child_producer", &run.a, COUNT, None);
    expect_line(&producer_lines, READY, Duration::from_secs(60), "producer");

    expect_line(&consumer_lines, &format!("AT {KILL_AT}"), Duration::from_secs(180), "consumer");
    let held_before = a.count("no remote subscriber");
    let b1_log = b1.kill();
    let killed = Instant::now();
    // Bridge A notices, holds channel A (block policy), and the producer waits on it.
    a.wait_for_more("no remote subscriber", held_before, Duration::from_secs(30));
    thread::sleep(Duration::from_millis(500));
    let b2 = run.bridge_b("bridge-b2");
    let resumed = expect_line(&consumer_lines, "AT ", Duration::from_secs(120), "consumer after the restart");
    let restart = killed.elapsed();

    let line = expect_line(&consumer_lines, "DONE", Duration::from_secs(240), "consumer");
    let (received, next, gaps) = done(&line);
    expect_line(&producer_lines, "SENT", Duration::from_secs(60), "producer");
    let (b2_final, b2_log) = b2.stop();
    let (a_final, a_log) = a.stop();
    drop((producer, consumer));

    let missing = COUNT - received;
    let (lost_b1, lost_b2) = (logged_losses(&b1_log), logged_losses(&b2_log));
    let reported = lost_b1 + lost_b2;
    println!(
        "{received} of {COUNT} messages arrived in order ({missing} missing: {gaps}); bridges reported {reported} lost \
         ({lost_b1} before the kill, {lost_b2} after); stream resumed {restart:?} after the kill ({resumed}); total {:?}",
        started.elapsed()
    );
    println!("bridge A: {a_final}\nbridge B2: {b2_final}");
    assert_eq!(
        next, COUNT,
        "the last message did not arrive: {line}\n--- bridge B2 ---\n{b2_log}\n--- bridge A ---\n{a_log}"
    );
    assert_eq!(lost_b1, 0, "bridge B1 lost messages while nothing failed:\n{b1_log}");
    assert!(
        (missing..=missing + 1).contains(&reported),
        "{missing} messages never arrived ({gaps}) but the bridges reported {reported} lost\n--- B1 ---\n{b1_log}\n--- B2 ---\n{b2_log}"
    );
    assert_eq!(field(&b2_final, "lost"), Some(lost_b2), "bridge B2's final counters: {b2_final}");
    assert_eq!(field(&b2_final, "duplicates"), Some(0), "{b2_final}");
    assert_eq!(field(&a_final, "dropped"), Some(0), "block policy: bridge A drops nothing: {a_final}");
    assert!(b2_log.contains("a publishing bridge") || lost_b2 > 0 || b2_log.contains("forwarding"), "{b2_log}");
}

#[test]
fn with_drop_a_bridge_with_nobody_listening_drops_counts_and_resumes() {
    let _turn = take_turn();
    const COUNT: u64 = 20_000;
    const KILL_AT: u64 = 5_000;
    let run = Run::new("drop");
    let (consumer, consumer_lines) = spawn_child("child_consumer", &run.b, COUNT, Some(50));
    expect_line(&consumer_lines, READY, Duration::from_secs(60), "consumer");
    let b1 = run.bridge_b("bridge-b1");
    b1.wait_for_log("forwarding", Duration::from_secs(60));
    let a = run.bridge_a(&["--drop"]);
    // A paced producer: the stream goes on while bridge B is down.
    let (producer, producer_lines) = spawn_child("child_producer", &run.a, COUNT, Some(50));
    expect_line(&producer_lines, READY, Duration::from_secs(60), "producer");

    expect_line(&consumer_lines, &format!("AT {KILL_AT}"), Duration::from_secs(180), "consumer");
    let held_before = a.count("no remote subscriber");
    let b1_log = b1.kill();
    a.wait_for_more("no remote subscriber", held_before, Duration::from_secs(30));
    thread::sleep(Duration::from_millis(700));
    let b2 = run.bridge_b("bridge-b2");
    let line = expect_line(&consumer_lines, "DONE", Duration::from_secs(240), "consumer");
    let (received, _, gaps) = done(&line);
    expect_line(&producer_lines, "SENT", Duration::from_secs(120), "producer");
    let (b2_final, b2_log) = b2.stop();
    let (a_final, _) = a.stop();
    drop((producer, consumer));

    let missing = COUNT - received;
    let reported = logged_losses(&b1_log) + logged_losses(&b2_log);
    let dropped_by_a = field(&a_final, "dropped").expect("dropped=");
    println!("{received} of {COUNT} arrived ({missing} missing: {gaps}); reported lost {reported}; bridge A dropped {dropped_by_a} with nobody listening");
    println!("bridge A: {a_final}\nbridge B2: {b2_final}");
    assert!(dropped_by_a > 0, "bridge A was never without a subscriber: {a_final}");
    assert!(missing >= dropped_by_a, "the consumer got messages bridge A says it dropped");
    assert!(field(&b2_final, "forwarded").unwrap_or(0) > 0, "the stream did not resume: {b2_final}\n{b2_log}");
    // The last messages may be lost too (after the last one that arrived nothing shows the
    // gap); every gap the consumer saw was reported.
    let seen_gaps: u64 = gaps
        .split(',')
        .filter(|g| !g.is_empty())
        .map(|g| {
            let (a, b) = g.split_once("..").expect("a..b");
            b.parse::<u64>().expect("b") - a.parse::<u64>().expect("a")
        })
        .sum();
    assert!(
        (seen_gaps..=seen_gaps + 1).contains(&reported),
        "the consumer saw {seen_gaps} missing in gaps ({gaps}), the bridges reported {reported}\n--- B1 ---\n{b1_log}\n--- B2 ---\n{b2_log}"
    );
}

/// Runs `openssl` with `args` in `dir`, failing the test if it fails.
#[test]
fn a_broadcast_stream_crosses_two_bridges_to_every_subscriber() {
    let _turn = take_turn();
    const COUNT: u64 = 100_000;
    let run = Run::new("broadcast");
    let started = Instant::now();
    // Both subscribers of B join before bridge B publishes anything into it.
    let (first, first_lines) = spawn_child_with("child_consumer", &run.b, COUNT, None, Some("create"));
    expect_line(&first_lines, READY, Duration::from_secs(60), "first consumer");
    let (second, second_lines) = spawn_child_with("child_consumer", &run.b, COUNT, None, Some("open"));
    expect_line(&second_lines, READY, Duration::from_secs(60), "second consumer");
    let b = run.bridge_b("bridge-b");
    b.wait_for_log("forwarding", Duration::from_secs(60));
    let a = run.bridge_a(&[]);
    let (producer, producer_lines) = spawn_child_with("child_producer", &run.a, COUNT, None, Some("create"));
    expect_line(&producer_lines, READY, Duration::from_secs(60), "producer");

    for (lines, which) in [(&first_lines, "first consumer"), (&second_lines, "second consumer")] {
        let line = expect_line(lines, "DONE", Duration::from_secs(240), which);
        let (received, next, gaps) = done(&line);
        assert_eq!((received, next), (COUNT, COUNT), "{which}: {line}\n--- bridge B ---\n{}", b.log());
        assert!(gaps.is_empty(), "{which}: {line}");
    }
    expect_line(&producer_lines, "SENT", Duration::from_secs(60), "producer");
    let (b_final, b_log) = b.stop();
    let (a_final, a_log) = a.stop();
    drop((producer, first, second));
    println!("{COUNT} messages to two subscribers through two bridges in {:?}", started.elapsed());
    println!("bridge A: {a_final}\nbridge B: {b_final}");
    assert_eq!(logged_losses(&b_log), 0, "{b_log}");
    assert_eq!(field(&b_final, "forwarded"), Some(COUNT), "bridge B wrote each sample once: {b_final}\n{b_log}");
    assert_eq!(field(&a_final, "forwarded"), Some(COUNT), "bridge A read each message once: {a_final}\n{a_log}");
    assert_eq!(field(&a_final, "dropped"), Some(0), "{a_final}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (it must be installed)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn over_tls_only_a_peer_with_the_password_gets_through() {
    let _turn = take_turn();
    const COUNT: u64 = 2_000;
    let run = Run::new("tls");
    let dir = &run.dir;
    // A certificate authority, and bridge B's certificate for `localhost`, signed by it.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ferry test CA",
        ],
    );
    openssl(
        dir,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "b.key", "-out", "b.csr", "-subj", "/CN=localhost"],
    );
    run.file("san.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "b.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "b.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    let users = run.file("users.txt", "robot:secret\n");
    let at = |f: &str| dir.join(f).display().to_string();
    let b_config = run.file(
        "b.json5",
        &format!(
            r#"{{ mode: "peer", listen: {{ endpoints: ["tls/localhost:{port}"] }}, scouting: {{ multicast: {{ enabled: false }} }},
               transport: {{ link: {{ tls: {{ listen_private_key: "{key}", listen_certificate: "{cert}" }} }},
                            auth: {{ usrpwd: {{ dictionary_file: "{users}" }} }} }} }}"#,
            port = run.port, key = at("b.key"), cert = at("b.pem"),
        ),
    );
    let a_config = |password: &str| {
        format!(
            r#"{{ mode: "peer", listen: {{ endpoints: [] }}, connect: {{ endpoints: ["tls/localhost:{port}"] }},
               scouting: {{ multicast: {{ enabled: false }} }},
               transport: {{ link: {{ tls: {{ root_ca_certificate: "{ca}" }} }},
                            auth: {{ usrpwd: {{ user: "robot", password: "{password}" }} }} }} }}"#,
            port = run.port,
            ca = at("ca.pem"),
        )
    };
    let good = run.file("a.json5", &a_config("secret"));
    let bad = run.file("a-bad.json5", &a_config("guess"));

    let (consumer, consumer_lines) = spawn_child("child_consumer", &run.b, COUNT, None);
    expect_line(&consumer_lines, READY, Duration::from_secs(60), "consumer");
    let b_args: Vec<String> = [
        "--from",
        &format!("zenoh:{}", run.key),
        "--to",
        &format!("shm:{}", run.b),
        "--config",
        &b_config,
        "--no-state",
        "--stats",
        "0.5",
    ]
    .map(String::from)
    .to_vec();
    let b = BridgeProc::start(dir, "bridge-b", &b_args);
    b.wait_for_log("forwarding", Duration::from_secs(60));

    // The wrong password: the link is refused, bridge B's subscriber never shows.
    let other = format!("{}-bad", run.a);
    let _other_cleanup = Cleanup(other.clone());
    let (bad_producer, bad_lines) = spawn_child("child_producer", &other, COUNT, None);
    expect_line(&bad_lines, READY, Duration::from_secs(60), "the second producer");
    let a_bad_args: Vec<String> =
        ["--from", &format!("shm:{other}"), "--to", &format!("zenoh:{}", run.key), "--config", &bad, "--stats", "0.5"]
            .map(String::from)
            .to_vec();
    let a_bad = BridgeProc::start(dir, "bridge-a-bad", &a_bad_args);
    a_bad.wait_for_log("no remote subscriber", Duration::from_secs(60));

    let a_args: Vec<String> = [
        "--from",
        &format!("shm:{}", run.a),
        "--to",
        &format!("zenoh:{}", run.key),
        "--config",
        &good,
        "--stats",
        "0.5",
    ]
    .map(String::from)
    .to_vec();
    let a = BridgeProc::start(dir, "bridge-a", &a_args);
    let (producer, producer_lines) = spawn_child("child_producer", &run.a, COUNT, None);
    expect_line(&producer_lines, READY, Duration::from_secs(60), "producer");
    let line = expect_line(&consumer_lines, "DONE", Duration::from_secs(120), "consumer");
    let (received, next, _) = done(&line);
    let (a_final, _) = a.stop();
    let (bad_final, bad_log) = a_bad.stop();
    let (b_final, b_log) = b.stop();
    drop((producer, bad_producer, consumer));
    println!("over TLS: {received} of {COUNT}\nbridge A: {a_final}\nbridge A (wrong password): {bad_final}\nbridge B: {b_final}");
    assert_eq!((received, next), (COUNT, COUNT), "{line}\n--- bridge B ---\n{b_log}");
    assert!(!bad_log.contains("a remote subscriber is there"), "a wrong password got through:\n{bad_log}");
    assert_eq!(field(&bad_final, "forwarded"), Some(0), "{bad_final}");
    assert_eq!(field(&b_final, "forwarded"), Some(COUNT), "only the good bridge's messages: {b_final}");
}
