//! The multi-producer multi-consumer byte ring: the records of the SPSC byte ring
//! ([`bytes`](super::bytes)), claimed by any number of producers and consumers.
//!
//! # The design
//!
//! Messages are the same variable-length records in one region, with a padding record at
//! the wrap, so a loan is one contiguous region and a receive guard one slice in place.
//! Three positions move through the region: producers claim at `tail`, consumers claim
//! at `head` (the read position), and the `reclaim` position trails both: every byte
//! before it is free for producers. A consumer done with a record marks it released; the
//! records between `reclaim` and `head` may be released in any order, and `reclaim`
//! moves over those that are, in order.
//!
//! A record's header says where it stands in its commit word, `pos + 1` with flags:
//!
//! - `(pos + 1) | EMPTY`: claimable or claimed, not published. A producer stamps the
//!   header after its record so before anyone can claim there (see below);
//! - `pos + 1`: published; its length word is valid;
//! - `(pos + 1) | ABANDONED`: never to be published (a loan dropped without commit, or a
//!   producer that died between claim and publish): consumers step over it;
//! - `(pos + 1) | RELEASED`: a consumer is done with it; `reclaim` may pass it.
//!
//! Each value names its position, so a header left by an earlier lap never passes for
//! this one's. The length word holds the record's *extent* (bytes from its header to the
//! next record, fixed at the claim) in its high half and the payload length in its low
//! half, or [`PAD`] for a padding record; both are checked against the region.
//!
//! # Why producers claim one at a time
//!
//! The SPSC ring stamps the header after a record before it publishes the record, so a
//! consumer never reads an earlier lap's bytes there as a commit. With a CAS on `tail`
//! the next producer may claim and publish that header before the first one stamps it,
//! and the stamp would erase a published record. So a producer claims by setting the
//! [`CLAIMING`] bit of `tail` (a CAS), and while it holds it: moves `reclaim` over
//! released records, checks the room, writes the padding's and its record's length words
//! and stamps the headers after them, and clears the bit by storing the new `tail`. That
//! takes tens of nanoseconds and no system call; the payload is written after, in
//! parallel with other producers, and published with one Release store. Consumers need
//! no such turn: each claims a published record with a CAS on `head`.
//!
//! A record is published after the padding before it only in the producer's commit, the
//! record first: a consumer waits at the padding, so it never passes a padding whose
//! record is not yet published, and a recoverer that finds the padding unpublished knows
//! the record may be either.
//!
//! # Room for the largest message
//!
//! As in the SPSC ring, a claim reserves its record, the padding before it, and the next
//! header: twice the largest record at worst, which [`min_capacity`](super::bytes::min_capacity)
//! guarantees. A record keeps the extent it was claimed with: a loan of the maximum
//! committed with fewer bytes holds the maximum until it is consumed. Positions are
//! consumed in order: records published after a held loan wait for it (head-of-line
//! blocking, as in the MPMC slot ring), and a guard held long keeps `reclaim` back.
//!
//! # Crashes
//!
//! Each handle announces in its seat's claim word the position it is about to claim
//! (`tail` or `head`), before its CAS, and withdraws it when done, as on the MPMC slot
//! ring. [`rescue`] resolves a dead handle's claim: a producer that died holding the
//! claiming bit is rolled back (nothing it wrote was visible); a record it claimed and
//! never published, and the padding before it, are marked abandoned; a record a dead
//! consumer held is released.
//!
//! # The peer is not trusted
//!
//! Positions from shared memory are checked to lie within a capacity of one another and
//! 16-aligned; an extent is checked against the region's end and the payload length
//! against the largest message and the extent. Every loop is bounded.

use crate::{
    ring::{
        bytes::{record_size, stamp, ByteRing, HEADER},
        mpmc::{Rescue, NO_CLAIM},
        slots_offset, Unavailable,
    },
    sync::{
        spin_loop, weaken, yield_now, AtomicU64, Mutation,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    },
};

/// `tail` flag: a producer is claiming (see the module doc).
const CLAIMING: u64 = 1 << 63;

/// Commit-word flag: a consumer is done with the record.
const RELEASED: u64 = 1 << 63;
/// Commit-word flag: the record will never be published; consumers step over it.
pub(super) const ABANDONED: u64 = 1 << 62;
/// Commit-word flag: the record is not published (claimable or claimed).
const EMPTY: u64 = 1 << 61;

/// Payload half of a padding record's length word.
const PAD: u64 = u32::MAX as u64;

/// How many times a claim re-reads a moving position before reporting "would block".
const CLAIM_ATTEMPTS: u32 = 64;
/// How many times a producer looks at a `tail` another producer is claiming at, yielding
/// between looks after the first few, before it reports "would block" (the holder may
/// be preempted, or dead: the caller's wait loop runs recovery).
const TURN_LOOKS: u32 = 128;

/// Stamps the first record's header of a new ring, which `ByteRing::init` zeroed, as
/// unpublished (as every later record's is stamped by the claim before it). The
/// broadcast byte ring's too.
pub(crate) fn init(ring: &ByteRing) {
    // SYNC: Relaxed; nobody else sees the ring yet (its segment is published later).
    ring.meta(0).seq.store(1 | EMPTY, Relaxed);
}

/// A length word: the record's extent and its payload length (or [`PAD`]).
fn length_word(extent: u64, payload: u64) -> u64 {
    (extent / HEADER) << 32 | payload
}

/// What a record's length word says, checked against the ring: its extent and its
/// payload length (`None` for padding).
pub(super) fn read_length(ring: &ByteRing, pos: u64, word: u64) -> Result<(u64, Option<usize>), Unavailable> {
    let (extent, payload) = ((word >> 32) * HEADER, word & PAD);
    if payload == PAD {
        if extent != ring.room_to_end(pos) || extent == ring.capacity() {
            return Err(Unavailable::Corrupt("a padding record does not end the ring"));
        }
        return Ok((extent, None));
    }
    if payload > ring.max_message() as u64 {
        return Err(Unavailable::Corrupt("a record is longer than the largest message"));
    }
    if extent < record_size(payload as usize) || extent > ring.room_to_end(pos) {
        return Err(Unavailable::Corrupt("a record runs past its extent or the ring"));
    }
    Ok((extent, Some(payload as usize)))
}

/// Withdraws a seat's announcement once its record is published or released, or the
/// attempt given up.
fn withdraw(claim: &AtomicU64) {
    // SYNC: Release; pairs with the Acquire load of the claim word in
    // `liveness::seats::occupant`: who sees the claim withdrawn sees the record
    // published or released.
    claim.store(NO_CLAIM, Release);
}

/// Checks that `reclaim..tail` is a possible span.
fn check_span(reclaim: u64, tail: u64, ring: &ByteRing) -> Result<(), Unavailable> {
    match tail.checked_sub(reclaim) {
        Some(n) if n <= ring.capacity() && reclaim.is_multiple_of(HEADER) && tail.is_multiple_of(HEADER) => Ok(()),
        _ => Err(Unavailable::Corrupt("the ring's positions are inconsistent")),
    }
}

/// Claims room for a message of `n` bytes (at most the maximum), announcing the claim in
/// `claim` (the producer's seat word), which keeps it until [`publish`]. Returns the
/// position of the record; the caller writes the payload there, then publishes.
pub(crate) fn claim(ring: &ByteRing, n: usize, claim: &AtomicU64) -> Result<u64, Unavailable> {
    claim_with(ring, n, claim, |reclaim, tail| released_up_to(ring, reclaim, tail))
}

/// [`claim`], with the rule that frees room: when the bytes before `reclaim` are too
/// few, `advance(reclaim, tail)` returns the position every byte before which may now
/// be reused (called by the holder of the claiming turn; the broadcast byte ring passes
/// its subscribers' lowest cursor).
pub(crate) fn claim_with(
    ring: &ByteRing,
    n: usize,
    claim: &AtomicU64,
    mut advance: impl FnMut(u64, u64) -> Result<u64, Unavailable>,
) -> Result<u64, Unavailable> {
    debug_assert!(n <= ring.max_message());
    let control = ring.control();
    let (mut looks, mut attempts) = (0, 0);
    while attempts < CLAIM_ATTEMPTS {
        // SYNC: Relaxed; the CAS below arbitrates, and its Acquire makes the last
        // claimer's writes visible.
        let tail = control.tail.load(Relaxed);
        if tail & CLAIMING != 0 {
            looks += 1;
            if looks == TURN_LOOKS {
                break;
            }
            if looks < 8 {
                spin_loop();
            } else {
                yield_now();
            }
            continue;
        }
        // SYNC: Relaxed; ordered before the CAS by its Release.
        claim.store(tail, Relaxed);
        // SYNC: AcqRel on success. Acquire pairs with the Release store of `tail` that
        // ended the last claim (here or in `rescue`): its headers and `reclaim` are
        // visible. Release pairs with the Acquire load of `tail` in `rescue`: who sees
        // the claim sees the announcement.
        let order = weaken(AcqRel, Mutation::BytesMpmcClaim);
        if control.tail.compare_exchange_weak(tail, tail | CLAIMING, order, Relaxed).is_err() {
            withdraw(claim);
            attempts += 1;
            continue;
        }
        let claimed = claim_turn(ring, tail, record_size(n), &mut advance);
        let end = claimed.map_or(tail, |(_, end)| end);
        // SYNC: Release; pairs with the Acquire CAS of the next claimer and the Acquire
        // loads in `rescue` and `has_room`: the stamped headers and `reclaim` first.
        control.tail.store(end, Release);
        return match claimed {
            Ok((start, _)) => {
                ring.mark_written(start, record_size(n));
                Ok(start)
            }
            Err(e) => {
                withdraw(claim);
                Err(e)
            }
        };
    }
    withdraw(claim);
    Err(Unavailable::WouldBlock)
}

/// The claim itself, while this producer holds the claiming bit of `tail`: finds room
/// for a record of `need` bytes after `tail` (moving `reclaim` on with `advance` if
/// needed), writes the length words of the record and of a padding before it, and stamps
/// the headers that follow. Returns the record's start and end.
fn claim_turn(
    ring: &ByteRing,
    tail: u64,
    need: u64,
    advance: impl FnOnce(u64, u64) -> Result<u64, Unavailable>,
) -> Result<(u64, u64), Unavailable> {
    let to_end = ring.room_to_end(tail);
    let start = if need > to_end { tail.wrapping_add(to_end) } else { tail };
    let end = start.wrapping_add(need);
    // SYNC: Relaxed; only the holder of the claiming bit stores it, and the last holder's
    // store is ordered before our CAS by its Release store of `tail`.
    let mut reclaim = ring.reclaim().load(Relaxed);
    check_span(reclaim, tail, ring)?;
    if end.wrapping_add(HEADER).wrapping_sub(reclaim) > ring.capacity() {
        // Never backwards: a hostile cursor below it only leaves the ring full.
        reclaim = advance(reclaim, tail)?.clamp(reclaim, tail);
        // SYNC: Release; pairs with the Acquire loads in `has_room` and `rescue`.
        ring.reclaim().store(reclaim, Release);
        if end.wrapping_add(HEADER).wrapping_sub(reclaim) > ring.capacity() {
            return Err(Unavailable::WouldBlock);
        }
    }
    // SYNC: Relaxed, all four: published by our Release store of `tail` (to producers
    // and recoverers) and by the Release stores of the commit words in `publish` (to
    // consumers). Nobody else writes these headers now: they lie after `tail`.
    if start != tail {
        ring.meta(tail).len.store(length_word(to_end, PAD), Relaxed);
        ring.meta(start).seq.store(stamp(start) | EMPTY, Relaxed);
    }
    ring.meta(start).len.store(length_word(need, 0), Relaxed);
    ring.meta(end).seq.store(stamp(end) | EMPTY, Relaxed);
    Ok((start, end))
}

/// The position up to which the records after `reclaim` are released (at most `tail`).
fn released_up_to(ring: &ByteRing, mut reclaim: u64, tail: u64) -> Result<u64, Unavailable> {
    while reclaim < tail {
        let meta = ring.meta(reclaim);
        // SYNC: Acquire; pairs with the Release store in `release` (or the CAS in
        // `rescue`): the consumer's reads of the record finish before it is reused.
        if meta.seq.load(Acquire) != stamp(reclaim) | RELEASED {
            break;
        }
        // SYNC: Relaxed; written before the record was published, which the consumer
        // saw before releasing it.
        let (extent, _) = read_length(ring, reclaim, meta.len.load(Relaxed))?;
        reclaim = reclaim.saturating_add(extent);
    }
    Ok(reclaim.min(tail))
}

/// Publishes the record claimed at `pos` with `len` payload bytes (at most the claimed
/// size), or abandons it (`None`: a loan dropped), then the padding before it if its
/// claim skipped one, and withdraws the claim.
pub(crate) fn publish(ring: &ByteRing, pos: u64, len: Option<usize>, claim: &AtomicU64) {
    let meta = ring.meta(pos);
    // SYNC: Relaxed; our own words: the claim announced, the extent stored in the claim.
    let (claimed, word) = (claim.load(Relaxed), meta.len.load(Relaxed));
    let seq = match len {
        Some(len) => {
            // SYNC: Relaxed; made visible by the Release store of the commit word below.
            meta.len.store(length_word((word >> 32) * HEADER, len as u64), Relaxed);
            stamp(pos)
        }
        None => stamp(pos) | ABANDONED,
    };
    // SYNC: Release; pairs with the Acquire load of `seq` in `claim_message`: the payload
    // and the length word are visible to the consumer that sees `pos + 1`.
    meta.seq.store(seq, weaken(Release, Mutation::BytesMpmcPublish));
    if claimed != pos {
        // SYNC: Release; pairs with the Acquire load of `seq` in `claim_message`, as above
        // (the padding's length word).
        ring.meta(claimed).seq.store(stamp(claimed), Release);
    }
    withdraw(claim);
}

/// Claims the oldest published message for a consumer, if `accept` takes its length
/// (otherwise it stays, `Refused`), announcing the claim in `claim` (the consumer's seat
/// word) until [`release`]. Padding and abandoned records on the way are claimed and
/// released; `freed` is called after any were. Returns the message's position and length.
pub(crate) fn claim_message(
    ring: &ByteRing,
    claim: &AtomicU64,
    accept: impl Fn(usize) -> bool,
    freed: impl Fn(),
) -> Result<(u64, usize), Unavailable> {
    let control = ring.control();
    // SYNC: Relaxed; the CAS below arbitrates; the commit word carries the data.
    let mut head = control.head.load(Relaxed);
    let (mut attempts, mut skipped) = (0, 0u64);
    let result = loop {
        if attempts == CLAIM_ATTEMPTS || skipped * HEADER >= ring.capacity() {
            break Err(Unavailable::WouldBlock);
        }
        let meta = ring.meta(head);
        // SYNC: Acquire; pairs with the Release stores of the commit word in `publish`
        // (or the CAS in `rescue`): the length word and the payload are visible.
        let seq = meta.seq.load(Acquire);
        let abandoned = seq == stamp(head) | ABANDONED;
        if !readable(seq, head) {
            // SYNC: Relaxed, as above.
            let now = control.head.load(Relaxed);
            if now == head {
                // Not published yet: the ring is empty, or a producer is writing.
                break Err(Unavailable::WouldBlock);
            }
            // Another consumer claimed this record: catch up.
            head = now;
            attempts += 1;
            continue;
        }
        // SYNC: Acquire; the word is made visible by the Acquire load of `seq`, and this
        // orders the look at `head` below after the load. Until the CAS succeeds another
        // consumer may take the record and a producer reuse its bytes, so the word may be
        // anything: acted on only once `head` shows the record still untaken (the CAS;
        // before an error, a look).
        let length = read_length(ring, head, meta.len.load(Acquire));
        let refused = match length {
            Ok((_, Some(len))) if !abandoned && !accept(len) => Some(len),
            _ => None,
        };
        let (extent, payload) = match (length, refused) {
            (Ok(length), None) => length,
            (length, refused) => {
                // SYNC: Relaxed, as above.
                let now = control.head.load(Relaxed);
                attempts += 1;
                match (length, refused) {
                    _ if now != head => head = now,
                    (_, Some(len)) => break Err(Unavailable::Refused(len)),
                    // Looked at again a few times before it is reported: a word read while
                    // the record was being taken and reused may show `head` unmoved at once.
                    (Err(e), _) if attempts == CLAIM_ATTEMPTS => break Err(e),
                    _ => spin_loop(),
                }
                continue;
            }
        };
        let message = payload.filter(|_| !abandoned);
        // SYNC: Relaxed; ordered before the CAS by its Release.
        claim.store(head, Relaxed);
        // SYNC: Release on success; pairs with the Acquire load of `head` in `rescue`, as
        // in `claim`. Exclusivity comes from the RMW itself.
        if let Err(now) = control.head.compare_exchange_weak(head, head.wrapping_add(extent), Release, Relaxed) {
            head = now;
            attempts += 1;
            continue;
        }
        match message {
            Some(len) => {
                ring.mark_read(head, record_size(len));
                break Ok((head, len));
            }
            None => {
                release(ring, head, claim);
                head = head.wrapping_add(extent);
                skipped += 1;
            }
        }
    };
    if result.is_err() {
        withdraw(claim);
    }
    if skipped > 0 {
        freed();
    }
    result
}

/// Hands the record at `pos`, claimed by `claim_message`, back to the producers, and
/// withdraws the claim.
pub(crate) fn release(ring: &ByteRing, pos: u64, claim: &AtomicU64) {
    // SYNC: Release; pairs with the Acquire load in `released_up_to`: our reads of the
    // record finish before a producer reuses its bytes.
    ring.meta(pos).seq.store(stamp(pos) | RELEASED, weaken(Release, Mutation::BytesMpmcRelease));
    withdraw(claim);
}

/// Resolves the claim on `pos` of a handle whose process is dead, a `producer` or a
/// consumer; `live_claim` says whether a live handle of the same side announces `pos`.
///
/// A claim is only taken from its claimer when the position was claimed, the record is
/// unfinished, and no live handle announces it: every claimer announces before its CAS
/// and withdraws only after it published or released (or gave up), so the claimer is
/// then the dead handle. Each change is a CAS from the unfinished state, so it happens
/// once, and not at all if the record moved on meanwhile.
pub(crate) fn rescue(ring: &ByteRing, pos: u64, producer: bool, live_claim: impl FnOnce() -> bool) -> Rescue {
    if producer {
        rescue_producer(ring, pos, live_claim)
    } else {
        rescue_consumer(ring, pos, live_claim)
    }
}

fn rescue_producer(ring: &ByteRing, pos: u64, live_claim: impl FnOnce() -> bool) -> Rescue {
    let control = ring.control();
    // SYNC: Acquire; pairs with the Release CAS in `claim` (the claimer's announcement is
    // visible to `live_claim`) and the Release store ending a claim (its writes).
    let tail = control.tail.load(Acquire);
    if tail == pos | CLAIMING {
        if live_claim() {
            return Rescue::Pending;
        }
        // Died while claiming: nothing it wrote is published (its headers lie after
        // `tail`), so the claim is undone.
        // SYNC: AcqRel on success: Release pairs with the Acquire CAS of the next
        // claimer; Acquire orders the dead producer's writes first.
        return match control.tail.compare_exchange(tail, pos, AcqRel, Relaxed) {
            Ok(_) => Rescue::Freed,
            Err(_) => Rescue::Nothing,
        };
    }
    // SYNC: Acquire; pairs with the Release store in `claim_turn`.
    let reclaim = ring.reclaim().load(Acquire);
    let tail = tail & !CLAIMING;
    if pos < reclaim || pos >= tail || tail - pos > ring.capacity() || !pos.is_multiple_of(HEADER) {
        // Never claimed, or long since consumed.
        return Rescue::Nothing;
    }
    let meta = ring.meta(pos);
    let unpublished = stamp(pos) | EMPTY;
    // SYNC: Acquire; pairs with the Release stores in `publish`.
    if meta.seq.load(Acquire) != unpublished {
        // Published, abandoned or released: the claimer finished (the padding is
        // published after its record).
        return Rescue::Nothing;
    }
    if live_claim() {
        return Rescue::Pending;
    }
    // SYNC: Relaxed; written in the claim, made visible by the Acquire load of `tail`.
    let Ok((extent, payload)) = read_length(ring, pos, meta.len.load(Relaxed)) else {
        return Rescue::Nothing;
    };
    if payload.is_none() {
        // The record after the padding first: a consumer passes the padding only once
        // it shows abandoned (or published), and must then find the record finished.
        let start = pos.wrapping_add(extent);
        // SYNC: AcqRel on success, as below.
        let _ = ring.meta(start).seq.compare_exchange(stamp(start) | EMPTY, stamp(start) | ABANDONED, AcqRel, Relaxed);
    }
    // SYNC: AcqRel on success: Release pairs with the Acquire load of `seq` in
    // `claim_message`; Acquire orders the dead producer's writes first.
    match meta.seq.compare_exchange(unpublished, stamp(pos) | ABANDONED, AcqRel, Relaxed) {
        Ok(_) => Rescue::Skippable,
        Err(_) => Rescue::Nothing,
    }
}

fn rescue_consumer(ring: &ByteRing, pos: u64, live_claim: impl FnOnce() -> bool) -> Rescue {
    // SYNC: Acquire; pairs with the Release CAS in `claim_message`: the claimer's
    // announcement is visible to `live_claim`.
    let head = ring.control().head.load(Acquire);
    if head <= pos || head - pos > ring.capacity() {
        return Rescue::Nothing;
    }
    let meta = ring.meta(pos);
    // SYNC: Acquire; pairs with the Release stores of the commit word.
    let seq = meta.seq.load(Acquire);
    if !readable(seq, pos) {
        // Released already (or never a record this lap).
        return Rescue::Nothing;
    }
    if live_claim() {
        return Rescue::Pending;
    }
    // SYNC: AcqRel on success: Release pairs with the Acquire load in `released_up_to`;
    // Acquire orders the dead consumer's reads first.
    match meta.seq.compare_exchange(seq, stamp(pos) | RELEASED, AcqRel, Relaxed) {
        Ok(_) => Rescue::Freed,
        Err(_) => Rescue::Nothing,
    }
}

/// Whether a message of `n` bytes would find room now (a look, for a caller deciding
/// whether to sleep; it may say yes spuriously, and `claim` decides).
pub(crate) fn has_room(ring: &ByteRing, n: usize) -> bool {
    has_room_with(ring, n, |reclaim, tail| released_up_to(ring, reclaim, tail).unwrap_or(tail))
}

/// [`has_room`], with the rule that frees room, as in [`claim_with`].
pub(crate) fn has_room_with(ring: &ByteRing, n: usize, advance: impl FnOnce(u64, u64) -> u64) -> bool {
    // SYNC: Acquire; pairs with the Release store ending a claim: `reclaim` as it left it.
    let tail = ring.control().tail.load(Acquire);
    if tail & CLAIMING != 0 {
        return true;
    }
    let need = record_size(n);
    let start = if need > ring.room_to_end(tail) { tail.wrapping_add(ring.room_to_end(tail)) } else { tail };
    // SYNC: Acquire; pairs with the Release store in `claim_turn`.
    let reclaim = ring.reclaim().load(Acquire);
    if check_span(reclaim, tail, ring).is_err() {
        // `claim` reports it.
        return true;
    }
    let end = start.wrapping_add(need).wrapping_add(HEADER);
    end.wrapping_sub(reclaim) <= ring.capacity()
        || end.wrapping_sub(advance(reclaim, tail).clamp(reclaim, tail)) <= ring.capacity()
}

/// Whether `seq`, read from the commit word at `pos`, says a reader may take the record
/// there: published (a message or padding), or abandoned (to be stepped over).
#[inline(always)]
pub(super) fn readable(seq: u64, pos: u64) -> bool {
    seq == stamp(pos) || seq == stamp(pos) | ABANDONED
}

/// Whether a record (a message, padding or an abandoned one) is published at the read
/// position, or another consumer moved it: a look, which may say yes spuriously.
pub(crate) fn has_message(ring: &ByteRing) -> bool {
    // SYNC: Relaxed; a guess, as in `claim_message`.
    let head = ring.control().head.load(Relaxed);
    // SYNC: Acquire; pairs with the Release stores in `publish`.
    let seq = ring.meta(head).seq.load(Acquire);
    readable(seq, head)
}

/// Where the reclaim position lies from the start of the ring (for `ferry ls`, which
/// reads the segment as a file).
pub(crate) fn reclaim_offset() -> usize {
    slots_offset()
}

/// The position a `tail` word read from an MPMC byte ring says producers have claimed up to.
pub(crate) fn claimed(tail: u64) -> u64 {
    tail & !CLAIMING
}

/// Bytes claimed by producers and not yet taken by a consumer (a snapshot).
pub(crate) fn unread(ring: &ByteRing) -> u64 {
    let control = ring.control();
    // SYNC: Relaxed, both; a snapshot for information.
    let (tail, head) = (claimed(control.tail.load(Relaxed)), control.head.load(Relaxed));
    tail.saturating_sub(head).min(ring.capacity())
}

/// Bytes not free for producers: claimed and not yet reclaimed (a snapshot).
pub(crate) fn used(ring: &ByteRing) -> u64 {
    // SYNC: Relaxed, both; a snapshot for information.
    let tail = claimed(ring.control().tail.load(Relaxed));
    tail.saturating_sub(ring.reclaim().load(Relaxed)).min(ring.capacity())
}

#[cfg(all(test, not(ferry_loom)))]
mod tests {
    use std::{
        alloc::{alloc_zeroed, dealloc, Layout},
        ptr::NonNull,
    };

    use super::*;
    use crate::{
        ring::{bytes::ring_bytes, Geometry, RingKind},
        signal::Signaling,
    };

    /// A ring of `capacity` bytes for messages of up to `max` on the heap, as a segment
    /// would hold it.
    struct Heap {
        base: NonNull<u8>,
        layout: Layout,
        ring: ByteRing,
    }

    impl Heap {
        fn new(capacity: usize, max: usize) -> Self {
            let geometry = Geometry {
                kind: RingKind::MpmcBytes,
                signaling: Signaling::Futex,
                slot_size: max,
                capacity,
                fanout: Default::default(),
            };
            geometry.validate().expect("a valid geometry");
            let layout = Layout::from_size_align(ring_bytes(&geometry).expect("fits"), 128).expect("layout");
            // SAFETY: a non-zero size.
            let base = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocated");
            // SAFETY: fresh, zeroed, 128-aligned memory of the ring's size, ours alone.
            let ring = unsafe { ByteRing::init(base, &geometry) };
            init(&ring);
            Self { base, layout, ring }
        }
    }

    impl Drop for Heap {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout; no view outlives the test.
            unsafe { dealloc(self.base.as_ptr(), self.layout) };
        }
    }

    fn send(ring: &ByteRing, word: &AtomicU64, bytes: &[u8]) -> u64 {
        let pos = claim(ring, bytes.len(), word).expect("room");
        // SAFETY: the record at `pos` was claimed for `bytes.len()` payload bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ring.payload(pos), bytes.len()) };
        publish(ring, pos, Some(bytes.len()), word);
        pos
    }

    fn recv(ring: &ByteRing, word: &AtomicU64) -> Result<Vec<u8>, Unavailable> {
        let (pos, len) = claim_message(ring, word, |_| true, || {})?;
        // SAFETY: the record at `pos` is ours until released; its extent was checked.
        let bytes = unsafe { std::slice::from_raw_parts(ring.payload(pos), len) }.to_vec();
        release(ring, pos, word);
        Ok(bytes)
    }

    #[test]
    fn a_dead_producers_record_is_skipped_and_its_room_reused() {
        let heap = Heap::new(256, 48);
        let (ring, dead, tx, rx) =
            (&heap.ring, AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM));
        // Claimed, never published: the consumer waits at it.
        let pos = claim(ring, 40, &dead).expect("room");
        send(ring, &tx, b"after");
        assert_eq!(recv(ring, &rx), Err(Unavailable::WouldBlock));
        // A live handle announcing the position may be its claimer: not yet.
        assert_eq!(rescue(ring, dead.load(Relaxed), true, || true), Rescue::Pending);
        assert_eq!(rescue(ring, dead.load(Relaxed), true, || false), Rescue::Skippable);
        assert_eq!(rescue(ring, pos, true, || false), Rescue::Nothing, "once");
        assert_eq!(recv(ring, &rx).as_deref(), Ok(&b"after"[..]));
        // Its bytes come back: the ring fills and drains many times over.
        for i in 0..100u8 {
            send(ring, &tx, &[i; 48]);
            assert_eq!(recv(ring, &rx), Ok(vec![i; 48]));
        }
    }

    #[test]
    fn a_dead_producers_record_after_padding_is_skipped_with_its_padding() {
        let heap = Heap::new(256, 100);
        let (ring, dead, tx, rx) =
            (&heap.ring, AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM));
        for _ in 0..2 {
            send(ring, &tx, &[1; 64]);
            recv(ring, &rx).expect("sent");
        }
        // 160 bytes used of the lap: a 100-byte record (128) pads to the end first.
        let pos = claim(ring, 100, &dead).expect("room");
        assert_eq!(pos, 256, "the record starts the next lap");
        assert_eq!(dead.load(Relaxed), 160, "the claim announced the padding's position");
        assert_eq!(rescue(ring, 160, true, || false), Rescue::Skippable);
        // Its bytes are held until a consumer steps over the padding and the record.
        assert_eq!(claim(ring, 4, &tx), Err(Unavailable::WouldBlock));
        assert_eq!(recv(ring, &rx), Err(Unavailable::WouldBlock));
        send(ring, &tx, b"next");
        assert_eq!(recv(ring, &rx).as_deref(), Ok(&b"next"[..]));
    }

    #[test]
    fn a_producer_dead_in_its_claiming_turn_is_rolled_back() {
        let heap = Heap::new(256, 48);
        let (ring, tx, rx) = (&heap.ring, AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM));
        send(ring, &tx, b"one");
        let tail = ring.control().tail.load(Relaxed);
        // As a producer that died between its CAS and the store ending its turn.
        ring.control().tail.store(tail | CLAIMING, Relaxed);
        assert_eq!(claim(ring, 8, &tx), Err(Unavailable::WouldBlock), "the turn is taken");
        assert_eq!(tx.load(Relaxed), NO_CLAIM, "a producer waiting for the turn announces nothing");
        assert_eq!(rescue(ring, tail, true, || true), Rescue::Pending);
        assert_eq!(rescue(ring, tail, true, || false), Rescue::Freed);
        assert_eq!(ring.control().tail.load(Relaxed), tail);
        send(ring, &tx, b"two");
        assert_eq!(recv(ring, &rx).as_deref(), Ok(&b"one"[..]));
        assert_eq!(recv(ring, &rx).as_deref(), Ok(&b"two"[..]));
    }

    #[test]
    fn a_dead_consumers_record_is_released() {
        let heap = Heap::new(256, 48);
        let (ring, tx, dead, rx) =
            (&heap.ring, AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM));
        send(ring, &tx, &[7; 48]);
        let (pos, _) = claim_message(ring, &dead, |_| true, || {}).expect("published");
        // The held record keeps the ring from taking a third large message.
        send(ring, &tx, &[8; 48]);
        assert_eq!(recv(ring, &rx), Ok(vec![8; 48]));
        assert!(claim(ring, 48, &tx).and_then(|p| claim(ring, 48, &tx).map(|_| p)).is_err(), "full");
        assert_eq!(rescue(ring, pos, false, || false), Rescue::Freed);
        assert_eq!(rescue(ring, pos, false, || false), Rescue::Nothing, "once");
        assert!(has_room(ring, 48));
    }

    #[test]
    fn a_corrupt_length_word_is_reported_not_followed() {
        let heap = Heap::new(256, 48);
        let (ring, tx, rx) = (&heap.ring, AtomicU64::new(NO_CLAIM), AtomicU64::new(NO_CLAIM));
        let pos = send(ring, &tx, b"x");
        for word in [length_word(1 << 20, 1), length_word(32, 49), length_word(16, 1), length_word(64, PAD)] {
            ring.meta(pos).len.store(word, Relaxed);
            assert!(matches!(recv(ring, &rx), Err(Unavailable::Corrupt(_))), "word {word:#x}");
        }
    }
}
