//! What each route has done: counters its thread bumps and `--stats` prints.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::sync::{AtomicU64, Ordering::Relaxed};

/// One route's counters. Each is bumped by the route alone and read by the reporter, for
/// display only: `Relaxed` throughout, since no other memory is published through them.
#[derive(Debug)]
pub(crate) struct RouteStats {
    forwarded: AtomicU64,
    bytes: AtomicU64,
    dropped_full: AtomicU64,
    dropped_unrouted: AtomicU64,
    dropped_too_large: AtomicU64,
    lost: AtomicU64,
    duplicates: AtomicU64,
    unstamped: AtomicU64,
}

impl Default for RouteStats {
    fn default() -> Self {
        Self {
            forwarded: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_unrouted: AtomicU64::new(0),
            dropped_too_large: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            unstamped: AtomicU64::new(0),
        }
    }
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Dropped (`--drop`) because the local channel was full.
    DroppedFull,
    /// Dropped because nobody could take it: no remote subscriber (outbound, `--drop`),
    /// no local receiver or a failed publication.
    DroppedUnrouted,
    /// Dropped because it is larger than the local channel's slots.
    DroppedTooLarge,
    /// A duplicate, dropped.
    Duplicate,
    /// Delivered without a stamp (from a plain Zenoh publisher): not checked.
    Unstamped,
}

impl RouteStats {
    /// Records a message forwarded, `len` bytes long.
    pub(crate) fn forwarded(&self, len: usize) {
        // SYNC: Relaxed; display-only counter, read by the reporter with no other data.
        self.forwarded.fetch_add(1, Relaxed);
        // SYNC: Relaxed; as above.
        self.bytes.fetch_add(len as u64, Relaxed);
    }

    /// Records `n` messages lost upstream (a gap in a session's numbers).
    pub(crate) fn lost(&self, n: u64) {
        // SYNC: Relaxed; display-only counter.
        self.lost.fetch_add(n, Relaxed);
    }

    /// Bumps `which`.
    pub(crate) fn count(&self, which: Count) {
        let counter = match which {
            Count::DroppedFull => &self.dropped_full,
            Count::DroppedUnrouted => &self.dropped_unrouted,
            Count::DroppedTooLarge => &self.dropped_too_large,
            Count::Duplicate => &self.duplicates,
            Count::Unstamped => &self.unstamped,
        };
        // SYNC: Relaxed; display-only counter.
        counter.fetch_add(1, Relaxed);
    }

    /// A copy of the counters now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        // SYNC: Relaxed loads of display-only counters; the snapshot need not be atomic
        // as a whole.
        Snapshot {
            forwarded: self.forwarded.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            dropped_full: self.dropped_full.load(Relaxed),
            dropped_unrouted: self.dropped_unrouted.load(Relaxed),
            dropped_too_large: self.dropped_too_large.load(Relaxed),
            lost: self.lost.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            unstamped: self.unstamped.load(Relaxed),
        }
    }
}

/// A route's counters at one moment.
///
/// # Examples
///
/// ```
/// use ferry::bridge::Snapshot;
///
/// let counters = Snapshot { forwarded: 10, dropped_full: 2, dropped_unrouted: 1, lost: 4, ..Snapshot::default() };
/// assert_eq!(counters.dropped(), 3); // dropped here, on purpose; `lost` went missing upstream
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Messages forwarded: published to Zenoh (outbound) or committed to the channel
    /// (inbound).
    pub forwarded: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Dropped because the local channel was full (`--drop`).
    pub dropped_full: u64,
    /// Dropped because there was nowhere to send them: no remote subscriber (`--drop`),
    /// no local receiver, or a publication Zenoh refused.
    pub dropped_unrouted: u64,
    /// Dropped because they were larger than the local channel's slots.
    pub dropped_too_large: u64,
    /// Missing from the remote stream: numbers a publishing bridge used that never
    /// arrived (inbound only).
    pub lost: u64,
    /// Arrived twice and dropped the second time (inbound only).
    pub duplicates: u64,
    /// Arrived without a bridge's stamp, delivered unchecked (inbound only).
    pub unstamped: u64,
}

impl Snapshot {
    /// Every message dropped on purpose.
    pub fn dropped(&self) -> u64 {
        self.dropped_full + self.dropped_unrouted + self.dropped_too_large
    }
}

/// One `--stats` line: the rate since `earlier` (taken `elapsed` ago) and the totals.
pub(crate) struct Line<'a> {
    pub(crate) route: &'a str,
    pub(crate) now: Snapshot,
    pub(crate) earlier: Snapshot,
    pub(crate) elapsed: Duration,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let rate = (self.now.forwarded - self.earlier.forwarded) as f64 / secs;
        let bytes_rate = (self.now.bytes - self.earlier.bytes) as f64 / secs;
        let n = &self.now;
        write!(
            f,
            "{}: {:.0} msg/s {:.1} MB/s; forwarded={} dropped={} (full={} unrouted={} too_large={}) lost={} duplicates={} unstamped={}",
            self.route,
            rate,
            bytes_rate / 1e6,
            n.forwarded,
            n.dropped(),
            n.dropped_full,
            n.dropped_unrouted,
            n.dropped_too_large,
            n.lost,
            n.duplicates,
            n.unstamped
        )
    }
}

/// Prints every route's line to stdout, each time with the rate since the last.
pub(crate) struct Reporter {
    routes: Vec<(String, Arc<RouteStats>, Snapshot)>,
    since: Instant,
}

impl Reporter {
    /// A reporter of `routes` (name, counters), starting now.
    pub(crate) fn new(routes: Vec<(String, Arc<RouteStats>)>) -> Self {
        let routes = routes.into_iter().map(|(name, stats)| (name, Arc::clone(&stats), stats.snapshot())).collect();
        Self { routes, since: Instant::now() }
    }

    /// The time since the last report.
    pub(crate) fn since(&self) -> Duration {
        self.since.elapsed()
    }

    /// Prints one line per route, `suffix` at its end.
    pub(crate) fn print(&mut self, suffix: &str) {
        let elapsed = self.since.elapsed();
        for (route, stats, earlier) in &mut self.routes {
            let now = stats.snapshot();
            println!("{}{suffix}", Line { route, now, earlier: *earlier, elapsed });
            *earlier = now;
        }
        self.since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_the_rate_and_every_counter() {
        let stats = RouteStats::default();
        let earlier = stats.snapshot();
        for _ in 0..500 {
            stats.forwarded(64);
        }
        stats.count(Count::DroppedFull);
        stats.count(Count::DroppedUnrouted);
        stats.count(Count::Duplicate);
        stats.lost(7);
        let now = stats.snapshot();
        assert_eq!(now.dropped(), 2);
        let line = Line { route: "r", now, earlier, elapsed: Duration::from_millis(500) }.to_string();
        assert!(line.starts_with("r: 1000 msg/s 0.1 MB/s;"), "{line}");
        assert!(line.contains("forwarded=500 dropped=2 (full=1 unrouted=1 too_large=0) lost=7 duplicates=1"), "{line}");
    }
}
