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
        mpmc,
        spsc::{Consumer, Producer},
        Geometry, RingKind, RingView, Unavailable, SLOT_ALIGN,
    },
    segment::{Peer, Role, Segment},
    signal::{Signal, Signaling, WaitPolicy},
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
    kind: RingKind,
    signaling: Signaling,
    slot_size: usize,
    capacity: usize,
    mode: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { kind: RingKind::Spsc, signaling: Signaling::Futex, slot_size: 1024, capacity: 256, mode: 0o600 }
    }
}

impl Config {
    /// An SPSC ring of 256 slots of 1 KiB, futex signaling, mode 0600.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which ring: one sender and one receiver ([`RingKind::Spsc`], the default), or any
    /// number of each ([`RingKind::Mpmc`]).
    pub fn kind(mut self, kind: RingKind) -> Self {
        self.kind = kind;
        self
    }

    /// How blocked calls sleep: [`Signaling::Futex`] (the default) or
    /// [`Signaling::Semaphore`].
    pub fn signaling(mut self, signaling: Signaling) -> Self {
        self.signaling = signaling;
        self
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
        Geometry { kind: self.kind, signaling: self.signaling, slot_size: self.slot_size, capacity: self.capacity }
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
    side: SendSide,
    policy: WaitPolicy,
    segment: Arc<Segment>,
}

/// The sender's ring-specific state.
#[derive(Debug)]
enum SendSide {
    Spsc(Producer),
    /// The MPMC ring keeps all its state in shared memory.
    Mpmc,
}

// SAFETY: the ring view points into `segment`, which the sender keeps alive and which
// is `Send`; the rest is plain data.
unsafe impl Send for Sender {}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("name", &self.segment.name()).field("side", &self.side).finish()
    }
}

impl Sender {
    /// Creates the channel `name` and attaches to it as a sender. The channel's name is
    /// removed when this sender is dropped (attached processes keep working).
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

    /// Opens the existing channel `name` as a sender, whatever its geometry.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotFound`], [`AttachError::RoleTaken`] if the channel is SPSC and a
    /// live sender is attached, and the header errors ([`AttachError::BadMagic`],
    /// [`AttachError::VersionMismatch`], [`AttachError::CorruptHeader`],
    /// [`AttachError::SizeMismatch`], [`AttachError::NotInitialised`]).
    #[cfg(not(ferry_loom))]
    pub fn open(name: &str) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::open(name, None)?))
    }

    /// Like [`Sender::open`], but fails with [`AttachError::GeometryMismatch`] unless the
    /// channel has `config`'s kind, signaling, slot size and capacity.
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
        let side = match segment.geometry().kind {
            RingKind::Spsc => match Producer::attach(&ring) {
                Ok(state) => SendSide::Spsc(state),
                Err(_) => {
                    segment.detach(Role::Sender);
                    return Err(inconsistent(&segment));
                }
            },
            RingKind::Mpmc => SendSide::Mpmc,
        };
        Ok(Self { ring, side, policy: WaitPolicy::default(), segment })
    }

    /// Attaches another sender to the same channel (MPMC only: an SPSC channel has one).
    ///
    /// # Errors
    ///
    /// [`AttachError::RoleTaken`] on an SPSC channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::{Config, RingKind};
    /// let (tx, _rx) = ferry::in_memory(&Config::new().kind(RingKind::Mpmc))?;
    /// let tx2 = tx.try_clone()?;
    /// # Ok::<(), ferry::AttachError>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        Self::attach(self.segment.clone())
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    /// Sets how blocked calls of this sender spin, yield and park.
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.policy = policy;
    }

    /// Messages published and not yet released by the receivers (a snapshot, for MPMC).
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupt`] if the receiver's position is impossible.
    pub fn in_flight(&mut self) -> Result<usize, RecvError> {
        match &mut self.side {
            SendSide::Spsc(state) => state.in_flight(&self.ring).map(|n| n as usize).map_err(|e| match e {
                Unavailable::Corrupt(reason) => RecvError::Corrupt { reason },
                _ => unreachable!("in_flight never blocks"),
            }),
            SendSide::Mpmc => Ok(mpmc::in_flight(&self.ring) as usize),
        }
    }

    /// Borrows a free slot to write a message into, waiting while the ring is full.
    /// The message is sent by [`Loan::commit`]; dropping the loan sends nothing.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if the ring is full and the receivers have gone;
    /// [`SendError::Corrupt`].
    pub fn loan(&mut self) -> Result<Loan<'_>, SendError<()>> {
        self.loan_until(Wait::Forever, true)
    }

    /// Borrows a free slot without waiting. Never enters the kernel.
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
        let (ring, segment, policy) = (self.ring, &self.segment, self.policy);
        let side = &mut self.side;
        let blocked = Blocked { segment, peer: Role::Receiver, signal: &ring.control().not_full, policy, wait };
        let pos = blocked
            .retry(|| match side {
                SendSide::Spsc(state) => state.next_free(&ring),
                SendSide::Mpmc => mpmc::claim_free(&ring),
            })
            .map_err(|stop| match stop {
                Stop::Timeout => SendError::Timeout(()),
                Stop::Gone => SendError::Disconnected(()),
                Stop::Corrupt(reason) => SendError::Corrupt { message: (), reason },
                Stop::WouldBlock | Stop::Refused(_) => SendError::Full(()),
            })?;
        // Tell loom the producer now writes this payload.
        ring.meta(pos).payload.with_mut(|_| ());
        Ok(Loan { sender: self, pos, publish, committed: false })
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

    /// Copies `message` into the ring if there is room now. Never enters the kernel
    /// unless a receiver is parked and must be woken.
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

    /// Starts a batch: on an SPSC ring, messages committed through it are published
    /// together, with one store, when the batch is dropped or [`SendBatch::publish`] is
    /// called. (An MPMC ring publishes each slot on its own.)
    pub fn batch(&mut self) -> SendBatch<'_> {
        SendBatch { sender: self }
    }

    /// Publishes what is staged and wakes a parked receiver if there is one.
    fn publish(&mut self) {
        if let SendSide::Spsc(state) = &mut self.side {
            if state.publish(&self.ring) {
                self.ring.control().not_empty.notify(self.segment.geometry().signaling);
            }
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        self.publish();
        self.segment.detach(Role::Sender);
        // Parked receivers re-check and find the sender gone.
        self.ring.control().not_empty.wake(self.segment.geometry().signaling);
    }
}

/// A slot borrowed from the ring for writing. Derefs to the slot's whole payload
/// (`slot_size` bytes, 64-byte aligned). Dropping it without [`Loan::commit`] sends
/// nothing.
pub struct Loan<'a> {
    sender: &'a mut Sender,
    pos: u64,
    publish: bool,
    committed: bool,
}

impl Loan<'_> {
    /// Sends the first `len` bytes of the slot (published at once, or at the end of the
    /// batch the loan came from).
    ///
    /// # Panics
    ///
    /// If `len` is larger than the slot.
    pub fn commit(mut self, len: usize) {
        let max = self.sender.ring.slot_size();
        assert!(len <= max, "committed {len} bytes into a slot of {max} bytes");
        self.finish(len as u64);
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

    /// Hands the slot to the ring with `len` bytes, or `mpmc::CANCELLED`.
    fn finish(&mut self, len: u64) {
        self.committed = true;
        let sender = &mut *self.sender;
        match &mut sender.side {
            SendSide::Spsc(state) => {
                if len == mpmc::CANCELLED {
                    return; // Nothing was staged: the slot stays free.
                }
                state.stage(&sender.ring, len as usize);
                if self.publish {
                    sender.publish();
                }
            }
            SendSide::Mpmc => {
                mpmc::publish(&sender.ring, self.pos, len);
                sender.ring.control().not_empty.notify(sender.segment.geometry().signaling);
            }
        }
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        if !self.committed {
            // An MPMC position is claimed for good: publish it as cancelled, so
            // receivers skip it rather than wait on it.
            self.finish(mpmc::CANCELLED);
        }
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
        self.sender.publish();
    }
}

impl Drop for SendBatch<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        self.publish();
    }
}

/// The receiving end of a channel.
///
/// `Send` but not `Sync`: one thread receives through it at a time. An MPMC channel
/// takes any number of receivers, each opened on its own; each message goes to one.
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
    side: RecvSide,
    policy: WaitPolicy,
    segment: Arc<Segment>,
}

/// The receiver's ring-specific state.
#[derive(Debug)]
enum RecvSide {
    Spsc(Consumer),
    /// The MPMC ring keeps all its state in shared memory.
    Mpmc,
}

// SAFETY: as for `Sender`.
unsafe impl Send for Receiver {}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("name", &self.segment.name()).field("side", &self.side).finish()
    }
}

impl Receiver {
    /// Creates the channel `name` and attaches to it as a receiver. The channel's name
    /// is removed when this receiver is dropped.
    ///
    /// # Errors
    ///
    /// As for [`Sender::create`].
    #[cfg(not(ferry_loom))]
    pub fn create(name: &str, config: &Config) -> Result<Self, AttachError> {
        Self::attach(Arc::new(Segment::create(name, config.geometry(), config.mode)?))
    }

    /// Opens the existing channel `name` as a receiver, whatever its geometry.
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], with [`AttachError::RoleTaken`] for a live SPSC receiver.
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
        let side = match segment.geometry().kind {
            RingKind::Spsc => match Consumer::attach(&ring) {
                Ok(state) => RecvSide::Spsc(state),
                Err(_) => {
                    segment.detach(Role::Receiver);
                    return Err(inconsistent(&segment));
                }
            },
            RingKind::Mpmc => RecvSide::Mpmc,
        };
        Ok(Self { ring, side, policy: WaitPolicy::default(), segment })
    }

    /// Attaches another receiver to the same channel (MPMC only: an SPSC channel has one).
    ///
    /// # Errors
    ///
    /// [`AttachError::RoleTaken`] on an SPSC channel.
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        Self::attach(self.segment.clone())
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    /// Sets how blocked calls of this receiver spin, yield and park.
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.policy = policy;
    }

    /// Waits for a message and returns a guard that reads it in place.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the senders have gone and every message they
    /// sent has been received; [`RecvError::Corrupt`].
    pub fn recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::Forever, true, |_| true)
    }

    /// Returns the next message if one is waiting. Never enters the kernel unless a
    /// sender is parked and must be woken.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Corrupt`].
    pub fn try_recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::Never, true, |_| true)
    }

    /// Waits at most `timeout` for a message.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`]; [`RecvError::Disconnected`]; [`RecvError::Corrupt`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::until(timeout), true, |_| true)
    }

    /// Takes the next message whose length `accept`s, or fails with `Refused` leaving
    /// it in the ring.
    fn recv_until(
        &mut self,
        wait: Wait,
        release: bool,
        accept: impl Fn(usize) -> bool,
    ) -> Result<RecvGuard<'_>, RecvError> {
        let (ring, segment, policy) = (self.ring, &self.segment, self.policy);
        let side = &mut self.side;
        let blocked = Blocked { segment, peer: Role::Sender, signal: &ring.control().not_empty, policy, wait };
        let (pos, len) = blocked
            .retry(|| match side {
                RecvSide::Spsc(state) => state.next_message(&ring).and_then(|(pos, len)| {
                    if accept(len) {
                        Ok((pos, len))
                    } else {
                        Err(Unavailable::Refused(len))
                    }
                }),
                RecvSide::Mpmc => mpmc::claim_message(&ring, &accept),
            })
            .map_err(|stop| match stop {
                Stop::WouldBlock => RecvError::Empty,
                Stop::Timeout => RecvError::Timeout,
                Stop::Gone => RecvError::Disconnected,
                Stop::Corrupt(reason) => RecvError::Corrupt { reason },
                Stop::Refused(len) => RecvError::BufferTooSmall { needed: len },
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
        let room = buf.len();
        copy_out(self.recv_until(Wait::Forever, true, |len| len <= room)?, buf)
    }

    /// Copies the next message into `buf` if one is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::BufferTooSmall`]; [`RecvError::Corrupt`].
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let room = buf.len();
        copy_out(self.recv_until(Wait::Never, true, |len| len <= room)?, buf)
    }

    /// Copies a message into `buf`, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`]; [`RecvError::BufferTooSmall`]; [`RecvError::Disconnected`];
    /// [`RecvError::Corrupt`].
    pub fn recv_into_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        let room = buf.len();
        copy_out(self.recv_until(Wait::until(timeout), true, |len| len <= room)?, buf)
    }

    /// Waits for a message of exactly `size_of::<T>()` bytes and returns a copy.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`] (the message stays in the channel);
    /// [`RecvError::Disconnected`]; [`RecvError::Corrupt`].
    pub fn recv_value<T: Pod>(&mut self) -> Result<T, RecvError> {
        let want = size_of::<T>();
        match self.recv_until(Wait::Forever, true, |len| len == want) {
            Ok(guard) => guard.value::<T>().copied(),
            Err(RecvError::BufferTooSmall { needed }) => Err(RecvError::WrongSize { expected: want, actual: needed }),
            Err(e) => Err(e),
        }
    }

    /// Starts a batch: on an SPSC ring, slots read through it go back to the sender
    /// together, with one store, when the batch is dropped. (An MPMC ring releases each
    /// slot on its own.)
    pub fn batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { receiver: self }
    }

    /// Hands the slots read so far back and wakes a parked sender if there is one.
    fn release(&mut self) {
        if let RecvSide::Spsc(state) = &mut self.side {
            if state.release(&self.ring) {
                self.ring.control().not_full.notify(self.segment.geometry().signaling);
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        self.release();
        self.segment.detach(Role::Receiver);
        // Parked senders re-check and find the receiver gone.
        self.ring.control().not_full.wake(self.segment.geometry().signaling);
    }
}

/// Copies the guard's message into `buf` (which `recv_until` checked is long enough).
fn copy_out(guard: RecvGuard<'_>, buf: &mut [u8]) -> Result<usize, RecvError> {
    let len = guard.len();
    buf[..len].copy_from_slice(&guard);
    Ok(len)
}

/// A received message, read in place in the ring. Derefs to its bytes; dropping the guard
/// hands the slot back to the senders (at once, or at the end of its batch).
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

    /// Leaves the message in the channel: the next receive returns it again.
    ///
    /// # Errors
    ///
    /// On an MPMC ring the message was handed to this receiver alone and cannot go back:
    /// the guard is returned.
    pub fn keep(self) -> Result<(), Self> {
        match self.receiver.side {
            RecvSide::Spsc(_) => {
                std::mem::forget(self);
                Ok(())
            }
            RecvSide::Mpmc => Err(self),
        }
    }
}

impl Deref for RecvGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the message at `pos` is published and not yet released, so no sender
        // writes it; `len` was checked against the slot size when it was claimed.
        unsafe { slice::from_raw_parts(self.receiver.ring.payload(self.pos), self.len) }
    }
}

impl Drop for RecvGuard<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        let receiver = &mut *self.receiver;
        match &mut receiver.side {
            RecvSide::Spsc(state) => {
                state.advance();
                if self.release {
                    receiver.release();
                }
            }
            RecvSide::Mpmc => {
                mpmc::release(&receiver.ring, self.pos);
                receiver.ring.control().not_full.notify(receiver.segment.geometry().signaling);
            }
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
        self.receiver.recv_until(Wait::Never, false, |_| true)
    }

    /// Hands every slot read so far back to the sender with one store.
    pub fn release(&mut self) {
        self.receiver.release();
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        self.release();
    }
}

fn check_fits(len: usize, max: usize) -> Result<(), SendError<()>> {
    if len > max {
        return Err(SendError::TooLarge { message: (), len, max });
    }
    Ok(())
}

fn inconsistent(segment: &Segment) -> AttachError {
    AttachError::CorruptHeader { name: segment.name().to_owned(), reason: "the ring's positions are inconsistent" }
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

/// Why a blocked call gave up.
enum Stop {
    WouldBlock,
    Timeout,
    Gone,
    Corrupt(&'static str),
    Refused(usize),
}

/// Longest single park: a parked side re-checks its peer's liveness this often.
const PARK_SLICE: Duration = Duration::from_millis(20);
/// Attempts between two looks at the clock while spinning or yielding.
const ATTEMPTS_PER_LOOK: u32 = 16;

/// A call that may wait: for what (`signal`), on whom (`peer`), how and how long.
struct Blocked<'a> {
    segment: &'a Segment,
    peer: Role,
    signal: &'a Signal,
    policy: WaitPolicy,
    wait: Wait,
}

impl Blocked<'_> {
    /// Retries `attempt` until it succeeds, the wait runs out, or the peer has gone:
    /// spinning, then yielding, then parked on the signal.
    fn retry<R>(&self, mut attempt: impl FnMut() -> Result<R, Unavailable>) -> Result<R, Stop> {
        let mut attempt = || match attempt() {
            Ok(r) => Ok(Some(r)),
            Err(Unavailable::WouldBlock) => Ok(None),
            Err(Unavailable::Corrupt(reason)) => Err(Stop::Corrupt(reason)),
            Err(Unavailable::Refused(len)) => Err(Stop::Refused(len)),
        };
        if let Some(r) = attempt()? {
            return Ok(r);
        }
        let deadline = match self.wait {
            Wait::Never => return Err(Stop::WouldBlock),
            Wait::Until(deadline) => Some(deadline),
            Wait::Forever => None,
        };
        let expired = |now: Instant| deadline.is_some_and(|d| now >= d);

        let start = Instant::now();
        let active = self.policy.spin + self.policy.yield_for;
        let mut now = start;
        while now - start < active && !expired(now) {
            let spinning = now - start < self.policy.spin;
            for _ in 0..ATTEMPTS_PER_LOOK {
                if spinning {
                    sync::spin_loop();
                } else {
                    sync::yield_now();
                }
                if let Some(r) = attempt()? {
                    return Ok(r);
                }
            }
            now = Instant::now();
        }

        let how = self.segment.geometry().signaling;
        let waiting = self.signal.announce(how);
        let mut next_liveness_check = now + PARK_SLICE;
        loop {
            let ticket = waiting.ticket();
            if let Some(r) = attempt()? {
                return Ok(r);
            }
            let now = Instant::now();
            // A detached peer shows in its role word; a dead one needs a system call,
            // made once per slice.
            let check_pid = now >= next_liveness_check;
            if check_pid {
                next_liveness_check = now + PARK_SLICE;
            }
            if self.segment.peer(self.peer, check_pid) == Peer::Gone {
                // The peer published everything before it left: one last look.
                return attempt()?.ok_or(Stop::Gone);
            }
            if expired(now) {
                return Err(Stop::Timeout);
            }
            let slice = deadline.map_or(PARK_SLICE, |d| (d - now).min(PARK_SLICE));
            waiting.park(ticket, slice);
        }
    }
}
