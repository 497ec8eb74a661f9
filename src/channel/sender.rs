//! The sending side: [`Sender`], the [`Loan`] of a slot, and [`SendBatch`].

use std::{
    fmt,
    mem::{align_of, size_of},
    ops::{Deref, DerefMut},
    slice,
    time::Duration,
};

#[cfg(not(ferry_loom))]
use crate::{channel::OpenOptions, config::Config, transport::open};
use crate::{
    error::{AttachError, RecvError, SendError},
    pod::Pod,
    ring::SLOT_ALIGN,
    signal::{wait::Wait, WaitPolicy},
    sync,
    transport::{
        sender::{LoanSlot, SendVia},
        stop::Stop,
    },
};

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
    /// Why `auto:` fell back from shared memory, if it did.
    fallback: Option<String>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("via", &self.via).field("fallback", &self.fallback).finish()
    }
}

impl Sender {
    pub(super) fn new(via: SendVia, fallback: Option<String>) -> Self {
        Self { via, fallback }
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
        Ok(Self::new(open::create_sender(endpoint, config)?, None))
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
        OpenOptions::new().open_sender(endpoint)
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
        OpenOptions::new().expect(config).open_sender(endpoint)
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
        Ok(Self::new(self.via.try_clone()?, self.fallback.clone()))
    }

    /// Why an `auto:` endpoint fell back from shared memory to a Unix socket, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.via.slot_size()
    }

    /// The number of slots of a shared-memory ring; 0 on sockets and pipes, whose kernel
    /// buffers hold a number of messages that depends on their size.
    pub fn capacity(&self) -> usize {
        self.via.capacity()
    }

    /// Sets how blocked calls of this sender spin, yield and park (shared memory; the
    /// socket and pipe transports sleep in `poll`).
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.via.set_wait_policy(policy);
    }

    /// Messages published and not yet released by the receivers (a snapshot, for MPMC).
    /// Sockets and pipes do not tell: 0.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupt`] if the receiver's position is impossible.
    pub fn in_flight(&mut self) -> Result<usize, RecvError> {
        self.via.in_flight().map_err(Stop::into_recv_error)
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
        let slot = self.via.loan(wait).map_err(|stop| stop.into_send_error(()))?;
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
        self.via.send(message, wait).map_err(|stop| stop.into_send_error(message))
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
    /// together when the batch is dropped or [`SendBatch::publish`] is called: each
    /// slot's sequence word is stored in one pass, then the ring's tail once, and a
    /// parked receiver is looked for and woken once, not per message. (An MPMC ring, a
    /// socket or a pipe sends each message on its own.)
    pub fn batch(&mut self) -> SendBatch<'_> {
        SendBatch { sender: self }
    }

    fn publish(&mut self) {
        self.via.publish();
    }
}

/// A slot borrowed for writing. Derefs to the slot's whole payload (`slot_size` bytes;
/// on shared memory its first byte is [`SLOT_ALIGN`]-aligned). Dropping it without
/// [`Loan::commit`] sends nothing.
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
        self.sender.via.commit(self.slot, len, self.publish);
    }

    /// Writes `value` at the start of the slot and commits `size_of::<T>()` bytes.
    ///
    /// # Panics
    ///
    /// If `T` is larger than the slot or aligned to more than [`SLOT_ALIGN`].
    pub fn write_value<T: Pod>(mut self, value: T) {
        assert!(size_of::<T>() <= self.len() && align_of::<T>() <= SLOT_ALIGN, "value does not fit a slot");
        // SAFETY: the payload is at least `size_of::<T>()` long and the loan gives
        // exclusive access; `write_unaligned` needs no alignment (a socket's buffer has
        // none), and `T: Pod` has no padding to leak.
        unsafe { self.as_mut_ptr().cast::<T>().write_unaligned(value) };
        self.commit(size_of::<T>());
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.committed {
            return;
        }
        self.sender.via.cancel(self.slot);
    }
}

impl Deref for Loan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.sender.via.loaned(self.slot)
    }
}

impl DerefMut for Loan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.sender.via.loaned_mut(self.slot)
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
        self.sender.via.send_batched(message).map_err(|stop| stop.into_send_error(message))
    }

    /// Publishes every message committed so far (on an SPSC ring: a sequence-word store
    /// per message, one store of the tail, at most one wake-up).
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

fn check_fits(len: usize, max: usize) -> Result<(), SendError<()>> {
    if len > max {
        return Err(SendError::TooLarge { message: (), len, max });
    }
    Ok(())
}

/// The sender's pollable file descriptor: it becomes readable when the channel has room
/// for a message after being full, or when every receiver has gone (then the next send
/// reports it).
///
/// As for [`Receiver`](crate::Receiver)'s fd: once it reports readable, send with the
/// `try_` calls until one reports the channel full before waiting on it again; that call
/// re-arms it. On shared memory it is the channel's senders' doorbell, rung by a receiver
/// only when a sender has armed it; on `unix:` and `fifo:` it is an epoll instance over
/// the socket (or pipe), readable while it has room to write.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use rustix::event::{poll, PollFd, PollFlags};
///
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64).capacity(1))?;
/// tx.send(b"fills the ring")?;
/// assert!(tx.try_send(b"no room").is_err()); // full
/// let mut waiting = [PollFd::new(&tx, PollFlags::IN)]; // asking for the fd arms it
/// drop(rx.try_recv()?); // frees the slot, rings the sender's doorbell
/// assert_eq!(poll(&mut waiting, None)?, 1);
/// tx.try_send(b"room again")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::os::fd::AsFd for Sender {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.via.fd()
    }
}

impl Sender {
    /// Whether a send would find room without the fd being readable (arms the doorbell
    /// first): for `Select` and the async wrapper, before they sleep on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        self.via.ready_now()
    }

    /// Before sleeping on the fd in an edge-triggered loop (tokio): drains the fd and
    /// re-arms it; `true` if a send would find room (or the receivers gone). After a
    /// `false`, the next freed slot (or departure) makes the fd readable.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        let _ = std::os::fd::AsFd::as_fd(self);
        self.via.prepare_wait()
    }
}

/// The fd of [`AsFd`](std::os::fd::AsFd), as a raw descriptor (for C and FFI callers).
impl std::os::fd::AsRawFd for Sender {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsFd::as_fd(self).as_raw_fd()
    }
}
