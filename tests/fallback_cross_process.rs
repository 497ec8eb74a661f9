//! The fallback transports (a Unix socket, a FIFO) between real processes.
//!
//! Each test re-executes this test binary as the sending process, running
//! `child_stream_sender` by its exact name with `SENDER_ENV` saying what to send where;
//! without the variable the child test returns at once, so a plain `cargo test` runs it
//! as a no-op. A child prints `CHILD_READY` once its sender is open and `CHILD_DONE` when
//! it has sent everything, so a parent never takes a child that ran no test (a wrong
//! name runs zero tests and exits 0) for a success.
//!
//! Every message says who sent it and its sequence number, and the rest of its bytes are
//! derived from both, so the receiver checks each one whole: a message lost, repeated,
//! reordered, torn, or stitched to another fails.

use std::{
    env, fs,
    io::{BufRead, BufReader, Read, Write},
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::PathBuf,
    process::{self, Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{atomic::Ordering, mpsc, Arc},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, Sender};

mod support;
use support::{mix, start_watchdog, Rng};

/// Largest message.
const SLOT: usize = 512;
/// Messages the single sender sends.
const MESSAGES: u64 = 100_000;
/// Messages each of the concurrent senders sends.
const EACH: u64 = 30_000;
/// Concurrent senders on one socket.
const SENDERS: u8 = 3;
/// Messages received before the sender is killed.
const BEFORE_KILL: u64 = 20_000;
/// How soon a killed sender must be reported gone, once its messages are drained.
const KILL_NOTICE: Duration = Duration::from_secs(2);
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(60);
/// A child that runs longer than this kills itself, so a hang becomes a failure.
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);
/// How long a parent waits for a child to open its sender.
const CHILD_START: Duration = Duration::from_secs(30);

/// `<count>:<id>:<go>:<endpoint>` for `child_stream_sender`: send messages `0..count`
/// (`forever`: until killed) tagged `id`; with `go` = `wait`, only once a line arrives
/// on stdin.
const SENDER_ENV: &str = "FERRY_XP_STREAM_SENDER";
/// Printed by a child once its sender is open.
const CHILD_READY: &str = "FERRY-CHILD-READY";
/// Printed by a child once it has done everything it was asked.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";

// ---------------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------------

/// Length of sender `id`'s message `seq`: empty (for sender 0 only) and full an eighth
/// of the time each, shorter than the header an eighth, anything the rest.
fn message_len(id: u8, seq: u64) -> usize {
    let h = mix(seq ^ (u64::from(id) << 56) ^ 0x6c65_6e67_7468_0001);
    let len = match h % 8 {
        0 => 0,
        1 => SLOT,
        2 => (h >> 8) as usize % 9,
        _ => (h >> 8) as usize % (SLOT + 1),
    };
    // Tagged senders always send their id.
    if id == 0 {
        len
    } else {
        len.max(1)
    }
}

/// Writes sender `id`'s message `seq` into `out`: the id, the sequence number if there
/// is room, then bytes derived from both.
fn fill(id: u8, seq: u64, out: &mut [u8]) {
    let mut at = 0;
    if let Some(first) = out.first_mut() {
        *first = id;
        at = 1;
    }
    if out.len() >= 9 {
        out[1..9].copy_from_slice(&seq.to_le_bytes());
        at = 9;
    }
    Rng(mix(seq ^ (u64::from(id) << 48))).fill(&mut out[at..]);
}

/// Checks that `got` is sender `id`'s message `seq`; `scratch` is `SLOT` bytes.
fn check(id: u8, seq: u64, got: &[u8], scratch: &mut [u8]) -> Result<(), String> {
    let len = message_len(id, seq);
    let found = || {
        let seq = got.get(1..9).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
        format!("(it says sender {:?}, sequence number {seq:?})", got.first())
    };
    if got.len() != len {
        return Err(format!("sender {id}'s message {seq} is {} bytes, expected {len} {}", got.len(), found()));
    }
    let expected = &mut scratch[..len];
    fill(id, seq, expected);
    if let Some(at) = got.iter().zip(expected.iter()).position(|(g, e)| g != e) {
        return Err(format!("sender {id}'s message {seq} ({len} bytes) differs at byte {at} {}", found()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Places and processes.
// ---------------------------------------------------------------------------------------

/// A private directory for an endpoint, removed with what is left in it when dropped.
struct Place {
    dir: PathBuf,
    endpoint: String,
}

impl Place {
    fn new(transport: &str, tag: &str) -> Self {
        #[allow(clippy::disallowed_types, reason = "test-harness counter; loom models the library, not its tests")]
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = env::temp_dir().join(format!("ferry-xpf-{tag}-{}-{n}", process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("make the directory private");
        let endpoint = format!("{transport}:{}", dir.join(transport).display());
        Self { dir, endpoint }
    }

    /// Whether the receiver's files are gone (its socket or FIFO, its description).
    fn is_empty(&self) -> bool {
        fs::read_dir(&self.dir).map(|mut entries| entries.next().is_none()).unwrap_or(false)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A sending child process, its output collected in the background. Dropped unfinished
/// (a failing test), it is killed and reaped.
struct ChildProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    ready: mpsc::Receiver<()>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    status: Option<ExitStatus>,
}

impl ChildProcess {
    /// Runs `child_stream_sender`: messages `0..count` (`None`: until killed) tagged
    /// `id` to `endpoint`; with `wait_for_go`, only once `go` is called.
    fn spawn(endpoint: &str, count: Option<u64>, id: u8, wait_for_go: bool) -> Self {
        let count = count.map_or_else(|| "forever".to_owned(), |n| n.to_string());
        let go = if wait_for_go { "wait" } else { "now" };
        let task = format!("{count}:{id}:{go}:{endpoint}");
        let mut child = Command::new(env::current_exe().expect("the test binary's path"))
            .args(["--exact", "child_stream_sender", "--nocapture", "--test-threads=1"])
            .env(SENDER_ENV, task)
            .stdin(if wait_for_go { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the sending child");
        let out = child.stdout.take().expect("the child's stdout");
        let mut err = child.stderr.take().expect("the child's stderr");
        let (ready_tx, ready) = mpsc::channel();
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains(CHILD_READY) {
                    let _ = ready_tx.send(());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let stdin = child.stdin.take();
        Self { child, stdin, ready, stdout: Some(stdout), stderr: Some(stderr), status: None }
    }

    /// Waits until the child has opened its sender.
    fn wait_ready(&mut self) {
        if self.ready.recv_timeout(CHILD_START).is_err() {
            self.kill();
            panic!("the child did not get ready:\n{}", self.finish());
        }
    }

    /// Tells a child spawned `wait_for_go` to start sending.
    fn go(&mut self) {
        let mut stdin = self.stdin.take().expect("a child waiting for go");
        stdin.write_all(b"go\n").expect("tell the child to go");
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = Some(self.child.wait().expect("reap the child"));
        }
    }

    /// Waits for the child to exit; returns a description of how it went.
    fn finish(&mut self) -> String {
        let status = match self.status {
            Some(status) => status,
            None => *self.status.insert(self.child.wait().expect("wait for the child")),
        };
        let join = |h: Option<JoinHandle<String>>| h.map(|h| h.join().expect("an output reader")).unwrap_or_default();
        let (out, err) = (join(self.stdout.take()), join(self.stderr.take()));
        format!("child exited with {status}\n--- child stdout ---\n{out}\n--- child stderr ---\n{err}")
    }

    /// Waits for the child and asserts that it succeeded and did its work.
    fn assert_done(&mut self) {
        let report = self.finish();
        let ok = self.status.is_some_and(|s| s.success());
        assert!(ok && report.contains(CHILD_DONE), "the child failed:\n{report}");
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `SENDER_ENV` is `<count>:<id>:<go>:<endpoint>`: open a sender on `<endpoint>`, say
/// ready, wait for a line on stdin if `<go>` is `wait`, then send messages `0..<count>`
/// tagged `<id>` (`forever`: until killed), switching between the blocking send calls.
#[test]
fn child_stream_sender() {
    let Ok(task) = env::var(SENDER_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut parts = task.splitn(4, ':');
    let (count, id, go, endpoint) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(count), Some(id), Some(go), Some(endpoint)) => (count, id, go, endpoint),
        _ => panic!("child: {SENDER_ENV}={task:?} is not <count>:<id>:<go>:<endpoint>"),
    };
    let count: Option<u64> = (count != "forever").then(|| count.parse().expect("child: a count"));
    let id: u8 = id.parse().expect("child: an id");
    let mut tx = Sender::open(endpoint).unwrap_or_else(|e| panic!("child: open {endpoint}: {e}"));
    assert_eq!((tx.slot_size(), tx.capacity()), (SLOT, 0), "child: the receiver's description");
    println!("{CHILD_READY}");
    if go == "wait" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("child: read the go line");
    }
    let mut scratch = [0u8; SLOT];
    let mut seq = 0u64;
    while count.is_none_or(|n| seq < n) {
        let len = message_len(id, seq);
        // No try_ calls and no short timeouts: see the conformance suite's pinned
        // partial-frame bug; these are the calls that must carry every message. The
        // last message goes by `send`, which reports a failure itself, where a commit's
        // failure would only show at the next call.
        let pick = if count == Some(seq + 1) { 0 } else { mix(seq ^ 0x7365_6e64_0000_0002) % 4 };
        match pick {
            0 => {
                fill(id, seq, &mut scratch[..len]);
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
            }
            1 => {
                fill(id, seq, &mut scratch[..len]);
                tx.send_timeout(&scratch[..len], LONG).unwrap_or_else(|e| panic!("child: send_timeout {seq}: {e}"));
            }
            2 => {
                let mut loan = tx.loan().unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                fill(id, seq, &mut loan[..len]);
                loan.commit(len);
            }
            _ => {
                let mut loan = tx.loan_timeout(LONG).unwrap_or_else(|e| panic!("child: loan_timeout {seq}: {e}"));
                fill(id, seq, &mut loan[..len]);
                loan.commit(len);
            }
        }
        seq += 1;
    }
    drop(tx);
    println!("{CHILD_DONE}: sent {seq} messages");
}

// ---------------------------------------------------------------------------------------
// One sender, a hundred thousand messages.
// ---------------------------------------------------------------------------------------

/// Receives sender `id`'s messages `from..to` and checks each.
fn receive_run(rx: &mut Receiver, id: u8, from: u64, to: u64) -> Result<(), String> {
    let mut scratch = vec![0u8; SLOT];
    for seq in from..to {
        let got = rx.recv_timeout(LONG).map_err(|e| format!("receiving sender {id}'s message {seq}: {e:?}"))?;
        check(id, seq, &got, &mut scratch)?;
    }
    Ok(())
}

fn mixed_messages_cross_processes_intact_and_in_order(transport: &str) {
    let place = Place::new(transport, "stream");
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(SLOT)).expect("create the receiver");
    let started = Instant::now();
    let mut sender = ChildProcess::spawn(&place.endpoint, Some(MESSAGES), 0, false);
    let received = receive_run(&mut rx, 0, 0, MESSAGES).and_then(|()| {
        // Then nothing: the sender has gone.
        match rx.recv_timeout(LONG).map(|m| m.len()) {
            Err(RecvError::Disconnected) => Ok(()),
            other => Err(format!("expected Disconnected once the sender exited, got {other:?}")),
        }
    });
    let took = started.elapsed();
    if let Err(failure) = received {
        drop(rx);
        panic!("{transport}: {failure}\n{}", sender.finish());
    }
    sender.assert_done();
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{transport}: and stays so");
    drop(rx);
    assert!(place.is_empty(), "{transport}: the receiver's files outlived it");
    eprintln!("{transport}: {MESSAGES} mixed messages across processes in {took:.2?}, including the child's start");
}

#[test]
fn unix_mixed_messages_cross_processes_intact_and_in_order() {
    mixed_messages_cross_processes_intact_and_in_order("unix");
}

#[test]
fn fifo_mixed_messages_cross_processes_intact_and_in_order() {
    mixed_messages_cross_processes_intact_and_in_order("fifo");
}

// ---------------------------------------------------------------------------------------
// A sender killed mid-stream.
// ---------------------------------------------------------------------------------------

fn sender_killed_mid_stream(transport: &str) {
    let place = Place::new(transport, "kill");
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(SLOT)).expect("create the receiver");
    let mut sender = ChildProcess::spawn(&place.endpoint, None, 0, false);
    sender.wait_ready();

    // Another thread kills the sender while it is busy sending, once enough messages
    // have arrived; it hands back the child and when it died.
    #[allow(clippy::disallowed_types, reason = "test-harness counter; loom models the library, not its tests")]
    let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let killer = {
        let progress = progress.clone();
        thread::spawn(move || {
            let deadline = Instant::now() + LONG;
            while progress.load(Ordering::Relaxed) < BEFORE_KILL && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            let killed = Instant::now();
            sender.kill();
            (sender, killed)
        })
    };

    let mut scratch = vec![0u8; SLOT];
    let mut seq = 0u64;
    let outcome = loop {
        match rx.recv_timeout(LONG) {
            Ok(got) => {
                if let Err(failure) = check(0, seq, &got, &mut scratch) {
                    break Err(failure);
                }
                seq += 1;
                progress.store(seq, Ordering::Relaxed);
            }
            Err(RecvError::Disconnected) => break Ok(Instant::now()),
            Err(e) => break Err(format!("after {seq} messages: {e:?}")),
        }
    };
    // On a failure, release the killer at once.
    progress.store(BEFORE_KILL, Ordering::Relaxed);
    let (mut sender, killed) = killer.join().expect("the killing thread");
    // Killed and reaped: its output is complete.
    let report = sender.finish();
    let gone = match outcome {
        Ok(gone) => gone,
        Err(failure) => panic!("{transport}: {failure}\n{report}"),
    };
    let status = sender.status.expect("reaped");
    assert_eq!(status.signal(), Some(9), "{transport}: the sender should have died of SIGKILL:\n{report}");
    assert!(seq >= BEFORE_KILL, "{transport}: only {seq} messages before Disconnected:\n{report}");
    let noticed = gone.saturating_duration_since(killed);
    assert!(noticed < KILL_NOTICE, "{transport}: the killed sender was reported gone {noticed:?} after its death");
    // Nothing more, ever: no late or torn remainder of the dead sender's last frame.
    assert_eq!(rx.try_recv().map(|m| m.len()).ok(), None, "{transport}: a message after Disconnected");
    assert_eq!(rx.recv_timeout(Duration::from_millis(100)).map(|m| m.len()), Err(RecvError::Disconnected));
    drop(rx);
    assert!(place.is_empty(), "{transport}: the receiver's files outlived it");
    eprintln!("{transport}: sender killed after {seq} whole messages; reported gone {noticed:.2?} after");
}

#[test]
fn unix_sender_killed_mid_stream_leaves_only_whole_messages() {
    sender_killed_mid_stream("unix");
}

#[test]
fn fifo_sender_killed_mid_stream_leaves_only_whole_messages() {
    sender_killed_mid_stream("fifo");
}

// ---------------------------------------------------------------------------------------
// Three sender processes on one socket.
// ---------------------------------------------------------------------------------------

#[test]
fn three_sender_processes_on_one_socket_each_in_order_exactly_once() {
    let place = Place::new("unix", "three");
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(SLOT)).expect("create the receiver");
    // All three connect before any sends, so the receiver never sees "no sender left"
    // between one sender's end and another's start.
    let mut senders: Vec<ChildProcess> =
        (1..=SENDERS).map(|id| ChildProcess::spawn(&place.endpoint, Some(EACH), id, true)).collect();
    for sender in &mut senders {
        sender.wait_ready();
    }
    let started = Instant::now();
    for sender in &mut senders {
        sender.go();
    }

    let mut next = [0u64; SENDERS as usize + 1];
    let mut scratch = vec![0u8; SLOT];
    let mut outcome = Ok(());
    for _ in 0..u64::from(SENDERS) * EACH {
        let got = match rx.recv_timeout(LONG) {
            Ok(got) => got,
            Err(e) => {
                outcome = Err(format!("after {:?} messages from each sender: {e:?}", &next[1..]));
                break;
            }
        };
        let Some(&id) = got.first() else {
            outcome = Err(String::from("an empty message: every sender tags its messages"));
            break;
        };
        let i = usize::from(id);
        if !(1..=usize::from(SENDERS)).contains(&i) || next[i] == EACH {
            outcome = Err(format!("a message from sender {id}, which does not exist or has sent all {EACH}"));
            break;
        }
        if let Err(failure) = check(id, next[i], &got, &mut scratch) {
            outcome = Err(failure);
            break;
        }
        next[i] += 1;
    }
    if let Err(failure) = outcome {
        drop(rx);
        let reports: Vec<String> = senders.iter_mut().map(ChildProcess::finish).collect();
        panic!("{failure}\n{}", reports.join("\n"));
    }
    assert_eq!(next[1..], [EACH; SENDERS as usize], "every sender's every message, once");
    let disconnected = rx.recv_timeout(LONG).map(|m| m.len());
    let took = started.elapsed();
    for sender in &mut senders {
        sender.assert_done();
    }
    assert_eq!(disconnected, Err(RecvError::Disconnected), "after all three senders exited");
    drop(rx);
    assert!(place.is_empty(), "the receiver's files outlived it");
    eprintln!("3 sender processes x {EACH} messages through one socket in {took:.2?}");
}
