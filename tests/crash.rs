//! Crash injection: a producer process is killed with SIGKILL at random points, and the
//! receiver must survive it.
//!
//! Each run re-executes this test binary as the producer (`child_crash_sender`, chosen by
//! its exact name, with environment variables naming the channel), lets it stream
//! messages through every send path, and kills it after a random delay: usually a few
//! milliseconds after it attached, sometimes before it can have attached at all. Every
//! message carries its sequence number and a checksum of its bytes. The receiver must
//! never accept a torn message, must get the messages in order with no gap and no
//! duplicate, must get at least every message the producer knew to be published (the
//! producer records that count in a side file after each publication), must never block
//! past the timeout it asked for, and must learn that the producer has gone.
//!
//! The receiver learns it through the sender's identity in the segment (the SPSC role
//! word, or the producer's MPMC seat): it ends with `Disconnected`, and the time from
//! `kill()` returning to that `Disconnected` is the death-detection time, printed as p50
//! and max for each ring. A producer killed between claiming an MPMC slot and publishing
//! it must not wedge the receiver either: the slot is skipped.
//!
//! `FERRY_CRASH_RUNS` sets the number of SPSC runs (default 200; MPMC runs a quarter as
//! many, at least 50); `FERRY_CRASH_SEED` replays a run sequence.

use std::{
    env,
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, Read, Write},
    os::unix::{fs::FileExt, process::ExitStatusExt},
    path::PathBuf,
    process::{self, Child, Command, Stdio},
    sync::atomic::Ordering::SeqCst,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ferry::{Config, Holders, Process, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{mix, shm_path, start_watchdog, Cleanup, Rng};

/// Slot size of every run's channel: the largest message.
const SLOT: usize = 192;
/// Shortest message: sequence number (8 bytes) and checksum (8).
const MIN_LEN: usize = 16;
/// Capacities the runs choose from: small ones make the producer block on a full ring.
const CAPACITIES: [usize; 4] = [3, 4, 16, 60];
/// SPSC runs unless `FERRY_CRASH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 200;
/// The fewest MPMC runs.
const MIN_MPMC_RUNS: usize = 50;
/// The longest delay between the producer attaching and its death.
const MAX_KILL_DELAY_US: u64 = 5_000;
/// One run in this many kills the producer without waiting for it to attach.
const EARLY_ONE_IN: u64 = 8;
/// The receiver's timeout while the producer may still be alive: long enough that only
/// a receiver that misses the death runs into it.
const GENEROUS: Duration = Duration::from_secs(5);
/// A receive that waits for a producer known never to have attached.
const SHORT: Duration = Duration::from_millis(100);
/// How far past its timeout a receive may return on a loaded machine.
const LATE: Duration = Duration::from_secs(2);
/// The median death-detection time the issue asks for.
const DETECTION_TARGET: Duration = Duration::from_millis(100);
/// Batches take up to this many messages.
const MAX_BATCH: u64 = 24;
/// A child that runs longer than this kills itself, so a hang becomes a failure.
const CHILD_WATCHDOG: Duration = Duration::from_secs(30);

/// Names the channel `child_crash_sender` streams into.
const CHANNEL_ENV: &str = "FERRY_CRASH_CHANNEL";
/// The run's seed: it picks the lengths and the send paths.
const SEED_ENV: &str = "FERRY_CRASH_CHILD_SEED";
/// The file `child_crash_sender` records its published count in.
const PROGRESS_ENV: &str = "FERRY_CRASH_PROGRESS";
/// Printed by the child once it holds the sender role.
const CHILD_ATTACHED: &str = "FERRY-CHILD-ATTACHED";

/// Salts, so that lengths, send paths and abandoned loans do not line up.
const LEN_SALT: u64 = 0x6372_6173_686c_6e01;
const FILL_SALT: u64 = 0x6372_6173_6866_6c02;
const SEND_SALT: u64 = 0x6372_6173_6873_6e03;
const ABANDON_SALT: u64 = 0x6372_6173_6861_6204;

/// The side file in which the producer records how many messages it has published.
struct Progress(PathBuf);

impl Progress {
    fn new(name: &str) -> Self {
        let path = env::temp_dir().join(format!("{name}.progress"));
        fs::write(&path, 0u64.to_le_bytes()).expect("create the progress file");
        Self(path)
    }

    fn read(&self) -> u64 {
        let bytes = fs::read(&self.0).expect("read the progress file");
        u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes of progress"))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// `FERRY_CRASH_SEED`, or a fresh seed.
fn seed() -> u64 {
    match env::var("FERRY_CRASH_SEED") {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("FERRY_CRASH_SEED={s:?} is not a number")),
        Err(_) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock").as_nanos() as u64;
            mix(now ^ u64::from(process::id()))
        }
    }
}

/// `FERRY_CRASH_RUNS`, or `DEFAULT_RUNS`.
fn runs() -> usize {
    match env::var("FERRY_CRASH_RUNS") {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("FERRY_CRASH_RUNS={s:?} is not a number")),
        Err(_) => DEFAULT_RUNS,
    }
}

/// FNV-1a over `bytes`.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Length of message `seq` of the run seeded `seed`: `MIN_LEN` to a full slot.
fn message_len(seed: u64, seq: u64) -> usize {
    MIN_LEN + (mix(seed ^ seq ^ LEN_SALT) % (SLOT - MIN_LEN + 1) as u64) as usize
}

/// Writes message `seq` into `out`, whose length is the message's: the sequence number,
/// filler derived from it, and the checksum of both.
fn write_message(seed: u64, seq: u64, out: &mut [u8]) {
    let body = out.len() - 8;
    out[..8].copy_from_slice(&seq.to_le_bytes());
    Rng(mix(seed ^ seq ^ FILL_SALT)).fill(&mut out[8..body]);
    let sum = checksum(&out[..body]);
    out[body..].copy_from_slice(&sum.to_le_bytes());
}

/// Checks that `got` is intact (its checksum) and is message `expected` (its sequence
/// number, length and bytes). `scratch` is at least `SLOT` bytes.
fn check(seed: u64, expected: u64, got: &[u8], scratch: &mut [u8]) -> Result<(), String> {
    if !(MIN_LEN..=SLOT).contains(&got.len()) {
        return Err(format!("message {expected}: {} bytes, but every message is {MIN_LEN} to {SLOT}", got.len()));
    }
    let body = got.len() - 8;
    let sum = u64::from_le_bytes(got[body..].try_into().expect("8 bytes"));
    let seq = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    if checksum(&got[..body]) != sum {
        return Err(format!("torn message accepted: {} bytes claiming seq {seq}, bad checksum", got.len()));
    }
    if seq != expected {
        let what = if seq < expected { "a duplicate or an old message" } else { "a gap" };
        return Err(format!("expected message {expected}, got message {seq}: {what}"));
    }
    let len = message_len(seed, seq);
    let want = &mut scratch[..len];
    write_message(seed, seq, want);
    if got != &want[..] {
        return Err(format!("message {seq} is {} bytes and not the one sent ({len} bytes)", got.len()));
    }
    Ok(())
}

/// Spawns the producer for channel `name`, stdout and stderr piped.
fn spawn_producer(name: &str, seed: u64, progress: &Progress) -> Child {
    Command::new(env::current_exe().expect("the test binary's path"))
        .args(["--exact", "child_crash_sender", "--nocapture", "--test-threads=1"])
        .env(CHANNEL_ENV, name)
        .env(SEED_ENV, seed.to_string())
        .env(PROGRESS_ENV, &progress.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the producer")
}

/// Reads the producer's stdout until it reports that it attached; `false` if it closed
/// its stdout first (it died or ran no test).
fn wait_attached(child: &mut Child) -> bool {
    let mut lines = BufReader::new(child.stdout.as_mut().expect("piped stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line.contains(CHILD_ATTACHED) => return true,
            Ok(_) => {}
        }
    }
}

/// Reaps the killed producer, asserting that SIGKILL, not something else, ended it.
fn reap(child: &mut Child, context: &str) -> Result<(), String> {
    let status = child.wait().map_err(|e| format!("{context}: wait for the producer: {e}"))?;
    if status.signal() == Some(9) {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.as_mut() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Err(format!("{context}: the producer ended with {status}, not by SIGKILL\n--- producer stderr ---\n{stderr}"))
}

/// Fails unless a receive that asked for `timeout` returned within it (plus `LATE`).
fn bounded(started: Instant, timeout: Duration, what: &str) -> Result<(), String> {
    let took = started.elapsed();
    if took > timeout + LATE {
        return Err(format!("{what} asked to wait {timeout:?} but blocked for {took:?}"));
    }
    Ok(())
}

/// What a receive loop saw.
#[derive(Debug)]
struct Received {
    /// Messages received, all intact and in order: the next expected sequence number.
    count: u64,
    /// When the final `Disconnected` came back.
    at: Instant,
}

/// Receives messages in order until the channel reports `Disconnected`, mixing the
/// receive calls. Each call waits at most `timeout`. While `slow` and the producer lives,
/// it pauses now and then so the ring fills and the producer blocks.
#[allow(clippy::disallowed_types, reason = "test-harness flag; loom models the library, not its tests")]
fn receive_all(
    rx: &mut Receiver,
    seed: u64,
    timeout: Duration,
    slow: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Received, String> {
    let mut scratch = vec![0u8; SLOT];
    let mut buf = vec![0u8; SLOT];
    let mut seq = 0u64;
    let mut picks = Rng(seed ^ 0x7265_6376);
    let failed = |seq: u64, what: &str, e: RecvError| format!("receiving message {seq} with {what}: {e:?}");
    loop {
        if slow.is_some_and(|killed| !killed.load(SeqCst)) && seq % 8 == 7 {
            thread::sleep(Duration::from_micros(300));
        }
        let started = Instant::now();
        let step: Result<u64, (RecvError, &str)> = match picks.below(4) {
            0 | 1 => {
                let result = rx.recv_timeout(timeout);
                bounded(started, timeout, "recv_timeout")?;
                match result {
                    Ok(guard) => {
                        check(seed, seq, &guard, &mut scratch)?;
                        Ok(1)
                    }
                    Err(e) => Err((e, "recv_timeout")),
                }
            }
            2 => {
                let result = rx.recv_into_timeout(&mut buf, timeout);
                bounded(started, timeout, "recv_into_timeout")?;
                match result {
                    Ok(n) => {
                        check(seed, seq, &buf[..n], &mut scratch)?;
                        Ok(1)
                    }
                    Err(e) => Err((e, "recv_into_timeout")),
                }
            }
            _ => {
                // A batch of what is waiting; if nothing is, one blocking receive.
                let limit = 1 + picks.below(MAX_BATCH);
                let mut batch = rx.batch();
                let mut taken = 0;
                while taken < limit {
                    match batch.try_recv() {
                        Ok(guard) => {
                            check(seed, seq + taken, &guard, &mut scratch)?;
                            taken += 1;
                        }
                        // Disconnected: the blocking receive below says so too.
                        Err(RecvError::Empty | RecvError::Disconnected) => break,
                        Err(e) => return Err(failed(seq + taken, "batch try_recv", e)),
                    }
                }
                drop(batch);
                if taken > 0 {
                    Ok(taken)
                } else {
                    let result = rx.recv_timeout(timeout);
                    bounded(started, timeout, "recv_timeout after an empty batch")?;
                    match result {
                        Ok(guard) => {
                            check(seed, seq, &guard, &mut scratch)?;
                            Ok(1)
                        }
                        Err(e) => Err((e, "recv_timeout")),
                    }
                }
            }
        };
        match step {
            Ok(n) => seq += n,
            Err((RecvError::Disconnected, _)) => return Ok(Received { count: seq, at: Instant::now() }),
            Err((RecvError::Timeout, what)) => {
                return Err(format!(
                    "{what} timed out after {timeout:?} waiting for message {seq}: the producer's death went unnoticed"
                ))
            }
            Err((e, what)) => return Err(failed(seq, what, e)),
        }
    }
}

/// What the SPSC runs measured.
#[derive(Default)]
struct Stats {
    /// From `kill()` returning to `Disconnected`, for runs killed after attaching.
    detection: Vec<Duration>,
    /// From spawning the producer to its report that it attached.
    attach: Vec<Duration>,
    /// Messages received per run.
    messages: Vec<u64>,
    /// Runs killed early in which the producer had attached, or had not.
    early_attached: usize,
    early_never: usize,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

// ---------------------------------------------------------------------------------------
// The receiver sees the dead producer gone, after every message.
// ---------------------------------------------------------------------------------------

#[test]
fn spsc_producer_killed_at_random_points_never_tears_loses_or_wedges() {
    crash_runs(RingKind::Spsc, runs());
}

#[test]
fn mpmc_producer_killed_at_random_points_never_tears_loses_or_wedges() {
    crash_runs(RingKind::Mpmc, (runs() / 4).max(MIN_MPMC_RUNS));
}

fn crash_runs(kind: RingKind, runs: usize) {
    let seed = seed() ^ kind as u64;
    let mut rng = Rng(seed);
    let mut stats = Stats::default();
    let started = Instant::now();
    for run in 0..runs {
        let run_seed = rng.next();
        let context = format!("{kind:?} run {run} (FERRY_CRASH_SEED={})", seed ^ kind as u64);
        if let Err(failure) = crash_run(kind, run, run_seed, &mut rng, &mut stats, &context) {
            panic!("{context}: {failure}");
        }
    }
    let mut detection = stats.detection.clone();
    detection.sort();
    let mut attach = stats.attach.clone();
    attach.sort();
    let total: u64 = stats.messages.iter().sum();
    assert!(!detection.is_empty(), "no run killed an attached producer");
    eprintln!(
        "{kind:?} crash injection: {runs} runs in {:.1?} (seed {seed}); {} killed after attaching, {} killed early \
         ({} of them had attached); {total} messages received, at most {} in one run",
        started.elapsed(),
        detection.len(),
        stats.early_attached + stats.early_never,
        stats.early_attached,
        stats.messages.iter().max().unwrap_or(&0),
    );
    eprintln!(
        "{kind:?} death detection (kill() returned -> Disconnected) over {} runs: p50 {:.1?}, p90 {:.1?}, p99 {:.1?}, \
         max {:.1?} (producer start to attach: p50 {:.1?})",
        detection.len(),
        percentile(&detection, 50),
        percentile(&detection, 90),
        percentile(&detection, 99),
        detection[detection.len() - 1],
        percentile(&attach, 50),
    );
    assert!(
        percentile(&detection, 50) <= DETECTION_TARGET,
        "median death detection {:.1?} exceeds the {DETECTION_TARGET:?} target",
        percentile(&detection, 50)
    );
    // A producer must sometimes have been caught mid-stream, not only before its first message.
    assert!(total > 0, "no run received any message: the producer never got to send");
}

fn crash_run(
    kind: RingKind,
    run: usize,
    seed: u64,
    rng: &mut Rng,
    stats: &mut Stats,
    context: &str,
) -> Result<(), String> {
    let name = format!("crash-{kind:?}-{}-{run}", process::id());
    let _cleanup = Cleanup(name.clone());
    let progress = Progress::new(&name);
    let capacity = CAPACITIES[rng.below(CAPACITIES.len() as u64) as usize];
    let mut rx = Receiver::create(&name, &Config::new().kind(kind).slot_size(SLOT).capacity(capacity))
        .map_err(|e| format!("create: {e}"))?;
    let spawned = Instant::now();
    let mut child = spawn_producer(&name, seed, &progress);

    if rng.below(EARLY_ONE_IN) == 0 {
        // Killed around the time it attaches: anywhere from before exec to its first
        // messages, scaled to how long producers take to attach on this machine.
        let typical = stats.attach.last().copied().unwrap_or(Duration::from_millis(5));
        thread::sleep(Duration::from_micros(rng.below(2 * typical.as_micros() as u64 + 1)));
        let _ = child.kill();
        reap(&mut child, context)?;
        let info = ferry::inspect(&name).map_err(|e| format!("inspect after the kill: {e}"))?;
        return match info.senders {
            Holders::Never => {
                // It never attached: nothing was sent, and nothing says it has gone.
                stats.early_never += 1;
                let at = Instant::now();
                let result = rx.recv_timeout(SHORT).map(|m| m.len());
                bounded(at, SHORT, "recv_timeout")?;
                match (result, progress.read()) {
                    (Err(RecvError::Timeout), 0) => Ok(()),
                    (other, published) => Err(format!(
                        "the producer never attached (published {published}), yet recv_timeout gave {other:?}"
                    )),
                }
            }
            holder if dead_sender(kind, &holder, child.id()) => {
                stats.early_attached += 1;
                let got = receive_all(&mut rx, seed, GENEROUS, None)?;
                stats.messages.push(got.count);
                check_complete(&mut rx, &got, &progress)
            }
            other => Err(format!("after the kill the sender role is {other:?}: expected the dead producer or Never")),
        };
    }

    if !wait_attached(&mut child) {
        let _ = child.kill();
        let _ = child.wait();
        let mut stderr = String::new();
        let _ = child.stderr.as_mut().expect("piped stderr").read_to_string(&mut stderr);
        return Err(format!("the producer did not attach\n--- producer stderr ---\n{stderr}"));
    }
    stats.attach.push(spawned.elapsed());
    let delay = Duration::from_micros(rng.below(MAX_KILL_DELAY_US + 1));
    let slow = rng.below(4) == 0;
    #[allow(clippy::disallowed_types, reason = "test-harness flag; loom models the library, not its tests")]
    let killed = std::sync::atomic::AtomicBool::new(false);
    let (received, before, after) = thread::scope(|s| {
        let receiving = s.spawn(|| receive_all(&mut rx, seed, GENEROUS, slow.then_some(&killed)));
        thread::sleep(delay);
        killed.store(true, SeqCst);
        let before = Instant::now();
        child.kill().expect("kill the producer");
        let after = Instant::now();
        (receiving.join().expect("the receiving thread"), before, after)
    });
    reap(&mut child, context)?;
    let got = received?;
    if got.at < before {
        return Err(format!("Disconnected {:?} before the producer was killed", before - got.at));
    }
    check_complete(&mut rx, &got, &progress)?;
    stats.detection.push(got.at.saturating_duration_since(after));
    stats.messages.push(got.count);

    // The dead producer shows as such (or its MPMC seat is already freed), and its role
    // can be taken over.
    let info = ferry::inspect(&name).map_err(|e| format!("inspect after the run: {e}"))?;
    if !dead_sender(kind, &info.senders, child.id()) || info.stale || !info.creator.alive {
        return Err(format!("inspect after the kill: {info:?}, expected the dead producer as sender, a live creator"));
    }
    let mut tx = Sender::open(&name).map_err(|e| format!("open over the dead sender: {e}"))?;
    tx.try_send(b"after the crash").map_err(|e| format!("send after the crash: {e}"))?;
    match rx.try_recv() {
        Ok(m) if &*m == b"after the crash" => {}
        other => return Err(format!("the new sender's message: {:?}", other.map(|m| m.to_vec()))),
    }
    drop((tx, rx));
    if shm_path(&name).exists() {
        return Err(String::from("the creator's drop left the segment behind"));
    }
    Ok(())
}

/// Checks the end of a receive (`Disconnected`): it came after at least every message the
/// producer knew it had published, and nothing more arrives: `try_recv` says
/// `Disconnected` too (the death the blocking call saw is remembered in the role word).
fn check_complete(rx: &mut Receiver, got: &Received, progress: &Progress) -> Result<(), String> {
    let published = progress.read();
    if got.count < published {
        return Err(format!("received {} messages, but the producer had published {published}", got.count));
    }
    match rx.try_recv() {
        Err(RecvError::Disconnected) => Ok(()),
        other => Err(format!("try_recv after Disconnected: {:?}", other.map(|m| m.len()))),
    }
}

/// Whether `senders` shows the producer `pid` dead: its SPSC role word (or the word
/// marked as left once a receiver saw the death), or the seat it held in an MPMC
/// channel (or no seat: a waiting receiver freed it).
fn dead_sender(kind: RingKind, senders: &Holders, pid: u32) -> bool {
    let dead = Process { pid, alive: false };
    match (kind, senders) {
        (RingKind::Spsc, Holders::Process(p)) => *p == dead,
        (RingKind::Mpmc, Holders::Processes(all)) => all == &[dead],
        // The death recorded: the SPSC role word marked as left, the MPMC seat freed.
        (RingKind::Spsc | RingKind::Mpmc, Holders::Left) => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// The producer.
// ---------------------------------------------------------------------------------------

/// The producer: opens the channel as its sender and streams messages through every
/// send path until it is killed (or the receiver goes), recording after each
/// publication how many messages it has published.
#[test]
fn child_crash_sender() {
    let Ok(name) = env::var(CHANNEL_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let seed: u64 = env::var(SEED_ENV).expect("child: the seed").parse().expect("child: a numeric seed");
    let progress = OpenOptions::new()
        .write(true)
        .open(env::var(PROGRESS_ENV).expect("child: the progress file"))
        .expect("child: open the progress file");
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: open {name}: {e}"));
    assert_eq!(tx.slot_size(), SLOT, "child: the header's slot size");
    println!("{CHILD_ATTACHED}");
    std::io::stdout().flush().expect("child: flush stdout");
    let mut scratch = vec![0u8; SLOT];
    let mut seq = 0u64;
    loop {
        match send_some(&mut tx, seed, seq, &mut scratch) {
            Ok(next) => seq = next,
            // The receiver has gone (the parent failed): nothing to do.
            Err(()) => return,
        }
        record(&progress, seq);
    }
}

fn record(progress: &File, published: u64) {
    progress.write_all_at(&published.to_le_bytes(), 0).expect("child: record the progress");
}

/// Sends message `seq` and maybe some after it through one send path; returns the next
/// sequence number once everything sent is published, `Err` if the receiver has gone.
fn send_some(tx: &mut Sender, seed: u64, mut seq: u64, scratch: &mut [u8]) -> Result<u64, ()> {
    let pick = mix(seed ^ seq ^ SEND_SALT);
    let len = message_len(seed, seq);
    match pick % 8 {
        0 => {
            write_message(seed, seq, &mut scratch[..len]);
            tx.send(&scratch[..len]).map_err(|e| gone_or_panic(seq, e))?;
        }
        1 => {
            write_message(seed, seq, &mut scratch[..len]);
            tx.send_timeout(&scratch[..len], GENEROUS).map_err(|e| gone_or_panic(seq, e))?;
        }
        2 => {
            write_message(seed, seq, &mut scratch[..len]);
            match tx.try_send(&scratch[..len]) {
                Ok(()) => {}
                Err(SendError::Full(())) => tx.send(&scratch[..len]).map_err(|e| gone_or_panic(seq, e))?,
                Err(e) => panic!("child: try_send {seq}: {e}"),
            }
        }
        3 => {
            let mut loan = tx.loan().map_err(|e| gone_or_panic(seq, e))?;
            write_message(seed, seq, &mut loan[..len]);
            loan.commit(len);
        }
        4 => {
            let mut loan = tx.loan_timeout(GENEROUS).map_err(|e| gone_or_panic(seq, e))?;
            write_message(seed, seq, &mut loan[..len]);
            loan.commit(len);
        }
        5 => {
            // A loan filled with the next message's bytes and dropped uncommitted: it
            // must send nothing, even if the producer dies right after.
            let mut decoy = tx.loan().map_err(|e| gone_or_panic(seq, e))?;
            let decoy_len = message_len(seed, seq + 1);
            write_message(seed, seq + 1, &mut decoy[..decoy_len]);
            drop(decoy);
            write_message(seed, seq, &mut scratch[..len]);
            tx.send(&scratch[..len]).map_err(|e| gone_or_panic(seq, e))?;
        }
        6 => return send_batch_of_copies(tx, seed, seq, pick, scratch),
        _ => return send_batch_of_loans(tx, seed, seq, pick),
    }
    seq += 1;
    Ok(seq)
}

/// Up to `MAX_BATCH` copies through a batch, published once in the middle and once at
/// its end; a blocking send if the ring was full.
fn send_batch_of_copies(tx: &mut Sender, seed: u64, mut seq: u64, pick: u64, scratch: &mut [u8]) -> Result<u64, ()> {
    let limit = 1 + (pick >> 8) % MAX_BATCH;
    let publish_at = (pick >> 16) % limit;
    let start = seq;
    let mut batch = tx.batch();
    while seq - start < limit {
        let len = message_len(seed, seq);
        write_message(seed, seq, &mut scratch[..len]);
        match batch.try_send(&scratch[..len]) {
            Ok(()) => seq += 1,
            Err(SendError::Full(_)) => break,
            Err(e) => panic!("child: batch try_send {seq}: {e}"),
        }
        if seq - start == publish_at {
            batch.publish();
        }
    }
    drop(batch);
    if seq == start {
        let len = message_len(seed, seq);
        write_message(seed, seq, &mut scratch[..len]);
        tx.send(&scratch[..len]).map_err(|e| gone_or_panic(seq, e))?;
        seq += 1;
    }
    Ok(seq)
}

/// Up to `MAX_BATCH` loans through a batch, some of them abandoned after being written;
/// a blocking loan if the ring was full.
fn send_batch_of_loans(tx: &mut Sender, seed: u64, mut seq: u64, pick: u64) -> Result<u64, ()> {
    let limit = 1 + (pick >> 8) % MAX_BATCH;
    let start = seq;
    let mut batch = tx.batch();
    while seq - start < limit {
        if mix(seed ^ seq ^ ABANDON_SALT).is_multiple_of(8) {
            match batch.try_loan() {
                Ok(mut abandoned) => {
                    let decoy = message_len(seed, seq + 1);
                    write_message(seed, seq + 1, &mut abandoned[..decoy]);
                }
                Err(SendError::Full(())) => break,
                Err(e) => panic!("child: batch try_loan {seq}: {e}"),
            }
        }
        match batch.try_loan() {
            Ok(mut loan) => {
                let len = message_len(seed, seq);
                write_message(seed, seq, &mut loan[..len]);
                loan.commit(len);
                seq += 1;
            }
            Err(SendError::Full(())) => break,
            Err(e) => panic!("child: batch try_loan {seq}: {e}"),
        }
    }
    drop(batch);
    if seq == start {
        let len = message_len(seed, seq);
        let mut loan = tx.loan().map_err(|e| gone_or_panic(seq, e))?;
        write_message(seed, seq, &mut loan[..len]);
        loan.commit(len);
        seq += 1;
    }
    Ok(seq)
}

/// `Ok` if the send failed because the receiver has gone; any other failure is a bug.
fn gone_or_panic<T>(seq: u64, e: SendError<T>) {
    match e {
        SendError::Disconnected(_) => (),
        e => panic!("child: message {seq}: {e}"),
    }
}

/// A producer publishes a batch by storing each slot's sequence word, then `tail`. One
/// that dies between the two leaves messages past `tail`, which the consumer reads (it
/// waits on the sequence words) and releases, so `head` passes `tail`. A new producer must
/// still take over: it counts the published slots past `tail` in. The dead producer's
/// missing store is reproduced by rolling `tail` back in the segment.
#[test]
fn a_producer_that_died_between_publishing_and_storing_tail_can_be_replaced() {
    /// Where an SPSC segment's `tail` lies: the ring right after the 128-byte header.
    const TAIL_AT: u64 = 128;
    let name = format!("crash-tail-{}", process::id());
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &Config::new().slot_size(SLOT).capacity(4)).expect("create");
    let mut tx = Sender::open(&name).expect("open");
    tx.send(b"one").expect("send");
    tx.send(b"two").expect("send");
    drop(tx);
    let segment = OpenOptions::new().write(true).open(shm_path(&name)).expect("open the segment's file");
    segment.write_all_at(&0u64.to_le_bytes(), TAIL_AT).expect("roll tail back");

    assert_eq!(&*rx.recv_timeout(GENEROUS).expect("one"), b"one");
    assert_eq!(&*rx.recv_timeout(GENEROUS).expect("two"), b"two");
    let mut tx = Sender::open(&name).expect("a new producer over the dead one's unfinished publication");
    tx.send(b"three").expect("send");
    assert_eq!(&*rx.recv_timeout(GENEROUS).expect("three"), b"three");
}
