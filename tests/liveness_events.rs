//! Dead peers are found by events, not by polling: `try_recv` on an empty channel whose
//! sender lives in another process reads nothing from `/proc` however often it is called
//! (issue 19), and a sender that leaves is still reported.
//!
//! The peer is this test binary re-executed, running `child_peer` with an environment
//! variable naming the channel (without it `child_peer` returns at once). It holds a
//! sender until the parent closes its stdin.

use std::{
    env,
    io::{BufRead, BufReader, Read, Write},
    process::{self, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, Sender};

mod support;
use support::{start_watchdog, Cleanup};

/// The channel the peer opens a sender on.
const PEER_ENV: &str = "FERRY_LIVENESS_PEER";
/// Printed by the peer once it holds its sender.
const READY: &str = "FERRY-PEER-READY";
/// How long the parent polls the empty channel.
const POLLING: Duration = Duration::from_millis(300);
/// A wait long enough that only a lost departure runs into it.
const LONG: Duration = Duration::from_secs(20);

#[test]
fn child_peer() {
    let Ok(name) = env::var(PEER_ENV) else { return };
    start_watchdog(Duration::from_secs(60));
    let tx = Sender::open(&name).expect("child: open the sender");
    println!("{READY}");
    std::io::stdout().flush().expect("child: flush stdout");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(tx);
}

/// `read` system calls made by this thread so far (`syscr` of `/proc/thread-self/io`),
/// if the kernel counts them.
fn reads_by_this_thread() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines().find_map(|line| line.strip_prefix("syscr: ")).and_then(|n| n.trim().parse().ok())
}

#[test]
fn polling_an_empty_channel_reads_nothing_from_proc() {
    for kind in [RingKind::Spsc, RingKind::Mpmc] {
        let name = format!("le-poll-{kind:?}-{}", process::id());
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &Config::new().kind(kind).slot_size(64).capacity(8)).expect("create");
        let mut peer = Command::new(env::current_exe().expect("the test binary's path"))
            .args(["--exact", "child_peer", "--nocapture", "--test-threads=1"])
            .env(PEER_ENV, &name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the peer");
        let mut lines = BufReader::new(peer.stdout.take().expect("piped stdout")).lines();
        assert!(lines.by_ref().map_while(Result::ok).any(|line| line.contains(READY)), "the peer never got ready");
        thread::spawn(move || lines.for_each(drop));

        // The first look at the peer checks its identity in `/proc`, once.
        assert_eq!(rx.try_recv().err(), Some(RecvError::Empty));
        let Some(before) = reads_by_this_thread() else {
            eprintln!("SKIPPED: this kernel does not count a thread's read calls (no task I/O accounting)");
            let _ = peer.kill();
            let _ = peer.wait();
            return;
        };
        let (start, mut polls) = (Instant::now(), 0u64);
        while start.elapsed() < POLLING {
            assert_eq!(rx.try_recv().err(), Some(RecvError::Empty));
            polls += 1;
        }
        let reads = reads_by_this_thread().expect("counted before") - before;
        // Reading the counter itself takes a few reads; polling `/proc` every 20 ms would
        // take some thirty more (two holders, 15 times).
        eprintln!("{kind:?}: {polls} empty try_recv calls in {POLLING:?}, {reads} read calls");
        assert!(reads <= 6, "{kind:?}: {polls} empty try_recv calls in {POLLING:?} made {reads} read calls");

        drop(peer.stdin.take());
        assert!(peer.wait().expect("reap the peer").success(), "the peer failed");
        assert_eq!(rx.recv_timeout(LONG).err(), Some(RecvError::Disconnected));
    }
}
