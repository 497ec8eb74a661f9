//! The multi-producer multi-consumer ring.
//!
//! Dmitry Vyukov's bounded MPMC queue (as in crossbeam's `ArrayQueue`): every slot
//! carries a sequence number that says whose turn it is. A slot at position `p` is free
//! for the producer of `p` when its sequence is `p`, holds a published message for the
//! consumer of `p` when it is `p + 1`, and is handed to the next lap by the consumer
//! storing `p + capacity`. Producers claim a position with a CAS on `tail`, consumers
//! with a CAS on `head`; the sequence stores and loads carry the data.
//!
//! A claimed slot is always published, so a consumer never waits on a gap: a loan
//! dropped without commit publishes the slot marked [`CANCELLED`], and consumers skip it.
//!
//! Positions and sequence numbers come from shared memory and are not trusted: every
//! loop is bounded, and a length is checked against the slot size before use.

use crate::{
    ring::{RingView, Unavailable},
    sync::{
        weaken, Mutation,
        Ordering::{Acquire, Relaxed, Release},
    },
};

/// Length of a slot whose loan was dropped without commit: consumers skip it.
pub(crate) const CANCELLED: u64 = u64::MAX;

/// How many times a claim re-reads a moving position before reporting "would block" to
/// the caller, which then backs off. Bounds the work a hostile peer can cause.
const CLAIM_ATTEMPTS: u32 = 64;

/// Claims the next free slot for a producer; the caller must then `publish` it.
pub(crate) fn claim_free(ring: &RingView) -> Result<u64, Unavailable> {
    let control = ring.control();
    // SYNC: Relaxed; the position only arbitrates between producers (through the CAS
    // below); the slot's sequence carries the data.
    let mut tail = control.tail.load(Relaxed);
    for _ in 0..CLAIM_ATTEMPTS {
        // SYNC: Acquire; pairs with the Release store in `release`: the consumer of the
        // previous lap finished reading the slot before we write it.
        let seq = ring.meta(tail).seq.load(Acquire);
        match seq.wrapping_sub(tail) as i64 {
            0 => match control.tail.compare_exchange_weak(tail, tail.wrapping_add(1), Relaxed, Relaxed) {
                // SYNC: Relaxed both ways: exclusivity comes from the RMW itself.
                Ok(_) => return Ok(tail),
                Err(now) => tail = now,
            },
            // The slot still holds the previous lap's message: the ring is full.
            d if d < 0 => return Err(Unavailable::WouldBlock),
            // Another producer claimed this position: catch up.
            _ => tail = control.tail.load(Relaxed),
        }
    }
    Err(Unavailable::WouldBlock)
}

/// Publishes the claimed slot at `pos` with `len` bytes (or [`CANCELLED`]).
pub(crate) fn publish(ring: &RingView, pos: u64, len: u64) {
    let meta = ring.meta(pos);
    // SYNC: Relaxed; made visible by the Release store of `seq` just below.
    meta.len.store(len, Relaxed);
    // SYNC: Release; pairs with the Acquire load of `seq` in `claim_message`: the
    // payload and the length are visible to the consumer that sees `pos + 1`.
    meta.seq.store(pos.wrapping_add(1), weaken(Release, Mutation::MpmcPublish));
}

/// Claims the oldest published message for a consumer, if `accept` takes its length
/// (otherwise it stays in the ring, `Refused`). Returns its position and length; the
/// caller must then `release` it.
///
/// Cancelled slots on the way are released and skipped; `freed` is called after any
/// were, so the caller can wake a parked producer. Skipping is progress, so it does not
/// use up the attempts (it is bounded by the capacity instead).
pub(crate) fn claim_message(
    ring: &RingView,
    accept: impl Fn(usize) -> bool,
    freed: impl Fn(),
) -> Result<(u64, usize), Unavailable> {
    let control = ring.control();
    // SYNC: Relaxed; arbitration only, as for `tail` in `claim_free`.
    let mut head = control.head.load(Relaxed);
    let (mut attempts, mut skipped) = (0, 0);
    let result = loop {
        if attempts == CLAIM_ATTEMPTS || skipped == ring.capacity() {
            break Err(Unavailable::WouldBlock);
        }
        let meta = ring.meta(head);
        // SYNC: Acquire; pairs with the Release store in `publish`.
        let seq = meta.seq.load(Acquire);
        match seq.wrapping_sub(head.wrapping_add(1)) as i64 {
            0 => {
                // SYNC: Relaxed; made visible by the Acquire load of `seq` above. If the
                // CAS below succeeds, nobody claimed the slot in between, so this is the
                // claimed message's length.
                let len = meta.len.load(Relaxed);
                if len != CANCELLED && len <= ring.slot_size() as u64 && !accept(len as usize) {
                    return Err(Unavailable::Refused(len as usize));
                }
                // SYNC: Relaxed both ways: exclusivity comes from the RMW itself.
                if let Err(now) = control.head.compare_exchange_weak(head, head.wrapping_add(1), Relaxed, Relaxed) {
                    head = now;
                    attempts += 1;
                    continue;
                }
                if len == CANCELLED {
                    release(ring, head);
                    head = head.wrapping_add(1);
                    skipped += 1;
                    continue;
                }
                if len > ring.slot_size() as u64 {
                    // Hand the slot on so the ring keeps moving, then report.
                    release(ring, head);
                    skipped += 1;
                    break Err(Unavailable::Corrupt("a message length exceeds the slot size"));
                }
                break Ok((head, len as usize));
            }
            // Not published yet: the ring is empty (or a producer is mid-write).
            d if d < 0 => break Err(Unavailable::WouldBlock),
            // Another consumer took this position: catch up.
            _ => {
                head = control.head.load(Relaxed);
                attempts += 1;
            }
        }
    };
    if skipped > 0 {
        freed();
    }
    result
}

/// Hands the slot at `pos` to the producers of the next lap.
pub(crate) fn release(ring: &RingView, pos: u64) {
    // SYNC: Release; pairs with the Acquire load of `seq` in `claim_free`: our reads of
    // the payload finish before a producer of the next lap writes it.
    ring.meta(pos).seq.store(pos.wrapping_add(ring.capacity()), Release);
}

/// Messages published and not yet released by a consumer, read or not (a snapshot
/// while other processes move; it scans every slot). A slot at index `i` is free exactly
/// when its sequence is `i` modulo the capacity; published or held, it is `i + 1`.
pub(crate) fn in_flight(ring: &RingView) -> u64 {
    let mask = ring.capacity() - 1;
    // SYNC: Relaxed; a snapshot for information, nothing is read through it.
    (0..ring.capacity()).filter(|&i| ring.meta(i).seq.load(Relaxed) & mask != i).count() as u64
}
