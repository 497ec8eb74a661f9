//! The pollable fd of every handle (`AsFd`): shared-memory channels waited on with
//! `epoll` across real processes, a killed sender seen through the fd, the senders' "has
//! room" fd, and the fd of the socket and pipe transports.
//!
//! Cross-process tests re-execute this test binary as the sender process, running one
//! `child_*` test by its exact name with an environment variable that says what to do;
//! without it the child tests return at once. A child prints a marker when it has done its
//! work, so a parent never takes a child that ran no test for a success.

use std::{
    collections::HashMap,
    env,
    io::{BufRead, BufReader},
    os::fd::{AsFd, AsRawFd},
    process::{self, Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, Sender};
use rustix::event::{epoll, Timespec};

mod support;
use support::{start_watchdog, wait_readable, Cleanup};

/// `<base>:<first>:<count>:<messages>` for `child_stream_many`.
const MANY_ENV: &str = "FERRY_POLL_CHILD_MANY";
/// `<channel>` for `child_send_then_hang`.
const HANG_ENV: &str = "FERRY_POLL_CHILD_HANG";
/// Printed by a child once it has done its work.
const CHILD_DONE: &str = "FERRY-POLL-CHILD-DONE";
/// Printed by `child_send_then_hang` once its messages are in the ring.
const CHILD_SENT: &str = "FERRY-POLL-CHILD-SENT";
/// A wait long enough that only a broken doorbell runs into it.
const LONG: Duration = Duration::from_secs(60);

fn unique(tag: &str) -> String {
    format!("poll-{tag}-{}", process::id())
}

fn spawn_child(test: &str, var: &str, value: &str) -> Child {
    Command::new(env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Ten sender processes stream into ten channels each; the parent waits on all 100
/// receivers' fds in one epoll set and drains whichever is readable. Every message
/// arrives exactly once and in order per channel, and every channel then reports its
/// sender gone (the fd turns readable once more, the receive says `Disconnected`).
#[test]
fn epoll_over_100_channels_from_10_sender_processes() {
    const PROCESSES: usize = 10;
    const PER_PROCESS: usize = 10;
    const MESSAGES: u64 = 300;
    let base = unique("many");
    let channels = PROCESSES * PER_PROCESS;
    let mut receivers = Vec::new();
    let mut cleanups = Vec::new();
    for i in 0..channels {
        let name = format!("{base}-{i}");
        // Small rings, half of them MPMC: the senders fill them and wait for room.
        let kind = if i % 2 == 0 { RingKind::Spsc } else { RingKind::Mpmc };
        let config = Config::new().kind(kind).slot_size(16).capacity(8);
        receivers.push(Receiver::create(&name, &config).unwrap());
        cleanups.push(Cleanup(name));
    }
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    for (i, rx) in receivers.iter_mut().enumerate() {
        // Drain before the first wait (nothing is there yet), which also arms the fd.
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
        epoll::add(&epoll, rx.as_fd(), epoll::EventData::new_u64(i as u64), epoll::EventFlags::IN).unwrap();
    }
    let children: Vec<Child> = (0..PROCESSES)
        .map(|p| {
            let spec = format!("{base}:{}:{PER_PROCESS}:{MESSAGES}", p * PER_PROCESS);
            spawn_child("child_stream_many", MANY_ENV, &spec)
        })
        .collect();

    let mut next = vec![0u64; channels];
    let mut disconnected = vec![false; channels];
    let deadline = Instant::now() + LONG;
    let mut events = Vec::with_capacity(channels);
    let mut wakeups = 0u64;
    while disconnected.iter().any(|d| !d) {
        assert!(Instant::now() < deadline, "stalled: next {next:?}, disconnected {disconnected:?}");
        events.clear();
        let timeout = Timespec::try_from(Duration::from_secs(1)).unwrap();
        match epoll::wait(&epoll, spare(&mut events), Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            other => other.unwrap(),
        };
        wakeups += 1;
        for event in &events {
            let i = event.data.u64() as usize;
            loop {
                let received = receivers[i].try_recv().map(|guard| decode(&guard));
                match received {
                    Ok((channel, seq)) => {
                        assert_eq!(channel, i as u64, "a message of another channel on channel {i}");
                        assert_eq!(seq, next[i], "channel {i}: lost, repeated or reordered");
                        next[i] += 1;
                    }
                    Err(RecvError::Empty) => break,
                    Err(RecvError::Disconnected) => {
                        assert_eq!(next[i], MESSAGES, "channel {i} disconnected early");
                        disconnected[i] = true;
                        epoll::delete(&epoll, receivers[i].as_fd()).unwrap();
                        break;
                    }
                    Err(other) => panic!("channel {i}: {other}"),
                }
            }
        }
    }
    assert!(next.iter().all(|&n| n == MESSAGES));
    for mut child in children {
        let stdout = child.stdout.take().unwrap();
        let lines: Vec<String> = BufReader::new(stdout).lines().map_while(Result::ok).collect();
        assert!(child.wait().unwrap().success());
        assert!(lines.iter().any(|l| l.contains(CHILD_DONE)), "a child did not run its test: {lines:?}");
    }
    println!("{} messages over {channels} channels in {wakeups} epoll wake-ups", MESSAGES * channels as u64);
}

/// The epoll events buffer: `epoll::wait` fills the spare capacity.
fn spare(events: &mut Vec<epoll::Event>) -> rustix::buffer::SpareCapacity<'_, epoll::Event> {
    rustix::buffer::spare_capacity(events)
}

fn encode(channel: u64, seq: u64) -> [u8; 16] {
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&channel.to_le_bytes());
    message[8..].copy_from_slice(&seq.to_le_bytes());
    message
}

fn decode(message: &[u8]) -> (u64, u64) {
    assert_eq!(message.len(), 16);
    (u64::from_le_bytes(message[..8].try_into().unwrap()), u64::from_le_bytes(message[8..].try_into().unwrap()))
}

/// The sender process of `epoll_over_100_channels_from_10_sender_processes`: opens its
/// channels and sends every message, taking turns between them.
#[test]
fn child_stream_many() {
    let Ok(spec) = env::var(MANY_ENV) else { return };
    start_watchdog(Duration::from_secs(120));
    let parts: Vec<&str> = spec.split(':').collect();
    let (base, first, count, messages): (&str, usize, usize, u64) =
        (parts[0], parts[1].parse().unwrap(), parts[2].parse().unwrap(), parts[3].parse().unwrap());
    let mut senders: Vec<(u64, Sender)> =
        (first..first + count).map(|i| (i as u64, Sender::open(&format!("{base}-{i}")).unwrap())).collect();
    for seq in 0..messages {
        for (channel, tx) in &mut senders {
            tx.send(&encode(*channel, seq)).unwrap();
        }
    }
    drop(senders);
    println!("{CHILD_DONE}");
}

/// A sender process killed with SIGKILL makes the receiver's fd readable at once, and
/// the next receive, after the messages it sent, reports `Disconnected`.
#[test]
fn killed_sender_makes_the_fd_readable_then_disconnected() {
    let configs = [
        ("Spsc", Config::new().kind(RingKind::Spsc).slot_size(16).capacity(8)),
        ("Mpmc", Config::new().kind(RingKind::Mpmc).slot_size(16).capacity(8)),
        ("bytes", Config::new().capacity_bytes(1024).max_message(16)),
    ];
    for (kind, config) in configs {
        let name = unique(&format!("kill-{kind}"));
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &config).unwrap();
        let mut child = spawn_child("child_send_then_hang", HANG_ENV, &name);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains(CHILD_SENT) {
            line.clear();
            assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "the child ended before sending");
        }
        for seq in 0..3 {
            assert_eq!(decode(&rx.try_recv().unwrap()), (0, seq));
        }
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "{kind}: armed, sender alive");
        assert_eq!(wait_readable(&[&rx], Duration::from_millis(50)), 0, "{kind}: readable with nothing sent");

        let killed = Instant::now();
        child.kill().unwrap();
        assert_eq!(wait_readable(&[&rx], LONG), 1, "{kind}: the fd never turned readable");
        let readable = killed.elapsed();
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Disconnected, "{kind}");
        let detected = killed.elapsed();
        child.wait().unwrap();
        println!("{kind}: readable {readable:?} and Disconnected {detected:?} after SIGKILL");
        assert!(detected < Duration::from_secs(2), "{kind}: took {detected:?}");
    }
}

/// The sender process of `killed_sender_makes_the_fd_readable_then_disconnected`.
#[test]
fn child_send_then_hang() {
    let Ok(name) = env::var(HANG_ENV) else { return };
    start_watchdog(Duration::from_secs(60));
    let mut tx = Sender::open(&name).unwrap();
    for seq in 0..3 {
        tx.send(&encode(0, seq)).unwrap();
    }
    println!("{CHILD_SENT}");
    thread::sleep(Duration::from_secs(60));
    drop(tx);
}

/// Within one process: the fd is not readable while the ring is empty and armed,
/// readable after a send, quiet again once drained, for both ring kinds; the sender's fd
/// turns readable when a full ring gets room.
#[test]
fn fd_follows_the_ring_in_memory() {
    for kind in [RingKind::Spsc, RingKind::Mpmc] {
        let (mut tx, mut rx) = ferry::in_memory(&Config::new().kind(kind).slot_size(8).capacity(2)).unwrap();
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
        let _ = rx.as_raw_fd(); // arms
        assert_eq!(wait_readable(&[&rx], Duration::ZERO), 0, "{kind:?}: readable while empty");
        tx.send(b"one").unwrap();
        assert_eq!(wait_readable(&[&rx], LONG), 1, "{kind:?}: not rung by a send");
        tx.send(b"two").unwrap();
        assert_eq!(&*rx.try_recv().unwrap(), b"one");
        assert_eq!(&*rx.try_recv().unwrap(), b"two");
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
        assert_eq!(wait_readable(&[&rx], Duration::ZERO), 0, "{kind:?}: still readable once drained");

        // The ring holds two: fill it, arm the sender, make room.
        tx.send(b"a").unwrap();
        tx.send(b"b").unwrap();
        assert!(tx.try_send(b"c").is_err());
        let _ = tx.as_raw_fd();
        assert!(tx.try_send(b"c").is_err(), "{kind:?}: room in a full ring");
        assert_eq!(wait_readable(&[&tx], Duration::ZERO), 0, "{kind:?}: sender's fd readable while full");
        drop(rx.try_recv().unwrap());
        assert_eq!(wait_readable(&[&tx], LONG), 1, "{kind:?}: the sender's fd was not rung");
        tx.try_send(b"c").unwrap();

        // The sender leaves: the receiver's fd turns readable; the rest, then Disconnected.
        drop(tx);
        assert_eq!(wait_readable(&[&rx], LONG), 1, "{kind:?}: a departed sender left the fd quiet");
        assert_eq!(&*rx.try_recv().unwrap(), b"b");
        assert_eq!(&*rx.try_recv().unwrap(), b"c");
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Disconnected, "{kind:?}");
    }
}

/// The same for a channel sized in bytes: the receiver's fd follows the byte ring, the
/// sender's turns readable when a full ring gets room for the largest message, and a
/// departed sender makes the receiver's fd readable.
#[test]
fn fd_follows_the_byte_ring_in_memory() {
    // Records of up to 16 bytes (32 with their header) in 128 bytes: three fit.
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().capacity_bytes(128).max_message(16)).unwrap();
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    let _ = rx.as_raw_fd(); // arms
    assert_eq!(wait_readable(&[&rx], Duration::ZERO), 0, "readable while empty");
    tx.send(b"one").unwrap();
    assert_eq!(wait_readable(&[&rx], LONG), 1, "not rung by a send");
    assert_eq!(&*rx.try_recv().unwrap(), b"one");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    assert_eq!(wait_readable(&[&rx], Duration::ZERO), 0, "still readable once drained");

    let mut sent = 0;
    while tx.try_send(&[7; 16]).is_ok() {
        sent += 1;
    }
    assert!(sent >= 2, "only {sent} records of 16 bytes fit in 128");
    let _ = tx.as_raw_fd(); // arms
    assert!(tx.try_send(&[7; 16]).is_err(), "room in a full ring");
    assert_eq!(wait_readable(&[&tx], Duration::ZERO), 0, "sender's fd readable while full");
    for _ in 0..sent {
        assert_eq!(&*rx.try_recv().unwrap(), &[7; 16]);
    }
    assert_eq!(wait_readable(&[&tx], LONG), 1, "the sender's fd was not rung");
    tx.try_send(b"last").unwrap();

    drop(tx);
    assert_eq!(wait_readable(&[&rx], LONG), 1, "a departed sender left the fd quiet");
    assert_eq!(&*rx.try_recv().unwrap(), b"last");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Disconnected);
}

/// A stream of messages whose receiver never finds the ring empty rings nothing: with the
/// fd armed, sends into a ring the receiver has not drained make no doorbell call, so
/// the fd stays as it was (readable once, from the first message).
#[test]
fn a_busy_ring_rings_once() {
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(64)).unwrap();
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    let _ = rx.as_raw_fd();
    let rings = ferry::doorbell_calls();
    for i in 0..64u64 {
        tx.send_value(i).unwrap();
    }
    assert_eq!(ferry::doorbell_calls() - rings, 1, "more than one ring for one arming");
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for _ in 0..64 {
        *counts.entry(rx.recv_value::<u64>().unwrap()).or_default() += 1;
    }
    assert_eq!(counts.len(), 64);
}

/// The fd of the stream transports: readable when a message is there, on a `unix:`
/// socket (through the epoll over its connections) and a `fifo:`.
#[test]
fn stream_transports_have_an_fd() {
    let dir = env::temp_dir();
    for scheme in ["unix", "fifo"] {
        let path = dir.join(format!("{}.{scheme}", unique("stream")));
        let endpoint = format!("{scheme}:{}", path.display());
        let mut rx = Receiver::create(&endpoint, &Config::new().slot_size(64)).unwrap();
        let mut tx = Sender::open(&endpoint).unwrap();
        assert_eq!(wait_readable(&[&tx], LONG), 1, "{scheme}: a sender with room is not readable");
        while rx.try_recv().is_ok() {}
        assert_eq!(wait_readable(&[&rx], Duration::from_millis(20)), 0, "{scheme}: readable with nothing sent");
        tx.send(b"over the stream").unwrap();
        assert_eq!(wait_readable(&[&rx], LONG), 1, "{scheme}: not readable after a send");
        assert_eq!(&*rx.try_recv().unwrap(), b"over the stream");
        drop(tx);
        assert_eq!(wait_readable(&[&rx], LONG), 1, "{scheme}: a departed sender left the fd quiet");
        assert_eq!(rx.recv_timeout(LONG).unwrap_err(), RecvError::Disconnected, "{scheme}");
    }
}
