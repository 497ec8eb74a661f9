//! A child forked by another thread holds a copy of every descriptor of the process
//! until it calls `exec` (close-on-exec acts only then); the child here never does. The
//! ends it holds copies of are dropped all the same, and the other side must see them
//! gone at once, as `tests/semantics.rs` asserts without a fork: on shared memory a
//! departure is a word in the segment, on `unix:` the dropped end shuts its sockets down,
//! and a dropped `fifo:` sender says goodbye. (A FIFO's reading end cannot be shut down,
//! and has no way to tell the sender: its copy keeps it open until the child exits or
//! execs, README "Crashes and clean-up".)
//!
//! A binary of its own: the fork copies every descriptor of every test running
//! meanwhile, which would hold up the FIFO tests of another binary's threads.

mod support;

use std::{env, fs, process, time::Duration, time::Instant};

use ferry::{Config, Receiver, RecvError, RingKind, SendError, Sender};
use support::Cleanup;

/// How soon a departure must be noticed: generous, for a loaded two-core machine.
const NOTICE: Duration = Duration::from_secs(5);
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(30);

/// A forked copy of this process that only waits to be killed (on drop).
struct Forked(libc::pid_t);

impl Forked {
    fn idle() -> Self {
        // SAFETY: the child calls only async-signal-safe functions (`pause`, in a loop,
        // until the parent's SIGKILL), as a child of a multi-threaded process must.
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => loop {
                // SAFETY: `pause` has no preconditions.
                unsafe { libc::pause() };
            },
            pid => Self(pid),
        }
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        // SAFETY: our own child, killed and then reaped once; the status word is ours.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, &mut 0, 0);
        }
    }
}

/// Both departures on `endpoint(tag)`, each while a forked child holds copies of both
/// ends' descriptors.
fn a_forked_child_does_not_keep_a_dropped_end(config: &Config, endpoint: impl Fn(&str) -> String) {
    a_forked_child_does_not_keep_a_dropped_receiver(config, &endpoint("rx"));
    a_forked_child_does_not_keep_a_dropped_sender(config, &endpoint("tx"));
}

fn a_forked_child_does_not_keep_a_dropped_receiver(config: &Config, at: &str) {
    let rx = Receiver::create(at, config).expect("create");
    let mut tx = Sender::open(at).expect("open");
    tx.send(b"before").expect("send while the receiver is there");
    let child = Forked::idle();
    drop(rx);
    let started = Instant::now();
    assert!(matches!(tx.send(b"x"), Err(SendError::Disconnected(()))), "{at}: send after the receiver left");
    assert!(started.elapsed() < NOTICE, "{at}: the departure took {:?} to notice", started.elapsed());
    drop(child);
}

fn a_forked_child_does_not_keep_a_dropped_sender(config: &Config, at: &str) {
    let mut rx = Receiver::create(at, config).expect("create");
    let mut tx = Sender::open(at).expect("open");
    tx.send(b"last").expect("send");
    let child = Forked::idle();
    drop(tx);
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message sent before the drop"), b"last", "{at}");
    let started = Instant::now();
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{at}: after the sender left");
    assert!(started.elapsed() < NOTICE, "{at}: the departure took {:?} to notice", started.elapsed());
    drop(child);
}

fn name(tag: &str) -> String {
    format!("forked-{tag}-{}", process::id())
}

#[test]
fn shared_memory_spsc_and_mpmc() {
    for (kind, label) in [(RingKind::Spsc, "spsc"), (RingKind::Mpmc, "mpmc")] {
        let _cleanup = [Cleanup(name(&format!("{label}-rx"))), Cleanup(name(&format!("{label}-tx")))];
        let config = Config::new().kind(kind).slot_size(64).capacity(8);
        a_forked_child_does_not_keep_a_dropped_end(&config, |end| format!("shm:{}", name(&format!("{label}-{end}"))));
    }
}

#[test]
fn unix_sockets() {
    let dir = env::temp_dir().join(name("unix"));
    fs::create_dir(&dir).expect("a private directory");
    let config = Config::new().slot_size(64);
    a_forked_child_does_not_keep_a_dropped_end(&config, |end| format!("unix:{}", dir.join(end).display()));
    let _ = fs::remove_dir_all(&dir);
}

/// The sender's departure only: a FIFO's reader cannot say it has gone (see the module
/// doc).
#[test]
fn fifo_sender() {
    let dir = env::temp_dir().join(name("fifo"));
    fs::create_dir(&dir).expect("a private directory");
    let config = Config::new().slot_size(64);
    a_forked_child_does_not_keep_a_dropped_sender(&config, &format!("fifo:{}", dir.join("tx").display()));
    let _ = fs::remove_dir_all(&dir);
}
