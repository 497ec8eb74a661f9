//! The MPMC channel sized in bytes (`RingKind::MpmcBytes`) between real processes.
//!
//! - Three producer processes and three consumer processes exchange messages of mixed
//!   sizes (0 B, 1 B, 64 B, 4 KiB, 1 MiB and the 2 MiB maximum, the large ones rare),
//!   sent through every send path: copies, loans committed whole, loans committed with
//!   fewer bytes than loaned, and loans filled with a perfect copy of the next message
//!   and dropped uncommitted (which must never arrive). Every message arrives whole and
//!   exactly once, and each consumer sees each producer's messages in order.
//! - A producer SIGKILLed inside a large loan, or at a random moment of a stream of copy
//!   sends (some kills land inside its short claiming turn), while another producer and
//!   two consumers go on: nothing torn is delivered, the dead producer's messages that
//!   arrive are exactly those it committed, and the channel never wedges: the surviving
//!   producer's later messages, then a new producer's, arrive.
//! - A consumer SIGKILLed while it holds a guard on a large message: while it holds it,
//!   its bytes are never reused; once it is dead, recovery releases its record and the
//!   producer fills the ring, and the other consumers drain it, many times over.
//!
//! Each test re-executes this binary for its other processes, running one `child_*`
//! test by its exact name with an environment variable naming the channel (without it a
//! `child_*` test returns at once). A child prints a marker once it holds its end, and
//! another once it has done its work, so a child that ran no test (a wrong name runs
//! zero tests and exits 0) is never taken for a success; and it kills itself if it runs
//! far too long (`support::start_watchdog`), so a hang fails the parent instead of
//! stalling it. The parent's own waits all have timeouts.
//!
//! A message of 8 bytes or more starts with its tag (its producer in the top byte, its
//! sequence number below), and every later 8-byte word is a function of the tag and
//! the word's index: the receiver recomputes and compares every byte. A 1-byte message
//! holds its producer and the low 6 bits of its sequence number; a 0-byte message holds
//! nothing: those two are checked by count per producer (1 B) and in all (0 B), and the
//! 1-byte ones also for order (see `Tally::take_tiny`). A record the ring delivered
//! without its producer publishing it would arrive as a 0-byte message (its length is
//! only set by the commit), so the kill tests, whose producers send no such message,
//! refuse any.
//!
//! `FERRY_BYTES_MPMC_MESSAGES` sets the stream test's total number of messages (default
//! 100,000; the figure is 1,000,000); `FERRY_BYTES_MPMC_KILL_RUNS` the runs of
//! each kill test (default 20; `.ci/run` runs 200).

use std::{
    env,
    fs::{self, File},
    io::{BufRead, BufReader, BufWriter, Read, Write},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{self, Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{mix, shm_path, start_watchdog, Cleanup};

/// The largest message.
const MAX: usize = 2 << 20;
/// One of the large sizes of the mix.
const MIB: usize = 1 << 20;
/// The ring: the smallest power of two holding two records of the maximum.
const CAPACITY: usize = 8 << 20;
/// Producer processes in the stream test.
const PRODUCERS: u32 = 3;
/// Consumer processes in the stream test.
const CONSUMERS: u32 = 3;
/// A wait long enough that only a wedged or broken channel runs into it.
const GENEROUS: Duration = Duration::from_secs(20);
/// How long the parent waits for a child's marker.
const MARKER_DEADLINE: Duration = Duration::from_secs(60);
/// A kill test's child that runs longer than this kills itself.
const KILL_CHILD_WATCHDOG: Duration = Duration::from_secs(60);

/// `<id>:<total messages>:<channel>` for `child_stream_producer`.
const PRODUCER_ENV: &str = "FERRY_BYTES_MPMC_PRODUCER";
/// `<id>:<total messages>:<channel>` for `child_stream_consumer`.
const CONSUMER_ENV: &str = "FERRY_BYTES_MPMC_CONSUMER";
/// The file `child_stream_consumer` writes what it received to.
const RECEIVED_ENV: &str = "FERRY_BYTES_MPMC_RECEIVED";
/// The stream test's children's watchdog, in seconds (it grows with the count).
const WATCHDOG_ENV: &str = "FERRY_BYTES_MPMC_WATCHDOG_S";
/// `loan:<messages committed first>:<channel>` or `stream:<channel>` for
/// `child_victim_producer`.
const VICTIM_PRODUCER_ENV: &str = "FERRY_BYTES_MPMC_VICTIM_PRODUCER";
/// The channel for `child_survivor_producer`.
const SURVIVOR_ENV: &str = "FERRY_BYTES_MPMC_SURVIVOR";
/// The channel for `child_victim_consumer`.
const VICTIM_CONSUMER_ENV: &str = "FERRY_BYTES_MPMC_VICTIM_CONSUMER";

/// Printed by a child once it holds its end of the channel.
const ATTACHED: &str = "FERRY-CHILD-ATTACHED";
/// Printed by a child once it has done everything it was asked, with a summary.
const DONE: &str = "FERRY-CHILD-DONE";
/// Printed by the loan victim once it is writing the loan it never commits.
const INSIDE: &str = "FERRY-CHILD-INSIDE";
/// Printed by the consumer victim once it holds (and has checked) its message.
const HOLDING: &str = "FERRY-CHILD-HOLDING";

/// The kill tests' producers (a producer id is a message's top byte).
const LOANER: u32 = 0;
const SURVIVOR: u32 = 1;
const STREAMER: u32 = 2;
const NEWCOMER: u32 = 3;
const FEEDER: u32 = 4;
/// Messages the survivor sends after it is told the victim is dead.
const AFTER_KILL: u64 = 8;

/// Salts, so that the choices of lengths, fillers, send and receive paths do not line up.
const LEN_SALT: u64 = 0x6279_6d70_6c65_6e01;
const FILL_SALT: u64 = 0x6279_6d70_6669_6c02;
const SEND_SALT: u64 = 0x6279_6d70_7365_6e03;
const RECV_SALT: u64 = 0x6279_6d70_7265_6304;
const KILL_SALT: u64 = 0x6279_6d70_6b69_6c05;

fn config() -> Config {
    Config::new().kind(RingKind::Mpmc).capacity_bytes(CAPACITY).max_message(MAX)
}

fn unique(tag: &str) -> String {
    format!("bm-{tag}-{}", process::id())
}

fn total_messages() -> u64 {
    env::var("FERRY_BYTES_MPMC_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

fn kill_runs() -> u64 {
    env::var("FERRY_BYTES_MPMC_KILL_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}

// ---------------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------------

/// The first word of message `seq` of producer `id`.
fn tag(id: u32, seq: u64) -> u64 {
    u64::from(id) << 56 | seq
}

/// The byte of a 1-byte message: its producer and the low 6 bits of its sequence number.
fn tiny(id: u32, seq: u64) -> u8 {
    (id << 6) as u8 | (seq & 63) as u8
}

/// The words of one message of 8 bytes or more: its tag, then words derived from it.
struct Pattern {
    tag: u64,
    key: u64,
}

impl Pattern {
    fn new(id: u32, seq: u64) -> Self {
        Self { tag: tag(id, seq), key: mix(tag(id, seq) ^ FILL_SALT) }
    }

    /// Word `i` of the message: cheap, and different for every message and position.
    fn word(&self, i: usize) -> u64 {
        if i == 0 {
            self.tag
        } else {
            self.key.wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        }
    }

    /// Writes the message's bytes from byte `at` (a multiple of 8) into `out`.
    fn write(&self, at: usize, out: &mut [u8]) {
        debug_assert!(at.is_multiple_of(8));
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.word(at / 8 + k).to_le_bytes()[..chunk.len()]);
        }
    }

    /// The first byte at which `got` differs from the message, if any.
    fn first_difference(&self, got: &[u8]) -> Option<usize> {
        got.chunks(8).enumerate().position(|(k, chunk)| chunk != &self.word(k).to_le_bytes()[..chunk.len()]).map(|k| {
            let expected = self.word(k).to_le_bytes();
            k * 8 + got[k * 8..].iter().zip(expected).position(|(g, e)| *g != e).unwrap_or(0)
        })
    }
}

/// Writes message `seq` of producer `id` into `out`, whose length is the message's.
fn write_message(id: u32, seq: u64, out: &mut [u8]) {
    match out.len() {
        0 => {}
        1 => out[0] = tiny(id, seq),
        _ => Pattern::new(id, seq).write(0, out),
    }
}

/// Checks that `got`, 8 bytes or more, is a whole message: of a producer below
/// `producers`, with a sequence number below `sent(id)`, of the length `len_of` gives
/// it, every byte as written. Returns its producer and sequence number.
fn identify(
    got: &[u8],
    producers: u32,
    sent: impl Fn(u32) -> u64,
    len_of: fn(u32, u64) -> usize,
) -> Result<(u32, u64), String> {
    if got.len() < 8 {
        return Err(format!("a message of {} bytes: none that short is sent", got.len()));
    }
    let first = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    let (id, seq) = ((first >> 56) as u32, first & ((1 << 56) - 1));
    if id >= producers || seq >= sent(id) {
        return Err(format!("a message of {} bytes tagged producer {id}, seq {seq}: never sent (torn?)", got.len()));
    }
    let len = len_of(id, seq);
    if got.len() != len {
        return Err(format!("message {seq} of producer {id} is {} bytes, not {len}: torn", got.len()));
    }
    if let Some(at) = Pattern::new(id, seq).first_difference(got) {
        return Err(format!("message {seq} of producer {id} ({len} bytes) torn or stale at byte {at}"));
    }
    Ok((id, seq))
}

/// The length of message `seq` of stream producer `id`: 0 B, 1 B, 64 B, 4 KiB, 1 MiB
/// or the maximum, one in 250 of them large (about 6.5 KB a message on average).
fn stream_len(id: u32, seq: u64) -> usize {
    match mix(tag(id, seq) ^ LEN_SALT) % 1000 {
        0..200 => 0,
        200..400 => 1,
        400..700 => 64,
        700..996 => 4096,
        996..999 => MIB,
        _ => MAX,
    }
}

/// The messages stream producer `id` sends, of `total`.
fn share(total: u64, id: u32) -> u64 {
    total / u64::from(PRODUCERS) + u64::from(u64::from(id) < total % u64::from(PRODUCERS))
}

/// The length of message `seq` of a kill test's producer `id` (none is under 64 bytes).
fn kill_len(id: u32, seq: u64) -> usize {
    match id {
        // The loan victim: only large messages, written slowly.
        LOANER => [MIB, MAX][seq as usize % 2],
        // The consumer victim's message (seq 0) is the maximum; then the feeder fills
        // the ring with large messages, a quarter of them the maximum.
        FEEDER => {
            if seq.is_multiple_of(4) {
                MAX
            } else {
                MIB
            }
        }
        NEWCOMER => MAX,
        // The survivor and the stream victim: mostly small, so that a stream victim
        // claims often and is often killed inside a claim.
        _ => match mix(tag(id, seq) ^ LEN_SALT) % 100 {
            0..60 => 64,
            60..98 => 4096,
            98 => MIB,
            _ => MAX,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Children.
// ---------------------------------------------------------------------------------------

/// This test binary, to run the child test `test` with `vars` set.
fn child(test: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env::current_exe().expect("the test binary's path"));
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).stdin(Stdio::null());
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

/// Prints `marker` (and `rest`) on a line of its own, flushed at once.
fn report(marker: &str, rest: &str) {
    println!("{marker}{rest}");
    std::io::stdout().flush().expect("child: flush stdout");
}

/// A running child whose stdout and stderr are drained by two threads; each line of its
/// stdout is also passed on to `lines`. Killed and reaped on drop, so that a failing
/// parent never leaves it behind.
struct Running {
    label: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished child did.
struct Finished {
    label: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Running {
    fn spawn(label: &str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let (forward, lines) = mpsc::channel();
        let stdout = thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = forward.send(line);
            }
            all
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        Self { label: label.to_owned(), child, lines, stdout: Some(stdout), stderr: Some(stderr) }
    }

    /// Waits for a line of its stdout holding `marker` and returns the rest of the line
    /// after it; on a timeout, or if the child ends first, kills it and panics with its
    /// output.
    fn wait_for(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + MARKER_DEADLINE;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(at) = line.find(marker) {
                        return line[at + marker.len()..].to_owned();
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    let label = self.label.clone();
                    let finished = self.finish_now();
                    panic!("{label} printed no {marker} ({e:?})\n{}", finished.describe());
                }
            }
        }
    }

    /// SIGKILLs the child and checks that the signal is what ended it.
    fn kill(mut self) -> Finished {
        self.child.kill().unwrap_or_else(|e| panic!("kill {}: {e}", self.label));
        let finished = self.finish_now();
        assert_eq!(finished.status.signal(), Some(9), "not ended by SIGKILL\n{}", finished.describe());
        finished
    }

    /// Waits for the child to exit and collects its output.
    fn finish(mut self) -> Finished {
        self.finish_now()
    }

    fn finish_now(&mut self) -> Finished {
        let status = self.child.wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.label));
        let stdout = self.stdout.take().map(|t| t.join().expect("the stdout thread")).unwrap_or_default();
        let stderr = self.stderr.take().map(|t| t.join().expect("the stderr thread")).unwrap_or_default();
        Finished { label: self.label.clone(), status, stdout, stderr }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        self.status.success() && self.stdout.contains(DONE)
    }

    /// The rest of the line that carries the done marker.
    fn summary(&self) -> &str {
        self.stdout.lines().find_map(|line| line.find(DONE).map(|at| &line[at + DONE.len()..])).unwrap_or("")
    }
}

fn describe_all(finished: &[Finished]) -> String {
    finished.iter().map(Finished::describe).collect::<Vec<_>>().join("\n")
}

/// Waits for every child and asserts that each succeeded and did its work; on any
/// failure, panics with `what` and every child's output (one child's failure is often
/// another's cause).
fn wait_all(children: Vec<Running>, what: &str) -> Vec<Finished> {
    let finished: Vec<Finished> = children.into_iter().map(Running::finish).collect();
    if let Some(bad) = finished.iter().find(|f| !f.ok()) {
        let why = if bad.status.success() { "did not run its test" } else { "failed" };
        panic!("{what}: {} {why}\n{}", bad.label, describe_all(&finished));
    }
    finished
}

/// `<id>:<total>:<channel>` from `var`.
fn parse_role(var: &str) -> Option<(u32, u64, String)> {
    let value = env::var(var).ok()?;
    let mut parts = value.splitn(3, ':');
    let mut next = || parts.next().expect("child: <id>:<total>:<channel>");
    let id = next().parse().expect("child: a numeric id");
    let total = next().parse().expect("child: a numeric total");
    Some((id, total, next().to_owned()))
}

// ---------------------------------------------------------------------------------------
// Three producer processes, three consumer processes, mixed sizes.
// ---------------------------------------------------------------------------------------

/// Removes a scratch file on drop.
struct RemoveFile(PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn three_producers_and_three_consumers_deliver_mixed_sizes_whole_exactly_once() {
    let total = total_messages();
    let name = unique("stream");
    let _cleanup = Cleanup(name.clone());
    let files: Vec<RemoveFile> =
        (0..CONSUMERS).map(|c| RemoveFile(env::temp_dir().join(format!("ferry-{name}-received-{c}.bin")))).collect();
    // A hang is a failure, but a large count on a slow machine is not one.
    let watchdog = (120 + total / 2_000).to_string();
    // The parent's sender keeps the channel (and its name) until every child has
    // attached; it sends nothing.
    let creator = Sender::create(&name, &config()).expect("create");

    let started = Instant::now();
    let mut children = Vec::new();
    for (c, file) in files.iter().enumerate() {
        let role = format!("{c}:{total}:{name}");
        let path = file.0.to_str().expect("a UTF-8 temporary path");
        let command =
            child("child_stream_consumer", &[(CONSUMER_ENV, &role), (RECEIVED_ENV, path), (WATCHDOG_ENV, &watchdog)]);
        children.push(Running::spawn(&format!("consumer {c}"), command));
    }
    for p in 0..PRODUCERS {
        let role = format!("{p}:{total}:{name}");
        let command = child("child_stream_producer", &[(PRODUCER_ENV, &role), (WATCHDOG_ENV, &watchdog)]);
        children.push(Running::spawn(&format!("producer {p}"), command));
    }
    for running in &mut children {
        running.wait_for(ATTACHED);
    }
    // From here on only the children's senders keep the channel connected: once they
    // have all detached and the ring is drained, the consumers are told so.
    drop(creator);
    assert!(!shm_path(&name).exists(), "dropping the creator should remove the channel's name");
    let finished = wait_all(children, "the stream");
    let elapsed = started.elapsed();

    // Merge what the consumers got.
    let mut times: Vec<Vec<u8>> = (0..PRODUCERS).map(|p| vec![0u8; share(total, p) as usize]).collect();
    let (mut tiny_got, mut empty_got) = (vec![0u64; PRODUCERS as usize], 0u64);
    let mut per_consumer = Vec::new();
    for file in &files {
        let got = read_received(&file.0);
        per_consumer
            .push(got.seqs.iter().map(Vec::len).sum::<usize>() as u64 + got.tiny.iter().sum::<u64>() + got.empty);
        for (p, seqs) in got.seqs.iter().enumerate() {
            for &seq in seqs {
                let count = &mut times[p][seq as usize];
                *count = count.saturating_add(1);
            }
        }
        for (sum, n) in tiny_got.iter_mut().zip(&got.tiny) {
            *sum += n;
        }
        empty_got += got.empty;
    }
    // Every message of 8 bytes or more exactly once.
    let (mut missing, mut repeated) = (Vec::new(), Vec::new());
    for (p, counts) in times.iter().enumerate() {
        for (seq, &count) in counts.iter().enumerate() {
            let len = stream_len(p as u32, seq as u64);
            match (len < 8, count) {
                (true, 0) | (false, 1) => {}
                (true, _) => panic!("a {len}-byte message recorded as identified: the tally is wrong"),
                (false, 0) => missing.push((p, seq, len)),
                (false, _) => repeated.push((p, seq, len)),
            }
        }
    }
    assert!(
        missing.is_empty() && repeated.is_empty(),
        "{} messages lost (first (producer, seq, len): {:?}), {} received more than once (first: {:?}); \
         per consumer: {per_consumer:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(8)],
        repeated.len(),
        &repeated[..repeated.len().min(8)],
        describe_all(&finished)
    );
    // And as many 1-byte (per producer) and 0-byte messages as were sent: a lost or
    // repeated one, or an abandoned record delivered (as 0 bytes), changes a count.
    let tiny_sent: Vec<u64> =
        (0..PRODUCERS).map(|p| (0..share(total, p)).filter(|&s| stream_len(p, s) == 1).count() as u64).collect();
    let empty_sent: u64 =
        (0..PRODUCERS).map(|p| (0..share(total, p)).filter(|&s| stream_len(p, s) == 0).count() as u64).sum();
    assert_eq!(tiny_got, tiny_sent, "1-byte messages received per producer, and sent\n{}", describe_all(&finished));
    assert_eq!(empty_got, empty_sent, "0-byte messages received, and sent\n{}", describe_all(&finished));
    assert_eq!(per_consumer.iter().sum::<u64>(), total, "every message once");

    eprintln!(
        "{total} messages from {PRODUCERS} to {CONSUMERS} processes in {elapsed:.2?} ({:.0} messages/s, \
         including the children's start); per consumer: {per_consumer:?}",
        total as f64 / elapsed.as_secs_f64()
    );
    for f in &finished {
        eprintln!("  {}:{}", f.label, f.summary());
    }
}

/// What one consumer wrote to its file.
struct Received {
    /// Per producer, the sequence numbers of its messages of 8 bytes or more, in the
    /// order received.
    seqs: Vec<Vec<u32>>,
    /// Per producer, its 1-byte messages.
    tiny: Vec<u64>,
    /// 0-byte messages.
    empty: u64,
}

/// Reads a consumer's file: per producer a count and that many seqs, then per producer
/// the 1-byte messages, then the 0-byte messages, all `u32`.
fn read_received(path: &Path) -> Received {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(bytes.len() % 4, 0, "{} is not a list of u32s", path.display());
    let mut words = bytes.chunks_exact(4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")));
    let seqs = (0..PRODUCERS)
        .map(|_| {
            let count = words.next().expect("a count") as usize;
            words.by_ref().take(count).collect()
        })
        .collect();
    let tiny = (0..PRODUCERS).map(|_| u64::from(words.next().expect("a count"))).collect();
    let empty = u64::from(words.next().expect("a count"));
    assert_eq!(words.next(), None, "{} has words past its lists", path.display());
    Received { seqs, tiny, empty }
}

/// How long a stream child may run.
fn stream_watchdog() -> Duration {
    Duration::from_secs(env::var(WATCHDOG_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(120))
}

/// A loan size of more than `len` bytes (the maximum for the maximum), now and then
/// the maximum.
fn larger_loan(len: usize, pick: u64) -> usize {
    if (pick >> 16).is_multiple_of(16) {
        MAX
    } else {
        (len + 1 + (pick >> 20) as usize % 4096).min(MAX)
    }
}

/// A stream producer: sends its share of the messages through every send path, and now
/// and then first drops uncommitted a loan holding a perfect copy of the next message.
#[test]
fn child_stream_producer() {
    let Some((id, total, name)) = parse_role(PRODUCER_ENV) else { return };
    start_watchdog(stream_watchdog());
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((tx.slot_size(), tx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    report(ATTACHED, "");
    let started = Instant::now();
    let count = share(total, id);
    let mut scratch = vec![0u8; MAX];
    let (mut abandoned, mut shorter, mut full) = (0u64, 0u64, 0u64);
    let mut seq = 0;
    while seq < count {
        let len = stream_len(id, seq);
        let pick = mix(tag(id, seq) ^ SEND_SALT);
        if pick.is_multiple_of(32) {
            // A loan holding a perfect copy of message `seq`, dropped uncommitted: if a
            // consumer ever saw it, a message would arrive twice (or an extra 0-byte one).
            let mut loan = tx.loan_bytes(larger_loan(len, pick).min(len + 64)).expect("child: loan to abandon");
            write_message(id, seq, &mut loan[..len]);
            drop(loan);
            abandoned += 1;
        }
        match (pick >> 8) % 8 {
            0 => {
                write_message(id, seq, &mut scratch[..len]);
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
            }
            1 => {
                write_message(id, seq, &mut scratch[..len]);
                tx.send_timeout(&scratch[..len], GENEROUS * 3)
                    .unwrap_or_else(|e| panic!("child: send_timeout {seq}: {e}"));
            }
            2 => {
                // `try_send` until it goes in, yielding while the ring is full; then a
                // blocking send, rather than spin for ever.
                write_message(id, seq, &mut scratch[..len]);
                let mut sent = false;
                for _ in 0..64 {
                    match tx.try_send(&scratch[..len]) {
                        Ok(()) => {
                            sent = true;
                            break;
                        }
                        Err(SendError::Full(())) => {
                            full += 1;
                            thread::yield_now();
                        }
                        Err(e) => panic!("child: try_send {seq}: {e}"),
                    }
                }
                if !sent {
                    tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                }
            }
            3 => {
                let mut loan = tx.loan_bytes(len).unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                write_message(id, seq, &mut loan);
                loan.commit(len);
            }
            4 => {
                let mut loan =
                    tx.loan_bytes_timeout(len, GENEROUS * 3).unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                write_message(id, seq, &mut loan);
                loan.commit(len);
            }
            5 => {
                // Whatever fits now, through a batch; else one blocking send.
                let limit = 1 + (pick >> 24) % 8;
                let start = seq;
                let mut batch = tx.batch();
                while seq - start < limit && seq < count {
                    let len = stream_len(id, seq);
                    write_message(id, seq, &mut scratch[..len]);
                    match batch.try_send(&scratch[..len]) {
                        Ok(()) => seq += 1,
                        Err(SendError::Full(())) => {
                            full += 1;
                            break;
                        }
                        Err(e) => panic!("child: batch try_send {seq}: {e}"),
                    }
                }
                drop(batch);
                if seq == start {
                    write_message(id, seq, &mut scratch[..len]);
                    tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                    seq += 1;
                }
                continue;
            }
            _ => {
                // Loan more, commit fewer; the bytes past the message must not arrive.
                let size = larger_loan(len, pick);
                let mut loan = tx.loan_bytes(size).unwrap_or_else(|e| panic!("child: loan {size} at {seq}: {e}"));
                let slack = (len + 64).min(size);
                loan[len..slack].fill(0xA5);
                write_message(id, seq, &mut loan[..len]);
                loan.commit(len);
                shorter += 1;
            }
        }
        seq += 1;
    }
    drop(tx);
    report(
        DONE,
        &format!(
            " sent {count} in {:.2?}: {shorter} loans committed short, {abandoned} dropped, {full} times full",
            started.elapsed()
        ),
    );
}

/// What one consumer has received, with its checks.
struct Tally {
    id: u32,
    total: u64,
    /// Per producer, the sequence numbers of its messages of 8 bytes or more, in order.
    seqs: Vec<Vec<u32>>,
    /// Per producer, the sequence number its last message had, or the smallest it can
    /// have had (a 1-byte message's, see `take_tiny`).
    last: Vec<Option<u64>>,
    tiny: Vec<u64>,
    empty: u64,
}

impl Tally {
    fn new(id: u32, total: u64) -> Self {
        let producers = PRODUCERS as usize;
        Self {
            id,
            total,
            seqs: vec![Vec::new(); producers],
            last: vec![None; producers],
            tiny: vec![0; producers],
            empty: 0,
        }
    }

    fn take(&mut self, got: &[u8]) {
        match got.len() {
            0 => self.empty += 1,
            1 => self.take_tiny(got[0]),
            _ => {
                let total = self.total;
                let (p, seq) = identify(got, PRODUCERS, |p| share(total, p), stream_len)
                    .unwrap_or_else(|e| panic!("child: consumer {}: {e}", self.id));
                if let Some(last) = self.last[p as usize] {
                    assert!(
                        last < seq,
                        "child: consumer {} got message {seq} of producer {p} after {last}: out of order or repeated",
                        self.id
                    );
                }
                self.last[p as usize] = Some(seq);
                self.seqs[p as usize].push(seq as u32);
            }
        }
    }

    /// A 1-byte message says its producer and the low bits of its sequence number: it
    /// must be a 1-byte message of that producer with those bits, after the last one
    /// this consumer got from it. The earliest such is taken as its number: no later
    /// message can then be wrongly refused (the true number is at least as large), and
    /// a message out of order or repeated is found whenever no number fits.
    fn take_tiny(&mut self, byte: u8) {
        let (p, low) = (u32::from(byte >> 6), u64::from(byte & 63));
        assert!(p < PRODUCERS, "child: consumer {}: a 1-byte message from producer {p}", self.id);
        let from = self.last[p as usize].map_or(0, |last| last + 1);
        let seq = (from..share(self.total, p)).find(|&s| s & 63 == low && stream_len(p, s) == 1).unwrap_or_else(|| {
            panic!(
                "child: consumer {}: a 1-byte message of producer {p} (low bits {low}) fits no message after {from}: \
                 out of order, repeated or never sent",
                self.id
            )
        });
        self.last[p as usize] = Some(seq);
        self.tiny[p as usize] += 1;
    }

    fn write_to(&self, path: &str) {
        let mut out = BufWriter::new(File::create(path).unwrap_or_else(|e| panic!("child: create {path}: {e}")));
        let mut put = |word: u64| {
            let word = u32::try_from(word).expect("child: a count or seq fits 32 bits");
            out.write_all(&word.to_le_bytes()).expect("child: write");
        };
        for seqs in &self.seqs {
            put(seqs.len() as u64);
            seqs.iter().for_each(|&s| put(u64::from(s)));
        }
        self.tiny.iter().for_each(|&n| put(n));
        put(self.empty);
        out.into_inner().expect("child: flush").sync_all().expect("child: sync");
    }

    fn count(&self) -> u64 {
        self.seqs.iter().map(Vec::len).sum::<usize>() as u64 + self.tiny.iter().sum::<u64>() + self.empty
    }
}

/// A stream consumer: receives through every receive path until the producers have all
/// gone, then writes what it received to its file.
#[test]
fn child_stream_consumer() {
    let Some((id, total, name)) = parse_role(CONSUMER_ENV) else { return };
    let path = env::var(RECEIVED_ENV).expect("child: the file to write");
    start_watchdog(stream_watchdog());
    let mut rx = Receiver::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((rx.slot_size(), rx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    report(ATTACHED, "");
    let started = Instant::now();
    let mut tally = Tally::new(id, total);
    let mut buf = vec![0u8; MAX];
    let (mut round, mut too_small) = (0u64, 0u64);
    let failed = |what: &str, e: RecvError| -> ! { panic!("child: consumer {id}: {what}: {e:?}") };
    'receiving: loop {
        round += 1;
        let pick = mix(round ^ RECV_SALT ^ u64::from(id) << 48);
        // Each arm receives one message or more, or breaks out on `Disconnected`.
        match pick % 7 {
            0 => match rx.recv() {
                Ok(guard) => tally.take(&guard),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv", e),
            },
            1 => match rx.recv_timeout(GENEROUS * 3) {
                Ok(guard) => tally.take(&guard),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_timeout", e),
            },
            2 => match rx.recv_into(&mut buf) {
                Ok(n) => tally.take(&buf[..n]),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_into", e),
            },
            3 => match rx.recv_into_timeout(&mut buf, GENEROUS * 3) {
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
                // Too small a buffer: a longer message is refused with its length and
                // stays (for this consumer or another).
                let room = (pick >> 8) as usize % 64;
                match rx.recv_into(&mut buf[..room]) {
                    Ok(n) => tally.take(&buf[..n]),
                    Err(RecvError::BufferTooSmall { needed })
                        if needed > room && [1, 64, 4096, MIB, MAX].contains(&needed) =>
                    {
                        too_small += 1;
                    }
                    Err(RecvError::Disconnected) => break,
                    other => panic!("child: consumer {id}: recv_into {room} bytes gave {other:?}"),
                }
            }
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
        "child: consumer {id}: a message after Disconnected"
    );
    drop(rx);
    tally.write_to(&path);
    report(
        DONE,
        &format!(
            " received {} (per producer {:?} of 8 bytes or more, {:?} of 1 byte, {} of 0 bytes) in {elapsed:.2?}, \
             {too_small} refused for a small buffer",
            tally.count(),
            tally.seqs.iter().map(Vec::len).collect::<Vec<_>>(),
            tally.tiny,
            tally.empty
        ),
    );
}

// ---------------------------------------------------------------------------------------
// A producer killed mid-message.
// ---------------------------------------------------------------------------------------

/// Where the victim producer is killed.
#[derive(Clone, Copy, Debug)]
enum ProducerKill {
    /// Inside a large loan it writes slowly and never commits, after 0 to 3 whole ones.
    InsideLoan,
    /// At a random moment of a stream of copy sends.
    RandomSend,
}

#[test]
fn producer_killed_inside_a_large_loan_never_delivers_it_and_never_wedges() {
    producer_killed(ProducerKill::InsideLoan);
}

#[test]
fn producer_killed_at_random_moments_of_copy_sends_never_tears_or_wedges() {
    producer_killed(ProducerKill::RandomSend);
}

/// What the parent's consumers took: each message's producer and sequence number, in
/// the order each consumer received them.
type Taken = Vec<(u32, u64)>;

/// Receives until the producers have all gone, checking each message whole, from a
/// producer below `producers`, and in order per producer; pausing `pause` after each.
fn drain(rx: &mut Receiver, label: &str, producers: u32, pause: Duration) -> Result<Taken, String> {
    let mut taken = Vec::new();
    let mut last = vec![None; producers as usize];
    loop {
        match rx.recv_timeout(GENEROUS) {
            Ok(guard) => {
                let (p, seq) =
                    identify(&guard, producers, |_| 1 << 40, kill_len).map_err(|e| format!("{label}: {e}"))?;
                if last[p as usize].is_some_and(|l| l >= seq) {
                    return Err(format!("{label}: message {seq} of producer {p} after {:?}", last[p as usize]));
                }
                last[p as usize] = Some(seq);
                taken.push((p, seq));
                if !pause.is_zero() {
                    thread::sleep(pause);
                }
            }
            Err(RecvError::Disconnected) => return Ok(taken),
            Err(e) => return Err(format!("{label}: after {} messages: {e} (wedged?)", taken.len())),
        }
    }
}

/// Producer `id`'s sequence numbers across `taken`, sorted.
fn seqs_of(taken: &[&Taken], id: u32) -> Vec<u64> {
    let mut seqs: Vec<u64> = taken.iter().flat_map(|t| t.iter()).filter(|(p, _)| *p == id).map(|(_, s)| *s).collect();
    seqs.sort_unstable();
    seqs
}

fn producer_killed(how: ProducerKill) {
    let runs = kill_runs();
    let started = Instant::now();
    let mut victim_sent = 0;
    for run in 0..runs {
        let name = unique(&format!("pkill-{how:?}-{run}"));
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &config()).expect("create");
        let mut rx2 = rx.try_clone().expect("a second consumer");
        let pick = mix(run ^ KILL_SALT);
        // Every other run of the stream victim the consumers are slow: the ring stays
        // full, and the victim, retrying `try_send`, spends much of its time in its
        // claiming turn.
        let pause = match how {
            ProducerKill::RandomSend if run % 2 == 1 => Duration::from_micros(100),
            _ => Duration::ZERO,
        };
        let (victim_id, victim_role) = match how {
            ProducerKill::InsideLoan => (LOANER, format!("loan:{}:{name}", pick % 4)),
            ProducerKill::RandomSend => (STREAMER, format!("stream:{name}")),
        };
        let mut survivor = Running::spawn("survivor", {
            let mut command = child("child_survivor_producer", &[(SURVIVOR_ENV, &name)]);
            command.stdin(Stdio::piped());
            command
        });
        let mut stop: ChildStdin = survivor.child.stdin.take().expect("piped stdin");
        let mut victim =
            Running::spawn("victim", child("child_victim_producer", &[(VICTIM_PRODUCER_ENV, &victim_role)]));

        let (taken, survivor, victim) = thread::scope(|s| {
            let first = s.spawn(|| drain(&mut rx, "consumer 1", NEWCOMER, pause));
            let second = s.spawn(|| drain(&mut rx2, "consumer 2", NEWCOMER, pause));
            survivor.wait_for(ATTACHED);
            // Killed inside its last loan (at some point of writing it), or anywhere in
            // its stream of sends.
            let delay = match how {
                ProducerKill::InsideLoan => {
                    victim.wait_for(INSIDE);
                    Duration::from_micros(pick % 8_000)
                }
                ProducerKill::RandomSend => {
                    victim.wait_for(ATTACHED);
                    if !pause.is_zero() {
                        wait_until_nearly_full(&name);
                    }
                    Duration::from_micros(pick % 20_000)
                }
            };
            thread::sleep(delay);
            let victim = victim.kill();
            // Only now is the survivor told to finish: its last messages are claimed
            // after the death, behind whatever the victim left.
            writeln!(stop, "stop").expect("tell the survivor to finish");
            let survivor = survivor.finish();
            let taken = [first.join(), second.join()].map(|t| t.expect("a consumer thread"));
            (taken, survivor, victim)
        });
        let context = || format!("run {run} ({how:?})\n{}\n{}", survivor.describe(), victim.describe());
        let taken: Vec<Taken> = taken.into_iter().map(|t| t.unwrap_or_else(|e| panic!("{e}: {}", context()))).collect();
        assert!(survivor.ok(), "the survivor failed: {}", context());
        let taken: Vec<&Taken> = taken.iter().collect();

        // The survivor's messages, all of them, once each.
        let sent: u64 = survivor.summary().trim().strip_prefix("sent ").and_then(|n| n.parse().ok()).expect("a count");
        assert!(
            seqs_of(&taken, SURVIVOR).into_iter().eq(0..sent),
            "the survivor sent {sent}: not each received exactly once: {}",
            context()
        );
        // The victim's: exactly those it finished, once each; never the one it died in.
        let victim_seqs = seqs_of(&taken, victim_id);
        let delivered = victim_seqs.len() as u64;
        assert!(
            victim_seqs.into_iter().eq(0..delivered),
            "the victim's messages are not a prefix received once each: {}",
            context()
        );
        if let ProducerKill::InsideLoan = how {
            assert_eq!(
                delivered,
                pick % 4,
                "the victim committed {} messages before the torn one: {}",
                pick % 4,
                context()
            );
        }
        victim_sent += delivered;

        // A new producer's message of the maximum finds room and arrives.
        let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("run {run}: a new producer: {e}"));
        let mut loan = tx.loan_bytes_timeout(MAX, GENEROUS).unwrap_or_else(|e| panic!("run {run}: {e} (wedged?)"));
        write_message(NEWCOMER, 0, &mut loan);
        loan.commit(MAX);
        let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("run {run}: the new producer's message: {e}"));
        assert_eq!(identify(&guard, NEWCOMER + 1, |_| 1, kill_len), Ok((NEWCOMER, 0)), "run {run}");
    }
    eprintln!(
        "{runs} runs ({how:?}) in {:.2?}; {victim_sent} of the victims' messages delivered before their deaths",
        started.elapsed()
    );
}

/// Waits, at most a second, until the producers have filled all but the last 64 KiB of
/// channel `name` (where they stay while the consumers are slow).
fn wait_until_nearly_full(name: &str) {
    let mut probe = Sender::open(name).expect("a probe");
    let deadline = Instant::now() + Duration::from_secs(1);
    while probe.in_flight().expect("in flight") < CAPACITY - (64 << 10) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// `loan:<n>:<channel>`: commits `n` large messages written through loans, then takes
/// the next loan, reports `INSIDE`, writes it slowly and never commits it.
/// `stream:<channel>`: copy sends, as fast as it can (half of them `try_send` retried
/// without a pause), until killed.
#[test]
fn child_victim_producer() {
    let Ok(role) = env::var(VICTIM_PRODUCER_ENV) else { return };
    start_watchdog(KILL_CHILD_WATCHDOG);
    let (how, rest) = role.split_once(':').expect("child: <how>:...");
    if how == "stream" {
        let mut tx = Sender::open(rest).unwrap_or_else(|e| panic!("child: {e}"));
        report(ATTACHED, "");
        let mut scratch = vec![0u8; MAX];
        for seq in 0.. {
            let len = kill_len(STREAMER, seq);
            write_message(STREAMER, seq, &mut scratch[..len]);
            if seq.is_multiple_of(2) {
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                continue;
            }
            // `try_send` without a pause while the ring is full: each try takes the
            // claiming turn, so a kill often lands inside one.
            loop {
                match tx.try_send(&scratch[..len]) {
                    Ok(()) => break,
                    Err(SendError::Full(())) => std::hint::spin_loop(),
                    Err(e) => panic!("child: try_send {seq}: {e}"),
                }
            }
        }
        return;
    }
    let (committed, name) = rest.split_once(':').expect("child: loan:<n>:<channel>");
    let committed: u64 = committed.parse().expect("child: a number");
    let mut tx = Sender::open(name).unwrap_or_else(|e| panic!("child: {e}"));
    report(ATTACHED, "");
    for seq in 0.. {
        let len = kill_len(LOANER, seq);
        let pattern = Pattern::new(LOANER, seq);
        let mut loan = tx.loan_bytes(len).unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
        let last = seq == committed;
        if last {
            report(INSIDE, &format!(" {seq}"));
        }
        for (k, chunk) in loan.chunks_mut(64 << 10).enumerate() {
            pattern.write(k * (64 << 10), chunk);
            if last {
                thread::sleep(Duration::from_micros(250));
            } else {
                thread::yield_now();
            }
        }
        if last {
            // Killed here, or while writing above.
            thread::sleep(KILL_CHILD_WATCHDOG);
        }
        loan.commit(len);
    }
}

/// Sends a stream of messages (copies and loans), from before the victim dies until a
/// line on stdin says it is dead; then `AFTER_KILL` more, and reports how many.
#[test]
fn child_survivor_producer() {
    let Ok(name) = env::var(SURVIVOR_ENV) else { return };
    start_watchdog(KILL_CHILD_WATCHDOG);
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    let (told, stop) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = told.send(());
    });
    report(ATTACHED, "");
    let mut scratch = vec![0u8; MAX];
    let mut seq = 0;
    let mut end = u64::MAX;
    while seq < end {
        if end == u64::MAX && stop.try_recv().is_ok() {
            end = seq + AFTER_KILL;
        }
        let len = kill_len(SURVIVOR, seq);
        if seq.is_multiple_of(2) {
            write_message(SURVIVOR, seq, &mut scratch[..len]);
            tx.send_timeout(&scratch[..len], GENEROUS).unwrap_or_else(|e| panic!("child: send {seq}: {e} (wedged?)"));
        } else {
            let mut loan =
                tx.loan_bytes_timeout(len, GENEROUS).unwrap_or_else(|e| panic!("child: loan {seq}: {e} (wedged?)"));
            write_message(SURVIVOR, seq, &mut loan);
            loan.commit(len);
        }
        seq += 1;
    }
    drop(tx);
    report(DONE, &format!(" sent {seq}"));
}

// ---------------------------------------------------------------------------------------
// A consumer killed while it holds a large message.
// ---------------------------------------------------------------------------------------

#[test]
fn consumer_killed_holding_a_large_message_does_not_wedge_the_ring() {
    let runs = kill_runs();
    let started = Instant::now();
    let mut beside_max = 0;
    for run in 0..runs {
        let name = unique(&format!("ckill-{run}"));
        let _cleanup = Cleanup(name.clone());
        let mut tx = Sender::create(&name, &config()).expect("create");
        let mut victim = Running::spawn("victim", child("child_victim_consumer", &[(VICTIM_CONSUMER_ENV, &name)]));
        victim.wait_for(ATTACHED);
        // The only consumer yet takes the first message, of the maximum, and holds it.
        let mut scratch = vec![0u8; MAX];
        let mut seq = 0;
        write_message(FEEDER, seq, &mut scratch[..kill_len(FEEDER, seq)]);
        tx.send(&scratch[..kill_len(FEEDER, seq)]).expect("the victim's message");
        seq += 1;
        victim.wait_for(HOLDING);

        let mut rx = Receiver::open(&name).expect("a consumer");
        let mut rx2 = rx.try_clone().expect("a second consumer");
        let (taken, beside, victim) = thread::scope(|s| {
            let first = s.spawn(|| drain(&mut rx, "consumer 1", FEEDER + 1, Duration::ZERO));
            let second = s.spawn(|| drain(&mut rx2, "consumer 2", FEEDER + 1, Duration::ZERO));
            // While the guard is held its record's bytes stay out of reach: the others
            // take the messages sent beside it, but no more than the rest of the ring
            // holds goes in. (A send that finds no room for a while ends this phase.)
            let mut beside = 0;
            loop {
                let len = kill_len(FEEDER, seq);
                write_message(FEEDER, seq, &mut scratch[..len]);
                match tx.send_timeout(&scratch[..len], Duration::from_millis(100)) {
                    Ok(()) => {
                        beside += len;
                        seq += 1;
                    }
                    Err(SendError::Timeout(())) => break,
                    Err(e) => panic!("run {run}: send {seq} beside the held message: {e}"),
                }
                assert!(
                    beside <= CAPACITY - MAX,
                    "run {run}: {beside} bytes went in beside a held message of {MAX} in a ring of {CAPACITY}: \
                     the held record was reused"
                );
            }
            let victim = victim.kill();
            // Once it is dead its record is released: the ring fills and drains again,
            // several times over.
            let target = seq + 3 * (CAPACITY / MIB) as u64;
            while seq < target {
                let len = kill_len(FEEDER, seq);
                write_message(FEEDER, seq, &mut scratch[..len]);
                if let Err(e) = tx.send_timeout(&scratch[..len], GENEROUS) {
                    panic!("run {run}: send {seq} after the consumer's death: {e} (wedged?)\n{}", victim.describe());
                }
                seq += 1;
            }
            drop(tx);
            let taken = [first.join(), second.join()].map(|t| t.expect("a consumer thread"));
            (taken, beside, victim)
        });
        let taken: Vec<Taken> =
            taken.into_iter().map(|t| t.unwrap_or_else(|e| panic!("run {run}: {e}\n{}", victim.describe()))).collect();
        let taken: Vec<&Taken> = taken.iter().collect();
        // Every message but the victim's, once each: the dead consumer's message is
        // released, not delivered again.
        let seqs = seqs_of(&taken, FEEDER);
        assert!(
            seqs.iter().copied().eq(1..seq),
            "run {run}: messages 1..{seq} not each received once by the live consumers ({} received, first {:?})",
            seqs.len(),
            &seqs[..seqs.len().min(4)]
        );
        beside_max = beside_max.max(beside);
    }
    eprintln!("{runs} runs in {:.2?}; at most {beside_max} bytes went in beside a held message", started.elapsed());
}

/// Takes the first message, checks it, reports `HOLDING` and holds it until killed.
#[test]
fn child_victim_consumer() {
    let Ok(name) = env::var(VICTIM_CONSUMER_ENV) else { return };
    start_watchdog(KILL_CHILD_WATCHDOG);
    let mut rx = Receiver::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    report(ATTACHED, "");
    let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("child: recv: {e}"));
    let got = identify(&guard, FEEDER + 1, |_| 1, kill_len).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!(got, (FEEDER, 0), "child: the first message");
    report(HOLDING, "");
    thread::sleep(KILL_CHILD_WATCHDOG);
    drop(guard);
}
