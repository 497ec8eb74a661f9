//! Disconnection on shared memory when the peer process is killed with SIGKILL instead
//! of dropping its handle: it never detaches, so the survivor learns of its death from a
//! rationed liveness check (at most one look in `/proc` per 20 ms per segment), and then
//! the non-blocking calls report `Disconnected` as after a drop.
//!
//! - A killed receiver: `try_send` reports `Disconnected` within the detection time (it
//!   may accept messages, or report the ring full, until the check has run), then every
//!   send call does.
//! - A killed sender that committed 3 messages: `try_recv` gives the 3, then
//!   `Disconnected` within the detection time.
//! - MPMC: a killed receiver in another process while one in this process lives is not
//!   a disconnection, and the dead one's seat is freed so the last drop disconnects.
//!
//! The peers are this test binary re-executed, running one `child_*` test by its exact
//! name with an environment variable naming the channel and the role (without it a
//! `child_*` test returns at once).

use std::{
    env,
    io::{BufRead, BufReader, Write},
    os::unix::process::ExitStatusExt,
    process::{self, Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{start_watchdog, Cleanup};

/// `ROLE:NAME`: what the child attaches as, and to which channel.
const PEER_ENV: &str = "FERRY_DISCONNECT_PEER";
/// Printed by the child once it is attached (and, as a sender, has committed).
const READY: &str = "FERRY-CHILD-READY";
/// How long the survivor may take to notice the death: generous, for a loaded machine.
const DETECTION: Duration = Duration::from_secs(5);
/// A child that runs longer than this kills itself.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);
const KINDS: [RingKind; 2] = [RingKind::Spsc, RingKind::Mpmc];

fn unique(tag: &str, kind: RingKind) -> String {
    format!("dk-{tag}-{kind:?}-{}", process::id())
}

fn config(kind: RingKind) -> Config {
    Config::new().kind(kind).slot_size(64).capacity(8)
}

/// Kills the child on drop (a failing test must not leave it running) and reaps it.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Peer {
    /// Spawns this binary as a `role` (`sender` or `receiver`) on channel `name`, and
    /// waits for its `READY` line.
    fn spawn(role: &str, name: &str) -> Self {
        let mut child = Command::new(env::current_exe().expect("the test binary's path"))
            .args(["--exact", "child_peer", "--nocapture", "--test-threads=1"])
            .env(PEER_ENV, format!("{role}:{name}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the peer");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.by_ref().map_while(Result::ok).any(|line| line.contains(READY));
        assert!(ready, "the {role} child ended before it was ready");
        thread::spawn(move || lines.for_each(drop));
        Self(child)
    }

    /// SIGKILLs the child and checks that the signal is what ended it.
    fn kill(mut self) {
        self.0.kill().expect("kill the peer");
        let status = self.0.wait().expect("reap the peer");
        assert_eq!(status.signal(), Some(9), "the peer ended with {status}, not by SIGKILL");
    }
}

/// Calls `attempt` until it returns `Some`, for at most `DETECTION`.
fn within_detection<R>(what: &str, mut attempt: impl FnMut() -> Option<R>) -> R {
    let started = Instant::now();
    loop {
        if let Some(r) = attempt() {
            eprintln!("{what}: noticed after {:.1?}", started.elapsed());
            return r;
        }
        assert!(started.elapsed() < DETECTION, "{what}: not noticed within {DETECTION:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_killed_receiver_makes_try_send_report_disconnected() {
    for kind in KINDS {
        let name = unique("rx-killed", kind);
        let _cleanup = Cleanup(name.clone());
        let mut tx = Sender::create(&name, &config(kind)).expect("create the sender");
        let peer = Peer::spawn("receiver", &name);
        tx.try_send(b"before").expect("the receiver is alive");
        peer.kill();
        let back = within_detection(&format!("{kind:?}: try_send"), || match tx.try_send(b"after") {
            Ok(()) | Err(SendError::Full(_)) => None,
            Err(SendError::Disconnected(back)) => Some(back),
            Err(e) => panic!("{kind:?}: try_send after the receiver died: {e}"),
        });
        assert_eq!(back, b"after", "{kind:?}: the message handed back");
        assert_eq!(tx.send_value(1u64), Err(SendError::Disconnected(1)), "{kind:?}: send_value");
        assert!(matches!(tx.send(b"x"), Err(SendError::Disconnected(_))), "{kind:?}: send");
        assert!(matches!(tx.try_loan().map(drop), Err(SendError::Disconnected(()))), "{kind:?}: try_loan");
        let timeout = Duration::from_millis(50);
        assert!(matches!(tx.send_timeout(b"x", timeout), Err(SendError::Disconnected(_))), "{kind:?}: send_timeout");
    }
}

#[test]
fn a_killed_sender_makes_try_recv_report_disconnected_after_its_messages() {
    for kind in KINDS {
        let name = unique("tx-killed", kind);
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &config(kind)).expect("create the receiver");
        let peer = Peer::spawn("sender", &name);
        peer.kill();
        let mut got = Vec::new();
        within_detection(&format!("{kind:?}: try_recv"), || match rx.try_recv() {
            Ok(message) => {
                got.push(message.to_vec());
                None
            }
            Err(RecvError::Empty) => None,
            Err(RecvError::Disconnected) => Some(()),
            Err(e) => panic!("{kind:?}: try_recv after the sender died: {e}"),
        });
        let want: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 5]).collect();
        assert_eq!(got, want, "{kind:?}: the dead sender's committed messages, then Disconnected");
        let mut buf = [0u8; 64];
        assert_eq!(rx.try_recv_into(&mut buf), Err(RecvError::Disconnected), "{kind:?}: try_recv_into");
        assert_eq!(rx.batch().try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: batch");
    }
}

#[test]
fn mpmc_a_killed_receiver_is_not_a_disconnection_while_another_lives() {
    let name = unique("one-of-two", RingKind::Mpmc);
    let _cleanup = Cleanup(name.clone());
    let mut tx = Sender::create(&name, &config(RingKind::Mpmc)).expect("create the sender");
    let mut rx = Receiver::open(&name).expect("a receiver here");
    let peer = Peer::spawn("receiver", &name);
    peer.kill();
    // Well past several liveness checks: the dead receiver is found and its seat freed,
    // and the live one keeps the channel connected.
    let until = Instant::now() + Duration::from_millis(200);
    let mut n = 0u8;
    while Instant::now() < until {
        tx.try_send(&[n]).unwrap_or_else(|e| panic!("a receiver is alive: {e}"));
        assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(vec![n]));
        // A poll of the empty ring runs the rationed liveness check.
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "a sender is alive");
        n = n.wrapping_add(1);
        thread::sleep(Duration::from_millis(5));
    }
    // With the dead one's seat uncounted, the last drop disconnects at once.
    drop(rx);
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Disconnected(_))), "the last receiver dropped");
}

/// `receiver:NAME` opens a receiver; `sender:NAME` opens a sender and commits 3
/// messages. Either way, reports ready and waits to be killed.
#[test]
fn child_peer() {
    let Ok(what) = env::var(PEER_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (role, name) = what.split_once(':').expect("child: ROLE:NAME");
    let _held: Box<dyn std::any::Any> = if role == "sender" {
        let mut tx = Sender::open(name).unwrap_or_else(|e| panic!("child: {e}"));
        for i in 0..3u8 {
            tx.send(&[i; 5]).unwrap_or_else(|e| panic!("child: send: {e}"));
        }
        Box::new(tx)
    } else {
        Box::new(Receiver::open(name).unwrap_or_else(|e| panic!("child: {e}")))
    };
    println!("{READY}");
    std::io::stdout().flush().expect("child: flush stdout");
    thread::sleep(CHILD_WATCHDOG);
}
