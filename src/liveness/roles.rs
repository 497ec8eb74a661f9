//! The two ends of a channel, and the word each has in the segment's header.
//!
//! The word is written only when a handle attaches or detaches (or a dead holder is
//! found, see `recovery`), never per message, so its cache line stays shared in every
//! reader's cache: the other side reads it on every call at the cost of a cache hit, and
//! [`DETACHED`] there means "every holder has gone" on both kinds of ring.
//!
//! - SPSC: each role is held by at most one process at a time; its word is 0 (never
//!   held), the holder's process identity (see `process`), or [`DETACHED`] (the holder
//!   detached, or was found dead).
//! - MPMC: any number of handles hold it, each in a seat (see `seats`); the word is 0
//!   until the first attach, then `DETACHED - n` while `n` seats are counted in the role
//!   ([`joined`], [`left_one`]): [`DETACHED`] once the last one has gone.

use crate::{segment::seat::SEATS, segment::Segment, sync::AtomicU64};

/// Role-word value of a role that was held and whose every holder has gone.
pub(crate) const DETACHED: u64 = u64::MAX;

/// One end of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Sender = 1,
    Receiver = 2,
}

impl Role {
    /// The role a seat's role word names, if any.
    pub(crate) fn from_u64(raw: u64) -> Option<Self> {
        match raw {
            1 => Some(Self::Sender),
            2 => Some(Self::Receiver),
            _ => None,
        }
    }

    /// The other end.
    pub(crate) fn other(self) -> Self {
        match self {
            Self::Sender => Self::Receiver,
            Self::Receiver => Self::Sender,
        }
    }

    /// The role's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Receiver => "receiver",
        }
    }

    /// The role's word in `segment`'s header.
    pub(crate) fn word(self, segment: &Segment) -> &AtomicU64 {
        match self {
            Self::Sender => segment.header().sender_word(),
            Self::Receiver => segment.header().receiver_word(),
        }
    }
}

/// Handles an MPMC role word counts, bounded by the seats (the word comes from shared
/// memory and may have been scribbled on).
fn counted(word: u64) -> u64 {
    match word {
        0 => 0,
        word => (DETACHED - word).min(SEATS as u64),
    }
}

/// The MPMC role word once one more seat is counted in the role.
pub(crate) fn joined(word: u64) -> u64 {
    DETACHED - (counted(word) + 1).min(SEATS as u64)
}

/// The MPMC role word once one seat fewer is counted in the role.
pub(crate) fn left_one(word: u64) -> u64 {
    DETACHED - counted(word).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mpmc_count_reads_detached_only_when_the_last_holder_leaves() {
        let one = joined(0);
        let two = joined(one);
        assert_ne!(one, DETACHED);
        assert_ne!(two, DETACHED);
        assert_eq!(left_one(two), one);
        assert_eq!(left_one(one), DETACHED);
        // A role re-attached after everyone left counts from zero again.
        assert_eq!(joined(DETACHED), one);
        // Leaving more often than joining (a scribbled word) stays "gone", never wraps.
        assert_eq!(left_one(DETACHED), DETACHED);
        // A scribbled word is bounded by the seats.
        assert_eq!(joined(1), DETACHED - SEATS as u64);
    }
}
