//! The MPMC channel between real processes.
//!
//! As in `spsc_cross_process.rs`, each test re-executes this test binary for its other
//! processes, running one `child_*` test by its exact name with an environment variable
//! that names the channel; without it a `child_*` test returns at once. A child prints
//! a marker when it has done its work, so a child that ran no test (a wrong name runs
//! zero tests and exits 0) is never taken for a success, and kills itself if it runs
//! far too long, so a hang fails the parent instead of stalling it.

use std::{
    env,
    fs::{self, File},
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    process::{self, Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{mix, shm_path, start_watchdog, Cleanup, Rng};

/// Slot size of the stream test's channel: the largest message.
const SLOT: usize = 64;
/// Capacity of the stream test's channel: not a power of two, so the senders keep to
/// it in a ring of 256 slots, which wraps some 3,500 times.
const CAPACITY: usize = 200;
/// Sender processes in the stream test.
const SENDERS: usize = 3;
/// Receiver processes in the stream test.
const RECEIVERS: usize = 3;
/// Messages each sender process sends.
const MESSAGES: u64 = 300_000;
/// Shortest message: sender id (4 bytes), sequence number (8), filler (4 at least),
/// checksum (8).
const MIN_LEN: usize = 24;
/// Length of the checksum that ends every message.
const CHECKSUM_LEN: usize = 8;
/// Batches take up to this many messages.
const MAX_BATCH: u64 = 32;
/// The last sender pauses for `LATE_PAUSE` before its last `LATE` messages.
const LATE: u64 = 1_000;
const LATE_PAUSE: Duration = Duration::from_millis(200);
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(60);
/// A child that runs longer than this kills itself, so a hang becomes a failure.
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);
/// How long the parent waits for every child to attach.
const ATTACH_DEADLINE: Duration = Duration::from_secs(60);

/// `<sender id>:<channel>` for `child_mpmc_sender`.
const SENDER_ENV: &str = "FERRY_MPMC_SENDER";
/// `<receiver id>:<channel>` for `child_mpmc_receiver`.
const RECEIVER_ENV: &str = "FERRY_MPMC_RECEIVER";
/// The file `child_mpmc_receiver` writes what it received to.
const RECEIVED_ENV: &str = "FERRY_MPMC_RECEIVED";
/// The channel for `child_mpmc_loaner`.
const LOANER_ENV: &str = "FERRY_MPMC_LOANER";
/// The channel for `child_mpmc_collector`.
const COLLECTOR_ENV: &str = "FERRY_MPMC_COLLECTOR";
/// The channel for `child_mpmc_extra_handles`.
const HANDLES_ENV: &str = "FERRY_MPMC_HANDLES";
/// Printed by a child once it holds its end(s) of the channel.
const CHILD_ATTACHED: &str = "FERRY-CHILD-ATTACHED";
/// Printed by a child once it has done everything it was asked.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";

/// Salts, so that the choices of the senders, of the receivers and of the lengths do
/// not line up.
const LEN_SALT: u64 = 0x6d70_6d63_6c65_6e01;
const FILL_SALT: u64 = 0x6d70_6d63_6669_6c02;
const SEND_SALT: u64 = 0x6d70_6d63_7365_6e03;
const RECV_SALT: u64 = 0x6d70_6d63_7265_6304;

fn unique(tag: &str) -> String {
    format!("mx-{tag}-{}", process::id())
}

/// Removes a scratch file on drop.
struct RemoveFile(PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn stream_config() -> Config {
    Config::new().kind(RingKind::Mpmc).slot_size(SLOT).capacity(CAPACITY)
}

/// One number for message `seq` of sender `id`.
fn key(id: u32, seq: u64) -> u64 {
    mix(seq ^ (u64::from(id) << 56))
}

/// Length of message `seq` of sender `id`: anything from `MIN_LEN` to a full slot.
fn message_len(id: u32, seq: u64) -> usize {
    MIN_LEN + (key(id, seq) ^ LEN_SALT) as usize % (SLOT - MIN_LEN + 1)
}

/// FNV-1a over `bytes`.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Writes message `seq` of sender `id` into `out`, whose length is the message's: the
/// sender id, the sequence number, filler derived from both, and a checksum of it all.
fn write_message(id: u32, seq: u64, out: &mut [u8]) {
    let body = out.len() - CHECKSUM_LEN;
    out[..4].copy_from_slice(&id.to_le_bytes());
    out[4..12].copy_from_slice(&seq.to_le_bytes());
    Rng(key(id, seq) ^ FILL_SALT).fill(&mut out[12..body]);
    let sum = checksum(&out[..body]);
    out[body..].copy_from_slice(&sum.to_le_bytes());
}

/// Checks that `got` is an intact message and returns its sender and sequence number.
/// `scratch` is at least `SLOT` bytes.
fn parse(got: &[u8], scratch: &mut [u8]) -> Result<(u32, u64), String> {
    if !(MIN_LEN..=SLOT).contains(&got.len()) {
        return Err(format!("a message of {} bytes: every message is {MIN_LEN} to {SLOT} bytes", got.len()));
    }
    let body = got.len() - CHECKSUM_LEN;
    let id = u32::from_le_bytes(got[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(got[4..12].try_into().unwrap());
    let sum = u64::from_le_bytes(got[body..].try_into().unwrap());
    if checksum(&got[..body]) != sum {
        return Err(format!("torn message ({} bytes, claims sender {id} seq {seq}): bad checksum", got.len()));
    }
    if id as usize >= SENDERS || seq >= MESSAGES {
        return Err(format!("a message from sender {id} with seq {seq}: no such message is ever sent"));
    }
    let len = message_len(id, seq);
    if got.len() != len {
        return Err(format!("message {seq} of sender {id} is {} bytes, expected {len}", got.len()));
    }
    let expected = &mut scratch[..len];
    write_message(id, seq, expected);
    if let Some(at) = got.iter().zip(expected.iter()).position(|(g, e)| g != e) {
        return Err(format!("message {seq} of sender {id} differs from the expected bytes at byte {at}"));
    }
    Ok((id, seq))
}

/// This test binary, to run the child test `test` with `vars` set.
fn child(test: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env::current_exe().expect("the test binary's path"));
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).stdin(Stdio::null());
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

/// Tells the parent that this child holds its end(s) of the channel.
fn report_attached() {
    println!("{CHILD_ATTACHED}");
    std::io::stdout().flush().expect("child: flush stdout");
}

/// A running child whose output is drained by two threads; each line of its stdout
/// with `CHILD_ATTACHED` is reported, by its label, on the `attached` channel.
struct Running {
    label: String,
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

/// What a finished child did.
struct Finished {
    label: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Running {
    fn spawn(label: &str, mut command: Command, attached: &mpsc::Sender<String>) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let (attached, who) = (attached.clone(), label.to_owned());
        let stdout = thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.contains(CHILD_ATTACHED) {
                    let _ = attached.send(who.clone());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        Self { label: label.to_owned(), child, stdout, stderr }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
    }

    fn wait(mut self) -> Finished {
        let status = self.child.wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.label));
        let stdout = self.stdout.join().expect("the stdout thread");
        let stderr = self.stderr.join().expect("the stderr thread");
        Finished { label: self.label, status, stdout, stderr }
    }
}

impl Finished {
    fn describe(&self) -> String {
        format!(
            "{} exited with {}\n--- {0} stdout ---\n{}\n--- {0} stderr ---\n{}",
            self.label, self.status, self.stdout, self.stderr
        )
    }

    fn ok(&self) -> bool {
        self.status.success() && self.stdout.contains(CHILD_DONE)
    }

    /// The rest of the line that carries the done marker.
    fn summary(&self) -> &str {
        self.stdout
            .lines()
            .find_map(|line| line.find(CHILD_DONE).map(|at| &line[at + CHILD_DONE.len()..]))
            .unwrap_or("")
    }
}

fn describe_all(finished: &[Finished]) -> String {
    finished.iter().map(Finished::describe).collect::<Vec<_>>().join("\n")
}

/// Waits for every child and asserts that each one succeeded and did its work; on any
/// failure, panics with `what` and the output of every child (one child's failure is
/// often another's cause).
fn wait_all(children: Vec<Running>, what: &str) -> Vec<Finished> {
    let finished: Vec<Finished> = children.into_iter().map(Running::wait).collect();
    if let Some(bad) = finished.iter().find(|f| !f.ok()) {
        let why = if bad.status.success() { "did not run its test" } else { "failed" };
        panic!("{what}: {} {why}\n{}", bad.label, describe_all(&finished));
    }
    finished
}

/// Waits until `count` more children have reported `CHILD_ATTACHED`; on a timeout kills
/// them all and panics with their output.
fn wait_attached(attached: &mpsc::Receiver<String>, children: &mut Vec<Running>, count: usize) {
    let deadline = Instant::now() + ATTACH_DEADLINE;
    let mut seen = Vec::new();
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match attached.recv_timeout(left) {
            Ok(label) => seen.push(label),
            Err(_) => {
                children.iter_mut().for_each(Running::kill);
                let finished: Vec<Finished> = children.drain(..).map(Running::wait).collect();
                panic!(
                    "only {seen:?} of {count} children attached within {ATTACH_DEADLINE:?}\n{}",
                    describe_all(&finished)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Three sender processes, three receiver processes, 900,000 messages.
// ---------------------------------------------------------------------------------------

#[test]
fn three_senders_and_three_receivers_deliver_every_message_exactly_once() {
    let name = unique("stream");
    let _cleanup = Cleanup(name.clone());
    let files: Vec<RemoveFile> =
        (0..RECEIVERS).map(|r| RemoveFile(env::temp_dir().join(format!("ferry-{name}-received-{r}.bin")))).collect();
    // The parent's sender only keeps the channel (and its name) alive until every child
    // has attached; it sends nothing.
    let creator = Sender::create(&name, &stream_config()).expect("create");

    let started = Instant::now();
    let (attached_tx, attached) = mpsc::channel();
    let mut children = Vec::new();
    for (r, file) in files.iter().enumerate() {
        let role = format!("{r}:{name}");
        let path = file.0.to_str().expect("a UTF-8 temporary path");
        let command = child("child_mpmc_receiver", &[(RECEIVER_ENV, &role), (RECEIVED_ENV, path)]);
        children.push(Running::spawn(&format!("receiver {r}"), command, &attached_tx));
    }
    for s in 0..SENDERS {
        let role = format!("{s}:{name}");
        let command = child("child_mpmc_sender", &[(SENDER_ENV, &role)]);
        children.push(Running::spawn(&format!("sender {s}"), command, &attached_tx));
    }
    wait_attached(&attached, &mut children, SENDERS + RECEIVERS);
    let all_attached = started.elapsed();
    // From here on only the children's senders keep the channel connected: once they
    // have all detached, and the ring is drained, the receivers are told so.
    drop(creator);
    assert!(!shm_path(&name).exists(), "dropping the creator should remove the channel's name");

    let finished = wait_all(children, "the MPMC stream");
    let elapsed = started.elapsed();

    // Merge what the receivers got: every message of every sender exactly once.
    let mut times = vec![0u8; SENDERS * MESSAGES as usize];
    let mut per_receiver = Vec::new();
    for (r, file) in files.iter().enumerate() {
        let lists = read_received(&file.0);
        per_receiver.push(lists.iter().map(Vec::len).collect::<Vec<_>>());
        for (s, seqs) in lists.iter().enumerate() {
            for &seq in seqs {
                assert!(u64::from(seq) < MESSAGES, "receiver {r} recorded seq {seq} of sender {s}");
                let count = &mut times[s * MESSAGES as usize + seq as usize];
                *count = count.saturating_add(1);
            }
        }
    }
    let mut missing = Vec::new();
    let mut repeated = Vec::new();
    for (i, &count) in times.iter().enumerate() {
        let which = (i / MESSAGES as usize, i % MESSAGES as usize);
        match count {
            1 => {}
            0 => missing.push(which),
            _ => repeated.push(which),
        }
    }
    assert!(
        missing.is_empty() && repeated.is_empty(),
        "{} messages lost (first (sender, seq): {:?}), {} received more than once (first: {:?}); \
         per receiver, per sender: {per_receiver:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(8)],
        repeated.len(),
        &repeated[..repeated.len().min(8)],
        describe_all(&finished)
    );
    for (r, counts) in per_receiver.iter().enumerate() {
        assert!(counts.iter().sum::<usize>() > 0, "receiver {r} got nothing: {per_receiver:?}");
    }

    let total = SENDERS as u64 * MESSAGES;
    eprintln!(
        "{total} messages from {SENDERS} to {RECEIVERS} processes in {elapsed:.2?} ({:.2} M messages/s, \
         including the children's start; all attached after {all_attached:.2?})",
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    for f in &finished {
        eprintln!("  {}:{}", f.label, f.summary());
    }
}

/// Reads a receiver's file: for each sender, a `u32` count, then that many `u32` seqs.
fn read_received(path: &Path) -> Vec<Vec<u32>> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut words = bytes.chunks_exact(4).map(|w| u32::from_le_bytes(w.try_into().unwrap()));
    assert_eq!(bytes.len() % 4, 0, "{} is not a list of u32s", path.display());
    let lists: Vec<Vec<u32>> = (0..SENDERS)
        .map(|_| {
            let count = words.next().expect("a count") as usize;
            words.by_ref().take(count).collect()
        })
        .collect();
    assert_eq!(words.next(), None, "{} has bytes past its lists", path.display());
    lists
}

fn parse_role(var: &str) -> Option<(u32, String)> {
    let value = env::var(var).ok()?;
    let (id, name) = value.split_once(':').expect("child: <id>:<channel>");
    Some((id.parse().expect("child: a numeric id"), name.to_owned()))
}

/// A sending child: sends its `MESSAGES`, switching between every send call, and now
/// and then drops a loan it filled with a copy of the next message uncommitted.
#[test]
fn child_mpmc_sender() {
    let Some((id, name)) = parse_role(SENDER_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((tx.slot_size(), tx.capacity()), (SLOT, CAPACITY), "child: the header's geometry");
    report_attached();
    let started = Instant::now();
    let mut scratch = [0u8; SLOT];
    let (mut abandoned, mut full) = (0u64, 0u64);
    let mut seq = 0u64;
    while seq < MESSAGES {
        if id as usize == SENDERS - 1 && seq == MESSAGES - LATE {
            // Likely the last sender left: the receivers drain the ring and park, and
            // must keep waiting for this one.
            thread::sleep(LATE_PAUSE);
        }
        let pick = mix(key(id, seq) ^ SEND_SALT);
        let len = message_len(id, seq);
        if pick.is_multiple_of(32) {
            // A loan holding a perfect copy of message `seq`, dropped uncommitted: if a
            // receiver ever saw it, `seq` would arrive twice.
            let mut loan = tx.loan().unwrap_or_else(|e| panic!("child: loan to abandon at {seq}: {e}"));
            write_message(id, seq, &mut loan[..len]);
            drop(loan);
            abandoned += 1;
        }
        match (pick >> 8) % 7 {
            0 => {
                write_message(id, seq, &mut scratch[..len]);
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                seq += 1;
            }
            1 => {
                write_message(id, seq, &mut scratch[..len]);
                tx.send_timeout(&scratch[..len], LONG).unwrap_or_else(|e| panic!("child: send_timeout {seq}: {e}"));
                seq += 1;
            }
            2 => {
                let mut loan = tx.loan().unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                loan.fill(0xA5);
                write_message(id, seq, &mut loan[..len]);
                loan.commit(len);
                seq += 1;
            }
            3 => {
                let mut loan = tx.loan_timeout(LONG).unwrap_or_else(|e| panic!("child: loan_timeout {seq}: {e}"));
                write_message(id, seq, &mut loan[..len]);
                loan.commit(len);
                seq += 1;
            }
            4 => {
                // `try_send` until it goes in, yielding while the ring is full; then a
                // blocking send, rather than spin for ever.
                write_message(id, seq, &mut scratch[..len]);
                let mut tries = 0;
                loop {
                    match tx.try_send(&scratch[..len]) {
                        Ok(()) => break,
                        Err(SendError::Full(())) => {
                            full += 1;
                            tries += 1;
                            if tries == 64 {
                                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                                break;
                            }
                            thread::yield_now();
                        }
                        Err(e) => panic!("child: try_send {seq}: {e}"),
                    }
                }
                seq += 1;
            }
            5 => seq = send_batch_of_copies(&mut tx, id, seq, pick, &mut full),
            _ => seq = send_batch_of_loans(&mut tx, id, seq, pick, &mut full, &mut abandoned),
        }
    }
    drop(tx);
    println!(
        "{CHILD_DONE} sent {MESSAGES} in {:.2?}, {abandoned} loans abandoned, {full} times full",
        started.elapsed()
    );
}

/// Sends up to `MAX_BATCH` messages from `seq` with `SendBatch::try_send`, stopping at a
/// full ring; falls back to a blocking send if nothing went in.
fn send_batch_of_copies(tx: &mut Sender, id: u32, mut seq: u64, pick: u64, full: &mut u64) -> u64 {
    let limit = 1 + (pick >> 16) % MAX_BATCH;
    let start = seq;
    let mut scratch = [0u8; SLOT];
    let mut batch = tx.batch();
    while seq - start < limit && seq < MESSAGES {
        let len = message_len(id, seq);
        write_message(id, seq, &mut scratch[..len]);
        match batch.try_send(&scratch[..len]) {
            Ok(()) => seq += 1,
            Err(SendError::Full(())) => {
                *full += 1;
                break;
            }
            Err(e) => panic!("child: batch try_send {seq}: {e}"),
        }
    }
    drop(batch);
    if seq == start {
        let len = message_len(id, seq);
        write_message(id, seq, &mut scratch[..len]);
        tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
        seq += 1;
    }
    seq
}

/// Sends up to `MAX_BATCH` messages from `seq` with `SendBatch::try_loan`, now and then
/// dropping a loan filled with a copy of the message uncommitted.
fn send_batch_of_loans(tx: &mut Sender, id: u32, mut seq: u64, pick: u64, full: &mut u64, abandoned: &mut u64) -> u64 {
    let limit = 1 + (pick >> 16) % MAX_BATCH;
    let start = seq;
    let mut abandoned_at = None;
    let mut batch = tx.batch();
    while seq - start < limit && seq < MESSAGES {
        let len = message_len(id, seq);
        let abandon = abandoned_at != Some(seq) && mix(key(id, seq) ^ !SEND_SALT).is_multiple_of(16);
        match batch.try_loan() {
            Ok(mut loan) => {
                write_message(id, seq, &mut loan[..len]);
                if abandon {
                    // The next loan carries the same message, committed.
                    drop(loan);
                    abandoned_at = Some(seq);
                    *abandoned += 1;
                    continue;
                }
                loan.commit(len);
                seq += 1;
            }
            Err(SendError::Full(())) => {
                *full += 1;
                break;
            }
            Err(e) => panic!("child: batch try_loan {seq}: {e}"),
        }
    }
    drop(batch);
    if seq == start {
        let len = message_len(id, seq);
        let mut loan = tx.loan().unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
        write_message(id, seq, &mut loan[..len]);
        loan.commit(len);
        seq += 1;
    }
    seq
}

/// What one receiving child has received so far, with its checks.
struct Tally {
    id: u32,
    /// For each sender, the sequence numbers received, in the order received.
    seqs: Vec<Vec<u32>>,
    scratch: [u8; SLOT],
    /// Messages refused for a too small buffer.
    too_small: u64,
}

impl Tally {
    /// Checks a received message: intact, and later than the last one from its sender.
    fn take(&mut self, got: &[u8]) {
        let (sender, seq) =
            parse(got, &mut self.scratch).unwrap_or_else(|e| panic!("child: receiver {}: {e}", self.id));
        let seqs = &mut self.seqs[sender as usize];
        if let Some(&last) = seqs.last() {
            assert!(
                u64::from(last) < seq,
                "child: receiver {} got seq {seq} of sender {sender} after seq {last}: out of order or repeated",
                self.id
            );
        }
        seqs.push(seq as u32);
    }
}

/// A receiving child: receives, switching between every receive call, until the
/// senders have all gone; then writes what it received to its file.
#[test]
fn child_mpmc_receiver() {
    let Some((id, name)) = parse_role(RECEIVER_ENV) else { return };
    let path = env::var(RECEIVED_ENV).expect("child: the file to write");
    start_watchdog(CHILD_WATCHDOG);
    let mut rx = Receiver::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((rx.slot_size(), rx.capacity()), (SLOT, CAPACITY), "child: the header's geometry");
    report_attached();
    let started = Instant::now();
    let mut tally = Tally { id, seqs: vec![Vec::new(); SENDERS], scratch: [0; SLOT], too_small: 0 };
    let mut buf = [0u8; SLOT];
    let mut round = 0u64;
    let failed = |what: &str, e: RecvError| -> ! { panic!("child: receiver {id}: {what}: {e:?}") };
    'receiving: loop {
        round += 1;
        let pick = mix(round ^ RECV_SALT ^ u64::from(id) << 48);
        // Each arm receives one message or more, or breaks out on `Disconnected`.
        match pick % 8 {
            0 => match rx.recv() {
                Ok(guard) => tally.take(&guard),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv", e),
            },
            1 => match rx.recv_into(&mut buf) {
                Ok(n) => tally.take(&buf[..n]),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_into", e),
            },
            2 => match rx.recv_timeout(LONG) {
                Ok(guard) => tally.take(&guard),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_timeout", e),
            },
            3 => match rx.recv_into_timeout(&mut buf, LONG) {
                Ok(n) => tally.take(&buf[..n]),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_into_timeout", e),
            },
            4 => {
                // `try_recv` and retry, yielding; a blocking receive after a while.
                for _ in 0..64 {
                    match rx.try_recv() {
                        Ok(guard) => {
                            tally.take(&guard);
                            continue 'receiving;
                        }
                        Err(RecvError::Empty) => thread::yield_now(),
                        Err(RecvError::Disconnected) => break 'receiving,
                        Err(e) => failed("try_recv", e),
                    }
                }
                match rx.recv() {
                    Ok(guard) => tally.take(&guard),
                    Err(RecvError::Disconnected) => break,
                    Err(e) => failed("recv after try_recv", e),
                }
            }
            5 => {
                // Too small a buffer: refused with the length of a real message.
                let room = (pick >> 8) as usize % MIN_LEN;
                match rx.recv_into(&mut buf[..room]) {
                    Err(RecvError::BufferTooSmall { needed }) if (MIN_LEN..=SLOT).contains(&needed) => {
                        tally.too_small += 1;
                    }
                    Err(RecvError::Disconnected) => break,
                    other => panic!("child: receiver {id}: recv_into {room} bytes gave {other:?}"),
                }
            }
            6 => match rx.recv() {
                // An MPMC message cannot be put back: `keep` hands the guard back.
                Ok(guard) => match guard.keep() {
                    Err(guard) => tally.take(&guard),
                    Ok(()) => panic!("child: receiver {id}: keep succeeded on an MPMC ring"),
                },
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv to keep", e),
            },
            _ => {
                // Whatever is waiting, up to a few, through a batch; else one blocking
                // receive.
                let limit = 1 + (pick >> 8) % 8;
                let mut got = 0;
                let mut batch = rx.batch();
                while got < limit {
                    match batch.try_recv() {
                        Ok(guard) => {
                            tally.take(&guard);
                            got += 1;
                        }
                        // Disconnected: the blocking receive below says so too.
                        Err(RecvError::Empty | RecvError::Disconnected) => break,
                        Err(e) => failed("batch try_recv", e),
                    }
                }
                drop(batch);
                if got == 0 {
                    match rx.recv() {
                        Ok(guard) => tally.take(&guard),
                        Err(RecvError::Disconnected) => break,
                        Err(e) => failed("recv after an empty batch", e),
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();
    // Disconnected means drained: nothing is left, and nothing more comes.
    assert_eq!(
        rx.try_recv().unwrap_err(),
        RecvError::Disconnected,
        "child: receiver {id}: a message after Disconnected"
    );
    assert_eq!(rx.recv_timeout(Duration::from_millis(50)).unwrap_err(), RecvError::Disconnected);
    drop(rx);

    let mut out = BufWriter::new(File::create(&path).unwrap_or_else(|e| panic!("child: create {path}: {e}")));
    for seqs in &tally.seqs {
        out.write_all(&(seqs.len() as u32).to_le_bytes()).expect("child: write");
        for seq in seqs {
            out.write_all(&seq.to_le_bytes()).expect("child: write");
        }
    }
    out.into_inner().expect("child: flush").sync_all().expect("child: sync");
    let counts: Vec<usize> = tally.seqs.iter().map(Vec::len).collect();
    println!(
        "{CHILD_DONE} received {} ({counts:?} per sender) in {elapsed:.2?}, {} refused for a small buffer",
        counts.iter().sum::<usize>(),
        tally.too_small
    );
}

// ---------------------------------------------------------------------------------------
// A loan dropped uncommitted in one process.
// ---------------------------------------------------------------------------------------

/// The loaner child fills its loan with this and never commits it.
const DECOY: &[u8] = b"DECOY: an abandoned loan";
/// The loaner child sends this after dropping its loan.
const FROM_LOANER: &[u8] = b"from the loaner";

#[test]
fn a_loan_abandoned_in_one_process_does_not_stall_the_others() {
    let name = unique("abandon");
    let _cleanup = Cleanup(name.clone());
    let capacity = 4;
    let mut tx =
        Sender::create(&name, &Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(capacity)).expect("create");
    let (attached_tx, attached) = mpsc::channel();
    let started = Instant::now();

    // The loaner claims the first position and holds it until told to let go.
    let mut command = child("child_mpmc_loaner", &[(LOANER_ENV, &name)]);
    command.stdin(Stdio::piped());
    let mut loaner = Running::spawn("loaner", command, &attached_tx);
    let mut go: ChildStdin = loaner.child.stdin.take().expect("piped stdin");
    let mut children = vec![loaner];
    wait_attached(&attached, &mut children, 1);

    // The other positions are this process's messages; the claimed one counts too.
    let ours: Vec<Vec<u8>> = (0..10).map(|i| format!("message {i}").into_bytes()).collect();
    for message in &ours[..capacity - 1] {
        tx.try_send(message).expect("room beside the loan");
    }
    let extra = b"one too many";
    match tx.try_send(extra) {
        Err(SendError::Full(())) => {}
        other => panic!("a ring with one loan and {} messages in {capacity} slots gave {other:?}", capacity - 1),
    }

    // A receiver in a third process starts while the loan is out.
    let collector = Running::spawn("collector", child("child_mpmc_collector", &[(COLLECTOR_ENV, &name)]), &attached_tx);
    children.push(collector);
    wait_attached(&attached, &mut children, 1);
    thread::sleep(Duration::from_millis(50));

    // The loaner drops its loan uncommitted, sends one message, and exits.
    writeln!(go, "go").expect("tell the loaner to let go");
    drop(go);
    let loaner = children.remove(0);
    let loaner = wait_all(vec![loaner], "the loaner").remove(0);

    // The ring flows again: the receiver skips the abandoned slot and drains the rest.
    for (i, message) in ours[capacity - 1..].iter().enumerate() {
        if let Err(e) = tx.send_timeout(message, Duration::from_secs(20)) {
            children.iter_mut().for_each(Running::kill);
            let finished: Vec<Finished> = children.into_iter().map(Running::wait).collect();
            panic!("send {i} after the loan was dropped: {e}\n{}\n{}", loaner.describe(), describe_all(&finished));
        }
    }
    drop(tx);
    let collector = wait_all(children, "the collector").remove(0);
    let received: Vec<&str> =
        collector.stdout.lines().filter_map(|line| line.strip_prefix("got: ")).collect::<Vec<_>>();
    let mut expected: Vec<String> = Vec::new();
    expected.extend(ours[..capacity - 1].iter().map(|m| String::from_utf8_lossy(m).into_owned()));
    expected.push(String::from_utf8_lossy(FROM_LOANER).into_owned());
    expected.extend(ours[capacity - 1..].iter().map(|m| String::from_utf8_lossy(m).into_owned()));
    assert_eq!(received, expected, "the receiver's messages, in order, without the decoy\n{}", collector.describe());
    eprintln!("the ring flowed again past an abandoned loan; whole exchange {:.2?}", started.elapsed());
}

/// Claims a slot, fills it with `DECOY`, reports attached, waits for a line on stdin,
/// drops the loan uncommitted, then sends `FROM_LOANER`.
#[test]
fn child_mpmc_loaner() {
    let Ok(name) = env::var(LOANER_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    let mut loan = tx.try_loan().unwrap_or_else(|e| panic!("child: loan from an empty ring: {e}"));
    loan[..DECOY.len()].copy_from_slice(DECOY);
    report_attached();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("child: read the go-ahead");
    drop(loan);
    tx.send_timeout(FROM_LOANER, Duration::from_secs(20)).unwrap_or_else(|e| panic!("child: send: {e}"));
    println!("{CHILD_DONE}");
}

/// Receives until the senders have gone, printing each message as `got: <text>`.
#[test]
fn child_mpmc_collector() {
    let Ok(name) = env::var(COLLECTOR_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut rx = Receiver::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    report_attached();
    loop {
        match rx.recv() {
            Ok(guard) => println!("got: {}", String::from_utf8_lossy(&guard)),
            Err(RecvError::Disconnected) => break,
            Err(e) => panic!("child: recv: {e:?}"),
        }
    }
    println!("{CHILD_DONE}");
}

// ---------------------------------------------------------------------------------------
// Several handles in one process.
// ---------------------------------------------------------------------------------------

#[test]
fn one_process_may_hold_several_mpmc_senders_and_receivers_unlike_spsc() {
    // SPSC: a second handle of either role, even in the same process, is refused.
    let spsc = unique("spsc-roles");
    let _spsc_cleanup = Cleanup(spsc.clone());
    let _spsc_rx = Receiver::create(&spsc, &Config::new().slot_size(64).capacity(4)).expect("create SPSC");
    let _spsc_tx = Sender::open(&spsc).expect("the SPSC sender");
    let me = process::id();
    let err = Sender::open(&spsc).expect_err("a second SPSC sender");
    assert!(matches!(err, AttachError::RoleTaken { role: "sender", pid, .. } if pid == me), "{err:?}");
    let err = Receiver::open(&spsc).expect_err("a second SPSC receiver");
    assert!(matches!(err, AttachError::RoleTaken { role: "receiver", pid, .. } if pid == me), "{err:?}");

    // MPMC: any number, and each message goes to one receiver.
    let name = unique("mpmc-roles");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(8);
    let mut rx0 = Receiver::create(&name, &config).expect("create MPMC");
    let mut rx1 = Receiver::open(&name).expect("a second MPMC receiver in the same process");
    let mut tx0 = Sender::open(&name).expect("an MPMC sender");
    let mut tx1 = Sender::open_expecting(&name, &config).expect("a second MPMC sender in the same process");
    tx0.send(b"a").unwrap();
    tx1.send(b"b").unwrap();
    assert_eq!(&*rx1.try_recv().expect("the first message"), b"a");
    assert_eq!(&*rx0.try_recv().expect("the second message"), b"b");
    assert_eq!(rx1.try_recv().unwrap_err(), RecvError::Empty, "each message goes to one receiver");
    assert_eq!(rx0.try_recv().unwrap_err(), RecvError::Empty, "each message goes to one receiver");

    // Another process opens more of both while this one holds all four.
    let (attached_tx, _attached) = mpsc::channel();
    let helper = Running::spawn("helper", child("child_mpmc_extra_handles", &[(HANDLES_ENV, &name)]), &attached_tx);
    let pid = helper.child.id();
    let helper = wait_all(vec![helper], "the helper").remove(0);
    for (i, rx) in [&mut rx0, &mut rx1].into_iter().enumerate() {
        let expected = format!("{i} from {pid}");
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(got) => assert_eq!(&*got, expected.as_bytes()),
            Err(e) => panic!("the helper's message {i}: {e:?}\n{}", helper.describe()),
        }
    }

    // The channel is disconnected only once the last sender has gone.
    drop(tx0);
    assert_eq!(rx0.recv_timeout(Duration::from_millis(100)).unwrap_err(), RecvError::Timeout, "tx1 is attached");
    tx1.send(b"last").unwrap();
    drop(tx1);
    assert_eq!(&*rx1.recv_timeout(Duration::from_secs(10)).expect("sent before the last detach"), b"last");
    assert_eq!(rx0.recv_timeout(Duration::from_secs(10)).unwrap_err(), RecvError::Disconnected);
    assert_eq!(rx1.recv_timeout(Duration::from_secs(10)).unwrap_err(), RecvError::Disconnected);
}

/// Opens two senders and two receivers on an MPMC channel the parent also holds, and
/// sends `<i> from <pid>` through sender `i`.
#[test]
fn child_mpmc_extra_handles() {
    let Ok(name) = env::var(HANDLES_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut senders: Vec<Sender> =
        (0..2).map(|i| Sender::open(&name).unwrap_or_else(|e| panic!("child: sender {i}: {e}"))).collect();
    let _receivers: Vec<Receiver> =
        (0..2).map(|i| Receiver::open(&name).unwrap_or_else(|e| panic!("child: receiver {i}: {e}"))).collect();
    for (i, tx) in senders.iter_mut().enumerate() {
        tx.send(format!("{i} from {}", process::id()).as_bytes()).unwrap_or_else(|e| panic!("child: send {i}: {e}"));
    }
    println!("{CHILD_DONE}");
}
