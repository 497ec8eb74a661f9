//! A child made by `fork` that drops its copies of its parent's ends (a child that
//! returns rather than calling `exec` or `_exit`) leaves the parent's ends working: the
//! copies give up no role or seat, publish or release nothing, remove no file or name,
//! shut no socket down and say no goodbye (`forked.rs`). Each case drops both ends'
//! copies in a child, then checks that the parent's two ends still exchange messages,
//! neither sees the other gone, and the channel's name is still there.
//!
//! A binary of its own: the fork copies the descriptors of every test running meanwhile.

mod support;

use std::{
    env, fs,
    path::PathBuf,
    process, thread,
    time::{Duration, Instant},
};

use ferry::{Config, Publisher, Receiver, RingKind, Sender, Start};
use support::{shm_path, Cleanup};

/// How long a child may take to drop its copies.
const CHILD: Duration = Duration::from_secs(20);
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(10);

/// Forks a child that drops `copies` (its copy of them) and exits at once, and waits for
/// it: it must exit with status 0 (a panic aborts it) within [`CHILD`].
fn dropped_in_a_child<T>(what: &str, copies: &mut Option<T>) {
    // SAFETY: the child only drops the values and calls `_exit`. glibc's `fork` leaves
    // malloc usable in the child; the ends' drops in a forked copy take no lock (see
    // `forked.rs`).
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop(copies.take());
            // SAFETY: ends the child without running anything else of the test.
            unsafe { libc::_exit(0) }
        }
        pid => {
            let started = Instant::now();
            let mut status = 0;
            loop {
                // SAFETY: our own child; `status` is ours.
                match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                    0 if started.elapsed() < CHILD => thread::sleep(Duration::from_millis(5)),
                    0 => {
                        // SAFETY: our own child, still running.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        panic!("{what}: the child did not finish dropping its copies in {CHILD:?}");
                    }
                    _ => break,
                }
            }
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "{what}: the child's status {status:#x}"
            );
        }
    }
}

/// The queue case on `endpoint`, whose file (segment, socket or FIFO) is `file`.
fn queue(what: &str, config: &Config, endpoint: &str, file: PathBuf) {
    let rx = Receiver::create(endpoint, config).unwrap_or_else(|e| panic!("{what}: create: {e}"));
    let mut tx = Sender::open(endpoint).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    tx.send(b"before").unwrap_or_else(|e| panic!("{what}: send: {e:?}"));
    let mut ends = Some((tx, rx));
    dropped_in_a_child(what, &mut ends);
    let (mut tx, mut rx) = ends.expect("the parent's ends");
    assert!(file.exists(), "{what}: the child's copy removed {}", file.display());
    assert!(!tx.is_disconnected() && !rx.is_disconnected(), "{what}: an end sees the other gone");
    tx.send(b"after").unwrap_or_else(|e| panic!("{what}: send after the child: {e:?}"));
    assert_eq!(&*rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("{what}: {e:?}")), b"before", "{what}");
    assert_eq!(&*rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("{what}: {e:?}")), b"after", "{what}");
}

fn name(tag: &str) -> String {
    format!("forked-drop-{tag}-{}", process::id())
}

#[test]
fn shared_memory_queues() {
    for (what, config) in [
        ("spsc", Config::new().slot_size(64).capacity(8)),
        ("mpmc", Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(8)),
        ("spsc bytes", Config::new().capacity_bytes(4096).max_message(64)),
        ("mpmc bytes", Config::new().kind(RingKind::Mpmc).capacity_bytes(4096).max_message(64)),
    ] {
        let name = name(&what.replace(' ', "-"));
        let _cleanup = Cleanup(name.clone());
        queue(what, &config, &name, shm_path(&name));
    }
}

#[test]
fn broadcast() {
    let name = name("broadcast");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Broadcast).slot_size(64).capacity(8);
    let publisher = Publisher::create(&name, &config).expect("create");
    let subscriber = ferry::Subscriber::open(&name, Start::Live).expect("subscribe");
    let mut ends = Some((publisher, subscriber));
    dropped_in_a_child("broadcast", &mut ends);
    let (mut publisher, mut subscriber) = ends.expect("the parent's ends");
    assert!(shm_path(&name).exists(), "broadcast: the child's copy removed the segment");
    assert_eq!(publisher.subscriber_count(), 1, "broadcast: the child's copy gave up the subscriber's seat");
    publisher.send(b"after").expect("publish after the child");
    assert_eq!(&*subscriber.recv_timeout(LONG).expect("the message"), b"after");
}

#[test]
fn unix_and_fifo() {
    let dir = env::temp_dir().join(name("dir"));
    fs::create_dir(&dir).expect("a private directory");
    let config = Config::new().slot_size(64);
    for transport in ["unix", "fifo"] {
        let file = dir.join(transport);
        queue(transport, &config, &format!("{transport}:{}", file.display()), file.clone());
    }
    let _ = fs::remove_dir_all(&dir);
}
