//! The receiving side's check of each stamped sample: next in its session, after a gap
//! (how many were lost), or already seen (a duplicate, dropped).
//!
//! Positions are kept per publishing session in a [`Cursor`], so several publishing
//! bridges can feed one route (each keeps its own order), and a receiving bridge restarted
//! with the same cursor file counts the messages it missed while it was down.

use super::{cursor::Cursor, stamp::Stamp};

/// What to do with a stamped sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Deliver it. `lost` messages of its session were skipped before it; `joined` says
    /// this is the first sample seen from its session (so `lost` counts from 0).
    Deliver {
        /// Messages of the session that will never arrive (they precede this one).
        lost: u64,
        /// The session was not known until this sample.
        joined: bool,
    },
    /// Its number has already been handled: drop it.
    Duplicate {
        /// The first number the session may still deliver.
        expected: u64,
    },
}

/// Per-session positions, in memory or in a cursor file.
pub(crate) struct Tracker {
    cursor: Cursor,
    /// The entry used last, looked at first (one session at a time is the common case).
    last: Option<(u64, usize)>,
}

impl Tracker {
    /// A tracker over `cursor`, which may remember sessions from an earlier run.
    pub(crate) fn new(cursor: Cursor) -> Self {
        Self { cursor, last: None }
    }

    /// Where the session stands: `(entry, next)`.
    fn find(&self, session: u64) -> Option<(usize, u64)> {
        if let Some((last, entry)) = self.last {
            let (held, next) = self.cursor.get(entry);
            if last == session && held == session {
                return Some((entry, next));
            }
        }
        self.cursor.sessions().find(|&(_, s, _)| s == session).map(|(e, _, n)| (e, n))
    }

    /// Judges `stamp` without recording anything.
    pub(crate) fn check(&self, stamp: Stamp) -> Verdict {
        match self.find(stamp.session) {
            Some((_, next)) if stamp.seq < next => Verdict::Duplicate { expected: next },
            Some((_, next)) => Verdict::Deliver { lost: stamp.seq - next, joined: false },
            None => Verdict::Deliver { lost: stamp.seq, joined: true },
        }
    }

    /// Records that `stamp` has been handled (delivered, or dropped by policy): its
    /// session continues at `stamp.seq + 1`.
    pub(crate) fn handled(&mut self, stamp: Stamp) {
        let next = stamp.seq.saturating_add(1);
        match self.find(stamp.session) {
            Some((entry, _)) => {
                self.cursor.advance(entry, next);
                self.last = Some((stamp.session, entry));
            }
            None => {
                let entry = self.cursor.assign(stamp.session, next);
                self.last = Some((stamp.session, entry));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(session: u64, seq: u64) -> Stamp {
        Stamp { session, seq }
    }

    /// Checks and (unless a duplicate) handles the stamp, as the inbound route does.
    fn feed(t: &mut Tracker, stamp: Stamp) -> Verdict {
        let v = t.check(stamp);
        if matches!(v, Verdict::Deliver { .. }) {
            t.handled(stamp);
        }
        v
    }

    #[test]
    fn in_order_gaps_and_duplicates_are_told_apart() {
        let mut t = Tracker::new(Cursor::in_memory());
        assert_eq!(feed(&mut t, s(5, 0)), Verdict::Deliver { lost: 0, joined: true });
        assert_eq!(feed(&mut t, s(5, 1)), Verdict::Deliver { lost: 0, joined: false });
        assert_eq!(feed(&mut t, s(5, 5)), Verdict::Deliver { lost: 3, joined: false });
        assert_eq!(feed(&mut t, s(5, 4)), Verdict::Duplicate { expected: 6 });
        assert_eq!(feed(&mut t, s(5, 5)), Verdict::Duplicate { expected: 6 });
        assert_eq!(feed(&mut t, s(5, 6)), Verdict::Deliver { lost: 0, joined: false });
    }

    #[test]
    fn sessions_are_numbered_apart_and_a_late_join_counts_what_it_missed() {
        let mut t = Tracker::new(Cursor::in_memory());
        assert_eq!(feed(&mut t, s(1, 10)), Verdict::Deliver { lost: 10, joined: true });
        // A restarted publisher (a new session) starts again at 0: not a duplicate.
        assert_eq!(feed(&mut t, s(2, 0)), Verdict::Deliver { lost: 0, joined: true });
        assert_eq!(feed(&mut t, s(1, 11)), Verdict::Deliver { lost: 0, joined: false });
        assert_eq!(feed(&mut t, s(2, 1)), Verdict::Deliver { lost: 0, joined: false });
        assert_eq!(feed(&mut t, s(1, 11)), Verdict::Duplicate { expected: 12 });
    }

    #[test]
    fn a_checked_but_unhandled_sample_moves_nothing() {
        let mut t = Tracker::new(Cursor::in_memory());
        feed(&mut t, s(3, 0));
        assert_eq!(t.check(s(3, 2)), Verdict::Deliver { lost: 1, joined: false });
        assert_eq!(t.check(s(3, 1)), Verdict::Deliver { lost: 0, joined: false });
    }
}
