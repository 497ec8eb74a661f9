//! The receiving side: [`Receiver`], the [`RecvGuard`] that reads a message in place,
//! [`RecvBatch`], and the iterators [`Iter`] and [`TryIter`].

use std::{fmt, mem::size_of, ops::Deref, time::Duration};

#[cfg(not(ferry_loom))]
use crate::{channel::OpenOptions, config::Config, transport::open};
use crate::{
    channel::Origin,
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
/// # Disconnection
///
/// As with crossbeam's bounded channel, once every sender has gone the receiver still
/// gets every message they sent; after the last, every receive (blocking, `try_`,
/// `_timeout`, batch, iterator) reports [`RecvError::Disconnected`] instead of `Empty`
/// or waiting. [`Receiver::is_disconnected`] asks without receiving. What "gone" means
/// on each transport:
///
/// - shared memory: every sender handle was dropped, or its process died. A dropped
///   sender is seen by the very next call; a killed one as soon as this process has seen
///   it die (see [`Sender`](crate::Sender)'s "Disconnection": within about a millisecond
///   where pidfds can be used, else within a 20 ms liveness check while parked). A
///   sender that has not attached yet is not gone.
/// - `unix:`: every sender that connected has closed its connection (dropped, or its
///   process died: the kernel closes it). Before the first sender connects, the
///   receiver waits (`Empty`), it is not disconnected.
/// - `fifo:`: the sender that said hello has closed the FIFO; before one opens it, as
///   on `unix:`.
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
    /// Where it was opened, kept out of line: only errors and `fallback_reason` read it.
    origin: Box<Origin>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("endpoint", &self.origin.endpoint)
            .field("via", &self.via)
            .field("fallback", &self.origin.fallback)
            .finish()
    }
}

impl Receiver {
    pub(super) fn new(via: RecvVia, fallback: Option<String>, endpoint: &str) -> Self {
        Self { via, origin: Box::new(Origin { endpoint: endpoint.to_owned(), fallback }) }
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
        Ok(Self::new(via, fallback, endpoint))
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

    /// Like [`Receiver::open`], but waits up to `timeout` for the channel to be created:
    /// `OpenOptions::new().timeout(timeout).open_receiver(endpoint)`.
    ///
    /// # Errors
    ///
    /// [`AttachError::Timeout`], naming the endpoint, if the channel did not appear in
    /// time; any other error of [`Receiver::open`] at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{thread, time::Duration};
    /// use ferry::{Config, Receiver, RingKind, Sender};
    ///
    /// # let name = format!("doc-receiver-open-timeout-{}", std::process::id());
    /// let endpoint = name.clone();
    /// let creator = thread::spawn(move || {
    ///     thread::sleep(Duration::from_millis(100));
    ///     let mut tx = Sender::create(&endpoint, &Config::new().kind(RingKind::Mpmc)).expect("create");
    ///     tx.send(b"first").expect("send");
    ///     tx // keeps the channel until joined
    /// });
    /// let mut rx = Receiver::open_timeout(&name, Duration::from_secs(10))?;
    /// assert_eq!(&*rx.recv()?, b"first");
    /// drop(creator.join().unwrap());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(not(ferry_loom))]
    pub fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError> {
        OpenOptions::new().timeout(timeout).open_receiver(endpoint)
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
    /// [`AttachError::Disconnected`] once the senders have gone and every message has
    /// been received (the clone could never receive one); [`AttachError::RoleTaken`] on
    /// an SPSC channel; [`AttachError::Unsupported`] on a socket or pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::{AttachError, Config, RingKind};
    /// let (mut tx, rx) = ferry::in_memory(&Config::new().kind(RingKind::Mpmc))?;
    /// let mut rx2 = rx.try_clone()?;
    /// tx.send(b"to one of them")?;
    /// drop(tx);
    /// let _rx3 = rx.try_clone()?; // a message is still there
    /// assert_eq!(&*rx2.recv()?, b"to one of them");
    /// assert!(matches!(rx.try_clone(), Err(AttachError::Disconnected { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        if self.via.exhausted() {
            return Err(AttachError::Disconnected { endpoint: self.origin.endpoint.clone() });
        }
        Ok(Self::new(self.via.try_clone()?, None, &self.origin.endpoint))
    }

    /// Why an `auto:` endpoint fell back from shared memory to a Unix socket, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.origin.fallback.as_deref()
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.via.slot_size()
    }

    /// How many messages a shared-memory ring of slots holds at once
    /// ([`Config::capacity`](crate::Config::capacity)); 0 on a ring sized in bytes, on
    /// sockets and pipes.
    pub fn capacity(&self) -> usize {
        self.via.capacity()
    }

    /// The bytes of a shared-memory channel sized in bytes
    /// ([`Config::capacity_bytes`](crate::Config::capacity_bytes)); 0 on a ring of slots,
    /// on sockets and pipes.
    pub fn capacity_bytes(&self) -> usize {
        self.via.capacity_bytes()
    }

    /// The number of messages waiting to be received (a snapshot: senders and other
    /// receivers move on), at most [`Receiver::capacity`]. Sockets and pipes do not
    /// tell: 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().capacity(2))?;
    /// assert!(rx.is_empty());
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// assert_eq!((rx.len(), rx.is_full()), (2, true));
    /// drop(rx.recv()?);
    /// assert_eq!((rx.len(), rx.is_full()), (1, false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.via.len()
    }

    /// Whether no message is waiting (always true on sockets and pipes, see
    /// [`Receiver::len`]: use [`Receiver::try_recv`] there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full (always false on sockets and pipes, which cannot tell).
    pub fn is_full(&self) -> bool {
        let capacity = self.capacity();
        capacity > 0 && self.len() >= capacity
    }

    /// Whether every sender has gone (see [Disconnection](Receiver#disconnection)).
    /// Messages they sent may still be waiting: receive until
    /// [`RecvError::Disconnected`]. Nothing is consumed. Reads shared memory; on a socket
    /// or pipe it accepts waiting senders and reads what they sent (kept for the next
    /// receive), hence `&mut self`, and polls without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
    /// tx.send(b"last words")?;
    /// assert!(!rx.is_disconnected());
    /// drop(tx);
    /// assert!(rx.is_disconnected());
    /// assert_eq!(&*rx.try_recv()?, b"last words");
    /// assert_eq!(rx.try_recv().unwrap_err(), ferry::RecvError::Disconnected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_disconnected(&mut self) -> bool {
        self.via.peer_gone()
    }

    /// A blocking iterator over the messages, each copied out of the channel into a
    /// `Vec<u8>` (an iterator cannot hand out guards that borrow the receiver: use
    /// [`Receiver::recv`] in a loop to read in place). It ends once the senders have
    /// gone and every message has been received, or at the first other error (a
    /// corrupt ring): call [`Receiver::recv`] to see which.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..3u8 {
    ///         tx.send(&[i]).unwrap();
    ///     }
    /// }); // dropping `tx` ends the iteration
    /// let all: Vec<Vec<u8>> = rx.iter().collect();
    /// assert_eq!(all, [[0], [1], [2]]);
    /// producer.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { receiver: self }
    }

    /// A non-blocking iterator over the messages waiting now, each copied into a
    /// `Vec<u8>`. It ends when the channel is empty, when the senders have gone and
    /// everything has been received, or at the first other error.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// assert_eq!(rx.try_iter().count(), 2);
    /// assert_eq!(rx.try_iter().next(), None); // empty, the sender is still there
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&mut self) -> TryIter<'_> {
        TryIter { receiver: self }
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
    #[inline]
    pub fn recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        self.recv_until(Wait::Forever, true, |_| true)
    }

    /// Returns the next message if one is waiting. On shared memory, never enters the
    /// kernel unless a sender is parked and must be woken (or, on MPMC, the copy it
    /// waits for, below, is preempted).
    ///
    /// On an MPMC ring messages are taken in the order their positions were claimed. If
    /// the next position is claimed by a copy send (`send`, `try_send`) still writing
    /// it, this waits for the write (spinning, then yielding the CPU, at most 500 µs)
    /// rather than report [`RecvError::Empty`] while later messages are ready. If it is
    /// claimed by a loan, which may be held indefinitely, it reports
    /// [`RecvError::Empty`] at once: head-of-line blocking, the messages behind the loan
    /// wait until it is committed or dropped.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Disconnected`] once the senders have gone and
    /// every message they sent has been received; [`RecvError::Corrupt`].
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
    #[inline]
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
    #[inline]
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

    /// Copies the next message into `buf` if one is waiting. On MPMC, a copy send in
    /// progress at the head is waited for briefly, a loan is not (see
    /// [`Receiver::try_recv`]).
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Disconnected`] once the senders have gone and
    /// every message has been received; [`RecvError::BufferTooSmall`];
    /// [`RecvError::Corrupt`].
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
        self.recv_value_until(Wait::Forever)
    }

    /// Returns a copy of the next message as a `T` if one is waiting.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Disconnected`]; [`RecvError::WrongSize`] (the
    /// message stays in the channel); [`RecvError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::RecvError;
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
    /// assert_eq!(rx.try_recv_value::<u32>(), Err(RecvError::Empty));
    /// tx.send_value(7u32)?;
    /// assert_eq!(rx.try_recv_value::<u64>(), Err(RecvError::WrongSize { expected: 8, actual: 4 }));
    /// assert_eq!(rx.try_recv_value::<u32>(), Ok(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv_value<T: Pod>(&mut self) -> Result<T, RecvError> {
        self.recv_value_until(Wait::Never)
    }

    /// Waits at most `timeout` for a message of exactly `size_of::<T>()` bytes and
    /// returns a copy.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`]; [`RecvError::Disconnected`]; [`RecvError::WrongSize`];
    /// [`RecvError::Corrupt`].
    pub fn recv_value_timeout<T: Pod>(&mut self, timeout: Duration) -> Result<T, RecvError> {
        self.recv_value_until(Wait::until(timeout))
    }

    fn recv_value_until<T: Pod>(&mut self, wait: Wait) -> Result<T, RecvError> {
        let want = size_of::<T>();
        match self.recv_until(wait, true, |len| len == want) {
            Ok(guard) => guard.value::<T>(),
            Err(RecvError::BufferTooSmall { needed }) => Err(RecvError::WrongSize { expected: want, actual: needed }),
            Err(e) => Err(e),
        }
    }

    /// Starts a batch: on an SPSC ring, slots read through it go back to the sender
    /// together when the batch is dropped, with one store of the ring's head and at most
    /// one wake-up. (Elsewhere each message is released on its own.)
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
    /// tx.send(b"one")?;
    /// tx.send(b"two")?;
    /// let mut batch = rx.batch();
    /// let mut total = 0;
    /// while let Ok(message) = batch.try_recv() {
    ///     total += message.len();
    /// }
    /// drop(batch); // both slots go back to the sender here
    /// assert_eq!(total, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { receiver: self }
    }

    fn release(&mut self) {
        self.via.release();
    }
}

/// A received message, read in place. Derefs to its bytes; dropping the guard hands the
/// slot back to the senders (at once, or at the end of its batch).
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
/// tx.send(b"peek")?;
/// let guard = rx.recv()?;
/// assert_eq!(guard.len(), 4);
/// guard.keep().unwrap(); // not consumed (SPSC): the next receive sees it again
/// assert_eq!(&*rx.recv()?, b"peek");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    #[inline]
    fn deref(&self) -> &[u8] {
        self.receiver.via.message(self.slot, self.len)
    }
}

impl Drop for RecvGuard<'_> {
    #[inline]
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
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
/// tx.send(b"x")?;
/// drop(tx);
/// let mut batch = rx.batch();
/// assert_eq!(&*batch.try_recv()?, b"x");
/// assert_eq!(batch.try_recv().unwrap_err(), ferry::RecvError::Disconnected);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecvBatch<'a> {
    receiver: &'a mut Receiver,
}

impl RecvBatch<'_> {
    /// Returns the next message if one is waiting; its slot is released with the batch.
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`]; [`RecvError::Disconnected`] once the senders have gone and
    /// everything has been received; [`RecvError::Corrupt`].
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

/// A blocking iterator over a receiver's messages, from [`Receiver::iter`] (or `for m in
/// &mut rx`): each message copied into a `Vec<u8>`, until the senders have gone and
/// everything has been received.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
/// tx.send(b"only")?;
/// drop(tx);
/// for message in &mut rx {
///     assert_eq!(message, b"only");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Iter<'a> {
    receiver: &'a mut Receiver,
}

impl Iterator for Iter<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        self.receiver.recv().ok().map(|message| message.to_vec())
    }
}

impl<'a> IntoIterator for &'a mut Receiver {
    type Item = Vec<u8>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// A non-blocking iterator over the messages waiting now, from [`Receiver::try_iter`].
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
/// tx.send(b"1")?;
/// tx.send(b"22")?;
/// let lengths: Vec<usize> = rx.try_iter().map(|m| m.len()).collect();
/// assert_eq!(lengths, [1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TryIter<'a> {
    receiver: &'a mut Receiver,
}

impl Iterator for TryIter<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        self.receiver.try_recv().ok().map(|message| message.to_vec())
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
