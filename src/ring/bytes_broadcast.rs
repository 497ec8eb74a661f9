//! The broadcast byte ring: messages of any size up to a maximum, every one to every
//! subscriber, read in place at each subscriber's own cursor.
//!
//! # The design
//!
//! Publishers write the records of the MPMC byte ring ([`bytes_mpmc`]) exactly as its
//! producers do: a short claiming turn (a flag bit of `tail`) in which a publisher checks
//! the room, writes the length words and stamps the next header unpublished; the payload
//! written after the turn, in parallel; one Release store to publish, the padding before
//! a record after the record. A loan of `n` bytes is one
//! contiguous region, and a message one contiguous slice in the ring.
//!
//! What differs is who frees the room. Nobody claims a message to read it: each
//! subscriber keeps a cursor in its seat (the slot broadcast ring's [`Cursor`]), reads
//! the record there in place and then moves the cursor past it with one Release store.
//! The bytes before the lowest live cursor are free, which a publisher learns inside its
//! claiming turn only when the shared `reclaim` position (the gate it last found) leaves
//! too little room: it then reads every cursor again ([`lowest_cursor`], the Disruptor's
//! gating, as on the slot broadcast ring) and moves `reclaim` on. A dead subscriber's
//! cursor is cleared by the liveness layer, so it stops gating within the detection time.
//!
//! # Policy and history
//!
//! Publishers block for the slowest live subscriber ([`Policy::Block`](super::broadcast::Policy)):
//! nothing published is lost to a subscriber. Overwriting (the other policy) would need a
//! lagging subscriber to find a record boundary in bytes another lap has rewritten, and
//! a late joiner's history a boundary some messages back; neither is offered on a ring
//! sized in bytes (the geometry refuses them) — the slot broadcast ring offers both.
//!
//! # Joining
//!
//! A subscriber joins at the tail (`broadcast::join` with the claiming bit masked off):
//! `tail` always names a record boundary whose header the claim that ended there stamped
//! unpublished, and the fences of `join` and [`lowest_cursor`] keep any publisher from
//! overwriting where the joiner starts.
//!
//! # The peer is not trusted
//!
//! A cursor is this subscriber's own, but the records it reads are checked as the MPMC
//! byte ring checks them: a commit word must name the cursor's position, a length word's
//! extent must stay within the region and its payload within the extent and the maximum.
//! A hostile cursor in another seat can only keep publishers waiting (with timeouts), as
//! a slow subscriber can.

use crate::{
    ring::{
        broadcast::{lowest_cursor, Cursor},
        bytes::{stamp, ByteRing},
        bytes_mpmc::{self, read_length, ABANDONED},
        Unavailable,
    },
    sync::{
        AtomicU64,
        Ordering::{Acquire, Relaxed},
    },
};

/// Claims room for a message of `n` bytes (at most the maximum) for a publisher,
/// announcing the claim in `claim` (its seat word): the MPMC byte ring's claim, with
/// room freed by the subscribers' cursors (`cursors`, read only when the last gate leaves
/// too little). The caller writes the payload, then publishes with [`bytes_mpmc::publish`].
pub(crate) fn claim<'a, I>(
    ring: &ByteRing,
    n: usize,
    claim: &AtomicU64,
    cursors: impl Fn() -> I,
) -> Result<u64, Unavailable>
where
    I: Iterator<Item = &'a Cursor>,
{
    bytes_mpmc::claim_with(ring, n, claim, |_, tail| Ok(lowest_cursor(tail, cursors())))
}

/// Whether a message of `n` bytes would find room now (a look, reading the cursors if
/// the last gate says no; `claim` decides).
pub(crate) fn has_room<'a, I>(ring: &ByteRing, n: usize, cursors: impl Fn() -> I) -> bool
where
    I: Iterator<Item = &'a Cursor>,
{
    bytes_mpmc::has_room_with(ring, n, |_, tail| lowest_cursor(tail, cursors()))
}

/// Joins a new subscriber at the tail: announces its `cursor` and returns the position it
/// starts at (see the module doc).
pub(crate) fn join(ring: &ByteRing, cursor: &Cursor) -> u64 {
    super::broadcast::join(&ring.control().tail, bytes_mpmc::claimed, cursor, 0)
}

/// A subscriber's private reading state.
#[derive(Debug)]
pub(crate) struct BytesReader {
    /// The position of the next record to read.
    next: u64,
    /// The extent of the record handed out last ([`BytesReader::next`]), which
    /// [`BytesReader::release`] moves past.
    extent: u64,
}

impl BytesReader {
    /// A reader starting at `start` (as [`join`] returned).
    pub(crate) fn new(start: u64) -> Self {
        Self { next: start, extent: 0 }
    }

    /// The position of the next record this reader reads.
    pub(crate) fn position(&self) -> u64 {
        self.next
    }

    /// Whether [`BytesReader::next`] would find something now: a record published (or
    /// abandoned) at the cursor. Moves nothing.
    pub(crate) fn ready(&self, ring: &ByteRing) -> bool {
        // SYNC: Acquire; pairs with the Release stores of the commit word in
        // `bytes_mpmc::publish`, as in `next`.
        let seq = ring.meta(self.next).seq.load(Acquire);
        bytes_mpmc::readable(seq, self.next)
    }

    /// The message at the cursor if it is published and its length `accept`s (else
    /// `Refused`, and it stays), stepping over padding and abandoned records; returns its
    /// position and length. A cursor moved over skipped records is published in `cursor`.
    pub(crate) fn next(
        &mut self,
        ring: &ByteRing,
        cursor: &Cursor,
        accept: impl Fn(usize) -> bool,
    ) -> Result<(u64, usize), Unavailable> {
        let from = self.next;
        let found = self.look(ring, accept);
        if self.next != from {
            cursor.advance(self.next);
        }
        found
    }

    fn look(&mut self, ring: &ByteRing, accept: impl Fn(usize) -> bool) -> Result<(u64, usize), Unavailable> {
        // A whole ring of skipped records at most: progress, then the caller's turn.
        let mut skipped = 0;
        while skipped < ring.capacity() {
            let pos = self.next;
            let meta = ring.meta(pos);
            // SYNC: Acquire; pairs with the Release stores of the commit word in
            // `bytes_mpmc::publish` (and the CAS in `rescue`): the length word and the
            // payload are visible.
            let seq = meta.seq.load(Acquire);
            let abandoned = seq == stamp(pos) | ABANDONED;
            if !bytes_mpmc::readable(seq, pos) {
                // Unpublished, or (from a hostile peer) a header naming another
                // position: the cursor holds the publishers back, so no later lap can be
                // here. Either way, nothing to read yet.
                return Err(Unavailable::WouldBlock);
            }
            // SYNC: Relaxed; made visible by the Acquire load of `seq`, and no publisher
            // writes it again before this subscriber moves past it.
            let (extent, payload) = read_length(ring, pos, meta.len.load(Relaxed))?;
            match payload.filter(|_| !abandoned) {
                Some(len) if !accept(len) => return Err(Unavailable::Refused(len)),
                Some(len) => {
                    self.extent = extent;
                    ring.mark_read(pos, extent);
                    return Ok((pos, len));
                }
                None => {
                    self.next = pos.wrapping_add(extent);
                    skipped += extent;
                }
            }
        }
        Err(Unavailable::WouldBlock)
    }

    /// Moves past the message at `pos` that [`BytesReader::next`] returned and publishes
    /// the cursor, which frees its bytes once every subscriber has.
    pub(crate) fn release(&mut self, pos: u64, cursor: &Cursor) {
        debug_assert_eq!(pos, self.next);
        self.next = pos.wrapping_add(self.extent);
        cursor.advance(self.next);
    }
}

/// Bytes published (or claimed) and not yet read by the subscriber at `position` (a
/// snapshot).
pub(crate) fn unread(ring: &ByteRing, position: u64) -> u64 {
    // SYNC: Relaxed; a snapshot for information.
    let tail = bytes_mpmc::claimed(ring.control().tail.load(Relaxed));
    tail.saturating_sub(position).min(ring.capacity())
}
