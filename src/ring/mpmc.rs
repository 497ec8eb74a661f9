//! The multi-producer multi-consumer ring.
//!
//! Dmitry Vyukov's bounded MPMC queue (as in crossbeam's `ArrayQueue`): every slot
//! carries a sequence number that says whose turn it is. A slot at position `p` is free
//! for the producer of `p` when its sequence is `p`, holds a published message for the
//! consumer of `p` when it is `p + 1`, and is handed to the next lap by the consumer
//! storing `p + slots`. Producers claim a position with a CAS on `tail`, consumers
//! with a CAS on `head`; the sequence stores and loads carry the data. A capacity that
//! is not a power of two has the next power of two of slots, and producers also keep
//! to the capacity ([`within_limit`]).
//!
//! A claimed slot is always published, so a consumer never waits on a gap: a loan
//! dropped without commit publishes the slot marked [`CANCELLED`], and consumers skip it.
//!
//! A consumer that finds the next position claimed but not yet published waits for it
//! only if it is a copy send's (a `send`, whose write takes nanoseconds unless the writer
//! is preempted): [`claim_message`] reports [`Unavailable::Writing`], and the caller
//! waits a bounded time. A loan's claim may be held by user code for as long as it
//! likes; the loan marks its slot [`LOANED`] right after its claim, and consumers report
//! the ring empty at once. That is head-of-line blocking, inherent in Vyukov's queue:
//! positions are consumed in order, so the messages published after a held loan wait
//! until it is committed or dropped.
//!
//! Processes die. Each handle announces in its claim word (kept for it outside the ring,
//! in its seat) the position it is about to claim, before its CAS, and withdraws it
//! (storing [`NO_CLAIM`]) when done with the slot. A position whose claimer died is
//! then recognisable, and [`rescue`] resolves it: a slot a dead producer claimed gets the
//! sequence `pos + 1 | ABANDONED` and consumers skip it; a slot a dead consumer held is
//! released.
//!
//! Positions and sequence numbers come from shared memory and are not trusted: every
//! loop is bounded, and a length is checked against the slot size before use.

use crate::{
    ring::{RingView, Unavailable},
    sync::{
        weaken, AtomicU64, Mutation,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    },
};

/// A claim word's value while its handle claims no position.
pub(crate) const NO_CLAIM: u64 = u64::MAX;

/// Length of a slot whose loan was dropped without commit: consumers skip it.
pub(crate) const CANCELLED: u64 = u64::MAX;

/// Length word of a slot claimed by a loan, until it is committed or cancelled: tells a
/// consumer not to wait for it. Never a published length (the commit overwrites it), and
/// one read as such fails the slot-size check.
pub(crate) const LOANED: u64 = u64::MAX - 1;

/// Sequence bit of a slot whose producer died between claim and publish: with it, the
/// sequence `pos + 1 | ABANDONED` tells the consumer of `pos` to skip the slot.
/// (Positions never come near 2^63: at 10^9 messages a second that is 292 years.)
pub(crate) const ABANDONED: u64 = 1 << 63;

/// How many times a claim re-reads a moving position before reporting "would block" to
/// the caller, which then backs off. Bounds the work a hostile peer can cause.
const CLAIM_ATTEMPTS: u32 = 64;

/// Claims the next free slot for a producer, announcing each attempt in `claim` (its
/// seat's word); the caller must then `publish` it.
pub(crate) fn claim_free(ring: &RingView, claim: &AtomicU64) -> Result<u64, Unavailable> {
    let control = ring.control();
    // SYNC: Relaxed; the position only arbitrates between producers (through the CAS
    // below); the slot's sequence carries the data.
    let mut tail = control.tail.load(Relaxed);
    for _ in 0..CLAIM_ATTEMPTS {
        // SYNC: Acquire; pairs with the Release store in `release`: the consumer of the
        // previous lap finished reading the slot before we write it.
        let seq = ring.meta(tail).seq.load(Acquire);
        match seq.wrapping_sub(tail) as i64 {
            // The slot is free, but the ring holds its limit of messages (unless another
            // producer moved on meanwhile: then look again there).
            0 if !within_limit(ring, tail) => {
                // SYNC: Relaxed, as above.
                let now = control.tail.load(Relaxed);
                if now == tail {
                    break;
                }
                tail = now;
            }
            0 => {
                // SYNC: Relaxed; ordered before the CAS by its Release.
                claim.store(tail, Relaxed);
                // SYNC: Release on success; pairs with the Acquire load of `tail` in
                // `rescue`: who sees the position claimed sees the announcement.
                // Exclusivity comes from the RMW itself.
                let order = weaken(Release, Mutation::MpmcClaim);
                match control.tail.compare_exchange_weak(tail, tail.wrapping_add(1), order, Relaxed) {
                    Ok(_) => return Ok(tail),
                    Err(now) => tail = now,
                }
            }
            // The slot still holds an earlier lap's message: the ring is full.
            d if d < 0 => break,
            // Another producer claimed this position: catch up. (SYNC: Relaxed, as above.)
            _ => tail = control.tail.load(Relaxed),
        }
    }
    withdraw(claim);
    Err(Unavailable::WouldBlock)
}

/// Whether a producer may claim `tail` without the ring holding more than its limit
/// (its capacity, fewer than the slots when that is not a power of two): the position
/// `limit` before it must be released. Every position before that one was checked when
/// the position `limit` after it was claimed, and a released slot stays released until
/// its next lap, which lies beyond `tail`; so at most `limit` positions are unreleased.
/// With as many slots as the limit, the free slot at `tail` says it already.
fn within_limit(ring: &RingView, tail: u64) -> bool {
    let (limit, slots) = (ring.limit(), ring.capacity());
    if limit == slots {
        return true;
    }
    let Some(oldest) = tail.checked_sub(limit) else { return true };
    // SYNC: Acquire; pairs with the Release store in `release`, as the load of the
    // claimed slot's own sequence does (nothing is read through it; a stale value only
    // says "full", and the caller retries).
    let seq = ring.meta(oldest).seq.load(Acquire);
    (seq.wrapping_sub(oldest.wrapping_add(slots)) as i64) >= 0
}

/// Marks the slot at `pos`, just claimed for a loan, as [`LOANED`].
pub(crate) fn mark_loaned(ring: &RingView, pos: u64) {
    // SYNC: Relaxed; a hint to consumers, which read it only while the slot is claimed
    // and unpublished (`in_progress`): a consumer that misses it waits its bounded time
    // for nothing. The producer owns the word until it publishes; `publish` overwrites it.
    ring.meta(pos).len.store(LOANED, Relaxed);
}

/// Withdraws a seat's announcement once its slot is published or released, or the
/// attempt given up.
fn withdraw(claim: &AtomicU64) {
    // SYNC: Release; pairs with the Acquire load of the claim word in
    // `liveness::seats::occupant`: who sees the claim withdrawn sees the slot published
    // or released.
    claim.store(NO_CLAIM, Release);
}

/// Publishes the claimed slot at `pos` with `len` bytes (or [`CANCELLED`]), and withdraws
/// the claim.
pub(crate) fn publish(ring: &RingView, pos: u64, len: u64, claim: &AtomicU64) {
    let meta = ring.meta(pos);
    // SYNC: Relaxed; made visible by the Release store of `seq` just below.
    meta.len.store(len, Relaxed);
    // SYNC: Release; pairs with the Acquire load of `seq` in `claim_message`: the
    // payload and the length are visible to the consumer that sees `pos + 1`.
    meta.seq.store(pos.wrapping_add(1), weaken(Release, Mutation::MpmcPublish));
    withdraw(claim);
}

/// Claims the oldest published message for a consumer, if `accept` takes its length
/// (otherwise it stays in the ring, `Refused`). Returns its position and length; the
/// caller must then `release` it.
///
/// Cancelled and abandoned slots on the way are released and skipped; `freed` is called
/// after any were, so the caller can wake a parked producer. Skipping is progress, so it
/// does not use up the attempts (it is bounded by the capacity instead). Each attempt is
/// announced in `claim`, the consumer's seat word, which holds the position until
/// `release`.
///
/// With `tell_writing`, a next position claimed by a copy send not yet published is
/// reported as [`Unavailable::Writing`] rather than [`Unavailable::WouldBlock`] (two more
/// loads on the empty path, one of them of the producers' `tail`): for a caller that
/// waits for it differently from an empty ring.
pub(crate) fn claim_message(
    ring: &RingView,
    claim: &AtomicU64,
    accept: impl Fn(usize) -> bool,
    freed: impl Fn(),
    tell_writing: bool,
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
        // SYNC: Acquire; pairs with the Release store in `publish` (or the CAS in
        // `rescue`).
        let seq = meta.seq.load(Acquire);
        let published = head.wrapping_add(1);
        let abandoned = seq == published | ABANDONED;
        if seq != published && !abandoned {
            if (seq.wrapping_sub(published) as i64) < 0 {
                // Not published yet: the ring is empty, or a producer is mid-write.
                break Err(if tell_writing { in_progress(ring, head, seq) } else { Unavailable::WouldBlock });
            }
            // Another consumer took this position: catch up. (SYNC: Relaxed, as above.)
            head = control.head.load(Relaxed);
            attempts += 1;
            continue;
        }
        // SYNC: Relaxed; made visible by the Acquire load of `seq` above. If the CAS
        // below succeeds, nobody claimed the slot in between, so this is the claimed
        // message's length.
        let len = if abandoned { CANCELLED } else { meta.len.load(Relaxed) };
        if len != CANCELLED && len <= ring.slot_size() as u64 && !accept(len as usize) {
            break Err(Unavailable::Refused(len as usize));
        }
        // SYNC: Relaxed; ordered before the CAS by its Release.
        claim.store(head, Relaxed);
        // SYNC: Release on success; pairs with the Acquire load of `head` in `rescue`, as
        // in `claim_free`. Exclusivity comes from the RMW itself.
        let order = weaken(Release, Mutation::MpmcClaim);
        if let Err(now) = control.head.compare_exchange_weak(head, published, order, Relaxed) {
            head = now;
            attempts += 1;
            continue;
        }
        if len == CANCELLED {
            if abandoned {
                // A dead producer may have left `LOANED` in the length word, which would
                // make consumers of the next lap take a copy send for a loan. The slot
                // is ours until released. (SYNC: Relaxed; published by `release`.)
                meta.len.store(CANCELLED, Relaxed);
            }
            release(ring, head, claim);
            head = published;
            skipped += 1;
            continue;
        }
        if len > ring.slot_size() as u64 {
            // Hand the slot on so the ring keeps moving, then report.
            release(ring, head, claim);
            skipped += 1;
            break Err(Unavailable::Corrupt("a message length exceeds the slot size"));
        }
        break Ok((head, len as usize));
    };
    if result.is_err() {
        withdraw(claim);
    }
    if skipped > 0 {
        freed();
    }
    result
}

/// What an unpublished slot at position `head`, whose sequence is `seq`, means to a
/// consumer: [`Unavailable::Writing`] if a producer has claimed it (the tail is past it)
/// for a copy send, [`Unavailable::WouldBlock`] if for a loan, or if nobody has.
fn in_progress(ring: &RingView, head: u64, seq: u64) -> Unavailable {
    if seq != head {
        // An earlier lap's message not yet released: nobody can have claimed `head`.
        return Unavailable::WouldBlock;
    }
    // SYNC: Relaxed; a send that returned before this call began (happens-before) has its
    // claim visible here by coherence; a claim made meanwhile may or may not show.
    let tail = ring.control().tail.load(Relaxed);
    // SYNC: Relaxed; a hint (see `mark_loaned`): a stale value makes the caller wait its
    // bounded time for nothing, or not wait for a copy claimed just now.
    let loaned = ring.meta(head).len.load(Relaxed) == LOANED;
    if (tail.wrapping_sub(head) as i64) > 0 && !loaned {
        Unavailable::Writing(head)
    } else {
        Unavailable::WouldBlock
    }
}

/// Whether the producer of `pos`, which [`claim_message`] found writing, is still at it:
/// it has not published (or cancelled) the slot, nor marked it [`LOANED`] (a loan whose
/// mark the consumer's first look missed). The slot's two words are all a consumer
/// waiting for it needs to watch.
pub(crate) fn writing(ring: &RingView, pos: u64) -> bool {
    let meta = ring.meta(pos);
    // SYNC: Relaxed, both; they only say when to call `claim_message` again, whose
    // Acquire load of `seq` is what makes the message visible.
    meta.seq.load(Relaxed) == pos && meta.len.load(Relaxed) != LOANED
}

/// Hands the slot at `pos` to the producers of the next lap, and withdraws the claim.
pub(crate) fn release(ring: &RingView, pos: u64, claim: &AtomicU64) {
    // SYNC: Release; pairs with the Acquire load of `seq` in `claim_free`: our reads of
    // the payload finish before a producer of the next lap writes it.
    ring.meta(pos).seq.store(pos.wrapping_add(ring.capacity()), Release);
    withdraw(claim);
}

/// What [`rescue`] did with a dead handle's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rescue {
    /// Nothing to do: the claim was never completed, or its slot has moved on.
    Nothing,
    /// A dead producer's slot is now marked abandoned: consumers can skip it.
    Skippable,
    /// A dead consumer's slot is released: producers can reuse it.
    Freed,
    /// A live handle announces the same position, so it may be the real claimer: look
    /// again later.
    Pending,
}

/// Resolves the claim on `pos` of a handle whose process is dead, a `producer` or a
/// consumer. `live_claim` says whether a live handle of the same side announces `pos`.
///
/// The dead handle may have announced `pos` and died before (or after losing) its CAS.
/// The slot is only taken from its claimer when the position was claimed (the tail or
/// head is past it), its sequence shows it unfinished, and no live handle announces it:
/// every claimer announces before its CAS and withdraws only after it published or
/// released, so the claimer is then the dead handle. A CAS on the sequence makes the
/// rescue happen once, and not at all if the slot moved on meanwhile.
pub(crate) fn rescue(ring: &RingView, pos: u64, producer: bool, live_claim: impl FnOnce() -> bool) -> Rescue {
    let control = ring.control();
    let meta = ring.meta(pos);
    // SYNC: Acquire; pairs with the Release stores of `seq`.
    let seq = meta.seq.load(Acquire);
    let published = pos.wrapping_add(1);
    let (unfinished, position, rescued, outcome) = if producer {
        (seq == pos, &control.tail, published | ABANDONED, Rescue::Skippable)
    } else {
        (
            seq == published || seq == published | ABANDONED,
            &control.head,
            pos.wrapping_add(ring.capacity()),
            Rescue::Freed,
        )
    };
    // SYNC: Acquire; pairs with the Release CAS in `claim_free` / `claim_message`: the
    // claimer's announcement is visible to `live_claim` below.
    let claimed = (position.load(Acquire).wrapping_sub(pos) as i64) > 0;
    if !unfinished || !claimed {
        return Rescue::Nothing;
    }
    if live_claim() {
        return Rescue::Pending;
    }
    // SYNC: AcqRel on success: Release pairs with the Acquire loads of `seq` by the next
    // consumer or producer; Acquire orders the dead handle's writes before ours.
    match meta.seq.compare_exchange(seq, rescued, AcqRel, Relaxed) {
        Ok(_) => outcome,
        Err(_) => Rescue::Nothing,
    }
}

/// Whether the slot at the consumers' next position holds something other than a free
/// slot of this lap: a message, a cancelled or abandoned one, or a position another
/// consumer took already (a look, for a caller deciding whether to sleep; it may say yes
/// spuriously, and `claim_message` decides).
pub(crate) fn has_message(ring: &RingView) -> bool {
    // SYNC: Relaxed; a guess, as in `claim_message`.
    let head = ring.control().head.load(Relaxed);
    // SYNC: Acquire; pairs with the Release store in `publish`.
    ring.meta(head).seq.load(Acquire) != head
}

/// Whether the slot at the producers' next position is free (or taken by another
/// producer already, so the position moved on): a look, which may say yes spuriously.
pub(crate) fn has_room(ring: &RingView) -> bool {
    // SYNC: Relaxed; a guess, as in `claim_free`.
    let tail = ring.control().tail.load(Relaxed);
    // SYNC: Acquire; pairs with the Release store in `release`.
    let seq = ring.meta(tail).seq.load(Acquire);
    (seq.wrapping_sub(tail) as i64) > 0 || (seq == tail && within_limit(ring, tail))
}

/// Messages published and not yet released by a consumer, read or not (a snapshot
/// while other processes move; it scans every slot). A slot at index `i` is free exactly
/// when its sequence is `i` modulo the capacity; published or held, it is `i + 1`.
pub(crate) fn in_flight(ring: &RingView) -> u64 {
    let mask = ring.capacity() - 1;
    // SYNC: Relaxed; a snapshot for information, nothing is read through it.
    (0..ring.capacity()).filter(|&i| ring.meta(i).seq.load(Relaxed) & mask != i).count() as u64
}
