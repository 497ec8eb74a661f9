//! [`Sender`] and [`Receiver`]: the two ends of a channel, with zero-copy loans and
//! in-place receive guards, copy helpers, typed messages and batches.

use std::{
    fmt,
    mem::{align_of, size_of},
    ops::{Deref, DerefMut},
    slice,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    error::{AttachError, RecvError, SendError},
    pod::Pod,
    ring::{
        spsc::{Consumer, Producer, Unavailable},
        Geometry, RingKind, RingView, SLOT_ALIGN,
    },
    segment::{Peer, Role, Segment},
    sync,
};

/// The shape of a channel, chosen by its creator.
///
/// # Examples
///
/// ```
/// let config = ferry::Config::new().slot_size(256).capacity(1024);
/// assert_eq!(config.get_slot_size(), 256);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    slot_size: usize,
    capacity: usize,
    mode: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { slot_size: 1024, capacity: 256, mode: 0o600 }
    }
}

impl Config {
    /// 1 KiB slots, 256 of them, mode 0600.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest message, in bytes (1 byte to 1 GiB).
    pub fn slot_size(mut self, bytes: usize) -> Self {
        self.slot_size = bytes;
        self
    }

    /// How many messages the ring holds (a power of two, at most 2^24).
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// Permission bits of the shared-memory object (default 0o600), applied whatever
    /// the process umask.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The largest message, in bytes.
    pub fn get_slot_size(&self) -> usize {
        self.slot_size
    }

    /// The number of slots.
    pub fn get_capacity(&self) -> usize {
        self.capacity
    }

    fn geometry(&self) -> Geometry {
        Geometry { kind: RingKind::Spsc, slot_size: self.slot_size, capacity: self.capacity }
    }
}

/// Makes a channel inside this process, on heap memory, for use between threads.
///
/// It runs the same ring as a named channel.
///
/// # Errors
///
/// [`AttachError::InvalidConfig`] if the configuration cannot describe a ring.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64).capacity(4))?;
/// tx.send(b"hello")?;
/// assert_eq!(&*rx.try_recv()?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn in_memory(config: &Config) -> Result<(Sender, Receiver), AttachError> {
    let segment = Arc::new(Segment::heap(config.geometry())?);
    Ok((Sender::attach(segment.clone())?, Receiver::attach(segment)?))
}

/// Removes the named channel's segment. Processes attached to it keep using it; a new
/// channel of that name can be created at once.
///
/// # Errors
///
/// [`AttachError::NotFound`], [`AttachError::InvalidName`],
/// [`AttachError::PermissionDenied`], or [`AttachError::Io`].
#[cfg(not(ferry_loom))]
pub fn unlink(name: &str) -> Result<(), AttachError> {
    crate::segment::unlink(name)
}

/// The sending end of a channel.
///
/// `Send` but not `Sync`: one thread sends at a time, as the ring has one producer.
///
/// # Examples
///
/// Zero-copy: write the message straight into the ring, then publish it.
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64).capacity(4))?;
/// let mut loan = tx.try_loan()?;
/// loan[..3].copy_from_slice(b"abc");
/// loan.commit(3);
/// assert_eq!(&*rx.try_recv()?, b"abc");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sender {
    ring: RingView,
    state: Producer,
    segment: Arc<Segment>,
}

// SAFETY: the ring view points into `segment`, which the sender keeps alive and which
// is `Send`; the producer state is plain data.
unsafe impl Send for Sender {}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("name", &self.segment.name()).field("state", &self.state).finish()
    }
}

impl Sender {
    /// Creates the channel `name` and attaches to it as its sender. The channel's name is
    /// removed when this sender is dropped (attached receivers keep working).
    ///
    /// # Errors
    ///
    /// [`AttachError::AlreadyExists`], [`AttachError::InvalidName`],
    /// [`AttachError::InvalidConfig`], [`AttachError::PermissionDenied`], or
    /// [`AttachError::Io`].
    #[cfg(not(ferry_loom))]
    pub fn create(name: &str, config: &Config) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::create(name, config.geometry(), config.mode)?))
    }

    /// Opens the existing channel `name` as its sender, whatever its geometry.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotFound`], [`AttachError::RoleTaken`] if a live sender is
    /// attached, and the header errors ([`AttachError::BadMagic`],
    /// [`AttachError::VersionMismatch`], [`AttachError::CorruptHeader`],
    /// [`AttachError::SizeMismatch`], [`AttachError::NotInitialised`]).
    #[cfg(not(ferry_loom))]
    pub fn open(name: &str) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::open(name, None)?))
    }

    /// Like [`Sender::open`], but fails with [`AttachError::GeometryMismatch`] unless the
    /// channel has `config`'s slot size and capacity.
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(name: &str, config: &Config) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::open(name, Some(config.geometry()))?))
    }

    fn attach(segment: Arc<Segment>) -> Result<Self, AttachError> {
        segment.attach(Role::Sender)?;
        let ring = segment.ring();
        match Producer::attach(&ring) {
            Ok(state) => Ok(Self { ring, state, segment }),
            Err(_) => {
                segment.detach(Role::Sender);
                Err(AttachError::CorruptHeader {
                    name: segment.name().to_owned(),
                    reason: "the ring's positions are inconsistent",
                })
            }
        }
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    /// Messages published and not yet released by the receiver.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupt`] if the receiver's position is impossible.
    pub fn in_flight(&mut self) -> Result<usize, RecvError> {
        self.state.in_flight(&self.ring).map(|n| n as usize).map_err(|e| match e {
            Unavailable::Corrupt(reason) => RecvError::Corrupt { reason },
            Unavailable::WouldBlock => unreachable!("in_flight never blocks"),
        })
    }

    /// Borrows a free slot to write a message into, waiting while the ring is full.
    /// The message is sent by [`Loan::commit`]; dropping the loan sends nothing.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if the ring is full and the receiver has gone;
    /// [`SendError::Corrupt`].
    pub fn loan(&mut self) -> Result<Loan<'_>, SendError<()>> {
        self.loan_until(Wait::Forever, true)
    }

    /// Borrows a free slot without waiting.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::Corrupt`].
    pub fn try_loan(&mut self) -> Result<Loan<'_>, SendError<()>> {
        self.loan_until(Wait::Never, true)
    }

    /// Borrows a free slot, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`SendError::Timeout`]; [`SendError::Disconnected`]; [`SendError::Corrupt`].
    pub fn loan_timeout(&mut self, timeout: Duration) -> Result<Loan<'_>, SendError<()>> {
        self.loan_until(Wait::until(timeout), true)
    }

    fn loan_until(&mut self, wait: Wait, publish: bool) -> Result<Loan<'_>, SendError<()>> {
        let (ring, segment) = (self.ring, &self.segment);
        let pos =
            block_on(segment, Role::Receiver, wait, || self.state.next_free(&ring)).map_err(|stop| match stop {
                Stop::WouldBlock => SendError::Full(()),
                Stop::Timeout => SendError::Timeout(()),
                Stop::Gone => SendError::Disconnected(()),
                Stop::Corrupt(reason) => SendError::Corrupt { message: (), reason },
            })?;
        // Tell loom the producer now writes this payload.
        ring.meta(pos).payload.with_mut(|_| ());
        Ok(Loan { sender: self, pos, publish })
    }

    /// Copies `message` into the ring, waiting while it is full.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `message` is longer than a slot;
    /// [`SendError::Disconnected`]; [`SendError::Corrupt`]. The message is handed back.
    pub fn send<'m>(&mut self, message: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_until(message, Wait::Forever)
    }

    /// Copies `message` into the ring if there is room now.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::TooLarge`]; [`SendError::Corrupt`].
    pub fn try_send<'m>(&mut self, message: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_until(message, Wait::Never)
    }

    /// Copies `message` into the ring, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendError::Timeout`]; [`SendError::TooLarge`]; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`].
    pub fn send_timeout<'m>(&mut self, message: &'m [u8], timeout: Duration) -> Result<(), SendError<&'m [u8]>> {
        self.send_until(message, Wait::until(timeout))
    }

    fn send_until<'m>(&mut self, message: &'m [u8], wait: Wait) -> Result<(), SendError<&'m [u8]>> {
        check_fits(message.len(), self.slot_size()).map_err(|e| e.map(|()| message))?;
        let mut loan = self.loan_until(wait, true).map_err(|e| e.map(|()| message))?;
        loan[..message.len()].copy_from_slice(message);
        loan.commit(message.len());
        Ok(())
    }

    /// Sends a copy of `value`, waiting while the ring is full.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `T` is larger than a slot; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`]. The value is handed back.
    pub fn send_value<T: Pod>(&mut self, value: T) -> Result<(), SendError<T>> {
        check_fits(size_of::<T>(), self.slot_size()).map_err(|e| e.map(|()| value))?;
        let loan = self.loan_until(Wait::Forever, true).map_err(|e| e.map(|()| value))?;
        loan.write_value(value);
        Ok(())
    }

    /// Starts a batch: messages committed through it are published together, once, when
    /// the batch is dropped or [`SendBatch::publish`] is called.
    pub fn batch(&mut self) -> SendBatch<'_> {
        SendBatch { sender: self }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.state.publish(&self.ring);
        self.segment.detach(Role::Sender);
    }
}

/// A slot borrowed from the ring for writing. Derefs to the slot's whole payload
/// (`slot_size` bytes, 64-byte aligned). Dropping it without [`Loan::commit`] sends
/// nothing.
pub struct Loan<'a> {
    sender: &'a mut Sender,
    pos: u64,
    publish: bool,
}

impl Loan<'_> {
    /// Sends the first `len` bytes of the slot (published at once, or at the end of the
    /// batch the loan came from).
    ///
    /// # Panics
    ///
    /// If `len` is larger than the slot.
    pub fn commit(self, len: usize) {
        let sender = self.sender;
        assert!(
            len <= sender.ring.slot_size(),
            "committed {len} bytes into a slot of {} bytes",
            sender.ring.slot_size()
        );
        sender.state.stage(&sender.ring, len);
        if self.publish {
            sender.state.publish(&sender.ring);
        }
    }

    /// Writes `value` at the start of the slot and commits `size_of::<T>()` bytes.
    ///
    /// # Panics
    ///
    /// If `T` is larger than the slot or aligned to more than 64 bytes.
    pub fn write_value<T: Pod>(mut self, value: T) {
        assert!(size_of::<T>() <= self.len() && align_of::<T>() <= SLOT_ALIGN, "value does not fit a slot");
        // SAFETY: the payload is 64-aligned (so aligned for `T`) and long enough; the loan
        // gives this side exclusive access to it.
        unsafe { self.as_mut_ptr().cast::<T>().write(value) };
        self.commit(size_of::<T>());
    }
}

impl Deref for Loan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot at `pos` is free (the consumer released it) and not yet
        // published, so only this loan touches its `slot_size` payload bytes.
        unsafe { slice::from_raw_parts(self.sender.ring.payload(self.pos), self.sender.ring.slot_size()) }
    }
}

impl DerefMut for Loan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes the access unique in this process.
        unsafe { slice::from_raw_parts_mut(self.sender.ring.payload(self.pos), self.sender.ring.slot_size()) }
    }
}

impl fmt::Debug for Loan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan").field("position", &self.pos).field("capacity", &self.len()).finish()
    }
}

/// Messages sent through a batch are published together when it is dropped.
#[derive(Debug)]
pub struct SendBatch<'a> {
    sender: &'a mut Sender,
}

impl SendBatch<'_> {
    /// Borrows a free slot without waiting; its commit is published with the batch.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::Corrupt`].
    pub fn try_loan(&mut self) -> Result<Loan<'_>, SendError<()>> {
        self.sender.loan_until(Wait::Never, false)
    }

    /// Copies `message` into a free slot without waiting; published with the batch.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::TooLarge`]; [`SendError::Corrupt`].
    pub fn try_send<'m>(&mut self, message: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        check_fits(message.len(), self.sender.slot_size()).map_err(|e| e.map(|()| message))?;
        let mut loan = self.try_loan().map_err(|e| e.map(|()| message))?;
        loan[..message.len()].copy_from_slice(message);
        loan.commit(message.len());
        Ok(())
    }

    /// Publishes every message committed so far with one store.
    pub fn publish(&mut self) {
        self.sender.state.publish(&self.sender.ring);
    }
}

impl Drop for SendBatch<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}

/// The receiving end of a channel.
///
/// `Send` but not `Sync`: one thread receives at a time, as the ring has one consumer.
///
/// # Examples
///
/// Zero-copy: read the message in place; dropping the guard frees the slot.
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64).capacity(4))?;
/// tx.send(b"in place")?;
/// let guard = rx.recv()?;
/// assert_eq!(&*guard, b"in place");
/// drop(guard);
/// assert_eq!(rx.try_recv().unwrap_err(), ferry::RecvError::Empty);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Receiver {
    ring: RingView,
    state: Consumer,
    segment: Arc<Segment>,
}

// SAFETY: as for `Sender`.
unsafe impl Send for Receiver {}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("name", &self.segment.name()).field("state", &self.state).finish()
    }
}

impl Receiver {
    /// Creates the channel `name` and attaches to it as its receiver. The channel's name
    /// is removed when this receiver is dropped.
    ///
    /// # Errors
    ///
    /// As for [`Sender::create`].
    #[cfg(not(ferry_loom))]
    pub fn create(name: &str, config: &Config) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::create(name, config.geometry(), config.mode)?))
    }

    /// Opens the existing channel `name` as its receiver, whatever its geometry.
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], with [`AttachError::RoleTaken`] for a live receiver.
    #[cfg(not(ferry_loom))]
    pub fn open(name: &str) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::open(name, None)?))
    }

    /// Like [`Receiver::open`], but checks the geometry against `config`.
    ///
    /// # Errors
    ///
    /// As for [`Receiver::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(name: &str, config: &Config) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::open(name, Some(config.geometry()))?))
    }

    fn attach(segment: Arc<Segment>) -> Result<Self, AttachError> {
        segment.attach(Role::Receiver)?;
        let ring = segment.ring();
        match Consumer::attach(&ring) {
            Ok(state) => Ok(Self { ring, state, segment }),
            Err(_) => {
                segment.detach(Role::Receiver);
                Err(AttachError::CorruptHeader {
                    name: segment.name().to_owned(),
                    reason: "the ring's positions are inconsistent",
                })
            }
        }
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    /// Waits for a message and returns a guard that reads it in place.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the sender has gone and every message it sent
    /// has been received; [`RecvError::Corrupt`].
    pub fn recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::Forever, true)
    }

    /// Returns the next message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Corrupt`].
    pub fn try_recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::Never, true)
    }

    /// Waits at most `timeout` for a message.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`]; [`RecvError::Disconnected`]; [`RecvError::Corrupt`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::until(timeout), true)
    }

    fn recv_until(&mut self, wait: Wait, release: bool) -> Result<RecvGuard<'_>, RecvError> {
        let (ring, segment) = (self.ring, &self.segment);
        let (pos, len) =
            block_on(segment, Role::Sender, wait, || self.state.next_message(&ring)).map_err(|stop| match stop {
                Stop::WouldBlock => RecvError::Empty,
                Stop::Timeout => RecvError::Timeout,
                Stop::Gone => RecvError::Disconnected,
                Stop::Corrupt(reason) => RecvError::Corrupt { reason },
            })?;
        // Tell loom the consumer now reads this payload.
        ring.meta(pos).payload.with(|_| ());
        Ok(RecvGuard { receiver: self, pos, len, release })
    }

    /// Waits for a message and copies it into `buf`, returning its length.
    ///
    /// # Errors
    ///
    /// [`RecvError::BufferTooSmall`] (the message stays in the channel);
    /// [`RecvError::Disconnected`]; [`RecvError::Corrupt`].
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        copy_out(self.recv()?, buf)
    }

    /// Copies the next message into `buf` if one is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::BufferTooSmall`]; [`RecvError::Corrupt`].
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        copy_out(self.try_recv()?, buf)
    }

    /// Waits for a message of exactly `size_of::<T>()` bytes and returns a copy.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`] (the message stays in the channel);
    /// [`RecvError::Disconnected`]; [`RecvError::Corrupt`].
    pub fn recv_value<T: Pod>(&mut self) -> Result<T, RecvError> {
        let guard = self.recv()?;
        let value = guard.value::<T>().copied();
        if value.is_err() {
            guard.keep();
        }
        value
    }

    /// Starts a batch: slots read through it go back to the sender together, with one
    /// store, when the batch is dropped.
    pub fn batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { receiver: self }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.state.release(&self.ring);
        self.segment.detach(Role::Receiver);
    }
}

/// Copies the guard's message into `buf`, consuming it only if it fits.
fn copy_out(guard: RecvGuard<'_>, buf: &mut [u8]) -> Result<usize, RecvError> {
    let len = guard.len();
    let Some(dst) = buf.get_mut(..len) else {
        guard.keep();
        return Err(RecvError::BufferTooSmall { needed: len });
    };
    dst.copy_from_slice(&guard);
    Ok(len)
}

/// A received message, read in place in the ring. Derefs to its bytes; dropping the guard
/// hands the slot back to the sender (at once, or at the end of its batch).
pub struct RecvGuard<'a> {
    receiver: &'a mut Receiver,
    pos: u64,
    len: usize,
    release: bool,
}

impl RecvGuard<'_> {
    /// Reads the message in place as a `T`.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`] unless the message is exactly `size_of::<T>()` bytes.
    pub fn value<T: Pod>(&self) -> Result<&T, RecvError> {
        if self.len != size_of::<T>() || align_of::<T>() > SLOT_ALIGN {
            return Err(RecvError::WrongSize { expected: size_of::<T>(), actual: self.len });
        }
        // SAFETY: the payload is 64-aligned and holds `size_of::<T>()` bytes; `T: Pod`
        // is valid for any bytes; the slot stays ours while the guard lives.
        Ok(unsafe { &*self.receiver.ring.payload(self.pos).cast::<T>() })
    }

    /// Drops the guard without consuming the message: the next receive returns it again.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Deref for RecvGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the message at `pos` is published and not yet released, so the sender
        // does not write it; `len` was checked against the slot size in `next_message`.
        unsafe { slice::from_raw_parts(self.receiver.ring.payload(self.pos), self.len) }
    }
}

impl Drop for RecvGuard<'_> {
    fn drop(&mut self) {
        let receiver = &mut *self.receiver;
        receiver.state.advance();
        if self.release {
            receiver.state.release(&receiver.ring);
        }
    }
}

impl fmt::Debug for RecvGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvGuard").field("position", &self.pos).field("len", &self.len).finish()
    }
}

/// Slots read through a batch go back to the sender together when it is dropped.
#[derive(Debug)]
pub struct RecvBatch<'a> {
    receiver: &'a mut Receiver,
}

impl RecvBatch<'_> {
    /// Returns the next message if one is waiting; its slot is released with the batch.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Corrupt`].
    pub fn try_recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        self.receiver.recv_until(Wait::Never, false)
    }

    /// Hands every slot read so far back to the sender with one store.
    pub fn release(&mut self) {
        self.receiver.state.release(&self.receiver.ring);
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

fn check_fits(len: usize, max: usize) -> Result<(), SendError<()>> {
    if len > max {
        return Err(SendError::TooLarge { message: (), len, max });
    }
    Ok(())
}

/// How long a call may wait.
#[derive(Debug, Clone, Copy)]
enum Wait {
    Never,
    Until(Instant),
    Forever,
}

impl Wait {
    fn until(timeout: Duration) -> Self {
        Instant::now().checked_add(timeout).map_or(Self::Forever, Self::Until)
    }
}

/// Why `block_on` gave up.
enum Stop {
    WouldBlock,
    Timeout,
    Gone,
    Corrupt(&'static str),
}

/// Spins this many rounds (with exponential pauses) before yielding the CPU.
const SPIN_ROUNDS: u32 = 10;
/// Checks the peer's liveness (a syscall) once per this many yields.
const LIVENESS_EVERY: u32 = 64;

/// Retries `attempt` until it succeeds, `wait` runs out, or the `peer` role is gone.
fn block_on<R>(
    segment: &Segment,
    peer: Role,
    wait: Wait,
    mut attempt: impl FnMut() -> Result<R, Unavailable>,
) -> Result<R, Stop> {
    let mut round = 0u32;
    loop {
        match attempt() {
            Ok(r) => return Ok(r),
            Err(Unavailable::Corrupt(reason)) => return Err(Stop::Corrupt(reason)),
            Err(Unavailable::WouldBlock) => {}
        }
        let deadline = match wait {
            Wait::Never => return Err(Stop::WouldBlock),
            Wait::Until(deadline) => Some(deadline),
            Wait::Forever => None,
        };
        if round < SPIN_ROUNDS {
            for _ in 0..1u32 << round.min(6) {
                sync::spin_loop();
            }
        } else {
            if (round - SPIN_ROUNDS) % LIVENESS_EVERY == 0 && segment.peer(peer) == Peer::Gone {
                // The peer published everything before it left: one last look.
                return match attempt() {
                    Ok(r) => Ok(r),
                    Err(Unavailable::Corrupt(reason)) => Err(Stop::Corrupt(reason)),
                    Err(Unavailable::WouldBlock) => Err(Stop::Gone),
                };
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Stop::Timeout);
            }
            sync::yield_now();
        }
        round = round.saturating_add(1);
    }
}
