//! The baselines and the limits, written by hand: a plain Unix stream socket, a plain
//! Unix seqpacket socket, a plain pipe, a cache line flipped between two processes, a
//! raw futex ping-pong, a plain SPSC ring in shared memory, and `memcpy` in one process.

use std::{
    fs::{File, OpenOptions},
    hint::black_box,
    io,
    os::{
        fd::{AsFd, OwnedFd},
        unix::{
            fs::OpenOptionsExt,
            net::{UnixListener, UnixStream},
        },
    },
    path::{Path, PathBuf},
    ptr,
    sync::atomic::{
        AtomicU32, AtomicU64,
        Ordering::{Acquire, Release},
    },
    time::{Duration, Instant},
};

use memmap2::{MmapMut, MmapOptions, MmapRaw};
use rustix::{
    fs::{Mode, CWD},
    net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketType},
    thread::futex,
};

use super::process::failure;

/// The largest message the seqpacket baseline carries: one message must fit in the
/// socket's send buffer (`net.core.wmem_max`, 208 KiB by default), so 1 MiB cannot go.
pub(crate) const MAX_SEQPACKET: usize = 64 * 1024;

/// A listening stream socket at `path`.
pub(crate) fn listen_stream(path: &Path) -> io::Result<UnixListener> {
    UnixListener::bind(path)
}

/// Connects a stream socket to `path`.
pub(crate) fn connect_stream(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path)
}

/// A listening seqpacket socket at `path`.
pub(crate) fn listen_seqpacket(path: &Path) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket(AddressFamily::UNIX, SocketType::SEQPACKET, None)?;
    rustix::net::bind(&socket, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&socket, 4)?;
    Ok(socket)
}

/// Accepts one connection on a listening seqpacket socket.
pub(crate) fn accept_seqpacket(listener: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(rustix::net::accept(listener)?)
}

/// Connects a seqpacket socket to `path`.
pub(crate) fn connect_seqpacket(path: &Path) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket(AddressFamily::UNIX, SocketType::SEQPACKET, None)?;
    rustix::net::connect(&socket, &SocketAddrUnix::new(path)?)?;
    Ok(socket)
}

/// Sends one seqpacket message, whole.
pub(crate) fn send_packet(socket: impl AsFd, message: &[u8]) -> io::Result<()> {
    let sent = rustix::net::send(socket, message, SendFlags::empty())?;
    if sent != message.len() {
        return Err(failure(format!("a seqpacket send took {sent} of {} bytes", message.len())));
    }
    Ok(())
}

/// Receives one seqpacket message into `buf`; returns its length.
pub(crate) fn recv_packet(socket: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    let (n, _) = rustix::net::recv(socket, &mut *buf, RecvFlags::empty())?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(n)
}

/// Makes a named pipe at `path`.
pub(crate) fn make_fifo(path: &Path) -> io::Result<()> {
    Ok(rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(0o600))?)
}

/// Opens the reading end of the pipe at `path` (waits for a writer).
pub(crate) fn open_pipe_reader(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Opens the writing end of the pipe at `path` (waits for a reader).
pub(crate) fn open_pipe_writer(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).open(path)
}

/// Offset of the second futex word: a cache-line pair away from the first.
const SECOND_WORD: usize = 128;
/// Size of the file behind a [`SharedPage`].
const PAGE: usize = 4096;

/// A page of memory shared by two processes through a file, for the two floors.
pub(crate) struct SharedPage {
    map: MmapRaw,
}

impl SharedPage {
    /// Creates the file at `path`, zeroed, and maps it.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        file.set_len(PAGE as u64)?;
        Self::map(&file)
    }

    /// Maps the file at `path` made by [`SharedPage::create`].
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        Self::map(&OpenOptions::new().read(true).write(true).open(path)?)
    }

    fn map(file: &File) -> io::Result<Self> {
        let map = MmapOptions::new().len(PAGE).map_raw(file)?;
        Ok(Self { map })
    }

    /// The counter the cache-line ping-pong flips: the first 8 bytes of the page.
    fn counter(&self) -> &AtomicU64 {
        // SAFETY: the mapping is a page long, page-aligned (so aligned for a u64), shared
        // and alive as long as `self`; an atomic may alias memory another process
        // writes only through atomics.
        unsafe { &*self.map.as_mut_ptr().cast::<AtomicU64>() }
    }

    /// The futex word at `offset` (0 or [`SECOND_WORD`]).
    fn word(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset == 0 || offset == SECOND_WORD);
        // SAFETY: as in `counter`; `offset` is 0 or 128, inside the page and 4-aligned.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast::<AtomicU32>() }
    }
}

/// The parent's side of the cache-line ping-pong: it writes odd values and waits for
/// the echo to answer with the next even one.
pub(crate) struct LinePinger {
    page: SharedPage,
    next: u64,
}

impl LinePinger {
    pub(crate) fn new(page: SharedPage) -> Self {
        Self { page, next: 1 }
    }

    /// One round trip.
    pub(crate) fn round_trip(&mut self) {
        let line = self.page.counter();
        // SYNC: Release; pairs with the Acquire load in `LineEcho::echo`, as a message
        // hand-off would.
        line.store(self.next, Release);
        // SYNC: Acquire; pairs with the Release store in `LineEcho::echo`.
        while line.load(Acquire) != self.next + 1 {
            std::hint::spin_loop();
        }
        self.next += 2;
    }
}

/// The echo's side of the cache-line ping-pong.
pub(crate) struct LineEcho {
    page: SharedPage,
    next: u64,
}

impl LineEcho {
    pub(crate) fn new(page: SharedPage) -> Self {
        Self { page, next: 1 }
    }

    /// Answers one round trip.
    pub(crate) fn echo(&mut self) {
        let line = self.page.counter();
        // SYNC: Acquire; pairs with the Release store in `LinePinger::round_trip`.
        while line.load(Acquire) != self.next {
            std::hint::spin_loop();
        }
        // SYNC: Release; pairs with the Acquire load in `LinePinger::round_trip`.
        line.store(self.next + 1, Release);
        self.next += 2;
    }
}

/// One side of the raw futex ping-pong: each hand-off stores the round's number in the
/// other side's word and wakes it (always a system call), then sleeps on its own word
/// until the answer is there.
pub(crate) struct FutexSide {
    page: SharedPage,
    /// The word this side writes (and wakes), and the one it sleeps on.
    theirs: usize,
    mine: usize,
    round: u32,
}

impl FutexSide {
    /// The pinging side writes the first word; the echo writes the second.
    pub(crate) fn new(page: SharedPage, pinger: bool) -> Self {
        let (theirs, mine) = if pinger { (0, SECOND_WORD) } else { (SECOND_WORD, 0) };
        Self { page, theirs, mine, round: 0 }
    }

    /// Hands round `self.round` to the other side.
    fn hand_over(&self) -> io::Result<()> {
        let theirs = self.page.word(self.theirs);
        // SYNC: Release; pairs with the Acquire load in the other side's `wait_turn`.
        theirs.store(self.round, Release);
        // A shared (not private) futex: the word is in a mapping of another process.
        futex::wake(theirs, futex::Flags::empty(), 1)?;
        Ok(())
    }

    /// Sleeps until the other side has handed over round `self.round`.
    fn wait_turn(&self) {
        let mine = self.page.word(self.mine);
        // SYNC: Acquire; pairs with the Release store in the other side's `hand_over`.
        while mine.load(Acquire) != self.round {
            // Sleeps only while the word still holds the previous round; a wake-up that
            // came first makes the kernel return at once (EAGAIN), and the loop re-checks.
            let _ = futex::wait(mine, futex::Flags::empty(), self.round.wrapping_sub(1), None);
        }
    }

    /// The pinger's round trip.
    pub(crate) fn round_trip(&mut self) -> io::Result<()> {
        self.round = self.round.wrapping_add(1);
        self.hand_over()?;
        self.wait_turn();
        Ok(())
    }

    /// The echo's answer to one round trip.
    pub(crate) fn echo(&mut self) -> io::Result<()> {
        self.round = self.round.wrapping_add(1);
        self.wait_turn();
        self.hand_over()
    }
}

/// Where the plain rings' files live: tmpfs, like ferry's segments.
const SHM_DIR: &str = "/dev/shm";
/// Offset of a plain ring's head (the consumer's position, the next message to read).
const HEAD: usize = 0;
/// Offset of a plain ring's tail (the producer's position, the next slot to fill): a
/// cache-line pair (128 bytes) past the head, as in ferry's rings, so the two sides
/// never write the same line.
const TAIL: usize = 128;
/// Offset of a plain ring's first slot, a cache-line pair past the tail.
const SLOTS: usize = 256;
/// How long a side of a plain ring spins on a full or empty ring before it gives up:
/// its peer has failed.
const STALL: Duration = Duration::from_secs(10);

/// The bytes of a plain ring of `slots` slots of `slot_size` bytes: the two positions,
/// then the slots, back to back.
fn ring_len(slot_size: usize, slots: usize) -> usize {
    SLOTS + slot_size * slots
}

/// The file behind a plain ring, in /dev/shm: made zeroed by the coordinating process
/// before it starts the two sides, removed when dropped.
pub(crate) struct RingFile {
    path: PathBuf,
}

impl RingFile {
    /// Creates `/dev/shm/NAME` (mode 0600), sized for `slots` slots of `slot_size` bytes.
    pub(crate) fn create(name: &str, slot_size: usize, slots: usize) -> io::Result<Self> {
        let path = Path::new(SHM_DIR).join(name);
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
        // From here on, the file goes when `ring` does.
        let ring = Self { path };
        file.set_len(ring_len(slot_size, slots) as u64)?;
        Ok(ring)
    }

    /// The file's path, for the two sides.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RingFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A plain SPSC ring mapped in this process: Lamport's ring of fixed slots with two
/// ever-growing 64-bit positions (slot = position & mask), as `rtrb` or the simplest
/// shared-memory queue would have it, and nothing else: no header, no checks of a
/// peer, no waking. The limit for a ring of slots in shared memory.
struct PlainRing {
    map: MmapRaw,
    slot_size: usize,
    /// The number of slots, a power of two.
    slots: u64,
}

impl PlainRing {
    /// Maps the file at `path` made by [`RingFile::create`] with the same geometry.
    fn open(path: &Path, slot_size: usize, slots: usize) -> io::Result<Self> {
        if !slots.is_power_of_two() {
            return Err(failure(format!("a plain ring of {slots} slots: not a power of two")));
        }
        let len = ring_len(slot_size, slots);
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() != len as u64 {
            return Err(failure(format!("{} is not a plain ring of {slots} x {slot_size} B", path.display())));
        }
        let map = MmapOptions::new().len(len).map_raw(&file)?;
        Ok(Self { map, slot_size, slots: slots as u64 })
    }

    /// The position at `offset` ([`HEAD`] or [`TAIL`]).
    fn position(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset == HEAD || offset == TAIL);
        // SAFETY: the mapping is longer than SLOTS bytes and page-aligned, so `offset`
        // (0 or 128) is inside it and 8-aligned; it is shared and alive as long as
        // `self`, and the other process writes these 8 bytes only through atomics.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast::<AtomicU64>() }
    }

    /// The first byte of the slot of `position`.
    fn slot(&self, position: u64) -> *mut u8 {
        let index = (position & (self.slots - 1)) as usize;
        // SAFETY: `index < slots`, so the slot's `slot_size` bytes lie inside the
        // mapping of `SLOTS + slots x slot_size` bytes.
        unsafe { self.map.as_mut_ptr().add(SLOTS + index * self.slot_size) }
    }
}

/// Spins on a plain ring before each wait also yields the CPU.
const SPINS: u32 = 128;

/// Busy-waits until `ready` holds: spins, and after [`SPINS`] tries yields the CPU at
/// each try (as crossbeam's `Backoff::snooze` does), so that a peer sharing this CPU
/// gets to run; never sleeps in the kernel, so no wake-up is ever needed. Fails if
/// `ready` has not held after [`STALL`] (the clock is read once every 1024 tries).
fn spin_until(mut ready: impl FnMut() -> bool) -> io::Result<()> {
    let (mut tries, mut since) = (0u32, None);
    while !ready() {
        tries = tries.wrapping_add(1);
        if tries < SPINS {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
        if tries.is_multiple_of(1024) && since.get_or_insert_with(Instant::now).elapsed() > STALL {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the plain ring's other side stopped"));
        }
    }
    Ok(())
}

/// The sending side of a plain ring: copies each message into the slot at the tail,
/// then publishes it by moving the tail.
pub(crate) struct PlainProducer {
    ring: PlainRing,
    /// The next position to fill; only this side writes the tail.
    tail: u64,
    /// The head as last read: the consumer has released every position below it.
    head_seen: u64,
}

impl PlainProducer {
    /// Maps the ring at `path` (see [`RingFile::create`]).
    pub(crate) fn open(path: &Path, slot_size: usize, slots: usize) -> io::Result<Self> {
        Ok(Self { ring: PlainRing::open(path, slot_size, slots)?, tail: 0, head_seen: 0 })
    }

    /// Copies `message` (exactly one slot long) into the ring, spinning while it is full.
    pub(crate) fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let ring = &self.ring;
        if message.len() != ring.slot_size {
            return Err(failure(format!("a plain ring of {} B slots cannot send {} B", ring.slot_size, message.len())));
        }
        // The head is read again only when the ring looks full (the cached index).
        if self.tail.wrapping_sub(self.head_seen) >= ring.slots {
            let (head, tail, mut seen) = (ring.position(HEAD), self.tail, self.head_seen);
            spin_until(|| {
                // SYNC: Acquire; pairs with the Release store of the head in
                // `PlainConsumer::recv`: the consumer has finished copying out of every
                // slot below it, so this side may write them again.
                seen = head.load(Acquire);
                tail.wrapping_sub(seen) < ring.slots
            })?;
            self.head_seen = seen;
        }
        // SAFETY: the slot of `tail` holds `slot_size` bytes inside the mapping (see
        // `slot`), `message` is as long, and the two do not overlap (one is private).
        // The consumer does not read this slot before the tail passes it, and it has
        // released it (head_seen > tail - slots).
        unsafe { ptr::copy_nonoverlapping(message.as_ptr(), ring.slot(self.tail), message.len()) };
        self.tail += 1;
        // SYNC: Release; pairs with the Acquire load of the tail in `PlainConsumer::recv`,
        // makes the slot's bytes visible before the position that publishes them.
        ring.position(TAIL).store(self.tail, Release);
        Ok(())
    }
}

/// The receiving side of a plain ring: copies the message out of the slot at the head,
/// then releases the slot by moving the head.
pub(crate) struct PlainConsumer {
    ring: PlainRing,
    /// The next position to read; only this side writes the head.
    head: u64,
    /// The tail as last read: the producer has published every position below it.
    tail_seen: u64,
}

impl PlainConsumer {
    /// Maps the ring at `path` (see [`RingFile::create`]).
    pub(crate) fn open(path: &Path, slot_size: usize, slots: usize) -> io::Result<Self> {
        Ok(Self { ring: PlainRing::open(path, slot_size, slots)?, head: 0, tail_seen: 0 })
    }

    /// Copies the next message into `buf` (at least one slot long), spinning while the
    /// ring is empty; returns its length (one slot).
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ring = &self.ring;
        let size = ring.slot_size;
        if buf.len() < size {
            return Err(failure(format!("a plain ring's {size} B message does not fit in {} B", buf.len())));
        }
        // The tail is read again only when the ring looks empty (the cached index).
        if self.head == self.tail_seen {
            let (tail, head, mut seen) = (ring.position(TAIL), self.head, self.tail_seen);
            spin_until(|| {
                // SYNC: Acquire; pairs with the Release store of the tail in
                // `PlainProducer::send`: the bytes of every slot below it are visible.
                seen = tail.load(Acquire);
                seen != head
            })?;
            self.tail_seen = seen;
        }
        // SAFETY: the slot of `head` holds `size` bytes inside the mapping, `buf` at
        // least as many, and they do not overlap (one is private). The producer has
        // published the slot (tail_seen > head) and does not write it again before the
        // head passes it.
        unsafe { ptr::copy_nonoverlapping(ring.slot(self.head), buf.as_mut_ptr(), size) };
        self.head += 1;
        // SYNC: Release; pairs with the Acquire load of the head in `PlainProducer::send`:
        // the copy out of the slot is done before the producer may reuse it.
        ring.position(HEAD).store(self.head, Release);
        Ok(size)
    }
}

/// Two page-aligned buffers of one size in this process, for the copy ceiling.
pub struct CopyBuffers {
    src: MmapMut,
    dst: MmapMut,
    size: usize,
    dst_offset: usize,
}

impl CopyBuffers {
    /// A source of `size` bytes at the start of a page, and a destination `dst_offset`
    /// bytes past the start of a page (0 for the ceiling; other offsets show what the
    /// relative placement of the two costs). Both are written once first, so no page
    /// fault falls in a measurement.
    ///
    /// # Errors
    ///
    /// The anonymous mappings could not be made.
    pub fn new(size: usize, dst_offset: usize) -> io::Result<Self> {
        let mut src = MmapMut::map_anon(size.max(1))?;
        let mut dst = MmapMut::map_anon(size.max(1) + dst_offset)?;
        for (i, b) in src.iter_mut().enumerate() {
            *b = i as u8;
        }
        dst.fill(0);
        Ok(Self { src, dst, size, dst_offset })
    }

    /// Copies the source to the destination `times` times; returns how long it took.
    pub fn copy(&mut self, times: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..times {
            let dst = &mut self.dst[self.dst_offset..self.dst_offset + self.size];
            dst.copy_from_slice(black_box(&self.src[..self.size]));
            black_box(dst);
        }
        start.elapsed()
    }
}

/// Single-process copy bandwidth in bytes per second: `size` bytes between two
/// page-aligned buffers, repeated for about `time`.
///
/// # Errors
///
/// The buffers could not be mapped.
pub fn memcpy_bandwidth(size: usize, time: Duration) -> io::Result<f64> {
    let mut buffers = CopyBuffers::new(size, 0)?;
    buffers.copy(4);
    let (mut copies, mut spent) = (0u64, Duration::ZERO);
    let batch = (64 * 1024 * 1024 / size.max(1)).max(1) as u64;
    while spent < time || copies == 0 {
        spent += buffers.copy(batch);
        copies += batch;
    }
    Ok((copies * size as u64) as f64 / spent.as_secs_f64())
}
