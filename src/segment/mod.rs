//! Named shared memory: create, open and unlink a segment, and map it (or make its twin
//! in heap memory).
//!
//! A segment is a POSIX shared-memory object (`/dev/shm/ferry.NAME` on Linux) laid out as
//! a 128-byte-aligned header, then (MPMC only) a table of seats, then one ring
//! ([`header`]). The creator makes the object exclusively with mode 0600 (or the mode
//! asked for, whatever the umask), reserves its space, and initialises it; an opener
//! waits, a bounded time, for the creator to publish the header, and checks it before it
//! touches the ring. Every name is opened without following links, and an opener accepts
//! only a regular file of an owner it trusts (`object`). Names are removed under a lock
//! that makes reclaiming a stale name safe against racing creators (`object`).
//! `ferry ls` reads segments without mapping them (`snapshot`).
//!
//! The segment knows the layout, not what the words in it mean to the processes that
//! share it: the role words and the seats are read and written by the liveness layer
//! (`liveness`), which also says when a segment left behind may be reclaimed (the
//! `stale` judge that [`Segment::create`] takes).
//!
//! The same layout also lives in plain heap memory ([`Segment::heap`]), for in-process
//! channels, property tests and loom.

pub(crate) mod header;
#[cfg(ferry_loom)]
pub mod model;
pub(crate) mod name;
pub(crate) mod object;
pub(crate) mod seat;
mod share;
#[cfg(not(ferry_loom))]
pub(crate) mod snapshot;

use std::{
    alloc::{self, Layout},
    ptr::NonNull,
    time::{Duration, Instant},
};

pub(crate) use self::name::validate_name;
pub(crate) use self::share::Shared;
#[cfg(not(ferry_loom))]
pub(crate) use self::share::Tether;
pub use self::{header::LAYOUT_VERSION, name::MAX_NAME_LEN};
use self::{
    header::{initialise, published, ring_offset, seats_offset, subscribers_offset, total_size, Header},
    seat::{seat_count, Seat, SubscriberSeat},
};
use crate::{
    error::AttachError,
    forked::MadeBy,
    ring::{bytes::ByteRing, Geometry, RingView},
    sync::{AtomicU64, Ordering::Relaxed},
};

/// How long `open` waits for a creator to finish initialising a segment.
#[cfg(not(ferry_loom))]
const INIT_TIMEOUT: Duration = Duration::from_secs(2);

/// A mapped segment (or its heap twin). Unlinks its name on drop if it created it.
pub(crate) struct Segment {
    base: NonNull<u8>,
    geometry: Geometry,
    name: String,
    backing: Backing,
    /// When this process mapped the segment: the origin of `next_due`.
    opened: Instant,
    /// For each [`Ration`], nanoseconds after `opened` before which `due` says no.
    /// Process local, not in shared memory.
    next_due: [AtomicU64; 2],
    /// The process that mapped the segment (`crate::forked`).
    made_by: MadeBy,
}

/// The periodic jobs a process does on a segment, each rationed on its own (`due`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ration {
    /// Making sure every holder is watched for its death (no system call as a rule).
    Watch = 0,
    /// Looking for dead holders by asking the kernel about each (system calls).
    Poll = 1,
}

enum Backing {
    #[cfg(not(ferry_loom))]
    Shared {
        _map: memmap2::MmapRaw,
        /// The creator's object, whose name its drop removes (under the removal lock, and
        /// only while the name still names it); `None` in the other processes.
        created: Option<object::Object>,
    },
    Heap(Layout),
}

// SAFETY: the segment is plain memory; every access to its shared parts goes through
// atomics or through the ring protocol, which hands each slot to one side at a time.
unsafe impl Send for Segment {}
// SAFETY: as for `Send`; `&Segment` exposes only atomics and the ring view.
unsafe impl Sync for Segment {}

impl Segment {
    /// Makes an initialised segment in heap memory, for a channel inside one process;
    /// `creator` is this process's identity.
    pub(crate) fn heap(geometry: Geometry, creator: u64) -> Result<Self, AttachError> {
        let (segment, total) = Self::heap_unpublished(geometry)?;
        // SAFETY: the fresh heap segment is ours alone.
        unsafe { initialise(segment.base, &geometry, total, creator) };
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
        // SAFETY: fresh, 128-aligned, zeroed allocation of `total` bytes; ours alone.
        unsafe { Header::construct(base.cast::<Header>().as_ptr()) };
        Ok((Self::new(base, geometry, String::from("(in memory)"), Backing::Heap(layout)), total))
    }

    fn new(base: NonNull<u8>, geometry: Geometry, name: String, backing: Backing) -> Self {
        // Every handle wakes its peer through the light barrier (`signal`): register for
        // it here, at open, rather than on the first send.
        crate::sync::register_light_barrier();
        let (opened, next_due) = (Instant::now(), [AtomicU64::new(0), AtomicU64::new(0)]);
        Self { base, geometry, name, backing, opened, next_due, made_by: MadeBy::this_process() }
    }

    /// Whether this is a forked child's copy of the parent's segment (`crate::forked`): the
    /// drops of the ends on it then leave the shared state alone.
    pub(crate) fn is_forked_copy(&self) -> bool {
        self.made_by.is_forked_copy()
    }

    /// The header.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: an initialised header lies at `base` while `self` lives.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// The byte ring that follows the header of a segment whose kind is sized in bytes.
    pub(crate) fn byte_ring(&self) -> ByteRing {
        debug_assert!(self.geometry.kind.is_bytes());
        // SAFETY: the ring follows the header, was initialised as a byte ring (the kind
        // says so) and lives as long as the segment.
        unsafe { ByteRing::new(self.base.add(ring_offset(&self.geometry)), &self.geometry) }
    }

    /// The ring that follows the header (and the seats of an MPMC segment). Only its
    /// control block is meaningful on a segment sized in bytes (see `byte_ring`).
    pub(crate) fn ring(&self) -> RingView {
        // SAFETY: the ring follows the header and the seats, was initialised and
        // validated against the segment's size, and stays mapped while `self` lives;
        // every user of the view holds the segment (through an `Arc`).
        unsafe { RingView::new(self.base.add(ring_offset(&self.geometry)), &self.geometry) }
    }

    /// The seats of an MPMC segment (none for SPSC).
    pub(crate) fn seats(&self) -> &[Seat] {
        let count = seat_count(self.geometry.kind);
        // SAFETY: `initialise` wrote `count` seats right after the header, inside the
        // segment, which stays mapped while `self` lives.
        unsafe { std::slice::from_raw_parts(self.base.add(seats_offset()).cast::<Seat>().as_ptr(), count) }
    }

    /// The subscriber seats of a broadcast segment (none for the other kinds).
    pub(crate) fn subscriber_seats(&self) -> &[SubscriberSeat] {
        let count = self.geometry.fanout.subscribers;
        // SAFETY: `initialise` wrote `count` subscriber seats after the seats, inside the
        // segment (its size was checked against the geometry), which stays mapped while
        // `self` lives.
        unsafe {
            let first = self.base.add(subscribers_offset(self.geometry.kind)).cast::<SubscriberSeat>();
            std::slice::from_raw_parts(first.as_ptr(), count)
        }
    }

    /// The geometry, as validated at creation or open.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The channel name, for messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether `interval` has passed since this last returned `true` for `ration` on this
    /// mapping: a process-local ration for periodic work on the segment (looking for
    /// dead handles), so that callers polling it do not pay for that work on every poll.
    pub(crate) fn due(&self, ration: Ration, interval: Duration) -> bool {
        let next_due = &self.next_due[ration as usize];
        let now = self.opened.elapsed().as_nanos() as u64;
        // SYNC: Relaxed, here and in the CAS; a process-local rate limit, nothing is
        // published through it.
        let due = next_due.load(Relaxed);
        let next = now + interval.as_nanos() as u64;
        now >= due && next_due.compare_exchange(due, next, Relaxed, Relaxed).is_ok()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if crate::sync::abandoned_by_loom() {
            return; // Leaks the heap segment of a failed loom model.
        }
        match &self.backing {
            #[cfg(not(ferry_loom))]
            Backing::Shared { created, .. } => {
                // Best effort: the name may have been removed, or even reused, since. A
                // forked child's copy leaves the name to the parent.
                if let Some(object) = created.as_ref().filter(|_| !self.made_by.is_forked_copy()) {
                    if object.lock() {
                        object.unlink_locked();
                    }
                }
            }
            Backing::Heap(layout) => {
                // SAFETY: this process initialised the heap segment and every view of it
                // is gone (they hold the segment); the layout is the one allocated with.
                unsafe {
                    if self.geometry.kind.is_bytes() {
                        self.byte_ring().drop_in_place();
                    } else {
                        self.ring().drop_in_place();
                    }
                    for seat in self.seats() {
                        std::ptr::from_ref(seat).cast_mut().drop_in_place();
                    }
                    for seat in self.subscriber_seats() {
                        std::ptr::from_ref(seat).cast_mut().drop_in_place();
                    }
                    self.base.cast::<Header>().as_ptr().drop_in_place();
                    alloc::dealloc(self.base.as_ptr(), *layout);
                }
            }
        }
    }
}

#[cfg(not(ferry_loom))]
mod shared {
    use std::fs::File;

    use super::*;
    use crate::{owner::Owners, segment::object::Object};

    impl Segment {
        /// Creates the named segment exclusively, with `mode` whatever the umask, reserves
        /// its space and initialises it, naming `creator` (this process's identity) as its
        /// creator. A segment of that name that `stale` judges unused is reclaimed, once,
        /// under the removal lock (see `object`); anything else under the name is an
        /// error at once. The segment unlinks its name when dropped.
        pub(crate) fn create(
            name: &str,
            geometry: Geometry,
            mode: u32,
            creator: u64,
            stale: impl Fn(&Segment) -> bool,
        ) -> Result<Self, AttachError> {
            validate_name(name)?;
            check_enabled(name)?;
            geometry.validate().map_err(AttachError::InvalidConfig)?;
            let total = total_size(&geometry).ok_or(AttachError::InvalidConfig("ring too large"))?;
            let object = match Object::create(name, mode) {
                Err(AttachError::AlreadyExists { .. }) => {
                    // Whoever else reclaimed the name meanwhile created it again, or will:
                    // this create then fails. One creator wins.
                    reclaim(name, stale).map_err(|e| match e {
                        // A name this user cannot even look at is simply taken.
                        AttachError::PermissionDenied { name } => AttachError::AlreadyExists { name },
                        other => other,
                    })?;
                    Object::create(name, mode)?
                }
                other => other?,
            };
            // The removal lock is held from here until the header is published.
            let map = object
                .reserve(name, total as u64)
                .and_then(|()| {
                    memmap2::MmapOptions::new().len(total).map_raw(&object.file).map_err(|e| AttachError::Io {
                        op: "map",
                        name: name.to_owned(),
                        source: e,
                    })
                })
                .inspect_err(|_| {
                    object.unlink_locked();
                })?;
            let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
            // SAFETY: a fresh mapping of `total` zeroed bytes, page-aligned, whose space is
            // reserved; openers read only `magic` until `initialise` publishes it.
            unsafe { initialise(base, &geometry, total, creator) };
            object.unlock();
            Ok(Self::new(base, geometry, name.to_owned(), Backing::Shared { _map: map, created: Some(object) }))
        }

        /// Opens the named segment, waiting a bounded time for its creator to finish
        /// initialising it, and checks its header. With `expected`, the geometry must match.
        /// The object must be a regular file (not a link) of a uid `owners` accepts.
        pub(crate) fn open(name: &str, expected: Option<Geometry>, owners: &Owners) -> Result<Self, AttachError> {
            validate_name(name)?;
            check_enabled(name)?;
            let (object, stat) = Object::open(name, true)?;
            owners.check(name, stat.st_uid)?;
            let deadline = Instant::now() + INIT_TIMEOUT;
            loop {
                if let Some(segment) = Self::map_published(&object.file, name, expected)? {
                    return Ok(segment);
                }
                if Instant::now() >= deadline {
                    return Err(AttachError::NotInitialised { name: name.to_owned() });
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }

        /// Maps the object `file` and checks its header; `None` while its creator has not
        /// published it yet. An object shorter than a header but not empty is no state a
        /// ferry segment passes through (its creator sizes it whole at once): not ferry's.
        fn map_published(file: &File, name: &str, expected: Option<Geometry>) -> Result<Option<Self>, AttachError> {
            let io = |op| move |e: std::io::Error| AttachError::Io { op, name: name.to_owned(), source: e };
            let size = file.metadata().map_err(io("inspect"))?.len();
            if size == 0 {
                return Ok(None);
            }
            if size < std::mem::size_of::<Header>() as u64 {
                return Err(short_object(file, name));
            }
            let len = usize::try_from(size).map_err(|_| AttachError::CorruptHeader {
                name: name.to_owned(),
                reason: "its size does not fit this machine",
            })?;
            let map = memmap2::MmapOptions::new().len(len).map_raw(file).map_err(io("map"))?;
            let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
            // SAFETY: the mapping is page-aligned and at least a header long.
            let header = unsafe { base.cast::<Header>().as_ref() };
            let Some(geometry) = published(name, header, size, expected) else { return Ok(None) };
            let backing = Backing::Shared { _map: map, created: None };
            Ok(Some(Self::new(base, geometry?, name.to_owned(), backing)))
        }
    }

    /// The error for an object shorter than a header but not empty: no state a segment
    /// passes through, so not one ferry made (or one truncated since).
    pub(crate) fn short_object(file: &File, name: &str) -> AttachError {
        let mut magic = [0; 8];
        let _ = std::os::unix::fs::FileExt::read_at(file, &mut magic, 0);
        match u64::from_le_bytes(magic) {
            header::MAGIC => {
                AttachError::CorruptHeader { name: name.to_owned(), reason: "the object is shorter than a header" }
            }
            found => AttachError::BadMagic { name: name.to_owned(), found },
        }
    }

    /// Removes the segment `name` if `stale` judges it unused, under its removal lock
    /// (see `object`). `Ok(true)`: removed; `Ok(false)`: the name no longer names the
    /// object opened (another process removed it). [`AttachError::AlreadyExists`] if the
    /// segment is in use (or its lock stays held); another error says what is under the
    /// name if it is not a published ferry segment of this user. Never waits for an
    /// unpublished segment: its creator holds the lock while it initialises it.
    fn reclaim(name: &str, stale: impl FnOnce(&Segment) -> bool) -> Result<bool, AttachError> {
        let (object, stat) = match Object::open(name, true) {
            Err(AttachError::NotFound { .. }) => return Ok(false),
            other => other?,
        };
        // Only this user's own segments are reclaimed.
        Owners::default().check(name, stat.st_uid)?;
        let in_use = || AttachError::AlreadyExists { name: name.to_owned() };
        if !object.lock() {
            return Err(in_use());
        }
        if !object.still_named() {
            return Ok(false);
        }
        let segment = Segment::map_published(&object.file, name, None)?
            .ok_or_else(|| AttachError::NotInitialised { name: name.to_owned() })?;
        if !stale(&segment) {
            return Err(in_use());
        }
        drop(segment);
        Ok(object.unlink_locked())
    }

    /// Removes the segment `name` if `stale` judges it unused; returns whether it did. A
    /// segment that cannot be opened and checked is left alone.
    pub(crate) fn reclaim_if(name: &str, stale: impl FnOnce(&Segment) -> bool) -> bool {
        validate_name(name).is_ok() && matches!(reclaim(name, stale), Ok(true))
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

    /// Removes the named segment, under its removal lock (see `object`); a link or any
    /// other non-segment under the name is removed too (the name, not what it leads to).
    /// Processes that have the segment open keep using it.
    pub(crate) fn unlink(name: &str) -> Result<(), AttachError> {
        validate_name(name)?;
        // A name replaced between the open and the lock is looked at again.
        for _ in 0..3 {
            let object = match Object::open(name, false) {
                Ok((object, _)) => object,
                Err(AttachError::Unexpected { .. }) => return object::unlink_any(name),
                Err(e) => return Err(e),
            };
            if !object.lock() {
                return Err(AttachError::Io {
                    op: "lock, to remove,",
                    name: name.to_owned(),
                    source: rustix::io::Errno::WOULDBLOCK.into(),
                });
            }
            if object.unlink_locked() {
                return Ok(());
            }
        }
        Err(AttachError::NotFound { name: name.to_owned() })
    }
}

#[cfg(not(ferry_loom))]
pub(crate) use shared::{reclaim_if, short_object, unlink};
