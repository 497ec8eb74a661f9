//! Ring geometry, the shared layout of a ring, and the view the ring algorithms run on.
//!
//! A ring occupies one contiguous, position-independent block of memory: a
//! [`RingControl`] (the positions, each on its own cache lines) followed by `capacity`
//! slots of `stride` bytes, each starting on a cache line. A slot is a 16-byte
//! [`SlotMeta`] (sequence and length) followed at once by the payload, so a small
//! message and its publication share one cache line: a receiver waiting on a slot's
//! sequence gets the message with the same line transfer. Nothing in the block is a pointer;
//! a position is a monotonically increasing 64-bit counter and its slot is
//! `position & (capacity - 1)`, so an index derived from any position, even a corrupt
//! one, is always inside the ring.
//!
//! The same block lives in a mapped segment in production and in heap memory in the
//! property tests and under loom ([`RingView`] does not know which).

pub(crate) mod broadcast;
pub(crate) mod bytes;
pub(crate) mod bytes_broadcast;
pub(crate) mod bytes_mpmc;
pub(crate) mod mpmc;
pub(crate) mod spsc;

use std::{mem::size_of, ptr::NonNull};

use crossbeam_utils::CachePadded;

use self::broadcast::{Fanout, Policy};
use crate::{
    signal::{Signal, Signaling},
    sync::{AtomicU64, UnsafeCell},
};

/// Alignment, in bytes, of the first byte of every message in a shared-memory channel: a
/// [`Loan`](crate::Loan)'s and a [`RecvGuard`](crate::RecvGuard)'s. A [`Pod`](crate::Pod)
/// type aligned to at most this can be written into a loan or read from a guard in place.
/// (On the socket and pipe transports a message lives in a buffer of this process, and
/// its alignment is not promised.)
///
/// This is the one place that states it: every slot's 16-byte header sits at the start
/// of a 64-byte line, with the payload right after it, and the layout is checked against
/// this constant when the crate is compiled.
///
/// # Examples
///
/// ```
/// use ferry::{Config, RingKind, SLOT_ALIGN};
///
/// for kind in [RingKind::Spsc, RingKind::Mpmc] {
///     let (mut tx, mut rx) = ferry::in_memory(&Config::new().kind(kind).slot_size(100).capacity(4))?;
///     for len in [1, 17, 100] {
///         let mut loan = tx.try_loan()?;
///         assert_eq!(loan.as_mut_ptr() as usize % SLOT_ALIGN, 0);
///         loan.commit(len);
///         let guard = rx.try_recv()?;
///         assert_eq!(guard.as_ptr() as usize % SLOT_ALIGN, 0);
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SLOT_ALIGN: usize = 16;
/// Slots start on cache lines of this size.
const LINE: usize = 64;
/// Largest slot size a channel may be created with (1 GiB).
pub const MAX_SLOT_SIZE: usize = 1 << 30;
/// Largest number of slots a channel may be created with.
pub const MAX_CAPACITY: usize = 1 << 24;
/// Largest ring, in bytes (64 GiB): bounds what a header can make a process map.
const MAX_RING_BYTES: usize = 1 << 36;

/// Which ring a channel runs. Chosen by the creator, stored in the segment.
///
/// # Examples
///
/// ```
/// use ferry::{Config, RingKind};
/// let (tx, rx) = ferry::in_memory(&Config::new().kind(RingKind::Mpmc))?;
/// let (_tx2, _rx2) = (tx.try_clone()?, rx.try_clone()?); // any number of each
/// # Ok::<(), ferry::AttachError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
// More kinds come (messages of any size): a match on a kind needs a wildcard arm.
#[non_exhaustive]
pub enum RingKind {
    /// One sender and one receiver: Lamport's ring with cached positions and batching.
    #[default]
    Spsc = 1,
    /// Any number of senders and receivers, in any processes; each message goes to one
    /// receiver. Vyukov's bounded queue with a sequence number per slot.
    Mpmc = 2,
    /// Any number of publishers and subscribers; every message goes to every
    /// subscriber, each reading it in place at its own cursor (see
    /// [`Publisher`](crate::Publisher) and [`Subscriber`](crate::Subscriber)).
    Broadcast = 3,
    /// One sender and one receiver, messages of any size up to a maximum in a ring sized
    /// in bytes (see [`Config::capacity_bytes`](crate::Config::capacity_bytes)):
    /// variable-length records, a padding record at the wrap.
    SpscBytes = 4,
    /// Any number of senders and receivers, messages of any size up to a maximum in a
    /// ring sized in bytes: the records of [`SpscBytes`](Self::SpscBytes), claimed by
    /// each side in turn.
    MpmcBytes = 5,
    /// Any number of publishers and subscribers, messages of any size up to a maximum in
    /// a ring sized in bytes: the records of [`MpmcBytes`](Self::MpmcBytes), read by
    /// every subscriber at its own cursor.
    BroadcastBytes = 6,
}

impl RingKind {
    pub(crate) fn from_u32(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Spsc),
            2 => Some(Self::Mpmc),
            3 => Some(Self::Broadcast),
            4 => Some(Self::SpscBytes),
            5 => Some(Self::MpmcBytes),
            6 => Some(Self::BroadcastBytes),
            _ => None,
        }
    }

    /// Whether the ring is sized in bytes and holds messages of any size (records),
    /// rather than a number of fixed slots.
    pub(crate) fn is_bytes(self) -> bool {
        matches!(self, Self::SpscBytes | Self::MpmcBytes | Self::BroadcastBytes)
    }

    /// Whether every message goes to every subscriber (publishers and subscribers).
    pub(crate) fn is_broadcast(self) -> bool {
        matches!(self, Self::Broadcast | Self::BroadcastBytes)
    }

    /// Whether each role is held by one handle at a time, named in its header word (no
    /// seats, nothing for crash recovery to resolve).
    pub(crate) fn is_spsc(self) -> bool {
        matches!(self, Self::Spsc | Self::SpscBytes)
    }
}

/// Why the ring could not give a slot or a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// No free slot (producer) or no published message (consumer).
    WouldBlock,
    /// MPMC consumer: the next position, this one, is claimed by a copy send that is
    /// writing it now (a loan's claim reports `WouldBlock`; see `mpmc::claim_message`).
    Writing(u64),
    /// The next message is this long and the caller refused it; it stays in the ring.
    Refused(usize),
    /// A position or length read from shared memory is impossible.
    Corrupt(&'static str),
}

/// The shape of a ring: its kind, how it signals, the payload bytes per slot, the
/// number of slots, and (broadcast only, the default elsewhere) its subscribers' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) kind: RingKind,
    pub(crate) signaling: Signaling,
    pub(crate) slot_size: usize,
    pub(crate) capacity: usize,
    pub(crate) fanout: Fanout,
}

impl Geometry {
    /// Checks the geometry, whether it comes from a caller or from a peer's header.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.kind.is_bytes() {
            return self.validate_bytes();
        }
        if self.slot_size == 0 || self.slot_size > MAX_SLOT_SIZE {
            return Err("slot size must be between 1 byte and 1 GiB");
        }
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err("capacity must be between 1 and 2^24 messages");
        }
        if self.kind == RingKind::Broadcast {
            if !self.capacity.is_power_of_two() {
                return Err("a broadcast channel's capacity must be a power of two");
            }
            self.fanout.validate(self.capacity)?;
        } else if self.fanout != Fanout::default() {
            return Err("only a broadcast ring has subscribers, a policy and a history");
        }
        if self.ring_bytes().is_none() {
            return Err("slot size times capacity exceeds 64 GiB");
        }
        Ok(())
    }

    /// Checks a ring sized in bytes: `capacity` bytes holding messages of at most
    /// `slot_size` bytes.
    fn validate_bytes(&self) -> Result<(), &'static str> {
        if self.slot_size > MAX_SLOT_SIZE {
            return Err("the largest message must be at most 1 GiB");
        }
        if !self.capacity.is_power_of_two() {
            return Err("a ring sized in bytes needs a power-of-two capacity");
        }
        match bytes::min_capacity(self.slot_size) {
            Some(min) if self.capacity >= min => {}
            _ => return Err("a ring sized in bytes must hold two of its largest messages (capacity >= 2 x (16 + max_message), rounded up to a power of two)"),
        }
        if self.ring_bytes().is_none() {
            return Err("the capacity exceeds 64 GiB");
        }
        if self.kind == RingKind::BroadcastBytes {
            self.fanout.validate(self.capacity)?;
            if self.fanout.policy != Policy::Block || self.fanout.history != 0 {
                return Err("a broadcast channel sized in bytes blocks and keeps no history (Policy::Overwrite and history need slots)");
            }
        } else if self.fanout != Fanout::default() {
            return Err("only a broadcast ring has subscribers, a policy and a history");
        }
        Ok(())
    }

    /// Slots in a ring of slots: the capacity rounded up to a power of two, so that a
    /// position maps to its slot with a mask, and at least two on MPMC (with one slot a
    /// sequence number could not tell "published at position p", p + 1, from "free for
    /// position p + 1", p + slots). The queues hold at most `capacity` messages all the
    /// same ([`RingView::limit`]); a broadcast ring's capacity is a power of two.
    pub(crate) fn slots(&self) -> usize {
        let slots = self.capacity.next_power_of_two();
        if self.kind == RingKind::Mpmc {
            slots.max(2)
        } else {
            slots
        }
    }

    /// Bytes from one slot's start to the next's: whole cache lines.
    pub(crate) fn stride(&self) -> usize {
        (size_of::<SlotMeta>() + self.slot_size).next_multiple_of(LINE)
    }

    /// Bytes the whole ring occupies, or `None` if that is out of range.
    pub(crate) fn ring_bytes(&self) -> Option<usize> {
        if self.kind.is_bytes() {
            return bytes::ring_bytes(self).filter(|&total| total <= MAX_RING_BYTES);
        }
        let slots = self.stride().checked_mul(self.slots())?;
        let total = slots.checked_add(slots_offset())?;
        (total <= MAX_RING_BYTES).then_some(total)
    }
}

impl std::fmt::Display for Geometry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            RingKind::Spsc => "SPSC",
            RingKind::Mpmc => "MPMC",
            RingKind::Broadcast => "broadcast",
            RingKind::SpscBytes => "SPSC byte",
            RingKind::MpmcBytes => "MPMC byte",
            RingKind::BroadcastBytes => "broadcast byte",
        };
        let signaling = match self.signaling {
            Signaling::Futex => "futex",
            Signaling::Semaphore => "semaphore",
        };
        if self.kind.is_bytes() {
            write!(
                f,
                "{kind} ring of {} B for messages up to {} B, {signaling} signaling",
                self.capacity, self.slot_size
            )?;
        } else {
            if self.slots() == self.capacity {
                write!(f, "{kind} ring of {} slots of {} B", self.capacity, self.slot_size)?;
            } else {
                write!(
                    f,
                    "{kind} ring of {} messages of {} B in {} slots",
                    self.capacity,
                    self.slot_size,
                    self.slots()
                )?;
            }
            write!(f, ", {signaling} signaling")?;
        }
        if self.kind.is_broadcast() {
            write!(f, ", {}", self.fanout)?;
        }
        Ok(())
    }
}

/// Offset of the first slot from the start of the ring.
fn slots_offset() -> usize {
    size_of::<RingControl>().next_multiple_of(LINE)
}

/// The shared positions and signals of a ring. Each sits on its own pair of cache
/// lines, so the producers' and the consumers' stores never contend for a line.
#[repr(C)]
pub(crate) struct RingControl {
    /// SPSC: position one past the last published message, stored by the producer only.
    /// MPMC: next position to claim, advanced by producers with a CAS.
    pub(crate) tail: CachePadded<AtomicU64>,
    /// SPSC: position one past the last released message, stored by the consumer only.
    /// MPMC: next position to claim, advanced by consumers with a CAS.
    pub(crate) head: CachePadded<AtomicU64>,
    /// Receivers park here while the ring is empty; senders notify after publishing.
    pub(crate) not_empty: CachePadded<Signal>,
    /// Senders park here while the ring is full; receivers notify after releasing.
    pub(crate) not_full: CachePadded<Signal>,
}

/// The per-slot metadata, in front of the payload on the slot's first cache line.
#[repr(C, align(16))]
pub(crate) struct SlotMeta {
    /// `p + 1` once the producer of position `p` has published the slot: what a consumer
    /// waits on. MPMC also uses it for the producers' turn: `p` while the slot is free for
    /// the producer of position `p`, `p + capacity` once the consumer released it.
    pub(crate) seq: AtomicU64,
    /// Length of the message in the slot. Written by the producer before it publishes the
    /// slot; a reader must check it against the slot size before using it. (MPMC: while
    /// a loan holds the slot, `mpmc::LOANED`.)
    pub(crate) len: AtomicU64,
    /// Zero-sized in production. Under loom it records each payload access, so that a
    /// read of a slot not yet published, or a write to one not yet released, is reported.
    pub(crate) payload: UnsafeCell<()>,
}

// Cross-process layout: these sizes are part of the on-disk layout version.
#[cfg(not(ferry_loom))]
const _: () = {
    assert!(size_of::<SlotMeta>() == SLOT_ALIGN);
    assert!(LINE.is_multiple_of(SLOT_ALIGN));
    assert!(size_of::<RingControl>() == 512);
};

/// A ring's memory, seen through its geometry. Copyable; it borrows nothing, so the
/// owner of the memory must outlive every use (the channel keeps its segment alive).
#[derive(Clone, Copy)]
pub(crate) struct RingView {
    base: NonNull<u8>,
    stride: usize,
    mask: u64,
    /// The most messages the queue holds: its capacity, at most the slots.
    limit: u64,
    slot_size: usize,
}

impl RingView {
    /// Views the ring at `base`.
    ///
    /// # Safety
    /// `base` must be aligned to 128 bytes and point to `geometry.ring_bytes()` bytes,
    /// initialised by [`RingView::init`] (here or in another process), that stay mapped
    /// for as long as the view or any copy of it is used. `geometry` must be valid.
    pub(crate) unsafe fn new(base: NonNull<u8>, geometry: &Geometry) -> Self {
        debug_assert!(geometry.validate().is_ok());
        Self {
            base,
            stride: geometry.stride(),
            mask: geometry.slots() as u64 - 1,
            limit: geometry.capacity as u64,
            slot_size: geometry.slot_size,
        }
    }

    /// Writes an empty ring into the memory at `base`.
    ///
    /// # Safety
    /// As for [`RingView::new`], and no other thread or process may use the memory yet.
    pub(crate) unsafe fn init(base: NonNull<u8>, geometry: &Geometry) -> Self {
        // SAFETY: the caller guarantees the memory; nobody else sees it yet.
        let view = unsafe { Self::new(base, geometry) };
        // SAFETY: the control block lies at the ring's start, 128-aligned, unshared.
        unsafe {
            base.cast::<RingControl>().as_ptr().write(RingControl {
                tail: CachePadded::new(AtomicU64::new(0)),
                head: CachePadded::new(AtomicU64::new(0)),
                not_empty: CachePadded::new(Signal::new()),
                not_full: CachePadded::new(Signal::new()),
            });
        }
        for pos in 0..=view.mask {
            // SAFETY: `slot` stays inside the ring and is 64-aligned; nobody else sees it.
            unsafe {
                view.slot(pos).cast::<SlotMeta>().write(SlotMeta {
                    seq: AtomicU64::new(pos),
                    len: AtomicU64::new(0),
                    payload: UnsafeCell::new(()),
                });
            }
        }
        view
    }

    /// Runs the destructors of the shared objects (needed under loom, which tracks
    /// them; a no-op for std atomics).
    ///
    /// # Safety
    /// Only for memory this process initialised and nobody uses any more.
    pub(crate) unsafe fn drop_in_place(self) {
        // SAFETY: the caller guarantees exclusive, initialised memory.
        unsafe {
            self.base.cast::<RingControl>().as_ptr().drop_in_place();
            for pos in 0..=self.mask {
                self.slot(pos).cast::<SlotMeta>().drop_in_place();
            }
        }
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The most messages a queue holds at once: the channel's capacity, which may be
    /// fewer than the slots (see [`Geometry::slots`]).
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Payload bytes per slot.
    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The shared positions.
    pub(crate) fn control(&self) -> &RingControl {
        // SAFETY: `new`'s contract: an initialised `RingControl` lies at `base`.
        unsafe { self.base.cast::<RingControl>().as_ref() }
    }

    /// The metadata of the slot that `pos` maps to.
    pub(crate) fn meta(&self, pos: u64) -> &SlotMeta {
        // SAFETY: `slot` is in bounds and 64-aligned; `init` wrote a `SlotMeta` there.
        unsafe { &*self.slot(pos).cast::<SlotMeta>() }
    }

    /// The payload of the slot that `pos` maps to: `slot_size` bytes, `SLOT_ALIGN`-aligned.
    pub(crate) fn payload(&self, pos: u64) -> *mut u8 {
        // SAFETY: the payload follows the meta inside the same slot.
        unsafe { self.slot(pos).add(size_of::<SlotMeta>()) }
    }

    /// Start of the slot that `pos` maps to. In bounds for any `pos`: the index is masked.
    fn slot(&self, pos: u64) -> *mut u8 {
        let index = (pos & self.mask) as usize;
        // SAFETY: index < capacity, so the offset is within `ring_bytes()` (`new`'s contract).
        unsafe { self.base.as_ptr().add(slots_offset() + index * self.stride) }
    }
}
