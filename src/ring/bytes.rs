//! The single-producer single-consumer byte ring: messages of any size up to a maximum,
//! as variable-length records in one region of `capacity` bytes.
//!
//! # The design
//!
//! Lamport's ring again (as in [`spsc`](super::spsc)), but its positions count bytes
//! instead of slots. A message of `n` bytes is one *record*: a 16-byte header (the
//! [`SlotMeta`] of the slot rings: a commit word and a length) followed by the payload,
//! rounded up to [`SLOT_ALIGN`], so every record and every payload starts 16-aligned. A
//! record never wraps: when the bytes left before the end of the region are too few, the
//! producer writes a *padding record* there (its length word is [`PADDING`]; it covers
//! the rest of the lap) and the record starts at the beginning of the region. So a loan
//! of `n` bytes is one contiguous region and a receive guard one contiguous slice, in
//! place.
//!
//! Why records and not a pool of blobs referenced by offset (iceoryx2's dynamic slices):
//! a pool needs an allocator in shared memory, reference counts and a way to find the
//! blobs a crashed process held, and its fragmentation is another way to be full. A
//! record ring has nothing to allocate or leak: a record is freed by the consumer
//! moving its position past it, exactly as a slot is, and a producer that dies with a
//! loan simply never moved its position. The price is that a large message waits for
//! contiguous room, which the bound below makes always reachable.
//!
//! # Room for the largest message, never a deadlock
//!
//! A claim of a record of `need` bytes reserves `need` bytes, the padding before it if
//! it had to skip to the start, and the next record's 16-byte header (see below). The
//! worst case, from an empty ring, is padding of `need - 16` bytes: `2 * need` in all.
//! So a ring must hold at least two records of the maximum message
//! ([`min_capacity`], checked when the channel is created): once the consumer has
//! drained the ring, a claim of any size up to the maximum succeeds. A blocking loan
//! waits for that; a `try_` loan reports the ring full; a message above the maximum is
//! refused as too large before it reaches the ring.
//!
//! # Publication
//!
//! As in the slot ring, the consumer waits on the commit word of the record it reads
//! next, set by the producer to `position + 1` when it publishes; the producer stores
//! `tail` too, for a side that attaches later and for inspection. Unlike a slot, the
//! place of the next record's header held anything in an earlier lap, payload bytes
//! included, which might by chance equal `position + 1`. So when the producer stages a
//! record it first zeroes the commit word where the *next* record will start (zero is no
//! position's `+ 1`), and it publishes only after: a consumer that has seen a record
//! published sees the next header invalid until it is published in turn. The claim
//! reserves those 16 bytes, so the zeroing never touches a record the consumer holds.
//!
//! # The peer is not trusted
//!
//! Positions read from shared memory are checked to be 16-aligned and within a
//! capacity of the other side's; a record's length is checked against the maximum
//! message and the record against the end of the region; a padding record at the start
//! of the region is impossible. Anything else is [`Unavailable::Corrupt`].
//!
//! # Under loom
//!
//! Loom's atomics cannot share memory with payload bytes, so under `--cfg ferry_loom`
//! the record headers live in a table beside the region, one per 16-byte unit, instead
//! of at the start of each record; the algorithm is the same code. Each unit's
//! [`SlotMeta::payload`] cell records the payload accesses, so loom reports a producer
//! writing bytes that the consumer still reads, wherever the records' boundaries fall.

use std::{mem::size_of, ptr::NonNull};

use crossbeam_utils::CachePadded;

use crate::{
    ring::{slots_offset, Geometry, RingControl, RingKind, SlotMeta, Unavailable, SLOT_ALIGN},
    signal::Signal,
    sync::{
        weaken, AtomicU64, Mutation,
        Ordering::{Acquire, Relaxed, Release},
        UnsafeCell,
    },
};

/// Bytes of a record's header: a [`SlotMeta`] in production.
pub(crate) const HEADER: u64 = SLOT_ALIGN as u64;
/// The length word of a padding record, which covers the rest of the lap.
pub(crate) const PADDING: u64 = u64::MAX;

/// The stamp a record's commit word carries for position `pos`: `pos + 1`, wrapping (a
/// position read from shared memory may be anything). The MPMC and broadcast rings or a
/// state flag into it.
#[inline(always)]
pub(crate) fn stamp(pos: u64) -> u64 {
    pos.wrapping_add(1)
}

/// Bytes a record of a message of `len` bytes occupies: header and payload, 16-aligned.
pub(crate) fn record_size(len: usize) -> u64 {
    HEADER + (len as u64).next_multiple_of(HEADER)
}

/// The smallest ring, in bytes, that always has room for a message of `max_message`
/// bytes once drained: two of its records (see the module doc), rounded up to a power
/// of two. `None` if that overflows.
pub(crate) fn min_capacity(max_message: usize) -> Option<usize> {
    usize::try_from(record_size(max_message).checked_mul(2)?).ok()?.checked_next_power_of_two()
}

/// Bytes the byte ring of `geometry` occupies: the control block (and an MPMC ring's
/// reclaim position), the region (and, under loom, the header table).
pub(crate) fn ring_bytes(geometry: &Geometry) -> Option<usize> {
    let region = geometry.capacity;
    #[cfg(ferry_loom)]
    let region = region.checked_add(region / SLOT_ALIGN * size_of::<SlotMeta>())?;
    region_offset(geometry.kind).checked_add(region)
}

/// Offset of the region from the start of the ring: after the control block, and on an
/// MPMC or broadcast ring after the reclaim position (`ring::bytes_mpmc`) on lines of
/// its own.
fn region_offset(kind: RingKind) -> usize {
    match kind {
        RingKind::MpmcBytes | RingKind::BroadcastBytes => slots_offset() + size_of::<CachePadded<AtomicU64>>(),
        _ => slots_offset(),
    }
}

/// A byte ring's memory, seen through its geometry. Copyable; it borrows nothing, so the
/// owner of the memory must outlive every use (the channel keeps its segment alive).
#[derive(Clone, Copy)]
pub(crate) struct ByteRing {
    base: NonNull<u8>,
    /// Offset of the region from `base` ([`region_offset`]).
    region: usize,
    /// `capacity - 1`; the capacity is a power of two, at least `2 * HEADER`.
    mask: u64,
    max_message: usize,
}

impl ByteRing {
    /// Views the byte ring at `base`.
    ///
    /// # Safety
    /// `base` must be aligned to 64 bytes and point to `ring_bytes(geometry)` bytes,
    /// initialised by [`ByteRing::init`] (here or in another process), that stay mapped
    /// for as long as the view or any copy of it is used. `geometry` must be valid.
    pub(crate) unsafe fn new(base: NonNull<u8>, geometry: &Geometry) -> Self {
        debug_assert!(geometry.validate().is_ok());
        Self {
            base,
            region: region_offset(geometry.kind),
            mask: geometry.capacity as u64 - 1,
            max_message: geometry.slot_size,
        }
    }

    /// Writes an empty ring into the memory at `base`, which must be zeroed.
    ///
    /// # Safety
    /// As for [`ByteRing::new`], and no other thread or process may use the memory yet.
    pub(crate) unsafe fn init(base: NonNull<u8>, geometry: &Geometry) -> Self {
        // SAFETY: the caller guarantees the memory; nobody else sees it yet.
        let ring = unsafe { Self::new(base, geometry) };
        // SAFETY: the control block lies at the ring's start, aligned, unshared.
        unsafe {
            base.cast::<RingControl>().as_ptr().write(RingControl {
                tail: CachePadded::new(AtomicU64::new(0)),
                head: CachePadded::new(AtomicU64::new(0)),
                not_empty: CachePadded::new(Signal::new()),
                not_full: CachePadded::new(Signal::new()),
            });
        }
        if ring.region != slots_offset() {
            // SAFETY: the reclaim position follows the control block (`region_offset`),
            // aligned to its 128 bytes; nobody else sees it.
            unsafe { ring.reclaim_ptr().write(CachePadded::new(AtomicU64::new(0))) };
        }
        // In production the region is zeroed, so the first header's commit word says
        // "unpublished"; headers elsewhere are zeroed by the producer before they count.
        // Under loom every unit's header must be a constructed object.
        let units = if cfg!(ferry_loom) { ring.capacity() / HEADER } else { 1 };
        for unit in 0..units {
            // SAFETY: `meta_ptr` is in bounds and 16-aligned; nobody else sees it.
            unsafe {
                ring.meta_ptr(unit * HEADER).write(SlotMeta {
                    seq: AtomicU64::new(0),
                    len: AtomicU64::new(0),
                    payload: UnsafeCell::new(()),
                });
            }
        }
        ring
    }

    /// Runs the destructors of the shared objects (needed under loom).
    ///
    /// # Safety
    /// Only for memory this process initialised and nobody uses any more.
    pub(crate) unsafe fn drop_in_place(self) {
        let units = if cfg!(ferry_loom) { self.capacity() / HEADER } else { 1 };
        // SAFETY: the caller guarantees exclusive, initialised memory.
        unsafe {
            self.base.cast::<RingControl>().as_ptr().drop_in_place();
            if self.region != slots_offset() {
                self.reclaim_ptr().drop_in_place();
            }
            for unit in 0..units {
                self.meta_ptr(unit * HEADER).drop_in_place();
            }
        }
    }

    /// Bytes in the region.
    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The largest message.
    pub(crate) fn max_message(&self) -> usize {
        self.max_message
    }

    /// The shared positions.
    pub(crate) fn control(&self) -> &RingControl {
        // SAFETY: `new`'s contract: an initialised `RingControl` lies at `base`.
        unsafe { self.base.cast::<RingControl>().as_ref() }
    }

    /// An MPMC or broadcast ring's reclaim position (see `ring::bytes_mpmc`): every byte
    /// before it is free for producers. Not on a ring of kind [`RingKind::SpscBytes`].
    pub(crate) fn reclaim(&self) -> &AtomicU64 {
        debug_assert_ne!(self.region, slots_offset());
        // SAFETY: on an MPMC byte ring `init` wrote the position there (`region_offset`).
        unsafe { &*self.reclaim_ptr() }
    }

    fn reclaim_ptr(&self) -> *mut CachePadded<AtomicU64> {
        // SAFETY: the position follows the control block, inside the ring (`ring_bytes`).
        unsafe { self.base.as_ptr().add(slots_offset()).cast() }
    }

    /// Bytes from `pos` to the end of the region: at least 1, at most the capacity.
    pub(crate) fn room_to_end(&self, pos: u64) -> u64 {
        self.capacity() - (pos & self.mask)
    }

    /// The header of the record at `pos`.
    pub(crate) fn meta(&self, pos: u64) -> &SlotMeta {
        // SAFETY: `meta_ptr` is in bounds and aligned; in production any 16 bytes are a
        // valid `SlotMeta` (two atomic words and a zero-sized cell), under loom `init`
        // constructed one per unit.
        unsafe { &*self.meta_ptr(pos) }
    }

    /// The first payload byte of the record at `pos`, `SLOT_ALIGN`-aligned. The record
    /// must have been checked to lie within the region.
    pub(crate) fn payload(&self, pos: u64) -> *mut u8 {
        // SAFETY: the offset, masked to a 16-aligned unit, plus the header is at most the
        // capacity: one past the region's end at worst (a zero-length payload).
        unsafe { self.region().add(self.offset(pos) as usize + HEADER as usize) }
    }

    /// Tells loom that the producer writes the units of `pos..pos + bytes` (no-op
    /// otherwise).
    pub(crate) fn mark_written(&self, pos: u64, bytes: u64) {
        if cfg!(ferry_loom) {
            for unit in (0..bytes).step_by(HEADER as usize) {
                self.meta(pos + unit).payload.with_mut(|_| ());
            }
        }
    }

    /// Tells loom that the consumer reads the units of `pos..pos + bytes` (no-op
    /// otherwise).
    pub(crate) fn mark_read(&self, pos: u64, bytes: u64) {
        if cfg!(ferry_loom) {
            for unit in (0..bytes).step_by(HEADER as usize) {
                self.meta(pos + unit).payload.with(|_| ());
            }
        }
    }

    /// Offset of `pos` in the region, rounded down to a 16-byte unit.
    fn offset(&self, pos: u64) -> u64 {
        pos & self.mask & !(HEADER - 1)
    }

    fn region(&self) -> *mut u8 {
        // SAFETY: the region follows the control block (`ring_bytes`).
        unsafe { self.base.as_ptr().add(self.region) }
    }

    /// Where the header of the record at `pos` lives: at the record's start in
    /// production, in the table after the region under loom.
    fn meta_ptr(&self, pos: u64) -> *mut SlotMeta {
        let offset = self.offset(pos) as usize;
        if cfg!(ferry_loom) {
            let table = self.capacity() as usize;
            // SAFETY: the table of `capacity / 16` headers follows the region (`ring_bytes`).
            unsafe { self.region().add(table + offset / SLOT_ALIGN * size_of::<SlotMeta>()).cast() }
        } else {
            // SAFETY: offset is 16-aligned and below the capacity, a multiple of 16.
            unsafe { self.region().add(offset).cast() }
        }
    }
}

/// The producer's private state.
#[derive(Debug)]
pub(crate) struct BytesProducer {
    /// Next position to write; ahead of the shared `tail` by the staged records.
    tail: u64,
    /// Last `tail` stored to shared memory.
    published: u64,
    /// Last `head` read from shared memory; the consumer has released everything before it.
    cached_head: u64,
}

impl BytesProducer {
    /// Takes over the producer side of `ring` where the last producer left it.
    pub(crate) fn attach(ring: &ByteRing) -> Result<Self, Unavailable> {
        // SYNC: Acquire; pairs with the Release store in `BytesConsumer::release`.
        let head = ring.control().head.load(Acquire);
        let tail = published_tail(ring)?;
        check_span(head, tail, ring.capacity())?;
        Ok(Self { tail, published: tail, cached_head: head })
    }

    /// Finds room for a message of `n` bytes (at most the maximum), without claiming
    /// it: returns the position of its record, past a padding record to come if the
    /// record would not fit before the end of the region.
    pub(crate) fn claim(&mut self, ring: &ByteRing, n: usize) -> Result<u64, Unavailable> {
        debug_assert!(n <= ring.max_message());
        let need = record_size(n);
        let to_end = ring.room_to_end(self.tail);
        let start = if need > to_end { self.tail.wrapping_add(to_end) } else { self.tail };
        // The record, the padding before it, and the next record's header.
        let end = start.wrapping_add(need).wrapping_add(HEADER);
        if end.wrapping_sub(self.cached_head) > ring.capacity() {
            // SYNC: Acquire; pairs with the Release store of `head` in
            // `BytesConsumer::release`: the consumer's reads of the bytes we are about to
            // reuse happened before we overwrite them.
            let head = ring.control().head.load(Acquire);
            check_span(head, self.tail, ring.capacity())?;
            self.cached_head = head;
            if end.wrapping_sub(head) > ring.capacity() {
                return Err(Unavailable::WouldBlock);
            }
        }
        ring.mark_written(start, need);
        Ok(start)
    }

    /// Whether a claim of `n` bytes would find room now (a look, for a caller deciding
    /// whether to sleep; `claim` decides). The same arithmetic as `claim`, without
    /// moving the cached head.
    pub(crate) fn has_room(&self, ring: &ByteRing, n: usize) -> bool {
        let need = record_size(n);
        let to_end = ring.room_to_end(self.tail);
        let start = if need > to_end { self.tail.wrapping_add(to_end) } else { self.tail };
        // SYNC: Acquire; pairs with the Release store of `head` in
        // `BytesConsumer::release`, as the load in `claim`.
        let head = ring.control().head.load(Acquire);
        // A head beyond our tail (a scribbled one) says no room; `claim` reports it.
        head <= self.tail && start.wrapping_add(need).wrapping_add(HEADER).wrapping_sub(head) <= ring.capacity()
    }

    /// Records `len` bytes at `start` (from `claim` with at least `len`) and moves past
    /// the record, writing the padding record first if `start` skipped to the start of
    /// the region. Visible to the consumer only after `publish`.
    pub(crate) fn stage(&mut self, ring: &ByteRing, start: u64, len: usize) {
        debug_assert!(len <= ring.max_message());
        if start != self.tail {
            debug_assert_eq!(start, self.tail.wrapping_add(ring.room_to_end(self.tail)));
            // SYNC: Relaxed; ordered before the consumer's read by the Release of the
            // padding's commit word in `publish`.
            ring.meta(self.tail).len.store(PADDING, Relaxed);
            // SYNC: Relaxed; the header after the padding says "unpublished" to a
            // consumer that has seen the padding published (Release in `publish`).
            ring.meta(start).seq.store(0, Relaxed);
        }
        let end = start.wrapping_add(record_size(len));
        // SYNC: Relaxed; ordered before the consumer's read by the Release in `publish`.
        ring.meta(start).len.store(len as u64, Relaxed);
        // SYNC: Relaxed; the next header says "unpublished" to a consumer that has seen
        // this record published (the Release store of its commit word in `publish`),
        // whatever an earlier lap left there.
        ring.meta(end).seq.store(0, Relaxed);
        self.tail = end;
    }

    /// Makes every staged record visible to the consumer. Returns whether there was
    /// anything to publish.
    pub(crate) fn publish(&mut self, ring: &ByteRing) -> bool {
        let any = self.published != self.tail;
        let mut pos = self.published;
        while pos < self.tail {
            // SYNC: Relaxed; our own store in `stage`.
            let len = ring.meta(pos).len.load(Relaxed);
            let next = match len {
                PADDING => pos.wrapping_add(ring.room_to_end(pos)),
                len => pos.wrapping_add(record_size(len.min(ring.max_message() as u64) as usize)),
            };
            // SYNC: Release; pairs with the Acquire load of `seq` in
            // `BytesConsumer::next_message`: the record's payload and length, and the
            // zeroed header after it, are visible to the consumer that sees `pos + 1`.
            ring.meta(pos).seq.store(stamp(pos), weaken(Release, Mutation::BytesPublish));
            pos = next;
        }
        if any {
            // SYNC: Release; pairs with the Acquire load in `published_tail` (of a side
            // taking over): it starts after the published records.
            ring.control().tail.store(self.tail, Release);
            self.published = self.tail;
        }
        any
    }

    /// Bytes published and not yet released by the consumer.
    pub(crate) fn in_flight(&mut self, ring: &ByteRing) -> Result<u64, Unavailable> {
        // SYNC: Acquire; pairs with `BytesConsumer::release` like the load in `claim`.
        let head = ring.control().head.load(Acquire);
        check_span(head, self.tail, ring.capacity())?;
        self.cached_head = head;
        Ok(self.published.saturating_sub(head))
    }
}

/// The consumer's private state.
#[derive(Debug)]
pub(crate) struct BytesConsumer {
    /// Next position to read; ahead of the shared `head` by the records read but not
    /// yet released to the producer.
    head: u64,
    /// Last `head` stored to shared memory.
    published: u64,
}

impl BytesConsumer {
    /// Takes over the consumer side of `ring` where the last consumer left it.
    pub(crate) fn attach(ring: &ByteRing) -> Result<Self, Unavailable> {
        // SYNC: Acquire; pairs with the Release store in `release` of an earlier consumer.
        let head = ring.control().head.load(Acquire);
        check_span(head, published_tail(ring)?, ring.capacity())?;
        Ok(Self { head, published: head })
    }

    /// The position and length of the oldest unread message, past any padding record.
    pub(crate) fn next_message(&mut self, ring: &ByteRing) -> Result<(u64, usize), Unavailable> {
        for _ in 0..2 {
            let (pos, len) = published_record(ring, self.head)?.ok_or(Unavailable::WouldBlock)?;
            match len {
                None => self.head = pos.wrapping_add(ring.room_to_end(pos)),
                Some(len) => {
                    ring.mark_read(pos, record_size(len));
                    return Ok((pos, len));
                }
            }
        }
        Err(Unavailable::Corrupt("two padding records in a row"))
    }

    /// Whether a record (a message, or padding before one) is published at the next
    /// position (a look, for a caller deciding whether to sleep; `next_message` checks
    /// it fully).
    pub(crate) fn has_message(&self, ring: &ByteRing) -> bool {
        // SYNC: Acquire; pairs with the Release store of the commit word in
        // `BytesProducer::publish`, as the load in `published_record`.
        ring.meta(self.head).seq.load(Acquire) == stamp(self.head)
    }

    /// Moves past the message of `len` bytes returned by `next_message`. Its bytes go
    /// back to the producer at the next `release`.
    pub(crate) fn advance(&mut self, len: usize) {
        self.head = self.head.wrapping_add(record_size(len));
    }

    /// Hands every record read so far back to the producer. Returns whether there was
    /// anything to release.
    pub(crate) fn release(&mut self, ring: &ByteRing) -> bool {
        let any = self.published != self.head;
        if any {
            // SYNC: Release; pairs with the Acquire load of `head` in
            // `BytesProducer::claim`: our reads of the records finish before they are reused.
            ring.control().head.store(self.head, weaken(Release, Mutation::BytesRelease));
            self.published = self.head;
        }
        any
    }
}

/// The record at `pos` if it is published: `Some(len)` for a message, `None` for
/// padding. Its length and extent are checked against the ring.
fn published_record(ring: &ByteRing, pos: u64) -> Result<Option<(u64, Option<usize>)>, Unavailable> {
    let meta = ring.meta(pos);
    // SYNC: Acquire; pairs with the Release store of `seq` in `BytesProducer::publish`:
    // the record's payload and length are visible. Any other value, an earlier lap's, a
    // zeroed header or a hostile one, means "not published yet".
    if meta.seq.load(Acquire) != stamp(pos) {
        return Ok(None);
    }
    // SYNC: Relaxed; made visible by the Acquire load of `seq` above.
    let len = meta.len.load(Relaxed);
    let offset = pos & ring.mask;
    if len == PADDING {
        if offset == 0 {
            return Err(Unavailable::Corrupt("a padding record at the start of the ring"));
        }
        return Ok(Some((pos, None)));
    }
    if len > ring.max_message() as u64 {
        return Err(Unavailable::Corrupt("a record is longer than the largest message"));
    }
    if offset + record_size(len as usize) > ring.capacity() {
        return Err(Unavailable::Corrupt("a record runs past the end of the ring"));
    }
    Ok(Some((pos, Some(len as usize))))
}

/// The position up to which records are published, for a side taking over: `tail`, and
/// past it every record whose commit word shows it published (a producer stores `tail`
/// after the commit words). Bounded by the capacity, whatever shared memory says.
fn published_tail(ring: &ByteRing) -> Result<u64, Unavailable> {
    // SYNC: Acquire; pairs with the Release store of `tail` in `BytesProducer::publish`
    // (of an earlier producer, or the initialising store).
    let start = ring.control().tail.load(Acquire);
    if !start.is_multiple_of(HEADER) {
        return Err(Unavailable::Corrupt("the ring's positions are inconsistent"));
    }
    let mut tail = start;
    while tail.wrapping_sub(start) < ring.capacity() {
        match published_record(ring, tail)? {
            None => break,
            Some((pos, None)) => tail = pos.wrapping_add(ring.room_to_end(pos)),
            Some((pos, Some(len))) => tail = pos.wrapping_add(record_size(len)),
        }
    }
    Ok(tail)
}

/// Checks that `head..tail` is a possible span of published bytes.
fn check_span(head: u64, tail: u64, capacity: u64) -> Result<(), Unavailable> {
    match tail.checked_sub(head) {
        Some(n) if n <= capacity && head.is_multiple_of(HEADER) => Ok(()),
        _ => Err(Unavailable::Corrupt("the ring's positions are inconsistent")),
    }
}

#[cfg(all(test, not(ferry_loom)))]
mod tests {
    use super::*;
    use crate::signal::Signaling;

    #[test]
    fn records_are_sixteen_aligned_and_the_minimum_holds_two() {
        assert_eq!(record_size(0), 16);
        assert_eq!(record_size(1), 32);
        assert_eq!(record_size(16), 32);
        assert_eq!(record_size(17), 48);
        assert_eq!(min_capacity(100), Some(256));
        assert_eq!(min_capacity(112), Some(256));
        assert_eq!(min_capacity(113), Some(512));
        let geometry = Geometry {
            kind: RingKind::SpscBytes,
            signaling: Signaling::Futex,
            slot_size: 113,
            capacity: 256,
            fanout: Default::default(),
        };
        assert!(geometry.validate().is_err());
    }
}
