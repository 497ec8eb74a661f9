//! The single-producer single-consumer ring.
//!
//! Lamport's ring with the refinements of the fast SPSC queues (as in rtrb and folly's
//! `ProducerConsumerQueue`): positions are 64-bit counters that never wrap in practice
//! (no ABA, `full` is `tail - head == capacity`), each side owns one position, the
//! producer keeps a cached copy of the consumer's and re-reads it only when the cache
//! says full, and a side may stage several messages before publishing them together
//! (batching).
//!
//! The consumer does not wait on `tail`: it waits on the sequence word of the slot it
//! reads next, which the producer sets to `position + 1` when it publishes the slot. The
//! word shares a cache line with the message's length and first bytes, so a message
//! reaches a waiting consumer in one cache-line transfer instead of three (the tail's
//! line, then the slot's). The producer still stores `tail`, for a consumer that attaches
//! later and for inspection.
//!
//! The peer is not trusted: a position read from shared memory is checked against the
//! local one and the capacity before use, and a length against the slot size.

use crate::{
    ring::{RingView, Unavailable},
    sync::{
        weaken, Mutation,
        Ordering::{Acquire, Relaxed, Release},
    },
};

/// The producer's private state.
#[derive(Debug)]
pub(crate) struct Producer {
    /// Next position to write; ahead of the shared `tail` by the staged messages.
    tail: u64,
    /// Last `tail` stored to shared memory.
    published: u64,
    /// Last `head` read from shared memory; the consumer has released everything before it.
    cached_head: u64,
}

impl Producer {
    /// Takes over the producer side of `ring` where the last producer left it.
    pub(crate) fn attach(ring: &RingView) -> Result<Self, Unavailable> {
        // SYNC: Acquire; pairs with the Release store in `Consumer::release`.
        let head = ring.control().head.load(Acquire);
        let tail = published_tail(ring);
        check_span(head, tail, ring.capacity())?;
        Ok(Self { tail, published: tail, cached_head: head })
    }

    /// The position of a free slot to write, without claiming it: while fewer than the
    /// ring's limit (its capacity, at most the slots) are unreleased.
    pub(crate) fn next_free(&mut self, ring: &RingView) -> Result<u64, Unavailable> {
        if self.tail - self.cached_head >= ring.limit() {
            // SYNC: Acquire; pairs with the Release store of `head` in
            // `Consumer::release`: the consumer's reads of the slot we are about to
            // reuse happened before we overwrite it.
            let head = ring.control().head.load(Acquire);
            check_span(head, self.tail, ring.capacity())?;
            self.cached_head = head;
            if self.tail - head >= ring.limit() {
                return Err(Unavailable::WouldBlock);
            }
        }
        Ok(self.tail)
    }

    /// Records `len` for the slot at `next_free()` and moves past it. The message is
    /// visible to the consumer only after `publish`.
    pub(crate) fn stage(&mut self, ring: &RingView, len: usize) {
        debug_assert!(len <= ring.slot_size());
        debug_assert!(self.tail - self.cached_head < ring.limit());
        // SYNC: Relaxed; ordered before the consumer's read by the Release in `publish`.
        ring.meta(self.tail).len.store(len as u64, Relaxed);
        self.tail += 1;
    }

    /// Makes every staged message visible to the consumer, in order. Returns whether
    /// there was anything to publish.
    #[inline]
    pub(crate) fn publish(&mut self, ring: &RingView) -> bool {
        if self.published == self.tail {
            return false;
        }
        let mut pos = self.published;
        loop {
            // SYNC: Release; pairs with the Acquire load of `seq` in
            // `Consumer::next_message`: the slot's payload and length are visible to the
            // consumer that sees `pos + 1`.
            ring.meta(pos).seq.store(pos.wrapping_add(1), weaken(Release, Mutation::SpscPublish));
            pos += 1;
            if pos == self.tail {
                break;
            }
        }
        // SYNC: Release; pairs with the Acquire load in `Consumer::attach` (of a consumer
        // taking over): it starts after the published messages.
        ring.control().tail.store(self.tail, Release);
        self.published = self.tail;
        true
    }

    /// Whether a slot is free now (a look, for a caller deciding whether to sleep).
    pub(crate) fn has_room(&self, ring: &RingView) -> bool {
        // SYNC: Acquire; pairs with the Release store of `head` in `Consumer::release`.
        let head = ring.control().head.load(Acquire);
        self.tail.wrapping_sub(head) < ring.limit()
    }

    /// Messages published and not yet released by the consumer.
    pub(crate) fn in_flight(&mut self, ring: &RingView) -> Result<u64, Unavailable> {
        // SYNC: Acquire; pairs with `Consumer::release` like the load in `next_free`.
        let head = ring.control().head.load(Acquire);
        check_span(head, self.tail, ring.capacity())?;
        self.cached_head = head;
        Ok(self.published.saturating_sub(head))
    }
}

/// The consumer's private state.
#[derive(Debug)]
pub(crate) struct Consumer {
    /// Next position to read; ahead of the shared `head` by the messages read but not
    /// yet released to the producer.
    head: u64,
    /// Last `head` stored to shared memory.
    published: u64,
}

impl Consumer {
    /// Takes over the consumer side of `ring` where the last consumer left it.
    pub(crate) fn attach(ring: &RingView) -> Result<Self, Unavailable> {
        // SYNC: Acquire; pairs with the Release store in `release` of an earlier consumer.
        let head = ring.control().head.load(Acquire);
        check_span(head, published_tail(ring), ring.capacity())?;
        Ok(Self { head, published: head })
    }

    /// The position and length of the oldest unread message.
    pub(crate) fn next_message(&mut self, ring: &RingView) -> Result<(u64, usize), Unavailable> {
        let meta = ring.meta(self.head);
        // SYNC: Acquire; pairs with the Release store of `seq` in `Producer::publish`:
        // the slot's payload and length are visible. Any other value, an earlier lap's
        // or a hostile one, means "not published yet".
        if meta.seq.load(Acquire) != self.head.wrapping_add(1) {
            return Err(Unavailable::WouldBlock);
        }
        // SYNC: Relaxed; made visible by the Acquire load of `seq` above.
        let len = meta.len.load(Relaxed);
        if len > ring.slot_size() as u64 {
            return Err(Unavailable::Corrupt("a message length exceeds the slot size"));
        }
        Ok((self.head, len as usize))
    }

    /// Whether a message is published at the next position (a look, for a caller
    /// deciding whether to sleep; `next_message` checks it fully).
    pub(crate) fn has_message(&self, ring: &RingView) -> bool {
        // SYNC: Acquire; pairs with the Release store of `seq` in `Producer::publish`.
        ring.meta(self.head).seq.load(Acquire) == self.head.wrapping_add(1)
    }

    /// Moves past the message returned by `next_message`. Its slot goes back to the
    /// producer at the next `release`.
    pub(crate) fn advance(&mut self) {
        self.head += 1;
    }

    /// Hands every slot read so far back to the producer. Returns whether there was
    /// anything to release.
    pub(crate) fn release(&mut self, ring: &RingView) -> bool {
        let any = self.published != self.head;
        if any {
            // SYNC: Release; pairs with the Acquire load of `head` in
            // `Producer::next_free`: our reads of the slots finish before they are reused.
            ring.control().head.store(self.head, weaken(Release, Mutation::SpscRelease));
            self.published = self.head;
        }
        any
    }
}

/// The position up to which messages are published, for a side taking over: `tail`, and
/// past it every slot whose sequence word shows it published. A producer stores `tail`
/// after the sequence words, so one that died (or is) between the two leaves messages
/// past `tail` that a consumer may already have read and released. Bounded by the
/// capacity, whatever the sequence words say.
fn published_tail(ring: &RingView) -> u64 {
    // SYNC: Acquire; pairs with the Release store of `tail` in `Producer::publish` (of
    // an earlier producer, or the initialising store).
    let mut tail = ring.control().tail.load(Acquire);
    for _ in 0..ring.capacity() {
        // SYNC: Acquire; pairs with the Release store of `seq` in `Producer::publish`:
        // a new producer starts after that message.
        if ring.meta(tail).seq.load(Acquire) != tail.wrapping_add(1) {
            break;
        }
        tail = tail.wrapping_add(1);
    }
    tail
}

/// Checks that `head..tail` is a possible span of published messages.
fn check_span(head: u64, tail: u64, capacity: u64) -> Result<(), Unavailable> {
    match tail.checked_sub(head) {
        Some(n) if n <= capacity => Ok(()),
        _ => Err(Unavailable::Corrupt("the ring's positions are inconsistent")),
    }
}
