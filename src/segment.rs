//! Named shared memory: create, open and unlink a segment, and the header that says what
//! it holds.
//!
//! A segment is a POSIX shared-memory object (`/dev/shm/ferry.NAME` on Linux) laid out as
//! a 128-byte-aligned [`Header`] followed by one ring. The creator makes the object
//! exclusively with mode 0600 (or the mode asked for, whatever the umask), sizes it,
//! writes the header and the empty ring, and only then stores the magic number with
//! Release ordering. An opener waits, a bounded time, for that magic with Acquire
//! ordering, so it never sees half a header. It then checks the layout version, the
//! header checksum, the geometry and the object's size before it touches the ring.
//!
//! An MPMC segment also holds a table of [`Seat`]s between the header and the ring: one
//! per attached handle, naming its process and the position it is claiming, so that the
//! death of any process can be seen and its half-done claim resolved (see [`Segment::recover`]).
//!
//! The same layout also lives in plain heap memory ([`Segment::heap`]), for in-process
//! channels, property tests and loom.

use std::{
    alloc::{self, Layout},
    mem::size_of,
    ptr::{addr_of_mut, NonNull},
    time::{Duration, Instant},
};

use crate::{
    error::AttachError,
    ring::{mpmc, mpmc::NO_CLAIM, Geometry, RingKind, RingView},
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
pub const LAYOUT_VERSION: u32 = 5;
/// How long `open` waits for a creator to finish initialising a segment.
const INIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest channel name: the object name `ferry.NAME` must fit in `NAME_MAX` (255).
pub const MAX_NAME_LEN: usize = 200;
/// Prefix of every segment's object name, so ferry's segments are easy to find.
const OBJECT_PREFIX: &str = "/ferry.";

/// The start of every segment. Immutable after initialisation except the attach words.
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
    /// Number of slots, a power of two.
    capacity: u64,
    /// Size of the whole segment in bytes.
    total_size: u64,
    /// FNV-1a over the fields above.
    checksum: u64,
    /// `Signaling` as a `u32`; covered by the checksum like the fields above.
    signaling: u32,
    /// Explicit padding, zero.
    _reserved: u32,
    /// State of the sender role: see [`Role`].
    sender: AtomicU64,
    /// State of the receiver role: see [`Role`].
    receiver: AtomicU64,
    /// The creator's identity (pid and start time, see `liveness`).
    creator: u64,
    /// Zero-sized in production. Under loom it records the writes and reads of the plain
    /// fields above, so that a reader not ordered after the creator's writes is reported.
    fields: UnsafeCell<()>,
}

#[cfg(not(ferry_loom))]
const _: () = assert!(size_of::<Header>() == 128);

/// SPSC role-word value of a role that was held and released.
const DETACHED: u64 = u64::MAX;
/// MPMC role-word value once any handle has held the role (who holds it now is in the
/// seats).
const EVER_HELD: u64 = 1;

/// How often one process looks for dead handles in a segment it waits on.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(20);

/// Seats in an MPMC segment: at most this many handles are attached at once. (Fewer
/// under loom, where every load of a seat is a step the model explores.)
pub(crate) const SEATS: usize = if cfg!(ferry_loom) { 8 } else { 128 };

/// One end of a channel.
///
/// SPSC: each role is held by at most one process at a time; its word in the header is
/// 0 (never held), the holder's identity (pid and start time, see `liveness`), or
/// `DETACHED`. MPMC: any number of handles hold it, each in a [`Seat`]; the word is
/// `EVER_HELD` from the first attach on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Sender = 1,
    Receiver = 2,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Receiver => "receiver",
        }
    }
}

/// One attached MPMC handle, on a cache line of its own (its `claim` changes with every
/// message).
///
/// A handle announces in `claim` the position it is about to claim *before* its CAS on
/// the ring's tail (sender) or head (receiver), and withdraws it once it has published
/// (sender) or released (receiver) the slot, or given up. So whoever sees a position
/// claimed (the tail or head past it) also sees the claimer's announcement, and a
/// position claimed by a dead handle can be told from one claimed by a live handle that
/// is merely slow: see `ring::mpmc::rescue`.
#[repr(C, align(64))]
pub(crate) struct Seat {
    /// The holder's identity (see `liveness`), 0 while the seat is free. Taken with a CAS
    /// from 0; given back by the holder, or by whoever finds the holder dead.
    owner: AtomicU64,
    /// `Role as u64`, or 0 while the new owner sets the seat up.
    role: AtomicU64,
    /// The position the handle is claiming or holds, or `NO_CLAIM`.
    pub(crate) claim: AtomicU64,
}

impl Seat {
    fn new() -> Self {
        Self { owner: AtomicU64::new(0), role: AtomicU64::new(0), claim: AtomicU64::new(NO_CLAIM) }
    }

    /// `(owner, role, claim)`, or `None` if the seat is free or changed owner while read
    /// (a new owner is alive, so a caller that needs certainty treats that as live).
    fn read(&self) -> Option<(u64, u64, u64)> {
        // SYNC: Acquire, all three; pair with the Release stores in `Segment::attach`,
        // `Segment::detach` and the claim's announcement: a seat read with an owner shows
        // that owner's role and a claim it announced (or a later one).
        let owner = self.owner.load(Acquire);
        let role = self.role.load(Acquire);
        let claim = self.claim.load(Acquire);
        (owner != 0 && self.owner.load(Acquire) == owner).then_some((owner, role, claim))
    }
}

#[cfg(not(ferry_loom))]
const _: () = assert!(size_of::<Seat>() == 64);

/// What one side knows of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Never attached yet: wait for it.
    NotYet,
    /// Attached and alive.
    Attached,
    /// Detached, or died while attached.
    Gone,
}

/// Who holds a segment, as `Segment::holders` saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holders {
    pub(crate) creator_pid: u32,
    pub(crate) creator_alive: bool,
    pub(crate) sender: Holder,
    pub(crate) receiver: Holder,
}

impl Holders {
    /// Whether nobody can be using the segment: its creator is dead and no live process
    /// holds a role.
    pub(crate) fn stale(&self) -> bool {
        let idle = |h: &Holder| match h {
            Holder::Never | Holder::Left => true,
            Holder::Process { alive, .. } => !alive,
            Holder::Processes(all) => all.iter().all(|&(_, alive)| !alive),
        };
        !self.creator_alive && idle(&self.sender) && idle(&self.receiver)
    }
}

/// Who holds one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// Never held.
    Never,
    /// Held, then given up.
    Left,
    /// Held by this process (SPSC), alive or dead.
    Process { pid: u32, alive: bool },
    /// Held by these processes (MPMC; pid and whether alive, each once), maybe none now.
    Processes(Vec<(u32, bool)>),
}

/// A mapped segment (or its heap twin). Unlinks its name on drop if it created it.
pub(crate) struct Segment {
    base: NonNull<u8>,
    geometry: Geometry,
    name: String,
    backing: Backing,
    /// When this process mapped the segment: the origin of `next_recovery`.
    opened: Instant,
    /// Nanoseconds after `opened` before which `recover_if_due` does nothing. Process
    /// local, not in shared memory.
    next_recovery: AtomicU64,
}

enum Backing {
    #[cfg(not(ferry_loom))]
    Shared {
        _map: memmap2::MmapRaw,
        /// The object's (device, inode): the creator's drop unlinks the name only while
        /// it still names this segment.
        object: Option<(u64, u64)>,
        /// Whether this is the creator, which unlinks the name on drop.
        owner: bool,
    },
    Heap(Layout),
}

// SAFETY: the segment is plain memory; every access to its shared parts goes through
// atomics or through the ring protocol, which hands each slot to one side at a time.
unsafe impl Send for Segment {}
// SAFETY: as for `Send`; `&Segment` exposes only atomics and the ring view.
unsafe impl Sync for Segment {}

impl Segment {
    /// Makes an initialised segment in heap memory, for a channel inside one process.
    pub(crate) fn heap(geometry: Geometry) -> Result<Self, AttachError> {
        let (segment, total) = Self::heap_unpublished(geometry)?;
        // SAFETY: the fresh heap segment is ours alone.
        unsafe { initialise(segment.base, &geometry, total) };
        Ok(segment)
    }

    /// A heap segment whose header atomics exist but which is not initialised: its magic
    /// is 0 and its ring is not written. It must be `initialise`d before it is dropped.
    fn heap_unpublished(geometry: Geometry) -> Result<(Self, usize), AttachError> {
        geometry.validate().map_err(AttachError::InvalidConfig)?;
        let total = total_size(&geometry).ok_or(AttachError::InvalidConfig("ring too large"))?;
        let layout = Layout::from_size_align(total, 128).map_err(|_| AttachError::InvalidConfig("ring too large"))?;
        // SAFETY: `layout` has a non-zero size (the header alone is 128 bytes).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        let header = base.cast::<Header>().as_ptr();
        // SAFETY: fresh, 128-aligned, zeroed allocation of `total` bytes; ours alone. The
        // atomics are written as values so that loom's atomics are constructed.
        unsafe {
            addr_of_mut!((*header).magic).write(AtomicU64::new(0));
            addr_of_mut!((*header).sender).write(AtomicU64::new(0));
            addr_of_mut!((*header).receiver).write(AtomicU64::new(0));
            addr_of_mut!((*header).fields).write(UnsafeCell::new(()));
        }
        Ok((Self::new(base, geometry, String::from("(in memory)"), Backing::Heap(layout)), total))
    }

    fn new(base: NonNull<u8>, geometry: Geometry, name: String, backing: Backing) -> Self {
        let (opened, next_recovery) = (Instant::now(), AtomicU64::new(0));
        Self { base, geometry, name, backing, opened, next_recovery }
    }

    /// The header.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: an initialised header lies at `base` while `self` lives.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// The ring that follows the header (and the seats of an MPMC segment).
    pub(crate) fn ring(&self) -> RingView {
        // SAFETY: the ring follows the header and the seats, was initialised and
        // validated against the segment's size, and stays mapped while `self` lives;
        // every user of the view holds the segment (through an `Arc`).
        unsafe { RingView::new(self.base.add(ring_offset(self.geometry.kind)), &self.geometry) }
    }

    /// The seats of an MPMC segment (none for SPSC).
    pub(crate) fn seats(&self) -> &[Seat] {
        let count = seat_count(self.geometry.kind);
        // SAFETY: `initialise` wrote `count` seats right after the header, inside the
        // segment, which stays mapped while `self` lives.
        unsafe { std::slice::from_raw_parts(self.base.add(size_of::<Header>()).cast::<Seat>().as_ptr(), count) }
    }

    /// The geometry, as validated at creation or open.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The channel name, for messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Takes `role` for this handle: returns its seat on an MPMC segment. An SPSC role
    /// whose holder has died is taken over.
    pub(crate) fn attach(&self, role: Role) -> Result<Option<usize>, AttachError> {
        let me = crate::liveness::me();
        let word = self.role_word(role);
        if self.geometry.kind == RingKind::Mpmc {
            // Seats of dead processes are given back by `recover`: try again after it.
            let seat = self.take_seat(me, role).or_else(|| {
                self.recover();
                self.take_seat(me, role)
            });
            let Some(seat) = seat else {
                return Err(AttachError::Unsupported {
                    endpoint: format!("shm:{}", self.name),
                    what: "more handles attached to one MPMC channel at once than it has seats (128)",
                });
            };
            // SYNC: Release; pairs with the Acquire load in `peer`, which tells "never
            // held" from "all gone" by it.
            word.store(EVER_HELD, Release);
            return Ok(Some(seat));
        }
        // SYNC: Acquire; pairs with the Release store in `detach`, so a new holder
        // starts after everything the previous one published.
        let mut current = word.load(Acquire);
        loop {
            if current != 0 && current != DETACHED && crate::liveness::alive(current) {
                let pid = crate::liveness::pid_of(current);
                return Err(AttachError::RoleTaken { name: self.name.clone(), role: role.name(), pid });
            }
            // SYNC: AcqRel on success as for the load above; Acquire on failure to retry.
            match word.compare_exchange(current, me, crate::sync::Ordering::AcqRel, Acquire) {
                Ok(_) => return Ok(None),
                Err(now) => current = now,
            }
        }
    }

    /// Takes a free seat for `role`, if there is one.
    fn take_seat(&self, me: u64, role: Role) -> Option<usize> {
        self.seats().iter().position(|seat| {
            // SYNC: Acquire on success; pairs with the Release store of 0 in `detach` or
            // `recover`: the previous owner is done with the seat.
            let taken = seat.owner.compare_exchange(0, me, Acquire, Relaxed).is_ok();
            if taken {
                // SYNC: Release, both; pair with the Acquire loads in `Seat::read`.
                seat.claim.store(NO_CLAIM, Release);
                seat.role.store(role as u64, Release);
            }
            taken
        })
    }

    /// Gives `role` up (and `seat`, on an MPMC segment).
    pub(crate) fn detach(&self, role: Role, seat: Option<usize>) {
        match seat.and_then(|i| self.seats().get(i)) {
            Some(seat) => {
                // SYNC: Release, all three; pair with the Acquire loads in `Seat::read`
                // and the CAS in `take_seat`: the next owner starts after this one.
                seat.claim.store(NO_CLAIM, Release);
                seat.role.store(0, Release);
                seat.owner.store(0, Release);
            }
            // SYNC: Release; pairs with the Acquire loads in `attach` and `peer`:
            // whoever sees the role released also sees everything this side published.
            None => self.role_word(role).store(DETACHED, Release),
        }
    }

    /// The state of the handles holding `role`. Whether a holder is still alive takes a
    /// system call, made only with `check_pid`.
    pub(crate) fn peer(&self, role: Role, check_pid: bool) -> Peer {
        // SYNC: Acquire; pairs with the Release stores in `attach` and `detach`: a caller
        // that sees `Gone` and then finds the ring empty has seen every message the peer
        // published.
        let word = self.role_word(role).load(Acquire);
        match self.geometry.kind {
            RingKind::Spsc => match word {
                0 => Peer::NotYet,
                DETACHED => Peer::Gone,
                holder if check_pid && !crate::liveness::alive(holder) => Peer::Gone,
                _ => Peer::Attached,
            },
            RingKind::Mpmc => {
                let held =
                    self.seats().iter().filter_map(Seat::read).any(|(owner, held_as, _)| {
                        held_as == role as u64 && (!check_pid || crate::liveness::alive(owner))
                    });
                match (held, word) {
                    (true, _) => Peer::Attached,
                    (false, 0) => Peer::NotYet,
                    (false, _) => Peer::Gone,
                }
            }
        }
    }

    /// The announcement word of the handle in `seat` (see [`Seat`]).
    pub(crate) fn claim(&self, seat: usize) -> &AtomicU64 {
        &self.seats()[seat].claim
    }

    /// Runs `recover` if this process has not run it on this segment for
    /// `RECOVERY_INTERVAL`, so that callers polling a wedged ring do not pay a system call
    /// per seat on every poll.
    pub(crate) fn recover_if_due(&self) {
        // Under loom `recover` does nothing: keep the rate limit out of the models too.
        if self.geometry.kind != RingKind::Mpmc || cfg!(ferry_loom) {
            return;
        }
        let now = self.opened.elapsed().as_nanos() as u64;
        // SYNC: Relaxed, here and in the CAS; a process-local rate limit, nothing is
        // published through it.
        let due = self.next_recovery.load(Relaxed);
        let next = now + RECOVERY_INTERVAL.as_nanos() as u64;
        if now >= due && self.next_recovery.compare_exchange(due, next, Relaxed, Relaxed).is_ok() {
            self.recover();
        }
    }

    /// Frees the seats of dead processes (MPMC), first resolving what each was claiming
    /// (see `ring::mpmc::rescue`): a slot a dead sender claimed is marked abandoned, so
    /// receivers skip it; a slot a dead receiver held is released. Wakes the side that
    /// can move on. Takes a system call per occupied seat; callers ration it.
    pub(crate) fn recover(&self) {
        // Under loom every handle is in this one live process: nothing to recover.
        if self.geometry.kind != RingKind::Mpmc || cfg!(ferry_loom) {
            return;
        }
        let ring = self.ring();
        let seats = self.seats();
        let live_claim = |role: u64, pos: u64| {
            seats.iter().any(|seat| match seat.read() {
                Some((owner, held_as, claim)) => held_as == role && claim == pos && crate::liveness::alive(owner),
                // Changing hands: its new owner is alive and might claim `pos`.
                // SYNC: Acquire; pairs with the CAS in `take_seat`, as in `Seat::read`.
                None => seat.owner.load(Acquire) != 0,
            })
        };
        let mut freed = false;
        for seat in seats {
            let Some((owner, role, claim)) = seat.read() else { continue };
            if crate::liveness::alive(owner) {
                continue;
            }
            let sender = role == Role::Sender as u64;
            let outcome = match claim {
                NO_CLAIM => mpmc::Rescue::Nothing,
                pos => mpmc::rescue(&ring, pos, sender, || live_claim(role, pos)),
            };
            let signaling = self.geometry.signaling;
            match outcome {
                mpmc::Rescue::Pending => continue,
                mpmc::Rescue::Nothing => {}
                mpmc::Rescue::Skippable => ring.control().not_empty.notify(signaling),
                mpmc::Rescue::Freed => ring.control().not_full.notify(signaling),
            }
            // SYNC: Release on success; pairs with the Acquire CAS in `take_seat`. Only
            // the one recoverer whose CAS succeeds gives the seat back; it writes nothing
            // else, since a new owner may take the seat at once.
            freed |= seat.owner.compare_exchange(owner, 0, Release, Relaxed).is_ok();
        }
        if freed {
            // Anyone parked on a role that may just have lost its last holder re-checks.
            ring.control().not_empty.wake(self.geometry.signaling);
            ring.control().not_full.wake(self.geometry.signaling);
        }
    }

    /// Who holds the segment: its creator and both roles, as seen now.
    pub(crate) fn holders(&self) -> Holders {
        let header = self.header();
        header.fields.with(|_| ());
        // SAFETY: written once by the creator before the magic that `open` saw.
        let creator = unsafe { std::ptr::read_volatile(&header.creator) };
        let role = |role: Role| {
            // SYNC: Acquire; pairs with the Release stores in `attach` and `detach`.
            let word = self.role_word(role).load(Acquire);
            match (self.geometry.kind, word) {
                (_, 0) => Holder::Never,
                (RingKind::Spsc, DETACHED) => Holder::Left,
                (RingKind::Spsc, identity) => {
                    Holder::Process { pid: crate::liveness::pid_of(identity), alive: crate::liveness::alive(identity) }
                }
                (RingKind::Mpmc, _) => {
                    let mut owners: Vec<u64> = self
                        .seats()
                        .iter()
                        .filter_map(Seat::read)
                        .filter(|&(_, held_as, _)| held_as == role as u64)
                        .map(|(owner, _, _)| owner)
                        .collect();
                    owners.sort_unstable();
                    owners.dedup();
                    let processes = owners
                        .into_iter()
                        .map(|owner| (crate::liveness::pid_of(owner), crate::liveness::alive(owner)))
                        .collect::<Vec<_>>();
                    if processes.is_empty() {
                        Holder::Left
                    } else {
                        Holder::Processes(processes)
                    }
                }
            }
        };
        Holders {
            creator_pid: crate::liveness::pid_of(creator),
            creator_alive: crate::liveness::alive(creator),
            sender: role(Role::Sender),
            receiver: role(Role::Receiver),
        }
    }

    fn role_word(&self, role: Role) -> &AtomicU64 {
        match role {
            Role::Sender => &self.header().sender,
            Role::Receiver => &self.header().receiver,
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if crate::sync::abandoned_by_loom() {
            return; // Leaks the heap segment of a failed loom model.
        }
        match &self.backing {
            #[cfg(not(ferry_loom))]
            Backing::Shared { object, owner, .. } => {
                // Best effort: the name may have been removed, or even reused, since.
                if *owner && object.is_some() && shared::identity_of(&self.name) == *object {
                    let _ = rustix::shm::unlink(object_name(&self.name));
                }
            }
            Backing::Heap(layout) => {
                // SAFETY: this process initialised the heap segment and every view of it
                // is gone (they hold the segment); the layout is the one allocated with.
                unsafe {
                    self.ring().drop_in_place();
                    for seat in self.seats() {
                        std::ptr::from_ref(seat).cast_mut().drop_in_place();
                    }
                    self.base.cast::<Header>().as_ptr().drop_in_place();
                    alloc::dealloc(self.base.as_ptr(), *layout);
                }
            }
        }
    }
}

/// Number of seats in a segment of `kind`.
fn seat_count(kind: RingKind) -> usize {
    match kind {
        RingKind::Spsc => 0,
        RingKind::Mpmc => SEATS,
    }
}

/// Offset of the ring from the start of a segment of `kind`: after the header and the
/// seats, so 64-byte aligned.
fn ring_offset(kind: RingKind) -> usize {
    size_of::<Header>() + seat_count(kind) * size_of::<Seat>()
}

/// Size of a segment holding `geometry`.
fn total_size(geometry: &Geometry) -> Option<usize> {
    geometry.ring_bytes()?.checked_add(ring_offset(geometry.kind))
}

/// Writes the header's plain fields and the empty ring, then publishes the magic.
///
/// # Safety
/// `base` is 128-aligned, `total` bytes long, zeroed or holding valid atomics, and no
/// other process relies on anything but the magic yet.
unsafe fn initialise(base: NonNull<u8>, geometry: &Geometry, total: usize) {
    let header = base.cast::<Header>().as_ptr();
    let fields = HeaderFields {
        version: LAYOUT_VERSION,
        kind: geometry.kind as u32,
        slot_size: geometry.slot_size as u64,
        capacity: geometry.capacity as u64,
        total_size: total as u64,
        signaling: geometry.signaling as u32,
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
        addr_of_mut!((*header).checksum).write(fields.checksum());
        addr_of_mut!((*header).creator).write(crate::liveness::me());
        let seats = base.add(size_of::<Header>()).cast::<Seat>().as_ptr();
        for i in 0..seat_count(geometry.kind) {
            seats.add(i).write(Seat::new());
        }
        RingView::init(base.add(ring_offset(geometry.kind)), geometry);
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
fn published(
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
    let geometry =
        Geometry { kind, signaling, slot_size: to_usize(fields.slot_size)?, capacity: to_usize(fields.capacity)? };
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

/// Checks a channel name and returns its shared-memory object name.
pub(crate) fn object_name(name: &str) -> String {
    format!("{OBJECT_PREFIX}{name}")
}

/// Checks that `name` can name a channel: 1 to `MAX_NAME_LEN` of `[A-Za-z0-9._-]`, not
/// starting with a dot.
pub(crate) fn validate_name(name: &str) -> Result<(), AttachError> {
    let invalid = |reason| Err(AttachError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is longer than 200 bytes");
    }
    if name.starts_with('.') {
        return invalid("it starts with a dot");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return invalid("only ASCII letters, digits, `.`, `_` and `-` are allowed");
    }
    Ok(())
}

#[cfg(not(ferry_loom))]
mod shared {
    use std::fs::File;

    use rustix::{fs::Mode, io::Errno, shm};

    use super::*;

    impl Segment {
        /// Creates the named segment exclusively, with `mode` whatever the umask, and
        /// initialises it. The segment unlinks its name when dropped.
        pub(crate) fn create(name: &str, geometry: Geometry, mode: u32) -> Result<Self, AttachError> {
            validate_name(name)?;
            check_enabled(name)?;
            geometry.validate().map_err(AttachError::InvalidConfig)?;
            let total = total_size(&geometry).ok_or(AttachError::InvalidConfig("ring too large"))?;
            let object = object_name(name);
            let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
            let fd = match shm::open(&object, flags, Mode::from_raw_mode(mode)) {
                // A segment whose creator and users all died is reclaimed, once.
                Err(Errno::EXIST) if reclaim_if_stale(name) => shm::open(&object, flags, Mode::from_raw_mode(mode)),
                other => other,
            }
            .map_err(|e| os_error(e, "create", name))?;
            let unlink_on_error = |e: AttachError| {
                let _ = shm::unlink(&object);
                e
            };
            // The umask may have cleared bits of `mode`: set it exactly.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| unlink_on_error(os_error(e, "set the mode of", name)))?;
            rustix::fs::ftruncate(&fd, total as u64).map_err(|e| unlink_on_error(os_error(e, "size", name)))?;
            let identity = rustix::fs::fstat(&fd).map(|st| (st.st_dev, st.st_ino)).ok();
            let map = memmap2::MmapOptions::new()
                .len(total)
                .map_raw(&File::from(fd))
                .map_err(|e| unlink_on_error(AttachError::Io { op: "map", name: name.to_owned(), source: e }))?;
            let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
            // SAFETY: a fresh mapping of `total` zeroed bytes, page-aligned; openers read
            // only `magic` until `initialise` publishes it.
            unsafe { initialise(base, &geometry, total) };
            Ok(Self::new(base, geometry, name.to_owned(), Backing::Shared { _map: map, object: identity, owner: true }))
        }

        /// Opens the named segment, waiting a bounded time for its creator to finish
        /// initialising it, and checks its header. With `expected`, the geometry must match.
        pub(crate) fn open(name: &str, expected: Option<Geometry>) -> Result<Self, AttachError> {
            validate_name(name)?;
            check_enabled(name)?;
            let fd = shm::open(object_name(name), shm::OFlags::RDWR, Mode::empty())
                .map_err(|e| os_error(e, "open", name))?;
            let file = File::from(fd);
            let deadline = Instant::now() + INIT_TIMEOUT;
            let not_initialised = || AttachError::NotInitialised { name: name.to_owned() };
            let io = |op| move |e: std::io::Error| AttachError::Io { op, name: name.to_owned(), source: e };
            loop {
                let size = file.metadata().map_err(io("inspect"))?.len();
                if size >= size_of::<Header>() as u64 {
                    let len = usize::try_from(size).map_err(|_| not_initialised())?;
                    let map = memmap2::MmapOptions::new().len(len).map_raw(&file).map_err(io("map"))?;
                    let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
                    // SAFETY: the mapping is page-aligned and at least a header long.
                    let header = unsafe { base.cast::<Header>().as_ref() };
                    if let Some(geometry) = published(name, header, size, expected) {
                        let object = rustix::fs::fstat(&file).map(|st| (st.st_dev, st.st_ino)).ok();
                        let backing = Backing::Shared { _map: map, object, owner: false };
                        return Ok(Self::new(base, geometry?, name.to_owned(), backing));
                    }
                }
                if Instant::now() >= deadline {
                    return Err(not_initialised());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Removes the segment `name` if it is stale (see `Holders::stale`); returns whether
    /// it did. A segment that cannot be opened and checked is left alone.
    pub(crate) fn reclaim_if_stale(name: &str) -> bool {
        let Ok(segment) = Segment::open(name, None) else { return false };
        if !segment.holders().stale() {
            return false;
        }
        let Backing::Shared { object: Some(judged), .. } = segment.backing else { return false };
        drop(segment);
        // Unlink only the object we judged, not one created since under the same name.
        identity_of(name) == Some(judged) && shm::unlink(object_name(name)).is_ok()
    }

    /// `FERRY_DISABLE_SHM=1` makes every segment create and open fail, as on a system
    /// without usable shared memory (so `auto:` endpoints fall back to a socket).
    fn check_enabled(name: &str) -> Result<(), AttachError> {
        match std::env::var_os("FERRY_DISABLE_SHM") {
            Some(v) if v == "1" => Err(AttachError::Unsupported {
                endpoint: format!("shm:{name}"),
                what: "shared memory here (FERRY_DISABLE_SHM=1)",
            }),
            _ => Ok(()),
        }
    }

    fn os_error(errno: Errno, op: &'static str, name: &str) -> AttachError {
        let name = name.to_owned();
        match errno {
            Errno::EXIST => AttachError::AlreadyExists { name },
            Errno::NOENT => AttachError::NotFound { name },
            Errno::ACCESS | Errno::PERM => AttachError::PermissionDenied { name },
            other => AttachError::Io { op, name, source: other.into() },
        }
    }

    /// The (device, inode) of the object that `name` names now, if any.
    pub(super) fn identity_of(name: &str) -> Option<(u64, u64)> {
        let fd = shm::open(object_name(name), shm::OFlags::RDONLY, Mode::empty()).ok()?;
        rustix::fs::fstat(&fd).map(|st| (st.st_dev, st.st_ino)).ok()
    }

    /// Removes the named segment. Processes that have it open keep using it.
    pub(crate) fn unlink(name: &str) -> Result<(), AttachError> {
        validate_name(name)?;
        shm::unlink(object_name(name)).map_err(|e| os_error(e, "remove", name))
    }
}

#[cfg(not(ferry_loom))]
pub(crate) use shared::{reclaim_if_stale, unlink};

/// The segment's initialisation handshake and the MPMC rescue, on heap memory, for the
/// loom models.
#[cfg(ferry_loom)]
#[doc(hidden)]
pub mod model {
    use super::*;

    /// An MPMC ring of two slots with one sender seat and one receiver seat, whose
    /// handles are alive, and a recoverer that believes a dead handle of the same side
    /// announced position 0: `rescue` must never take a slot from the live handle.
    pub struct RescueRace {
        segment: Segment,
        sender: usize,
        receiver: usize,
    }

    // SAFETY: shared between loom threads like a mapped segment between processes; the
    // sender and the receiver are each used by one thread at a time.
    unsafe impl Sync for RescueRace {}

    impl Default for RescueRace {
        fn default() -> Self {
            let geometry = Geometry { kind: RingKind::Mpmc, signaling: Signaling::Futex, slot_size: 8, capacity: 2 };
            let segment = Segment::heap(geometry).expect("a valid geometry");
            let sender = segment.attach(Role::Sender).expect("a seat").expect("MPMC");
            let receiver = segment.attach(Role::Receiver).expect("a seat").expect("MPMC");
            Self { segment, sender, receiver }
        }
    }

    impl RescueRace {
        /// The live sender claims a slot, writes `value` and publishes it.
        pub fn send(&self, value: u64) {
            let ring = self.segment.ring();
            let claim = self.segment.claim(self.sender);
            let pos = mpmc::claim_free(&ring, claim).expect("a free slot");
            ring.meta(pos).payload.with_mut(|_| ());
            // SAFETY: the claimed slot's payload is ours until published; 8 bytes fit.
            unsafe { ring.payload(pos).cast::<u64>().write(value) };
            mpmc::publish(&ring, pos, 8, claim);
        }

        /// The live receiver takes the next message, reads it and releases the slot.
        pub fn recv(&self) -> Option<u64> {
            let ring = self.segment.ring();
            let claim = self.segment.claim(self.receiver);
            let (pos, _) = mpmc::claim_message(&ring, claim, |_| true, || ()).ok()?;
            ring.meta(pos).payload.with(|_| ());
            // SAFETY: the claimed slot holds a published 8-byte message until released.
            let value = unsafe { ring.payload(pos).cast::<u64>().read() };
            mpmc::release(&ring, pos, claim);
            Some(value)
        }

        /// A recoverer resolving a dead `sender` (or receiver) handle's claim on
        /// position 0, with the live handle's seat as the only other: returns whether it
        /// took the slot.
        pub fn rescue_position_0(&self, sender: bool) -> bool {
            let (live, role) = if sender { (self.sender, Role::Sender) } else { (self.receiver, Role::Receiver) };
            let seats = self.segment.seats();
            let live_claim =
                || seats[live].read().is_some_and(|(_, held_as, claim)| held_as == role as u64 && claim == 0);
            let outcome = mpmc::rescue(&self.segment.ring(), 0, sender, live_claim);
            !matches!(outcome, mpmc::Rescue::Nothing | mpmc::Rescue::Pending)
        }
    }

    /// A segment whose creator has not published it yet.
    pub struct Handshake {
        segment: Segment,
        total: usize,
    }

    // SAFETY: shared between loom threads like a mapped segment between processes; the
    // header is written once before the magic is published and only read after.
    unsafe impl Sync for Handshake {}

    impl Handshake {
        /// An unpublished SPSC segment of `capacity` slots of `slot_size` bytes.
        pub fn new(slot_size: usize, capacity: usize) -> Self {
            let geometry = Geometry { kind: RingKind::Spsc, signaling: Signaling::Futex, slot_size, capacity };
            let (segment, total) = Segment::heap_unpublished(geometry).expect("a valid geometry");
            Self { segment, total }
        }

        /// The creator's side: writes the header and the ring, then publishes the magic.
        pub fn publish(&self) {
            // SAFETY: called once, by the one creator thread; openers read only the magic
            // until it is published.
            unsafe { initialise(self.segment.base, &self.segment.geometry, self.total) };
        }

        /// The opener's side: `None` before publication, else the checked
        /// `(slot_size, capacity)`.
        pub fn observe(&self) -> Option<Result<(usize, usize), AttachError>> {
            published("model", self.segment.header(), self.total as u64, None)
                .map(|geometry| geometry.map(|g| (g.slot_size, g.capacity)))
        }
    }
}
