//! The receiving side: [`Receiver`], the [`RecvGuard`] that reads a message in place,
//! and [`RecvBatch`].

use std::{fmt, mem::size_of, ops::Deref, time::Duration};

#[cfg(not(ferry_loom))]
use crate::{channel::OpenOptions, config::Config, transport::open};
use crate::{
    error::{AttachError, RecvError},
    pod::Pod,
    signal::{wait::Wait, WaitPolicy},
    sync,
    transport::{
        receiver::{GuardSlot, RecvVia},
        stop::Stop,
    },
};

/// The receiving end of a channel.
///
/// Endpoints as for [`Sender`](crate::Sender). `Send` but not `Sync`: one thread receives through it at
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

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("via", &self.via).field("fallback", &self.fallback).finish()
    }
}

impl Receiver {
    pub(super) fn new(via: RecvVia, fallback: Option<String>) -> Self {
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
    /// As for [`Sender::create`](crate::Sender::create); a socket or FIFO a live receiver holds is
    /// [`AttachError::AlreadyExists`], a stale one is replaced.
    #[cfg(not(ferry_loom))]
    pub fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        let (via, fallback) = open::create_receiver(endpoint, config)?;
        Ok(Self::new(via, fallback))
    }

    /// Opens the existing shared-memory channel `endpoint` as a receiver, whatever its
    /// geometry. (A socket or FIFO has one receiver, its creator.)
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`](crate::Sender::open), with [`AttachError::RoleTaken`] for a live SPSC receiver
    /// and [`AttachError::Unsupported`] for `unix:` and `fifo:`.
    #[cfg(not(ferry_loom))]
    pub fn open(endpoint: &str) -> Result<Self, AttachError> {
        OpenOptions::new().open_receiver(endpoint)
    }

    /// Like [`Receiver::open`], but checks the geometry against `config`.
    ///
    /// # Errors
    ///
    /// As for [`Receiver::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        OpenOptions::new().expect(config).open_receiver(endpoint)
    }

    /// Attaches another receiver to the same channel (MPMC shared memory only).
    ///
    /// # Errors
    ///
    /// [`AttachError::RoleTaken`] on an SPSC channel; [`AttachError::Unsupported`] on a
    /// socket or pipe.
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        Ok(Self::new(self.via.try_clone()?, None))
    }

    /// Why an `auto:` endpoint fell back from shared memory to a Unix socket, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.via.slot_size()
    }

    /// The number of slots of a shared-memory ring; 0 on sockets and pipes.
    pub fn capacity(&self) -> usize {
        self.via.capacity()
    }

    /// Sets how blocked calls of this receiver spin, yield and park (shared memory; the
    /// socket and pipe transports sleep in `poll`).
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.via.set_wait_policy(policy);
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
        let (slot, len) = self.via.recv(wait, accept).map_err(Stop::into_recv_error)?;
        Ok(RecvGuard { receiver: self, slot, len, release })
    }

    /// Copies the next message into `buf`, waiting as `wait` allows; frees its slot.
    fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.via.recv_copy(wait, buf).map_err(Stop::into_recv_error)
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
    /// together when the batch is dropped, with one store of the ring's head and at most
    /// one wake-up. (Elsewhere each message is released on its own.)
    pub fn batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { receiver: self }
    }

    fn release(&mut self) {
        self.via.release();
    }
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
        if !self.receiver.via.can_keep(self.slot) {
            return Err(self);
        }
        std::mem::forget(self);
        Ok(())
    }
}

impl Deref for RecvGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.receiver.via.message(self.slot, self.len)
    }
}

impl Drop for RecvGuard<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        self.receiver.via.done(self.slot, self.len, self.release);
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

    /// Hands every slot read so far back to the sender (on an SPSC ring, with one store
    /// of the head).
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

/// The receiver's pollable file descriptor, for `poll`, `epoll`, `select`, an async
/// runtime, or [`Select`](crate::Select): it becomes readable when a message arrives, or
/// when every sender has gone (then the next receive reports it).
///
/// It is *level-triggered until drained*: once it reports readable, receive with the
/// `try_` calls until [`RecvError::Empty`] before waiting on it again; the call that
/// finds the channel empty resets it and arms it for the next message. Do the same once
/// before the first wait (messages may be waiting already). A spurious wake-up is
/// possible (another receiver of an MPMC channel took the message); `Empty` says so.
///
/// On shared memory the fd is the channel's doorbell: a sender writes to it only when a
/// receiver has armed it (found the ring empty since the last ring), so a stream that
/// never lets the receiver run dry makes no system call for it. On `unix:` and `fifo:`
/// it is an epoll instance over the socket (or pipe) descriptors. The fd stays the same
/// for the receiver's life; it is closed when the receiver is dropped.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use rustix::event::{poll, PollFd, PollFlags};
///
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64).capacity(4))?;
/// assert_eq!(rx.try_recv().unwrap_err(), ferry::RecvError::Empty); // nothing there yet
/// let mut waiting = [PollFd::new(&rx, PollFlags::IN)]; // asking for the fd arms it
/// tx.send(b"ring")?;
/// assert_eq!(poll(&mut waiting, None)?, 1);
/// assert_eq!(&*rx.try_recv()?, b"ring");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::os::fd::AsFd for Receiver {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.via.fd()
    }
}

impl Receiver {
    /// Whether a receive would find something without the fd being readable (arms the
    /// doorbell first): for `Select` and the async wrapper, before they sleep on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        self.via.ready_now()
    }

    /// Before sleeping on the fd in an edge-triggered loop (tokio): drains the fd and
    /// re-arms it, taking nothing; `true` if a receive would not say `Empty`. After a
    /// `false`, the fd is empty and the next message (or departure) makes it readable.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        let _ = std::os::fd::AsFd::as_fd(self);
        !matches!(self.via.recv(Wait::Never, |_| false), Err(Stop::WouldBlock))
    }
}

/// The fd of [`AsFd`](std::os::fd::AsFd), as a raw descriptor (for C and FFI callers).
impl std::os::fd::AsRawFd for Receiver {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsFd::as_fd(self).as_raw_fd()
    }
}
