//! What the integration tests share: the segment's file, clean-up, a mixing function
//! for derived data, and the watchdog of child processes. Each test binary uses part of
//! it.
#![allow(dead_code)]

use std::{path::PathBuf, process, thread, time::Duration};

/// The file of channel `name`'s shared-memory segment.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/ferry.{name}"))
}

/// The doorbell FIFOs beside channel `name`'s segment (the receivers', the senders').
pub fn bell_paths(name: &str) -> [PathBuf; 2] {
    [PathBuf::from(format!("/dev/shm/ferry-bell.{name}.r")), PathBuf::from(format!("/dev/shm/ferry-bell.{name}.s"))]
}

/// Removes the segment's file (and its doorbells) on drop, in case a failing test left
/// them behind.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(shm_path(&self.0));
        for bell in bell_paths(&self.0) {
            let _ = std::fs::remove_file(bell);
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

/// Kills this (child) process if it runs longer than `limit`, so that a hang fails the
/// parent instead of stalling it.
pub fn start_watchdog(limit: Duration) {
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!("child: still running after {limit:?}; giving up");
        process::exit(3);
    });
}
