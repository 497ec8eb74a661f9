//! The stamp a bridge puts on every sample it publishes: who sent it and its place in the
//! route's sequence.
//!
//! The stamp travels as the sample's Zenoh *attachment*, not inside the payload, so the
//! payload is exactly the ferry message: a plain Zenoh subscriber sees the application's
//! bytes, and a plain Zenoh publisher can feed a bridge (its samples carry no stamp and are
//! delivered unchecked).
//!
//! ```text
//! offset  size  field
//!      0     4  tag: b"fry" and the stamp version, 1
//!      4     8  session: the publishing bridge's session id (u64, little-endian, non-zero)
//!     12     8  seq: the message's number on this route in that session (u64, little-endian)
//! ```
//!
//! A bridge draws a new random session id each time it starts, and numbers each route's
//! messages from 0 in that session, one number per message read from the local channel
//! whether or not it could be published. A receiving bridge that sees `seq` jump past the
//! next number it expected knows exactly how many messages of that session it missed; one
//! that sees a number it has already passed has a duplicate.

/// The first four bytes of every stamp: a tag and the stamp's version.
const TAG: [u8; 4] = *b"fry\x01";

/// A stamp's length in bytes.
pub(crate) const STAMP_LEN: usize = 20;

/// Where a sample sits in its route's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Stamp {
    /// The publishing bridge's session: random, non-zero, new at each start.
    pub(crate) session: u64,
    /// The message's number in that session's stream on this route, from 0.
    pub(crate) seq: u64,
}

impl Stamp {
    /// The stamp's wire form.
    pub(crate) fn encode(self) -> [u8; STAMP_LEN] {
        let mut out = [0u8; STAMP_LEN];
        out[..4].copy_from_slice(&TAG);
        out[4..12].copy_from_slice(&self.session.to_le_bytes());
        out[12..20].copy_from_slice(&self.seq.to_le_bytes());
        out
    }

    /// Reads a stamp from an attachment. `None` if it is not one: another length, another
    /// tag or version, or a zero session (a sample from something other than a bridge).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; STAMP_LEN] = bytes.try_into().ok()?;
        if bytes[..4] != TAG {
            return None;
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let session = word(4);
        (session != 0).then(|| Self { session, seq: word(12) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_its_wire_form() {
        let stamp = Stamp { session: 0x0123_4567_89ab_cdef, seq: u64::MAX - 1 };
        let wire = stamp.encode();
        assert_eq!(&wire[..4], b"fry\x01");
        assert_eq!(Stamp::decode(&wire), Some(stamp));
    }

    #[test]
    fn what_is_not_a_stamp_is_refused() {
        let wire = Stamp { session: 7, seq: 9 }.encode();
        assert_eq!(Stamp::decode(&wire[..STAMP_LEN - 1]), None, "short");
        let mut longer = wire.to_vec();
        longer.push(0);
        assert_eq!(Stamp::decode(&longer), None, "long");
        let mut other_version = wire;
        other_version[3] = 2;
        assert_eq!(Stamp::decode(&other_version), None, "another version");
        let zero_session = Stamp { session: 0, seq: 9 }.encode();
        assert_eq!(Stamp::decode(&zero_session), None, "session 0");
        assert_eq!(Stamp::decode(b""), None, "empty");
    }
}
