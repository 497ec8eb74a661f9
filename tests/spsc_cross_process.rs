//! The SPSC channel between two real processes.
//!
//! Each test re-executes this test binary as the second process, running one `child_*`
//! test by its exact name, with an environment variable naming the channel. The `child_*`
//! tests return at once when their variable is absent, so a plain `cargo test` runs them
//! as no-ops. A child prints a marker when it has done its work, so a parent never takes
//! a child that ran no test (a wrong name runs zero tests and exits 0) for a success.

use std::{
    env,
    os::unix::process::parent_id,
    process::{self, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Receiver, RecvError, SendError, Sender};

mod support;
use support::{mix, shm_path, start_watchdog, Cleanup, Rng};

/// Slot size of the stream test's channel.
const SLOT: usize = 256;
/// Capacity of the stream test's channel: small, so the ring wraps some 2,000 times.
/// (64 would wrap 8 times as often, but while the ring waits by spinning and yielding,
/// on two cores shared with other busy processes each wrap can cost a time slice: 64
/// then takes 25 to 45 s there, 512 about 14 s; half a second on idle cores.)
const CAPACITY: usize = 512;
/// Batches take up to this many messages: more than the ring holds, so they fill it.
const MAX_BATCH: u64 = CAPACITY as u64 * 3 / 2;
/// Messages the stream child sends.
const MESSAGES: u64 = 1_000_000;
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(60);
/// A child that runs longer than this kills itself, so a hang becomes a failure.
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);

/// Names the channel `child_sender` streams into.
const STREAM_ENV: &str = "FERRY_CHILD_CHANNEL";
/// `<action>:<channel>` for `child_role_probe`.
const PROBE_ENV: &str = "FERRY_CHILD_ROLE_PROBE";
/// Printed by a child once it has done everything it was asked.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";

/// Salts so that the sender's and the receiver's choice of call do not line up.
const LEN_SALT: u64 = 0x6c65_6e67_7468_0001;
const SEND_SALT: u64 = 0x7365_6e64_0000_0002;
const RECV_SALT: u64 = 0x7265_6376_0000_0003;
const ABANDON_SALT: u64 = 0x6162_616e_646f_6e04;

fn unique(tag: &str) -> String {
    format!("xp-{tag}-{}", process::id())
}

/// Length of message `seq`: 0 and `SLOT` a quarter of the time each, short messages
/// (no room for the sequence number) an eighth, anything in `0..=SLOT` the rest.
fn message_len(seq: u64) -> usize {
    let h = mix(seq ^ LEN_SALT);
    match h % 8 {
        0 | 1 => 0,
        2 | 3 => SLOT,
        4 => (h >> 8) as usize % 8,
        _ => (h >> 8) as usize % (SLOT + 1),
    }
}

/// Writes message `seq` into `out` (its length is the message's): the sequence number
/// if there is room for it, then bytes derived from `seq`, so a message that is lost,
/// repeated, reordered or mixed with another does not match.
fn write_message(seq: u64, out: &mut [u8]) {
    let start = if out.len() >= 8 {
        out[..8].copy_from_slice(&seq.to_le_bytes());
        8
    } else {
        0
    };
    Rng(mix(seq)).fill(&mut out[start..]);
}

/// Checks that `got` is message `seq`; `scratch` is at least `SLOT` bytes.
fn check(seq: u64, got: &[u8], scratch: &mut [u8]) -> Result<(), String> {
    let len = message_len(seq);
    let found = || match got.get(..8) {
        Some(head) => format!(" (it starts with sequence number {})", u64::from_le_bytes(head.try_into().unwrap())),
        None => String::new(),
    };
    if got.len() != len {
        return Err(format!("message {seq} is {} bytes, expected {len}{}", got.len(), found()));
    }
    let expected = &mut scratch[..len];
    write_message(seq, expected);
    if let Some(at) = got.iter().zip(expected.iter()).position(|(g, e)| g != e) {
        return Err(format!("message {seq} ({len} bytes) differs from the expected bytes at byte {at}{}", found()));
    }
    Ok(())
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

fn describe(output: &Output) -> String {
    format!(
        "child exited with {}\n--- child stdout ---\n{}\n--- child stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that the child succeeded and did its work.
fn assert_child_done(output: &Output) {
    assert!(output.status.success(), "the child failed:\n{}", describe(output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(CHILD_DONE),
        "the child did not run its test:\n{}",
        describe(output)
    );
}

// ---------------------------------------------------------------------------------------
// A million messages from one process to another.
// ---------------------------------------------------------------------------------------

#[test]
fn a_million_mixed_messages_cross_processes_intact_and_in_order() {
    let name = unique("stream");
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &Config::new().slot_size(SLOT).capacity(CAPACITY)).expect("create");

    let started = Instant::now();
    let sender = child("child_sender", &[(STREAM_ENV, &name)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the sending child");
    // Drains the child's pipes while the main thread receives.
    let waiter = thread::spawn(move || sender.wait_with_output().expect("wait for the sending child"));

    if let Err(failure) = receive_stream(&mut rx) {
        // Detach, so that a child still sending sees Disconnected and exits.
        drop(rx);
        let output = waiter.join().expect("the waiting thread");
        panic!("{failure}\n{}", describe(&output));
    }
    let received = started.elapsed();
    let output = waiter.join().expect("the waiting thread");
    assert_child_done(&output);

    // The sender has detached: nothing more comes, and the receiver is told so.
    match rx.recv_timeout(Duration::from_secs(10)) {
        Err(RecvError::Disconnected) => {}
        Ok(extra) => panic!("a message of {} bytes arrived after the last one", extra.len()),
        Err(e) => panic!("expected Disconnected once the sender exited, got {e:?}"),
    }
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Disconnected);
    drop(rx);
    assert!(!shm_path(&name).exists(), "the creator's drop should remove the channel's name");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sender_stats = stdout.lines().find_map(|line| line.find(CHILD_DONE).map(|at| &line[at..])).unwrap_or_default();
    eprintln!(
        "{MESSAGES} messages in {received:.2?} ({:.2} M messages/s, including the child's start); {sender_stats}",
        MESSAGES as f64 / received.as_secs_f64() / 1e6
    );
}

/// Receives all `MESSAGES`, switching between every receive call, and checks each one.
fn receive_stream(rx: &mut Receiver) -> Result<(), String> {
    let mut scratch = vec![0u8; SLOT];
    let mut buf = vec![0u8; SLOT];
    let failed = |seq: u64, what: &str, e: RecvError| format!("receiving message {seq} with {what}: {e:?}");
    let mut seq = 0u64;
    while seq < MESSAGES {
        let pick = mix(seq ^ RECV_SALT);
        match pick % 7 {
            0 => {
                let guard = rx.recv().map_err(|e| failed(seq, "recv", e))?;
                check(seq, &guard, &mut scratch)?;
                seq += 1;
            }
            1 => {
                let guard = rx.recv_timeout(LONG).map_err(|e| failed(seq, "recv_timeout", e))?;
                check(seq, &guard, &mut scratch)?;
                seq += 1;
            }
            2 => {
                let n = rx.recv_into(&mut buf).map_err(|e| failed(seq, "recv_into", e))?;
                check(seq, &buf[..n], &mut scratch)?;
                seq += 1;
            }
            3 => {
                // Too small a buffer: refused, and the message stays for the next call.
                let len = message_len(seq);
                if len > 0 {
                    match rx.recv_into(&mut buf[..len - 1]) {
                        Err(RecvError::BufferTooSmall { needed }) if needed == len => {}
                        other => return Err(format!("message {seq}: {len} bytes into {}: {other:?}", len - 1)),
                    }
                }
                let n = rx.recv_into(&mut buf).map_err(|e| failed(seq, "recv_into after BufferTooSmall", e))?;
                check(seq, &buf[..n], &mut scratch)?;
                seq += 1;
            }
            4 => {
                // A kept guard leaves the message in place.
                let guard = rx.recv().map_err(|e| failed(seq, "recv", e))?;
                check(seq, &guard, &mut scratch)?;
                guard.keep().expect("an SPSC ring takes a message back");
                let again = rx.try_recv().map_err(|e| failed(seq, "try_recv after keep", e))?;
                check(seq, &again, &mut scratch)?;
                seq += 1;
            }
            _ => {
                // A batch of up to `MAX_BATCH`, released together.
                let limit = 1 + (pick >> 8) % MAX_BATCH;
                let start = seq;
                let mut batch = rx.batch();
                while seq - start < limit && seq < MESSAGES {
                    match batch.try_recv() {
                        Ok(guard) => {
                            check(seq, &guard, &mut scratch)?;
                            seq += 1;
                        }
                        Err(RecvError::Empty) => break,
                        Err(e) => return Err(failed(seq, "batch try_recv", e)),
                    }
                }
                drop(batch);
                if seq == start {
                    // Nothing waiting: block for one, rather than spin through batches.
                    let guard = rx.recv().map_err(|e| failed(seq, "recv", e))?;
                    check(seq, &guard, &mut scratch)?;
                    seq += 1;
                }
            }
        }
    }
    Ok(())
}

/// The sending child: opens the channel and sends all `MESSAGES`, switching between every
/// send call.
#[test]
fn child_sender() {
    let Ok(name) = env::var(STREAM_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((tx.slot_size(), tx.capacity()), (SLOT, CAPACITY), "child: the header's geometry");
    let mut scratch = [0u8; SLOT];
    let mut full = 0u64;
    let mut seq = 0u64;
    while seq < MESSAGES {
        let pick = mix(seq ^ SEND_SALT);
        let len = message_len(seq);
        match pick % 6 {
            0 => {
                write_message(seq, &mut scratch[..len]);
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                seq += 1;
            }
            1 => {
                write_message(seq, &mut scratch[..len]);
                tx.send_timeout(&scratch[..len], LONG).unwrap_or_else(|e| panic!("child: send_timeout {seq}: {e}"));
                seq += 1;
            }
            2 => {
                let mut loan = tx.loan().unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                write_message(seq, &mut loan[..len]);
                loan.commit(len);
                seq += 1;
            }
            3 => {
                let mut loan = tx.loan_timeout(LONG).unwrap_or_else(|e| panic!("child: loan_timeout {seq}: {e}"));
                write_message(seq, &mut loan[..len]);
                loan.commit(len);
                seq += 1;
            }
            4 => seq = send_batch_of_copies(&mut tx, seq, pick, &mut scratch, &mut full),
            _ => seq = send_batch_of_loans(&mut tx, seq, pick, &mut full),
        }
    }
    drop(tx);
    println!("{CHILD_DONE}: {full} batches filled the ring");
}

/// Sends up to `MAX_BATCH` messages from `seq` with `SendBatch::try_send`, publishing once in the
/// middle and once on drop; falls back to a blocking send if the ring was full. Counts
/// the batches cut short by a full ring in `full`.
fn send_batch_of_copies(tx: &mut Sender, mut seq: u64, pick: u64, scratch: &mut [u8], full: &mut u64) -> u64 {
    let limit = 1 + (pick >> 8) % MAX_BATCH;
    let publish_at = (pick >> 16) % limit;
    let start = seq;
    let mut batch = tx.batch();
    while seq - start < limit && seq < MESSAGES {
        let len = message_len(seq);
        write_message(seq, &mut scratch[..len]);
        match batch.try_send(&scratch[..len]) {
            Ok(()) => seq += 1,
            Err(SendError::Full(())) => {
                *full += 1;
                break;
            }
            Err(e) => panic!("child: batch try_send {seq}: {e}"),
        }
        if seq - start == publish_at {
            batch.publish();
        }
    }
    drop(batch);
    if seq == start {
        let len = message_len(seq);
        write_message(seq, &mut scratch[..len]);
        tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
        seq += 1;
    }
    seq
}

/// Sends up to `MAX_BATCH` messages from `seq` with `SendBatch::try_loan`, now and then filling a
/// loan with another message and dropping it uncommitted (which must send nothing).
/// Counts the batches cut short by a full ring in `full`.
fn send_batch_of_loans(tx: &mut Sender, mut seq: u64, pick: u64, full: &mut u64) -> u64 {
    let limit = 1 + (pick >> 8) % MAX_BATCH;
    let start = seq;
    let mut batch = tx.batch();
    while seq - start < limit && seq < MESSAGES {
        let len = message_len(seq);
        if mix(seq ^ ABANDON_SALT).is_multiple_of(16) {
            match batch.try_loan() {
                Ok(mut abandoned) => {
                    let decoy = message_len(seq + 1);
                    write_message(seq + 1, &mut abandoned[..decoy]);
                }
                Err(SendError::Full(())) => {
                    *full += 1;
                    break;
                }
                Err(e) => panic!("child: batch try_loan {seq}: {e}"),
            }
        }
        match batch.try_loan() {
            Ok(mut loan) => {
                write_message(seq, &mut loan[..len]);
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
        let len = message_len(seq);
        let mut loan = tx.loan().unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
        write_message(seq, &mut loan[..len]);
        loan.commit(len);
        seq += 1;
    }
    seq
}

// ---------------------------------------------------------------------------------------
// Roles across processes.
// ---------------------------------------------------------------------------------------

#[test]
fn a_second_sender_process_gets_role_taken_until_the_first_detaches() {
    let name = unique("roles");
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &Config::new().slot_size(64).capacity(4)).expect("create");
    let mut tx = Sender::open(&name).expect("the first sender");

    // While this process holds both roles, the child may take neither.
    let probe = format!("taken:{name}");
    let output = child("child_role_probe", &[(PROBE_ENV, &probe)]).output().expect("run the child");
    assert_child_done(&output);

    // The refused attempts left the roles with their holders.
    tx.send(b"still mine").expect("send after the child's attempt");
    assert_eq!(&*rx.try_recv().expect("the message sent after the child's attempt"), b"still mine");

    // Once the sender detaches, another process may take the role and send.
    drop(tx);
    let probe = format!("send:{name}");
    let sender = child("child_role_probe", &[(PROBE_ENV, &probe)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = sender.id();
    let output = sender.wait_with_output().expect("wait for the child");
    assert_child_done(&output);
    let expected = format!("hello from {pid}");
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(message) => assert_eq!(&*message, expected.as_bytes()),
        Err(e) => panic!("the child's message did not arrive: {e:?}\n{}", describe(&output)),
    }
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap_err(), RecvError::Disconnected);
}

#[test]
fn a_sender_process_that_dies_attached_is_seen_as_gone_and_replaced() {
    let name = unique("vanish");
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &Config::new().slot_size(64).capacity(4)).expect("create");

    // The child sends one message and exits without detaching: its pid stays in the
    // sender's role word, naming a process that no longer exists.
    let probe = format!("vanish:{name}");
    let sender = child("child_role_probe", &[(PROBE_ENV, &probe)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = sender.id();
    let output = sender.wait_with_output().expect("wait for the child");
    assert_child_done(&output);

    // What it published before dying arrives; then the receiver learns it has gone,
    // rather than waiting out the timeout.
    let expected = format!("last words from {pid}");
    assert_eq!(&*rx.recv_timeout(Duration::from_secs(10)).expect("the dead sender's message"), expected.as_bytes());
    let started = Instant::now();
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap_err(), RecvError::Disconnected);
    assert!(started.elapsed() < Duration::from_secs(20), "Disconnected only after {:?}", started.elapsed());

    // A dead process's role is taken over.
    let mut tx = Sender::open(&name).expect("open as sender over a dead holder");
    tx.send(b"new sender").expect("send");
    assert_eq!(&*rx.try_recv().expect("the new sender's message"), b"new sender");
}

/// `PROBE_ENV` is `<action>:<channel>`:
/// - `taken`: opening either role must fail with `RoleTaken`, held by the parent;
/// - `send`: open as sender and send `hello from <pid>`, then detach;
/// - `vanish`: open as sender, send `last words from <pid>`, and exit still attached.
#[test]
fn child_role_probe() {
    let Ok(probe) = env::var(PROBE_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (action, name) = probe.split_once(':').expect("child: <action>:<channel>");
    let parent = parent_id();
    match action {
        "taken" => {
            let err = Sender::open(name).expect_err("child: opened as sender while the parent holds the role");
            assert!(
                matches!(&err, AttachError::RoleTaken { name: n, role: "sender", pid } if n == name && *pid == parent),
                "child: expected RoleTaken for the sender, held by {parent}: {err:?}"
            );
            let text = err.to_string();
            assert!(text.contains(name) && text.contains(&parent.to_string()), "child: {text}");
            let err = Receiver::open(name).expect_err("child: opened as receiver while the parent holds the role");
            assert!(
                matches!(&err, AttachError::RoleTaken { name: n, role: "receiver", pid } if n == name && *pid == parent),
                "child: expected RoleTaken for the receiver, held by {parent}: {err:?}"
            );
        }
        "send" => {
            let mut tx = Sender::open(name).unwrap_or_else(|e| panic!("child: {e}"));
            tx.send(format!("hello from {}", process::id()).as_bytes()).expect("child: send");
        }
        "vanish" => {
            let mut tx = Sender::open(name).unwrap_or_else(|e| panic!("child: {e}"));
            tx.send(format!("last words from {}", process::id()).as_bytes()).expect("child: send");
            // Never detach: the process exits holding the role.
            std::mem::forget(tx);
        }
        other => panic!("child: unknown probe action {other:?}"),
    }
    println!("{CHILD_DONE}");
}
