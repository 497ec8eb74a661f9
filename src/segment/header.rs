//! The header that starts every segment and says what it holds, and the layout it
//! describes: the header at offset 0, then (MPMC and broadcast) the handles' seats, then
//! (broadcast only) the subscriber seats, then the ring.
//!
//! The creator writes the header's fields, the seats and the empty ring, and only then
//! stores the magic number with Release ordering ([`initialise`]). An opener waits for
//! that magic with Acquire ordering ([`published`]), so it never sees half a header; it
//! then checks the layout version, the checksum, the geometry and the object's size
//! ([`check_header`]) before it touches the ring.

use std::{mem::size_of, ptr::addr_of_mut, ptr::NonNull};

use crate::{
    error::AttachError,
    ring::{
        broadcast::{Fanout, Policy},
        bytes::ByteRing,
        bytes_mpmc, Geometry, RingKind, RingView,
    },
    segment::seat::{seat_count, Seat, SubscriberSeat},
    signal::Signaling,
    sync::{
        weaken, AtomicU64, Mutation,
        Ordering::{Acquire, Relaxed, Release},
        UnsafeCell,
    },
};

/// The first eight bytes of every ferry segment, once it is initialised.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"FERRYSHM");
/// Version of the shared layout (header, control block, slots). Bumped on every change.
pub const LAYOUT_VERSION: u32 = 8;

/// The start of every segment. Immutable after initialisation except the role words.
#[repr(C, align(128))]
pub(crate) struct Header {
    /// `MAGIC` once the segment is fully initialised, 0 before.
    magic: AtomicU64,
    /// `LAYOUT_VERSION` of the creator.
    version: u32,
    /// `RingKind` as a `u32`.
    kind: u32,
    /// Payload bytes per slot.
    slot_size: u64,
    /// How many messages the ring holds (in the next power of two of slots; a broadcast
    /// ring's capacity is a power of two), or its bytes on a ring sized in bytes.
    capacity: u64,
    /// Size of the whole segment in bytes.
    total_size: u64,
    /// FNV-1a over the fields above.
    checksum: u64,
    /// `Signaling` as a `u32`; covered by the checksum like the fields above.
    signaling: u32,
    /// Explicit padding, zero.
    _reserved: u32,
    /// The sender role's word (what it holds is the liveness layer's: `liveness::roles`).
    sender: AtomicU64,
    /// The receiver role's word, as for `sender`.
    receiver: AtomicU64,
    /// The creator's process identity (pid and start time, see `liveness::process`).
    creator: u64,
    /// Broadcast: the number of subscriber seats (0 for the other kinds). Covered by
    /// the checksum, like the three fields below it.
    subscribers: u32,
    /// Broadcast: the `Policy` as a `u32` (0 for the other kinds).
    policy: u32,
    /// Broadcast: how many of the latest messages are kept for late joiners (0 for the
    /// other kinds).
    history: u64,
    /// The inode numbers of the channel's doorbell FIFOs (receivers', senders'), stored
    /// by the creator once it has made them (`signal::bell`); 0 before (and in heap
    /// segments, whose bells are pipes).
    bells: [AtomicU64; 2],
    /// Zero-sized in production. Under loom it records the writes and reads of the plain
    /// fields above, so that a reader not ordered after the creator's writes is reported.
    fields: UnsafeCell<()>,
}

#[cfg(not(ferry_loom))]
const _: () = assert!(size_of::<Header>() == 128);

impl Header {
    /// Constructs the header's atomics in place, as values (so that loom's atomics are
    /// constructed), leaving the magic 0: the header is not published.
    ///
    /// # Safety
    /// `header` is valid for writes, 128-aligned, and nobody else uses it yet.
    pub(crate) unsafe fn construct(header: *mut Header) {
        // SAFETY: the caller guarantees the memory.
        unsafe {
            addr_of_mut!((*header).magic).write(AtomicU64::new(0));
            addr_of_mut!((*header).sender).write(AtomicU64::new(0));
            addr_of_mut!((*header).receiver).write(AtomicU64::new(0));
            addr_of_mut!((*header).bells).write([AtomicU64::new(0), AtomicU64::new(0)]);
            addr_of_mut!((*header).fields).write(UnsafeCell::new(()));
        }
    }

    /// The sender role's word.
    pub(crate) fn sender_word(&self) -> &AtomicU64 {
        &self.sender
    }

    /// The receiver role's word.
    pub(crate) fn receiver_word(&self) -> &AtomicU64 {
        &self.receiver
    }

    /// Records the inode numbers of the doorbell FIFOs the creator made.
    pub(crate) fn record_bells(&self, inodes: [u64; 2]) {
        // SYNC: Relaxed for the first; Release for the second, which pairs with the
        // Acquire load in `bells`: an opener that sees it sees the first too.
        self.bells[0].store(inodes[0], Relaxed);
        self.bells[1].store(inodes[1], Release);
    }

    /// The inode numbers of the doorbell FIFOs, once the creator has recorded them. Only
    /// compared with what an open finds, never used as an index.
    pub(crate) fn bells(&self) -> Option<[u64; 2]> {
        // SYNC: Acquire; pairs with the Release store in `record_bells`.
        let second = self.bells[1].load(Acquire);
        // SYNC: Relaxed; ordered by the Acquire above.
        let first = self.bells[0].load(Relaxed);
        (first != 0 && second != 0).then_some([first, second])
    }

    /// The creator's process identity.
    pub(crate) fn creator(&self) -> u64 {
        self.fields.with(|_| ());
        // SAFETY: written once by the creator before the magic that `open` saw.
        unsafe { std::ptr::read_volatile(&self.creator) }
    }
}

/// Offset of the seats from the start of a segment: right after the header.
pub(crate) fn seats_offset() -> usize {
    size_of::<Header>()
}

/// Offset of the subscriber seats of a broadcast segment: right after the seats.
pub(crate) fn subscribers_offset(kind: RingKind) -> usize {
    seats_offset() + seat_count(kind) * size_of::<Seat>()
}

/// Offset of the ring from the start of a segment of `geometry`: after the header and
/// the seats, so 128-byte aligned. (The subscriber seats are bounded by the geometry's
/// validation, so this does not overflow.)
pub(crate) fn ring_offset(geometry: &Geometry) -> usize {
    subscribers_offset(geometry.kind) + geometry.fanout.subscribers * size_of::<SubscriberSeat>()
}

/// Size of a segment holding `geometry`.
pub(crate) fn total_size(geometry: &Geometry) -> Option<usize> {
    geometry.ring_bytes()?.checked_add(ring_offset(geometry))
}

/// Writes the header's plain fields (naming `creator` as the creating process), the free
/// seats and the empty ring, then publishes the magic.
///
/// # Safety
/// `base` is 128-aligned, `total` bytes long, zeroed or holding valid atomics, and no
/// other process relies on anything but the magic yet.
pub(crate) unsafe fn initialise(base: NonNull<u8>, geometry: &Geometry, total: usize, creator: u64) {
    let header = base.cast::<Header>().as_ptr();
    let fields = HeaderFields {
        version: LAYOUT_VERSION,
        kind: geometry.kind as u32,
        slot_size: geometry.slot_size as u64,
        capacity: geometry.capacity as u64,
        total_size: total as u64,
        signaling: geometry.signaling as u32,
        subscribers: geometry.fanout.subscribers as u32,
        // The queues' headers hold zeros here (their fanout is the default).
        policy: if geometry.kind.is_broadcast() { geometry.fanout.policy as u32 } else { 0 },
        history: geometry.fanout.history as u64,
    };
    // SAFETY: the caller guarantees the memory; openers read nothing but `magic` until
    // it is published below.
    unsafe {
        (*header).fields.with_mut(|_| ());
        addr_of_mut!((*header).version).write(fields.version);
        addr_of_mut!((*header).kind).write(fields.kind);
        addr_of_mut!((*header).slot_size).write(fields.slot_size);
        addr_of_mut!((*header).capacity).write(fields.capacity);
        addr_of_mut!((*header).total_size).write(fields.total_size);
        addr_of_mut!((*header).signaling).write(fields.signaling);
        addr_of_mut!((*header).subscribers).write(fields.subscribers);
        addr_of_mut!((*header).policy).write(fields.policy);
        addr_of_mut!((*header).history).write(fields.history);
        addr_of_mut!((*header).checksum).write(fields.checksum());
        addr_of_mut!((*header).creator).write(creator);
        let seats = base.add(seats_offset()).cast::<Seat>().as_ptr();
        for i in 0..seat_count(geometry.kind) {
            seats.add(i).write(Seat::new());
        }
        let subscribers = base.add(subscribers_offset(geometry.kind)).cast::<SubscriberSeat>().as_ptr();
        for i in 0..geometry.fanout.subscribers {
            subscribers.add(i).write(SubscriberSeat::new());
        }
        if geometry.kind.is_bytes() {
            let ring = ByteRing::init(base.add(ring_offset(geometry)), geometry);
            if matches!(geometry.kind, RingKind::MpmcBytes | RingKind::BroadcastBytes) {
                bytes_mpmc::init(&ring);
            }
        } else {
            RingView::init(base.add(ring_offset(geometry)), geometry);
        }
        // SYNC: Release; pairs with the Acquire load of `magic` in `published`: an
        // opener that sees the magic sees the whole header and the initialised ring.
        (*header).magic.store(MAGIC, weaken(Release, Mutation::InitMagic));
    }
}

/// The header fields covered by the checksum, as read once from shared memory.
#[derive(Debug, Clone, Copy)]
struct HeaderFields {
    version: u32,
    kind: u32,
    slot_size: u64,
    capacity: u64,
    total_size: u64,
    signaling: u32,
    subscribers: u32,
    policy: u32,
    history: u64,
}

impl HeaderFields {
    fn checksum(&self) -> u64 {
        // FNV-1a, 64-bit.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let words = [
            MAGIC,
            u64::from(self.version),
            u64::from(self.kind),
            self.slot_size,
            self.capacity,
            self.total_size,
            u64::from(self.signaling),
            u64::from(self.subscribers),
            u64::from(self.policy),
            self.history,
        ];
        for byte in words.iter().flat_map(|w| w.to_le_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash
    }
}

/// The geometry `header` describes once its creator has published it (`None` while the
/// magic is still 0), checked against the object's `size` and the `expected` geometry.
pub(crate) fn published(
    name: &str,
    header: &Header,
    size: u64,
    expected: Option<Geometry>,
) -> Option<Result<Geometry, AttachError>> {
    // SYNC: Acquire; pairs with the Release store in `initialise`: seeing the magic makes
    // every field written before it visible.
    match header.magic.load(Acquire) {
        0 => None,
        MAGIC => Some(check_header(name, header, size, expected)),
        found => Some(Err(AttachError::BadMagic { name: name.to_owned(), found })),
    }
}

/// Reads the header's fields once and checks them against each other, the object's
/// `size` and the geometry the caller expects.
fn check_header(name: &str, header: &Header, size: u64, expected: Option<Geometry>) -> Result<Geometry, AttachError> {
    let corrupt = |reason| AttachError::CorruptHeader { name: name.to_owned(), reason };
    // Tell loom the fields are read here.
    header.fields.with(|_| ());
    // SAFETY: the fields are initialised (the magic was seen with Acquire) and
    // aligned; volatile because a peer could still write them, and they are read once.
    let fields = unsafe {
        HeaderFields {
            version: std::ptr::read_volatile(&header.version),
            kind: std::ptr::read_volatile(&header.kind),
            slot_size: std::ptr::read_volatile(&header.slot_size),
            capacity: std::ptr::read_volatile(&header.capacity),
            total_size: std::ptr::read_volatile(&header.total_size),
            signaling: std::ptr::read_volatile(&header.signaling),
            subscribers: std::ptr::read_volatile(&header.subscribers),
            policy: std::ptr::read_volatile(&header.policy),
            history: std::ptr::read_volatile(&header.history),
        }
    };
    // SAFETY: as above.
    let checksum = unsafe { std::ptr::read_volatile(&header.checksum) };
    if fields.version != LAYOUT_VERSION {
        return Err(AttachError::VersionMismatch {
            name: name.to_owned(),
            found: fields.version,
            expected: LAYOUT_VERSION,
        });
    }
    if checksum != fields.checksum() {
        return Err(corrupt("the header checksum does not match its fields"));
    }
    let kind = RingKind::from_u32(fields.kind).ok_or_else(|| corrupt("unknown ring kind"))?;
    let signaling = Signaling::from_u32(fields.signaling).ok_or_else(|| corrupt("unknown signaling"))?;
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| corrupt("a size does not fit this machine"));
    let fanout = match kind {
        RingKind::Broadcast | RingKind::BroadcastBytes => {
            let policy = Policy::from_u32(fields.policy).ok_or_else(|| corrupt("unknown broadcast policy"))?;
            Fanout { subscribers: fields.subscribers as usize, policy, history: to_usize(fields.history)? }
        }
        RingKind::Spsc | RingKind::Mpmc | RingKind::SpscBytes | RingKind::MpmcBytes => {
            if (fields.subscribers, fields.policy, fields.history) != (0, 0, 0) {
                return Err(corrupt("a queue's header describes subscribers"));
            }
            Fanout::default()
        }
    };
    let geometry = Geometry {
        kind,
        signaling,
        slot_size: to_usize(fields.slot_size)?,
        capacity: to_usize(fields.capacity)?,
        fanout,
    };
    geometry.validate().map_err(corrupt)?;
    if total_size(&geometry).map(|t| t as u64) != Some(fields.total_size) {
        return Err(corrupt("the total size does not match the geometry"));
    }
    if size != fields.total_size {
        return Err(AttachError::SizeMismatch { name: name.to_owned(), expected: fields.total_size, actual: size });
    }
    if let Some(want) = expected {
        if want != geometry {
            return Err(AttachError::GeometryMismatch {
                name: name.to_owned(),
                expected: want.to_string(),
                found: geometry.to_string(),
            });
        }
    }
    Ok(geometry)
}
