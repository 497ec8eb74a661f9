//! Messages a receiver checks byte by byte from what they say themselves, for the
//! cross-process tests of the channels sized in bytes.
//!
//! A message of 8 bytes or more starts with its tag (its sender in the top byte, its
//! sequence number below), and every later 8-byte word is a function of the tag and the
//! word's index: the receiver recomputes and compares every byte ([`identify`]). A 1-byte
//! message holds its sender (below 4) and the low 6 bits of its sequence number
//! ([`tiny`]); a 0-byte message holds nothing: a test counts those.
//!
//! A stream test divides its messages among its senders ([`share`]) and now and then
//! loans more room than a message needs ([`larger_loan`]).

use super::mix;

/// Salt of the words after the tag, so that they do not line up with a test's other
/// choices drawn from `mix`.
const FILL_SALT: u64 = 0x6279_6d70_6669_6c02;

/// The first word of message `seq` of sender `id`.
pub fn tag(id: u32, seq: u64) -> u64 {
    u64::from(id) << 56 | seq
}

/// The byte of a 1-byte message: its sender (below 4) and the low 6 bits of its
/// sequence number.
pub fn tiny(id: u32, seq: u64) -> u8 {
    debug_assert!(id < 4, "a 1-byte message holds 2 bits of its sender");
    (id << 6) as u8 | (seq & 63) as u8
}

/// The words of one message of 8 bytes or more: its tag, then words derived from it.
pub struct Pattern {
    tag: u64,
    key: u64,
}

impl Pattern {
    pub fn new(id: u32, seq: u64) -> Self {
        Self { tag: tag(id, seq), key: mix(tag(id, seq) ^ FILL_SALT) }
    }

    /// Word `i` of the message: cheap, and different for every message and position.
    fn word(&self, i: usize) -> u64 {
        if i == 0 {
            self.tag
        } else {
            self.key.wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        }
    }

    /// Writes the message's bytes from byte `at` (a multiple of 8) into `out`.
    pub fn write(&self, at: usize, out: &mut [u8]) {
        debug_assert!(at.is_multiple_of(8));
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.word(at / 8 + k).to_le_bytes()[..chunk.len()]);
        }
    }

    /// The first byte at which `got` differs from the message, if any.
    pub fn first_difference(&self, got: &[u8]) -> Option<usize> {
        got.chunks(8).enumerate().position(|(k, chunk)| chunk != &self.word(k).to_le_bytes()[..chunk.len()]).map(|k| {
            let expected = self.word(k).to_le_bytes();
            k * 8 + got[k * 8..].iter().zip(expected).position(|(g, e)| *g != e).unwrap_or(0)
        })
    }
}

/// Writes message `seq` of sender `id` into `out`, whose length is the message's.
pub fn write_message(id: u32, seq: u64, out: &mut [u8]) {
    match out.len() {
        0 => {}
        1 => out[0] = tiny(id, seq),
        _ => Pattern::new(id, seq).write(0, out),
    }
}

/// Checks that `got`, 8 bytes or more, is a whole message: of a sender below `senders`,
/// with a sequence number below `sent(id)`, of the length `len_of` gives it, every byte
/// as written. Returns its sender and sequence number.
pub fn identify(
    got: &[u8],
    senders: u32,
    sent: impl Fn(u32) -> u64,
    len_of: fn(u32, u64) -> usize,
) -> Result<(u32, u64), String> {
    if got.len() < 8 {
        return Err(format!("a message of {} bytes: none that short is sent", got.len()));
    }
    let first = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    let (id, seq) = ((first >> 56) as u32, first & ((1 << 56) - 1));
    if id >= senders || seq >= sent(id) {
        return Err(format!("a message of {} bytes tagged sender {id}, seq {seq}: never sent (torn?)", got.len()));
    }
    let len = len_of(id, seq);
    if got.len() != len {
        return Err(format!("message {seq} of sender {id} is {} bytes, not {len}: torn", got.len()));
    }
    if let Some(at) = Pattern::new(id, seq).first_difference(got) {
        return Err(format!("message {seq} of sender {id} ({len} bytes) torn or stale at byte {at}"));
    }
    Ok((id, seq))
}

/// The messages sender `id` of a stream test's `senders` sends, of `total`.
pub fn share(total: u64, senders: u32, id: u32) -> u64 {
    total / u64::from(senders) + u64::from(u64::from(id) < total % u64::from(senders))
}

/// A loan size of more than `len` bytes (`max` for `max`), now and then `max`; `pick`
/// chooses.
pub fn larger_loan(len: usize, pick: u64, max: usize) -> usize {
    if (pick >> 16).is_multiple_of(16) {
        max
    } else {
        (len + 1 + (pick >> 20) as usize % 4096).min(max)
    }
}
