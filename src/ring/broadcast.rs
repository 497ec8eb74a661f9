//! The broadcast ring: every message to every subscriber, written once, read in place.
//!
//! One ring of sequenced slots and one cursor per subscriber, as in the LMAX Disruptor's
//! ring buffer and Aeron's term buffer. Publishers claim positions with a CAS on `tail`
//! (several publishers, as in Vyukov's MPMC queue, with the claim announced in the
//! publisher's seat so that a dead publisher's claim can be recognised and skipped).
//! A slot's sequence word says which position it holds and in what state; a subscriber
//! reads position `p` when the slot's sequence is `p + 1`, and moves its own cursor on.
//! No subscriber writes anything another subscriber or a publisher writes, and a
//! publisher reads the cursors only when its cached view says it might be about to
//! overwrite a message somebody has yet to read.
//!
//! # The sequence word
//!
//! Positions are 64-bit counters that never wrap in practice; the slot of position `p`
//! is `p & (capacity - 1)`. Its sequence word reads, as `stamp | flags` with
//! `stamp = p + 1`:
//!
//! - `p + 1`: position `p` is published; its length and payload are readable;
//! - `(p + 1) | WRITING`: position `p` is being written (overwrite mode marks this, so a
//!   reader can tell that bytes it read may be of the next lap);
//! - `(p + 1) | SKIP`: position `p` holds no message (a loan dropped without commit, or a
//!   publisher that died between claim and publish): subscribers step over it;
//! - `i` (the initial value of slot `i`): nothing written yet.
//!
//! A publisher may claim position `q` only when the slot shows the previous lap,
//! `q - capacity`, finished (published or skipped), so two publishers never write one slot.
//!
//! # The two policies
//!
//! **Block** (the Disruptor's gating): a publisher never overwrites a position some live
//! subscriber has not read. It keeps a cached `gate`, a position no cursor is below, and
//! claims `q` only while `q < gate + capacity`; when that fails it reads every cursor again
//! ([`Writer::claim`]). A subscriber stores its cursor with Release after reading, and the
//! publisher loads it with Acquire before overwriting, so reads finish before the bytes
//! change. A dead subscriber's cursor is dropped by the liveness layer, so it stops
//! gating within the detection time. The last `history` positions are gated too (as if a
//! subscriber sat `history` behind the tail), so a late joiner asking for history always
//! finds it intact.
//!
//! **Overwrite** (Chronicle's and tokio's `broadcast`): a publisher never waits for a
//! subscriber. It marks the slot `WRITING`, then (Release fence) writes, then publishes.
//! A reader checks the sequence before its read and again after it (Acquire fence, the
//! seqlock protocol): if the slot moved on, the bytes it read may be torn, and it reports
//! how many positions it missed ([`Next::Lagged`]) and continues from the oldest position
//! the ring still holds.
//!
//! # Joining
//!
//! A subscriber joins by announcing a cursor, then (SeqCst fence) reading `tail`; a
//! publisher computing its gate reads `tail`, then (SeqCst fence) the cursors. The fences
//! order the two: either the publisher sees the new cursor, or the joiner sees at least
//! the tail the publisher bounded its gate by. Either way no publisher overwrites where
//! the joiner starts ([`join`]).
//!
//! Every value read from shared memory (tail, sequences, lengths, cursors) is bounded
//! before use: a hostile value yields a lag, a skip, an error or a wait with a timeout,
//! never an access outside the ring.

use std::fmt;

use crate::{
    ring::{
        mpmc::{Rescue, NO_CLAIM},
        RingView, Unavailable,
    },
    sync::{
        fence, mutated, weaken, AtomicU64, Mutation,
        Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
    },
};

/// Sequence flag: the position holds no message; subscribers step over it.
const SKIP: u64 = 1 << 63;
/// Sequence flag: the position is being written (overwrite mode).
const WRITING: u64 = 1 << 62;
/// The position part of a sequence word: `position + 1`.
const STAMP: u64 = WRITING - 1;

/// A cursor's value while no subscriber uses it: publishers ignore it.
pub(crate) const IDLE: u64 = u64::MAX;

/// Most subscribers a broadcast channel may be created for.
pub const MAX_SUBSCRIBERS: usize = 1 << 16;

/// How many times a claim re-reads a moving tail before reporting "would block" (the
/// caller backs off): bounds the work a hostile peer can cause.
const CLAIM_ATTEMPTS: u32 = 64;

/// What a broadcast channel does when a subscriber falls behind by a whole ring.
/// Chosen by the creator, stored in the segment, shown by `ferry ls`.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Policy, RingKind};
/// let config = Config::new().kind(RingKind::Broadcast).policy(Policy::Overwrite);
/// assert_eq!(config.get_policy(), Policy::Overwrite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum Policy {
    /// A publisher waits for the slowest live subscriber (with timeouts, like every
    /// blocking call); a subscriber that dies stops counting within the detection time.
    #[default]
    Block = 1,
    /// A publisher never waits for a subscriber; one that fell behind is told how many
    /// messages it missed and continues from the oldest still held. In-place reads must
    /// be validated after reading (the copy calls do it).
    Overwrite = 2,
}

impl Policy {
    pub(crate) fn from_u32(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Block),
            2 => Some(Self::Overwrite),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Block => "block",
            Self::Overwrite => "overwrite",
        })
    }
}

/// The broadcast part of a ring's geometry (the default, all zero but the policy, for
/// the other kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fanout {
    /// Subscriber seats: at most this many subscribers at once.
    pub(crate) subscribers: usize,
    /// What a publisher does about a subscriber a whole ring behind.
    pub(crate) policy: Policy,
    /// How many of the latest messages the ring keeps for late joiners.
    pub(crate) history: usize,
}

impl Fanout {
    /// Checks the fanout of a broadcast ring of `capacity` slots.
    pub(crate) fn validate(&self, capacity: usize) -> Result<(), &'static str> {
        if self.subscribers == 0 || self.subscribers > MAX_SUBSCRIBERS {
            return Err("a broadcast channel needs between 1 and 65536 subscriber seats");
        }
        if capacity < 2 {
            return Err("a broadcast ring needs a capacity of at least 2");
        }
        if self.history > capacity / 2 {
            return Err("a broadcast channel keeps a history of at most half its capacity");
        }
        Ok(())
    }
}

impl fmt::Display for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} policy, history {}, {} subscriber seats", self.policy, self.history, self.subscribers)
    }
}

/// A subscriber's cursor, in its seat: the next position it reads, or [`IDLE`]. Written
/// by the subscriber only; read by publishers (block mode) and inspection.
#[repr(transparent)]
pub(crate) struct Cursor(AtomicU64);

impl Cursor {
    /// A cursor no subscriber uses.
    pub(crate) fn idle() -> Self {
        Self(AtomicU64::new(IDLE))
    }

    /// Sets the cursor of a seat whose subscriber has gone.
    pub(crate) fn clear(&self) {
        // SYNC: Release; pairs with the Acquire load in `lowest_cursor`. The departed
        // subscriber reads nothing more.
        self.0.store(IDLE, Release);
    }

    /// Moves the cursor of a live subscriber on to `to`, after its reads of every
    /// position before it.
    pub(crate) fn advance(&self, to: u64) {
        // SYNC: Release; pairs with the Acquire load in `lowest_cursor`: our reads of the
        // positions before the cursor finish before a publisher overwrites them.
        self.0.store(to, weaken(Release, Mutation::BroadcastCursor));
    }

    /// The cursor's value (a snapshot, for inspection): `None` while idle.
    pub(crate) fn get(&self) -> Option<u64> {
        // SYNC: Relaxed; for information, nothing is read through it.
        Some(self.0.load(Relaxed)).filter(|&c| c != IDLE)
    }
}

/// Whether a slot whose sequence is `seq` is free for the publisher of `pos`: the
/// previous lap is finished (or, on the first lap, never written).
fn free_for(seq: u64, pos: u64, capacity: u64) -> bool {
    match pos.checked_sub(capacity) {
        None => seq == pos,
        Some(previous) => seq & !SKIP == previous + 1,
    }
}

/// The publication state of a publisher: its cached gate.
#[derive(Debug)]
pub(crate) struct Writer {
    fanout: Fanout,
    /// Block mode: no live subscriber's cursor was below this at the last look, and
    /// `tail - history` was not either. Positions below `gate + capacity` may be claimed.
    gate: u64,
}

impl Writer {
    /// A publisher of a ring of `fanout`. The first lap never needs a look at cursors.
    pub(crate) fn new(fanout: Fanout) -> Self {
        Self { fanout, gate: 0 }
    }

    /// Claims the next position, announcing each attempt in `claim` (the publisher's seat
    /// word); the caller must then [`begin`], write, and [`publish`] (or [`cancel`]) it.
    /// `cursors` lists the subscribers' cursors, read only when the cached gate says the
    /// ring might be full (block mode).
    pub(crate) fn claim<'a, I>(
        &mut self,
        ring: &RingView,
        claim: &AtomicU64,
        cursors: impl Fn() -> I,
    ) -> Result<u64, Unavailable>
    where
        I: Iterator<Item = &'a Cursor>,
    {
        let control = ring.control();
        let capacity = ring.capacity();
        // SYNC: Relaxed; the position only arbitrates between publishers (the CAS below);
        // the slot's sequence says whether it may be written.
        let mut tail = control.tail.load(Relaxed);
        let result = (|| {
            for _ in 0..CLAIM_ATTEMPTS {
                if self.fanout.policy == Policy::Block && tail >= self.gate.saturating_add(capacity) {
                    self.gate = self.scan(tail, cursors());
                    if tail >= self.gate.saturating_add(capacity) {
                        return Err(Unavailable::WouldBlock);
                    }
                }
                // SYNC: Acquire; pairs with the Release stores of `seq` in `publish` and
                // `cancel` (and the CAS in `rescue`): the previous lap's writer is done
                // with the slot before we write it.
                let seq = ring.meta(tail).seq.load(Acquire);
                if !free_for(seq, tail, capacity) {
                    if ((seq & STAMP).wrapping_sub(tail.wrapping_add(1)) as i64) < 0 {
                        // The previous lap is unfinished: a publisher is still writing
                        // it (or died doing so, and recovery will skip it).
                        return Err(Unavailable::WouldBlock);
                    }
                    // Another publisher claimed this position: catch up.
                    // SYNC: Relaxed, as above.
                    tail = control.tail.load(Relaxed);
                    continue;
                }
                // SYNC: Relaxed; ordered before the claim by the CAS's Release.
                claim.store(tail, Relaxed);
                // SYNC: Release on success; pairs with the Acquire load of `tail` in
                // `rescue`: whoever sees the position claimed sees the announcement.
                match control.tail.compare_exchange_weak(tail, tail.wrapping_add(1), Release, Relaxed) {
                    Ok(_) => return Ok(tail),
                    Err(now) => tail = now,
                }
            }
            Err(Unavailable::WouldBlock)
        })();
        if result.is_err() {
            withdraw(claim);
        }
        result
    }

    /// Whether a claim would find the next position free now (block mode: reading the
    /// cursors again if the cached gate says the ring might be full). Claims nothing and
    /// keeps the cached gate (the next claim reads the cursors again).
    pub(crate) fn has_room<'a, I>(&self, ring: &RingView, cursors: impl Fn() -> I) -> bool
    where
        I: Iterator<Item = &'a Cursor>,
    {
        // SYNC: Relaxed; a look, as in `claim` (whose Acquire load of `seq` decides).
        let tail = ring.control().tail.load(Relaxed);
        if self.fanout.policy == Policy::Block
            && tail >= self.gate.saturating_add(ring.capacity())
            && tail >= self.scan(tail, cursors()).saturating_add(ring.capacity())
        {
            return false;
        }
        // SYNC: Acquire; as in `claim`.
        let seq = ring.meta(tail).seq.load(Acquire);
        // Free, or already claimed by another publisher (the tail moved on: look again).
        free_for(seq, tail, ring.capacity()) || ((seq & STAMP).wrapping_sub(tail.wrapping_add(1)) as i64) >= 0
    }

    /// Reads every cursor and returns the new gate: the lowest live cursor, and no more
    /// than `tail - history`. `tail` must have been read before this call.
    fn scan<'a>(&self, tail: u64, cursors: impl Iterator<Item = &'a Cursor>) -> u64 {
        lowest_cursor(tail.saturating_sub(self.fanout.history as u64), cursors)
    }
}

/// The lowest live cursor among `cursors`, and no more than `bound`: the gate below which
/// every subscriber has read everything. `bound` must be at most the tail read before
/// this call (the byte ring's too).
pub(crate) fn lowest_cursor<'a>(bound: u64, cursors: impl Iterator<Item = &'a Cursor>) -> u64 {
    // SYNC: SeqCst fence; pairs with the SeqCst fence in `join`. Either a joiner's
    // announced cursor is read below, or the joiner reads a tail no lower than the one
    // `bound` came from, and starts no lower than the gate returned here (see the module
    // doc).
    fence(SeqCst);
    let mut gate = bound;
    for cursor in cursors {
        // SYNC: Acquire; pairs with the Release store in `Cursor::advance`: the
        // subscriber's reads of every position below its cursor are done before a
        // position of the next lap is written.
        let at = cursor.0.load(Acquire);
        if at != IDLE {
            gate = gate.min(at);
        }
    }
    gate
}

/// Starts the write of the claimed position `pos`: in overwrite mode, marks the slot so
/// that a reader still reading the previous lap can tell.
pub(crate) fn begin(ring: &RingView, pos: u64, policy: Policy) {
    if policy == Policy::Overwrite {
        // SYNC: Relaxed, then a Release fence; the fence pairs with the Acquire fence in
        // `still_valid`: a reader that reads any byte written after this mark sees the
        // mark (or a later sequence) when it looks again.
        ring.meta(pos).seq.store(pos.wrapping_add(1) | WRITING, Relaxed);
        fence(Release);
    }
}

/// Publishes the claimed position `pos` with a message of `len` bytes, and withdraws
/// the publisher's claim.
pub(crate) fn publish(ring: &RingView, pos: u64, len: u64, claim: &AtomicU64) {
    let meta = ring.meta(pos);
    // SYNC: Relaxed; ordered before readers by the Release store below.
    meta.len.store(len, Relaxed);
    // SYNC: Release; pairs with the Acquire loads of `seq` in `Reader::next` (the
    // message's bytes and length are visible) and `Writer::claim` (of the next lap).
    meta.seq.store(pos.wrapping_add(1), Release);
    withdraw(claim);
}

/// Gives the claimed position `pos` up without a message: subscribers step over it.
pub(crate) fn cancel(ring: &RingView, pos: u64, claim: &AtomicU64) {
    // SYNC: Release; pairs with the Acquire loads of `seq` in `Writer::claim`, as in
    // `publish`.
    ring.meta(pos).seq.store(pos.wrapping_add(1) | SKIP, Release);
    withdraw(claim);
}

fn withdraw(claim: &AtomicU64) {
    // SYNC: Release; pairs with the Acquire loads of the seat in the liveness layer: a
    // recoverer that sees the claim withdrawn sees the slot published.
    claim.store(NO_CLAIM, Release);
}

/// Resolves the claim on `pos` of a publisher whose process is dead: if the position was
/// claimed and is unfinished, and no live publisher announces it (`live_claim`), it is
/// marked skipped, so subscribers step over it and the next lap can be written. As
/// `ring::mpmc::rescue`, whose reasoning holds here unchanged.
pub(crate) fn rescue(ring: &RingView, pos: u64, live_claim: impl FnOnce() -> bool) -> Rescue {
    let meta = ring.meta(pos);
    // SYNC: Acquire; pairs with the Release stores of `seq`.
    let seq = meta.seq.load(Acquire);
    let unfinished = free_for(seq, pos, ring.capacity()) || seq == pos.wrapping_add(1) | WRITING;
    // SYNC: Acquire; pairs with the Release CAS in `Writer::claim`: the claimer's
    // announcement is visible to `live_claim`.
    let claimed = (ring.control().tail.load(Acquire).wrapping_sub(pos) as i64) > 0;
    if !unfinished || !claimed {
        return Rescue::Nothing;
    }
    if live_claim() {
        return Rescue::Pending;
    }
    // SYNC: AcqRel on success: Release pairs with the Acquire loads of `seq` by readers
    // and the next lap's publisher; Acquire orders the dead publisher's writes first.
    match meta.seq.compare_exchange(seq, pos.wrapping_add(1) | SKIP, AcqRel, Relaxed) {
        Ok(_) => Rescue::Skippable,
        Err(_) => Rescue::Nothing,
    }
}

/// Announces a new subscriber's `cursor` and returns where it starts: `back` positions
/// before the tail (its history, at most the channel's), or at the tail.
///
/// The cursor is first announced at `tail - back` as read now, then, after a SeqCst
/// fence, set to `tail - back` as read again: the second read sees at least the tail
/// that any publisher which missed the announcement bounded its gate by (see `scan`).
///
/// `claimed` reads a tail word as a position (the byte ring's has a flag bit); the
/// returned position then holds a record header stamped by the claim that ended there.
pub(crate) fn join(tail: &AtomicU64, claimed: impl Fn(u64) -> u64, cursor: &Cursor, back: u64) -> u64 {
    // SYNC: Relaxed; a lower bound for the announcement, which the fence orders.
    let provisional = claimed(tail.load(Relaxed)).saturating_sub(back);
    // SYNC: Relaxed, then the SeqCst fence; pairs with the SeqCst fence in
    // `lowest_cursor`: a publisher that reads cursors after its fence sees this one, or
    // this side's tail load below sees the tail that publisher read before its fence.
    cursor.0.store(provisional, Relaxed);
    if !mutated(Mutation::BroadcastJoin) {
        fence(SeqCst);
    }
    // SYNC: Acquire; ordered after the announcement by the fence above, and pairs with
    // the Release store of `tail` that ended a byte ring's claim: the header it stamped
    // at the returned position is visible.
    let start = claimed(tail.load(Acquire)).saturating_sub(back).max(provisional);
    // SYNC: Release; pairs with the Acquire load in `lowest_cursor` (nothing read yet).
    cursor.0.store(start, Release);
    start
}

/// What a subscriber found at its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The message at `pos`, `len` bytes long (in overwrite mode, to be validated with
    /// [`still_valid`] after it is read).
    Message { pos: u64, len: usize },
    /// The subscriber fell behind: this many positions were overwritten before it read
    /// them. Its cursor now points at the oldest position the ring still holds.
    Lagged(u64),
}

/// A subscriber's private reading state.
#[derive(Debug)]
pub(crate) struct Reader {
    /// The next position to read.
    next: u64,
}

impl Reader {
    /// A reader starting at `start` (as [`join`] returned).
    pub(crate) fn new(start: u64) -> Self {
        Self { next: start }
    }

    /// The next position this reader will read.
    pub(crate) fn position(&self) -> u64 {
        self.next
    }

    /// Whether [`Reader::next`] would find something now: a message or a skipped
    /// position at the cursor, or a later lap (a lag). Moves nothing.
    pub(crate) fn ready(&self, ring: &RingView) -> bool {
        let want = self.next.wrapping_add(1);
        // SYNC: Acquire; pairs with the Release store in `publish`, as in `look`.
        let seq = ring.meta(self.next).seq.load(Acquire);
        seq == want || seq == want | SKIP || ((seq & STAMP).wrapping_sub(want) as i64) > 0
    }

    /// The message at the cursor if it is published and its length `accept`s (else
    /// `Refused`, and it stays), stepping over skipped positions, or how far the
    /// subscriber lagged. A cursor moved by a skip or a lag is published in `cursor`.
    pub(crate) fn next(
        &mut self,
        ring: &RingView,
        policy: Policy,
        cursor: &Cursor,
        accept: impl Fn(usize) -> bool,
    ) -> Result<Next, Unavailable> {
        let from = self.next;
        let found = self.look(ring, policy, accept);
        if self.next != from {
            self.publish(cursor);
        }
        found
    }

    fn look(&mut self, ring: &RingView, policy: Policy, accept: impl Fn(usize) -> bool) -> Result<Next, Unavailable> {
        for _ in 0..ring.capacity() {
            let pos = self.next;
            let want = pos.wrapping_add(1);
            let meta = ring.meta(pos);
            // SYNC: Acquire; pairs with the Release store in `publish`: the message's
            // length and bytes are visible.
            let seq = meta.seq.load(Acquire);
            if seq == want {
                // SYNC: Relaxed; made visible by the Acquire load of `seq`.
                let len = meta.len.load(Relaxed);
                let overwrite = policy == Policy::Overwrite;
                if len > ring.slot_size() as u64 {
                    if overwrite && !still_valid(ring, pos) {
                        return Ok(Next::Lagged(self.catch_up(ring)));
                    }
                    return Err(Unavailable::Corrupt("a message length exceeds the slot size"));
                }
                if !accept(len as usize) {
                    if overwrite && !still_valid(ring, pos) {
                        return Ok(Next::Lagged(self.catch_up(ring)));
                    }
                    return Err(Unavailable::Refused(len as usize));
                }
                return Ok(Next::Message { pos, len: len as usize });
            }
            if seq == want | SKIP {
                self.next = want;
                continue;
            }
            if ((seq & STAMP).wrapping_sub(want) as i64) <= 0 {
                // Not published yet (or being written): wait for it.
                return Err(Unavailable::WouldBlock);
            }
            // The slot holds a later lap: the position was overwritten.
            return Ok(Next::Lagged(self.catch_up(ring)));
        }
        // A whole ring of skipped positions: progress, but give the caller a turn.
        Err(Unavailable::WouldBlock)
    }

    /// After the message at `pos` turned out overwritten: moves the cursor to the oldest
    /// position still held (at least past `pos`), publishes it, and returns how many were
    /// missed.
    pub(crate) fn lagged_at(&mut self, ring: &RingView, pos: u64, cursor: &Cursor) -> u64 {
        self.next = pos;
        let missed = self.catch_up(ring);
        self.publish(cursor);
        missed
    }

    /// Moves the cursor past overwritten positions to the oldest the ring still holds
    /// (`tail - capacity`: every claim below the tail overwrote the lap before it), at
    /// least one past where it is; returns how many positions it skipped.
    fn catch_up(&mut self, ring: &RingView) -> u64 {
        // SYNC: Relaxed; only a number to skip to. The slot's sequence, read with Acquire
        // before the message is, says whether the new position holds a message.
        let tail = ring.control().tail.load(Relaxed);
        let oldest = tail.saturating_sub(ring.capacity()).max(self.next.wrapping_add(1));
        let missed = oldest.wrapping_sub(self.next);
        self.next = oldest;
        missed
    }

    /// Moves past the message at `pos` (unless a lag already moved the cursor on) and
    /// publishes the cursor: in block mode this frees the slot for the next lap.
    pub(crate) fn release(&mut self, pos: u64, cursor: &Cursor) {
        if self.next == pos {
            self.next = pos.wrapping_add(1);
        }
        self.publish(cursor);
    }

    fn publish(&self, cursor: &Cursor) {
        cursor.advance(self.next);
    }
}

/// Whether the message at `pos`, read since [`Reader::next`] returned it, is still the one
/// published there: the seqlock's second look. In overwrite mode a reader must call this
/// after reading and discard what it read if it returns `false`.
pub(crate) fn still_valid(ring: &RingView, pos: u64) -> bool {
    if !mutated(Mutation::BroadcastValidate) {
        // SYNC: Acquire fence; pairs with the Release fence in `begin`: if any byte read
        // before this fence was written by the next lap's publisher, the load below sees
        // its `WRITING` mark or a later sequence.
        fence(Acquire);
    }
    // SYNC: Relaxed; ordered after the reads by the fence above.
    ring.meta(pos).seq.load(Relaxed) == pos.wrapping_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_free_once_its_previous_lap_is_finished() {
        // First lap: the initial sequence of slot i is i.
        assert!(free_for(3, 3, 4));
        assert!(!free_for(4, 3, 4));
        // Position 6 reuses the slot of position 2: published (3) or skipped.
        assert!(free_for(3, 6, 4));
        assert!(free_for(3 | SKIP, 6, 4));
        assert!(!free_for(3 | WRITING, 6, 4));
        assert!(!free_for(7, 6, 4));
    }

    #[test]
    fn fanout_bounds() {
        let fanout = Fanout { subscribers: 128, policy: Policy::Block, history: 8 };
        assert!(fanout.validate(16).is_ok());
        assert!(fanout.validate(8).is_err(), "history beyond half the capacity");
        assert!(Fanout { subscribers: 0, ..fanout }.validate(16).is_err());
        assert!(Fanout { subscribers: MAX_SUBSCRIBERS + 1, ..fanout }.validate(16).is_err());
    }
}
