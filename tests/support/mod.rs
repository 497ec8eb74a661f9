//! What the integration tests share: the segment's file, clean-up, a mixing function
//! for derived data, a count read from the environment, the watchdog of child processes,
//! and a `poll` over fds; the child processes of a cross-process test (`children`),
//! messages checked byte by byte (`messages`), and the senders of the kill tests of the
//! channels sized in bytes, children and parent's side (`kill_senders`). Each test binary
//! uses part of it.
#![allow(dead_code)]

use std::{os::fd::AsFd, path::PathBuf, process, thread, time::Duration};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

pub mod children;
pub mod kill_senders;
pub mod messages;

/// The file of channel `name`'s shared-memory segment.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/ferry.{name}"))
}

/// The doorbell FIFOs beside channel `name`'s segment (the receivers', the senders').
pub fn bell_paths(name: &str) -> [PathBuf; 2] {
    [PathBuf::from(format!("/dev/shm/ferry-bell.{name}.r")), PathBuf::from(format!("/dev/shm/ferry-bell.{name}.s"))]
}

/// Removes the segment's file (and its doorbells, a broadcast channel's subscriber seats'
/// included) on drop, in case a failing test, or a creator it killed, left them behind.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(shm_path(&self.0));
        for bell in bell_paths(&self.0) {
            let _ = std::fs::remove_file(bell);
        }
        let seats = format!("ferry-bell.{}.seat-", self.0);
        for entry in std::fs::read_dir("/dev/shm").into_iter().flatten().flatten() {
            if entry.file_name().to_str().is_some_and(|name| name.starts_with(&seats)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// SplitMix64's finaliser: a cheap, well-mixed function of `x`, for lengths, fillers and
/// choices that a test can recompute.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// SplitMix64: a test's random choices, replayable from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number below `n` (not 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Fills `out` with the next numbers, little-endian, the last one cut to fit: a
    /// message's filler that a checker can recompute from the seed.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }
}

/// The number in environment variable `var`, or `default` where it is unset or not a
/// number.
pub fn count_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Kills this (child) process if it runs longer than `limit`, so that a hang fails the
/// parent instead of stalling it.
pub fn start_watchdog(limit: Duration) {
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!("child: still running after {limit:?}; giving up");
        process::exit(3);
    });
}

/// Waits on `fds` with `poll` for at most `timeout`; returns how many are ready.
pub fn wait_readable(fds: &[&dyn AsFd], timeout: Duration) -> usize {
    let mut polled: Vec<PollFd<'_>> =
        fds.iter().map(|fd| PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN)).collect();
    let timeout = Timespec::try_from(timeout).unwrap();
    loop {
        match poll(&mut polled, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => {}
            other => return other.unwrap(),
        }
    }
}
