//! [`Sender`] and [`Receiver`]: the two ends of a channel, with zero-copy loans and
//! in-place receive guards, copy helpers, typed messages and batches, over every
//! transport (dispatched by a private enum).

use std::{
    fmt,
    mem::{align_of, size_of},
    ops::{Deref, DerefMut},
    slice,
    sync::Arc,
    time::Duration,
};

use crate::{
    error::{AttachError, RecvError, SendError},
    liveness,
    pod::Pod,
    ring::{Geometry, RingKind, SLOT_ALIGN},
    segment::Segment,
    signal::{wait::Wait, Signaling, WaitPolicy},
    sync,
    transport::{
        fifo::{self, FifoReceiver, FifoSender},
        shm::{ShmReceiver, ShmSender},
        unix::{self, UnixReceiver, UnixSender},
        Endpoint, Stop,
    },
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
    let segment = Arc::new(Segment::heap(config.geometry(), liveness::me())?);
    let tx = ShmSender::attach(segment.clone())?;
    let rx = ShmReceiver::attach(segment)?;
    Ok((Sender::new(SendVia::Shm(tx), None), Receiver::new(RecvVia::Shm(rx), None)))
}

/// Removes the named shared-memory channel's segment (`NAME` or `shm:NAME`). Processes
/// attached to it keep using it; a new channel of that name can be created at once.
///
/// # Errors
///
/// [`AttachError::NotFound`], [`AttachError::InvalidName`],
/// [`AttachError::PermissionDenied`], or [`AttachError::Io`].
#[cfg(not(ferry_loom))]
pub fn unlink(name: &str) -> Result<(), AttachError> {
    crate::segment::unlink(name.strip_prefix("shm:").unwrap_or(name))
}

/// The sending end of a channel.
///
/// An endpoint string names the channel and its transport: `NAME` or `shm:NAME` (shared
/// memory), `unix:PATH` (a Unix domain socket), `fifo:PATH` (a named pipe), or
/// `auto:NAME` (shared memory, falling back to a Unix socket where shared memory cannot
/// be used). Every call works the same over every transport; on the socket and pipe
/// transports a loan is a buffer in this process that `commit` writes out. A blocking
/// call returns once its whole message is in the kernel; when a `try_` call (or a
/// `_timeout` call that runs out) finds room for only part of a message, the rest waits
/// in the sender and goes out first with its next call, or when it is dropped: never
/// half a message, never interleaved.
///
/// `Send` but not `Sync`: one thread sends through it at a time. An MPMC channel takes
/// any number of senders ([`Sender::open`] or [`Sender::try_clone`]).
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
    via: SendVia,
    /// The loan buffer of the socket and pipe transports (empty for shared memory).
    scratch: Vec<u8>,
    /// An error a commit met on a socket or pipe, reported by the next call.
    deferred: Option<Stop>,
    /// Why `auto:` fell back from shared memory, if it did.
    fallback: Option<String>,
}

/// The transport under a sender.
#[derive(Debug)]
enum SendVia {
    Shm(ShmSender),
    Unix(UnixSender),
    Fifo(FifoSender),
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("via", &self.via).field("fallback", &self.fallback).finish()
    }
}

impl Sender {
    fn new(via: SendVia, fallback: Option<String>) -> Self {
        let scratch = match &via {
            SendVia::Shm(_) => Vec::new(),
            SendVia::Unix(s) => vec![0; s.slot_size()],
            SendVia::Fifo(s) => vec![0; s.slot_size()],
        };
        Self { via, scratch, deferred: None, fallback }
    }

    /// Creates the shared-memory channel `endpoint` (`NAME`, `shm:NAME` or `auto:NAME`)
    /// and attaches to it as a sender. The name is removed when this sender is dropped
    /// (attached processes keep working). Socket and pipe endpoints are created by their
    /// receiver.
    ///
    /// # Errors
    ///
    /// [`AttachError::AlreadyExists`], [`AttachError::InvalidName`],
    /// [`AttachError::InvalidEndpoint`], [`AttachError::InvalidConfig`],
    /// [`AttachError::PermissionDenied`], [`AttachError::Unsupported`] for `unix:` and
    /// `fifo:`, or [`AttachError::Io`].
    #[cfg(not(ferry_loom))]
    pub fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        match Endpoint::parse(endpoint)? {
            Endpoint::Shm(name) | Endpoint::Auto(name) => {
                let segment =
                    Segment::create(&name, config.geometry(), config.mode, liveness::me(), liveness::is_stale)?;
                Ok(Self::new(SendVia::Shm(ShmSender::attach(Arc::new(segment))?), None))
            }
            Endpoint::Unix(_) | Endpoint::Fifo(_) => Err(AttachError::Unsupported {
                endpoint: endpoint.to_owned(),
                what: "creating a socket or pipe endpoint from the sender: its receiver creates it",
            }),
        }
    }

    /// Opens the existing channel `endpoint` as a sender, whatever its geometry.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotFound`], [`AttachError::RoleTaken`] if the channel is SPSC and a
    /// live sender is attached, [`AttachError::Unsupported`] for a second sender on a
    /// FIFO, and the header errors ([`AttachError::BadMagic`],
    /// [`AttachError::VersionMismatch`], [`AttachError::CorruptHeader`],
    /// [`AttachError::SizeMismatch`], [`AttachError::NotInitialised`]).
    #[cfg(not(ferry_loom))]
    pub fn open(endpoint: &str) -> Result<Self, AttachError> {
        Self::open_with(endpoint, None)
    }

    /// Like [`Sender::open`], but fails with [`AttachError::GeometryMismatch`] unless the
    /// shared-memory channel has `config`'s kind, signaling, slot size and capacity (on
    /// sockets and pipes, unless the receiver's slot size is `config`'s).
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Self::open_with(endpoint, Some(config))
    }

    #[cfg(not(ferry_loom))]
    fn open_with(endpoint: &str, config: Option<&Config>) -> Result<Self, AttachError> {
        let shm = |name: &str| -> Result<SendVia, AttachError> {
            let segment = Segment::open(name, config.map(Config::geometry))?;
            Ok(SendVia::Shm(ShmSender::attach(Arc::new(segment))?))
        };
        let unix = |path: &std::path::Path| unix::open_sender(path).map(SendVia::Unix);
        let (via, fallback) = match Endpoint::parse(endpoint)? {
            Endpoint::Shm(name) => (shm(&name)?, None),
            Endpoint::Unix(path) => (unix(&path)?, None),
            Endpoint::Fifo(path) => (fifo::open_sender(&path).map(SendVia::Fifo)?, None),
            Endpoint::Auto(name) => match shm(&name) {
                Ok(via) => (via, None),
                Err(shm_error) => match unix(&Endpoint::auto_socket(&name)) {
                    Ok(via) => (via, Some(shm_error.to_string())),
                    // Neither is there: the shared-memory error says more.
                    Err(_) => return Err(shm_error),
                },
            },
        };
        let sender = Self::new(via, fallback);
        // On a socket or pipe the receiver's slot size is the whole geometry.
        if let (Some(config), SendVia::Unix(_) | SendVia::Fifo(_)) = (config, &sender.via) {
            if sender.slot_size() != config.slot_size {
                return Err(AttachError::GeometryMismatch {
                    name: endpoint.to_owned(),
                    expected: format!("stream of messages up to {} B", config.slot_size),
                    found: format!("stream of messages up to {} B", sender.slot_size()),
                });
            }
        }
        Ok(sender)
    }

    /// Attaches another sender to the same channel: MPMC shared memory, or another
    /// connection to a Unix socket.
    ///
    /// # Errors
    ///
    /// [`AttachError::RoleTaken`] on an SPSC channel; [`AttachError::Unsupported`] on a
    /// FIFO.
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
        match &self.via {
            SendVia::Shm(s) => Ok(Self::new(SendVia::Shm(s.try_clone()?), None)),
            SendVia::Unix(s) => Ok(Self::new(SendVia::Unix(unix::open_sender(s.path())?), self.fallback.clone())),
            SendVia::Fifo(_) => {
                Err(AttachError::Unsupported { endpoint: String::from("fifo:"), what: "a second sender on one FIFO" })
            }
        }
    }

    /// Why an `auto:` endpoint fell back from shared memory to a Unix socket, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        match &self.via {
            SendVia::Shm(s) => s.slot_size(),
            SendVia::Unix(s) => s.slot_size(),
            SendVia::Fifo(s) => s.slot_size(),
        }
    }

    /// The number of slots of a shared-memory ring; 0 on sockets and pipes, whose kernel
    /// buffers hold a number of messages that depends on their size.
    pub fn capacity(&self) -> usize {
        match &self.via {
            SendVia::Shm(s) => s.capacity(),
            SendVia::Unix(_) | SendVia::Fifo(_) => 0,
        }
    }

    /// Sets how blocked calls of this sender spin, yield and park (shared memory; the
    /// socket and pipe transports sleep in `poll`).
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        if let SendVia::Shm(s) = &mut self.via {
            s.set_wait_policy(policy);
        }
    }

    /// Messages published and not yet released by the receivers (a snapshot, for MPMC).
    /// Sockets and pipes do not tell: 0.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupt`] if the receiver's position is impossible.
    pub fn in_flight(&mut self) -> Result<usize, RecvError> {
        match &mut self.via {
            SendVia::Shm(s) => s.in_flight().map_err(recv_error),
            SendVia::Unix(_) | SendVia::Fifo(_) => Ok(0),
        }
    }

    /// Borrows a free slot to write a message into, waiting while the ring is full.
    /// The message is sent by [`Loan::commit`]; dropping the loan sends nothing.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if the receivers have gone (noticed while waiting);
    /// [`SendError::Corrupt`].
    pub fn loan(&mut self) -> Result<Loan<'_>, SendError<()>> {
        self.loan_until(Wait::Forever, true)
    }

    /// Borrows a free slot without waiting. Never enters the kernel on shared memory.
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
        if let Some(stop) = self.deferred.take() {
            return Err(send_error(stop, ()));
        }
        let slot = match &mut self.via {
            SendVia::Shm(s) => LoanSlot::Ring(s.loan(wait).map_err(|stop| send_error(stop, ()))?),
            // The buffer is always free: wait for the stream to take more, so the commit
            // can hand it the message (keeping what it does not take at once).
            SendVia::Unix(s) => s.ready(wait).map(|()| LoanSlot::Buffer(wait)).map_err(|stop| send_error(stop, ()))?,
            SendVia::Fifo(s) => s.ready(wait).map(|()| LoanSlot::Buffer(wait)).map_err(|stop| send_error(stop, ()))?,
        };
        Ok(Loan { sender: self, slot, publish, committed: false })
    }

    /// Copies `message` into the channel, waiting while it is full.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `message` is longer than a slot;
    /// [`SendError::Disconnected`]; [`SendError::Corrupt`]. The message is handed back.
    pub fn send<'m>(&mut self, message: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_until(message, Wait::Forever)
    }

    /// Copies `message` into the channel if there is room now. On shared memory, never
    /// enters the kernel unless a receiver is parked and must be woken.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::TooLarge`]; [`SendError::Corrupt`]; on a socket
    /// or pipe, [`SendError::Disconnected`] once the receiver has gone (shared memory,
    /// which looks for no departed peer without blocking, says `Full` once the ring is).
    pub fn try_send<'m>(&mut self, message: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_until(message, Wait::Never)
    }

    /// Copies `message` into the channel, waiting at most `timeout` for room.
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
        if let Some(stop) = self.deferred.take() {
            return Err(send_error(stop, message));
        }
        match &mut self.via {
            SendVia::Shm(s) => s.send(message, wait, true).map_err(|stop| send_error(stop, message)),
            // No staging buffer needed: the message goes straight to the kernel.
            SendVia::Unix(s) => s.send(message, wait).map_err(|stop| send_error(stop, message)),
            SendVia::Fifo(s) => s.send(message, wait).map_err(|stop| send_error(stop, message)),
        }
    }

    /// Sends a copy of `value`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `T` is larger than a slot; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`]. The value is handed back.
    pub fn send_value<T: Pod>(&mut self, value: T) -> Result<(), SendError<T>> {
        // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes are initialised.
        let bytes = unsafe { slice::from_raw_parts((&value as *const T).cast::<u8>(), size_of::<T>()) };
        self.send_until(bytes, Wait::Forever).map_err(|e| e.map(|_| value))
    }

    /// Starts a batch: on an SPSC ring, messages committed through it are published
    /// together, with one store, when the batch is dropped or [`SendBatch::publish`] is
    /// called. (An MPMC ring, a socket or a pipe sends each message on its own.)
    pub fn batch(&mut self) -> SendBatch<'_> {
        SendBatch { sender: self }
    }

    fn publish(&mut self) {
        if let SendVia::Shm(s) = &mut self.via {
            s.publish();
        }
    }
}

/// Where a loan's bytes live.
#[derive(Debug, Clone, Copy)]
enum LoanSlot {
    /// A slot of the shared ring, at this position.
    Ring(u64),
    /// The sender's buffer, written out by `commit` within the loan's wait.
    Buffer(Wait),
}

/// A slot borrowed for writing. Derefs to the slot's whole payload (`slot_size` bytes,
/// 16-byte aligned). Dropping it without [`Loan::commit`] sends nothing.
pub struct Loan<'a> {
    sender: &'a mut Sender,
    slot: LoanSlot,
    publish: bool,
    committed: bool,
}

impl Loan<'_> {
    /// Sends the first `len` bytes of the slot: published at once (or at the end of the
    /// batch the loan came from). On a socket or pipe the bytes are written out now; if
    /// the receiver has gone, the next call on the sender reports it.
    ///
    /// # Panics
    ///
    /// If `len` is larger than the slot.
    pub fn commit(mut self, len: usize) {
        let max = self.sender.slot_size();
        assert!(len <= max, "committed {len} bytes into a slot of {max} bytes");
        self.committed = true;
        let sender = &mut *self.sender;
        let sent = match (&mut sender.via, self.slot) {
            (SendVia::Shm(s), LoanSlot::Ring(pos)) => {
                s.commit(pos, len, self.publish);
                Ok(())
            }
            (SendVia::Unix(s), LoanSlot::Buffer(wait)) => s.queue(&sender.scratch[..len], wait),
            (SendVia::Fifo(s), LoanSlot::Buffer(wait)) => s.queue(&sender.scratch[..len], wait),
            _ => unreachable!("a loan's slot matches its sender's transport"),
        };
        if let Err(stop) = sent {
            sender.deferred = Some(stop);
        }
    }

    /// Writes `value` at the start of the slot and commits `size_of::<T>()` bytes.
    ///
    /// # Panics
    ///
    /// If `T` is larger than the slot or aligned to more than 16 bytes.
    pub fn write_value<T: Pod>(mut self, value: T) {
        assert!(size_of::<T>() <= self.len() && align_of::<T>() <= SLOT_ALIGN, "value does not fit a slot");
        // SAFETY: the payload is at least `size_of::<T>()` long and the loan gives
        // exclusive access; `write_unaligned` needs no alignment (a socket's buffer has
        // none), and `T: Pod` has no padding to leak.
        unsafe { self.as_mut_ptr().cast::<T>().write_unaligned(value) };
        self.commit(size_of::<T>());
    }

    /// The loaned bytes, for reading.
    fn bytes(&self) -> &[u8] {
        match (&self.sender.via, self.slot) {
            // SAFETY: the ring slot at `pos` is free (the consumer released it) and not
            // yet published, so only this loan touches its `slot_size` payload bytes.
            (SendVia::Shm(s), LoanSlot::Ring(pos)) => unsafe { slice::from_raw_parts(s.payload(pos), s.slot_size()) },
            _ => &self.sender.scratch,
        }
    }

    /// The loaned bytes, for writing.
    fn bytes_mut(&mut self) -> &mut [u8] {
        match (&mut self.sender.via, self.slot) {
            // SAFETY: as in `bytes`; `&mut self` makes the access unique in this process.
            (SendVia::Shm(s), LoanSlot::Ring(pos)) => unsafe {
                slice::from_raw_parts_mut(s.payload(pos), s.slot_size())
            },
            _ => &mut self.sender.scratch,
        }
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.committed {
            return;
        }
        if let (SendVia::Shm(s), LoanSlot::Ring(pos)) = (&mut self.sender.via, self.slot) {
            s.cancel(pos);
        }
    }
}

impl Deref for Loan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl DerefMut for Loan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}

impl fmt::Debug for Loan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan").field("slot", &self.slot).field("capacity", &self.len()).finish()
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
        if let SendVia::Shm(s) = &mut self.sender.via {
            return s.send(message, Wait::Never, false).map_err(|stop| send_error(stop, message));
        }
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
/// Endpoints as for [`Sender`]. `Send` but not `Sync`: one thread receives through it at
/// a time. An MPMC channel takes any number of receivers; each message goes to one.
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
    via: RecvVia,
    /// Why `auto:` fell back from shared memory, if it did.
    fallback: Option<String>,
}

/// The transport under a receiver.
#[derive(Debug)]
enum RecvVia {
    Shm(ShmReceiver),
    Unix(UnixReceiver),
    Fifo(FifoReceiver),
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("via", &self.via).field("fallback", &self.fallback).finish()
    }
}

impl Receiver {
    fn new(via: RecvVia, fallback: Option<String>) -> Self {
        Self { via, fallback }
    }

    /// Creates the channel `endpoint` and attaches to it as a receiver: a shared-memory
    /// segment, a listening Unix socket, or a FIFO (mode `config.mode`, whatever the
    /// umask). `auto:NAME` falls back to a Unix socket if shared memory cannot be
    /// created; [`Receiver::fallback_reason`] says why. The name is removed when this
    /// receiver is dropped.
    ///
    /// # Errors
    ///
    /// As for [`Sender::create`]; a socket or FIFO a live receiver holds is
    /// [`AttachError::AlreadyExists`], a stale one is replaced.
    #[cfg(not(ferry_loom))]
    pub fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        let shm = |name: &str| -> Result<RecvVia, AttachError> {
            let segment = Segment::create(name, config.geometry(), config.mode, liveness::me(), liveness::is_stale)?;
            Ok(RecvVia::Shm(ShmReceiver::attach(Arc::new(segment))?))
        };
        config.geometry().validate().map_err(AttachError::InvalidConfig)?;
        let unix = |path: &std::path::Path| UnixReceiver::create(path, config.slot_size, config.mode);
        let (via, fallback) = match Endpoint::parse(endpoint)? {
            Endpoint::Shm(name) => (shm(&name)?, None),
            Endpoint::Unix(path) => (RecvVia::Unix(unix(&path)?), None),
            Endpoint::Fifo(path) => (RecvVia::Fifo(FifoReceiver::create(&path, config.slot_size, config.mode)?), None),
            Endpoint::Auto(name) => match shm(&name) {
                Ok(via) => (via, None),
                // Another creator's segment is a conflict, not a reason to fall back.
                Err(e @ AttachError::AlreadyExists { .. }) => return Err(e),
                Err(shm_error) => (RecvVia::Unix(unix(&Endpoint::auto_socket(&name))?), Some(shm_error.to_string())),
            },
        };
        Ok(Self::new(via, fallback))
    }

    /// Opens the existing shared-memory channel `endpoint` as a receiver, whatever its
    /// geometry. (A socket or FIFO has one receiver, its creator.)
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], with [`AttachError::RoleTaken`] for a live SPSC receiver
    /// and [`AttachError::Unsupported`] for `unix:` and `fifo:`.
    #[cfg(not(ferry_loom))]
    pub fn open(endpoint: &str) -> Result<Self, AttachError> {
        Self::open_with(endpoint, None)
    }

    /// Like [`Receiver::open`], but checks the geometry against `config`.
    ///
    /// # Errors
    ///
    /// As for [`Receiver::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Self::open_with(endpoint, Some(config))
    }

    #[cfg(not(ferry_loom))]
    fn open_with(endpoint: &str, config: Option<&Config>) -> Result<Self, AttachError> {
        match Endpoint::parse(endpoint)? {
            Endpoint::Shm(name) | Endpoint::Auto(name) => {
                let segment = Segment::open(&name, config.map(Config::geometry))?;
                Ok(Self::new(RecvVia::Shm(ShmReceiver::attach(Arc::new(segment))?), None))
            }
            Endpoint::Unix(_) | Endpoint::Fifo(_) => Err(AttachError::Unsupported {
                endpoint: endpoint.to_owned(),
                what: "a second receiver on a socket or pipe: its one receiver is the one that created it",
            }),
        }
    }

    /// Attaches another receiver to the same channel (MPMC shared memory only).
    ///
    /// # Errors
    ///
    /// [`AttachError::RoleTaken`] on an SPSC channel; [`AttachError::Unsupported`] on a
    /// socket or pipe.
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        match &self.via {
            RecvVia::Shm(r) => Ok(Self::new(RecvVia::Shm(r.try_clone()?), None)),
            RecvVia::Unix(_) | RecvVia::Fifo(_) => Err(AttachError::Unsupported {
                endpoint: String::from("unix: or fifo:"),
                what: "a second receiver on a socket or pipe",
            }),
        }
    }

    /// Why an `auto:` endpoint fell back from shared memory to a Unix socket, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        match &self.via {
            RecvVia::Shm(r) => r.slot_size(),
            RecvVia::Unix(r) => r.slot_size(),
            RecvVia::Fifo(r) => r.slot_size(),
        }
    }

    /// The number of slots of a shared-memory ring; 0 on sockets and pipes.
    pub fn capacity(&self) -> usize {
        match &self.via {
            RecvVia::Shm(r) => r.capacity(),
            RecvVia::Unix(_) | RecvVia::Fifo(_) => 0,
        }
    }

    /// Sets how blocked calls of this receiver spin, yield and park (shared memory; the
    /// socket and pipe transports sleep in `poll`).
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        if let RecvVia::Shm(r) = &mut self.via {
            r.set_wait_policy(policy);
        }
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

    /// Returns the next message if one is waiting. On shared memory, never enters the
    /// kernel unless a sender is parked and must be woken.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Corrupt`]; on a socket or pipe,
    /// [`RecvError::Disconnected`] once the senders have gone (shared memory, which looks
    /// for no departed peer without blocking, says `Empty`).
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

    /// Takes the next message whose length `accept`s, or fails with `BufferTooSmall`
    /// leaving it in the channel.
    fn recv_until(
        &mut self,
        wait: Wait,
        release: bool,
        accept: impl Fn(usize) -> bool,
    ) -> Result<RecvGuard<'_>, RecvError> {
        let (slot, len) = match &mut self.via {
            RecvVia::Shm(r) => r.recv(wait, accept).map(|(pos, len)| (GuardSlot::Ring(pos), len)),
            RecvVia::Unix(r) => r.recv(wait, accept).map(|(sender, len)| (GuardSlot::Socket(sender), len)),
            RecvVia::Fifo(r) => r.recv(wait, accept).map(|len| (GuardSlot::Pipe, len)),
        }
        .map_err(recv_error)?;
        Ok(RecvGuard { receiver: self, slot, len, release })
    }

    /// Copies the next message into `buf`, waiting as `wait` allows; frees its slot.
    fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, RecvError> {
        if let RecvVia::Shm(r) = &mut self.via {
            return r.recv_copy(wait, buf).map_err(recv_error);
        }
        let room = buf.len();
        let guard = self.recv_until(wait, true, |len| len <= room)?;
        let len = guard.len();
        buf[..len].copy_from_slice(&guard);
        Ok(len)
    }

    /// Waits for a message and copies it into `buf`, returning its length.
    ///
    /// # Errors
    ///
    /// [`RecvError::BufferTooSmall`] (the message stays in the channel);
    /// [`RecvError::Disconnected`]; [`RecvError::Corrupt`].
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_copy(Wait::Forever, buf)
    }

    /// Copies the next message into `buf` if one is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::BufferTooSmall`]; [`RecvError::Corrupt`].
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_copy(Wait::Never, buf)
    }

    /// Copies a message into `buf`, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`]; [`RecvError::BufferTooSmall`]; [`RecvError::Disconnected`];
    /// [`RecvError::Corrupt`].
    pub fn recv_into_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        self.recv_copy(Wait::until(timeout), buf)
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
            Ok(guard) => guard.value::<T>(),
            Err(RecvError::BufferTooSmall { needed }) => Err(RecvError::WrongSize { expected: want, actual: needed }),
            Err(e) => Err(e),
        }
    }

    /// Starts a batch: on an SPSC ring, slots read through it go back to the sender
    /// together, with one store, when the batch is dropped. (Elsewhere each message is
    /// released on its own.)
    pub fn batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { receiver: self }
    }

    fn release(&mut self) {
        if let RecvVia::Shm(r) = &mut self.via {
            r.release();
        }
    }
}

/// Where a received message lives.
#[derive(Debug, Clone, Copy)]
enum GuardSlot {
    /// A slot of the shared ring, at this position.
    Ring(u64),
    /// The frame buffer of this connected sender.
    Socket(usize),
    /// The FIFO's frame buffer.
    Pipe,
}

/// A received message, read in place. Derefs to its bytes; dropping the guard hands the
/// slot back to the senders (at once, or at the end of its batch).
pub struct RecvGuard<'a> {
    receiver: &'a mut Receiver,
    slot: GuardSlot,
    len: usize,
    release: bool,
}

impl RecvGuard<'_> {
    /// A copy of the message as a `T`.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`] unless the message is exactly `size_of::<T>()` bytes.
    pub fn value<T: Pod>(&self) -> Result<T, RecvError> {
        if self.len != size_of::<T>() {
            return Err(RecvError::WrongSize { expected: size_of::<T>(), actual: self.len });
        }
        // SAFETY: the message holds `size_of::<T>()` bytes; `T: Pod` is valid for any
        // bytes; `read_unaligned` needs no alignment (a socket's frame has none).
        Ok(unsafe { self.as_ptr().cast::<T>().read_unaligned() })
    }

    /// Leaves the message in the channel: the next receive returns it again.
    ///
    /// # Errors
    ///
    /// On an MPMC ring the message was handed to this receiver alone and cannot go back:
    /// the guard is returned.
    pub fn keep(self) -> Result<(), Self> {
        if let (RecvVia::Shm(r), GuardSlot::Ring(_)) = (&self.receiver.via, self.slot) {
            if !r.can_keep() {
                return Err(self);
            }
        }
        std::mem::forget(self);
        Ok(())
    }
}

impl Deref for RecvGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match (&self.receiver.via, self.slot) {
            // SAFETY: the message at `pos` is published and not yet released, so no
            // sender writes it; `len` was checked against the slot size when claimed.
            (RecvVia::Shm(r), GuardSlot::Ring(pos)) => unsafe { slice::from_raw_parts(r.payload(pos), self.len) },
            (RecvVia::Unix(r), GuardSlot::Socket(sender)) => r.frame(sender, self.len),
            (RecvVia::Fifo(r), GuardSlot::Pipe) => r.frame(self.len),
            _ => unreachable!("a guard's slot matches its receiver's transport"),
        }
    }
}

impl Drop for RecvGuard<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        match (&mut self.receiver.via, self.slot) {
            (RecvVia::Shm(r), GuardSlot::Ring(pos)) => r.done(pos, self.release),
            (RecvVia::Unix(r), GuardSlot::Socket(sender)) => r.consume(sender, self.len),
            (RecvVia::Fifo(r), GuardSlot::Pipe) => r.consume(self.len),
            _ => unreachable!("a guard's slot matches its receiver's transport"),
        }
    }
}

impl fmt::Debug for RecvGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvGuard").field("slot", &self.slot).field("len", &self.len).finish()
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

fn send_error<T>(stop: Stop, message: T) -> SendError<T> {
    match stop {
        Stop::WouldBlock | Stop::Refused(_) => SendError::Full(message),
        Stop::Timeout => SendError::Timeout(message),
        Stop::Gone => SendError::Disconnected(message),
        Stop::Corrupt(reason) => SendError::Corrupt { message, reason },
    }
}

fn recv_error(stop: Stop) -> RecvError {
    match stop {
        Stop::WouldBlock => RecvError::Empty,
        Stop::Timeout => RecvError::Timeout,
        Stop::Gone => RecvError::Disconnected,
        Stop::Corrupt(reason) => RecvError::Corrupt { reason },
        Stop::Refused(len) => RecvError::BufferTooSmall { needed: len },
    }
}
