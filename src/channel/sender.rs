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
    channel::Origin,
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
/// # Disconnection
///
/// As with crossbeam's bounded channel, once every receiver has gone every send, loan and
/// clone fails with `Disconnected` (a typed send hands its value back), even with room
/// in the channel: nothing sent would ever be read. [`Sender::is_disconnected`] asks
/// without sending. What "gone" means on each transport:
///
/// - shared memory: every receiver handle was dropped, or its process died. A dropped
///   receiver is seen by the very next call; a killed one as soon as this process has
///   seen it die: a thread of ferry's waits for the exit of every process this one
///   shares a channel with (a pidfd each) and marks it gone, within about a millisecond
///   of its death, once a call of this side has met it (a `try_` call that found no
///   room, or a blocked one; without pidfds, Linux before 5.3 or a sandbox that forbids
///   them: a blocked call's liveness check, every 20 ms while parked).
/// - `unix:`: the receiver closed its socket (dropped, or its process died: the kernel
///   closes it); the next call sees the connection hung up.
/// - `fifo:`: the FIFO has no reader left (the receiver dropped or died); the next call
///   sees it (`EPIPE`, never `SIGPIPE`).
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
    /// Where it was opened, kept out of line: only errors and `fallback_reason` read it.
    origin: Box<Origin>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("endpoint", &self.origin.endpoint)
            .field("via", &self.via)
            .field("fallback", &self.origin.fallback)
            .finish()
    }
}

impl Sender {
    pub(super) fn new(via: SendVia, fallback: Option<String>, endpoint: &str) -> Self {
        Self { via, origin: Box::new(Origin { endpoint: endpoint.to_owned(), fallback }) }
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
        Ok(Self::new(open::create_sender(endpoint, config)?, None, endpoint))
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

    /// Like [`Sender::open`], but waits up to `timeout` for the channel to be created:
    /// `OpenOptions::new().timeout(timeout).open_sender(endpoint)`. Start the two sides
    /// in any order.
    ///
    /// # Errors
    ///
    /// [`AttachError::Timeout`], naming the endpoint, if the channel did not appear in
    /// time; any other error of [`Sender::open`] at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferry::{AttachError, Sender};
    ///
    /// let err = Sender::open_timeout("doc-nobody-creates-this", Duration::from_millis(50)).unwrap_err();
    /// assert!(matches!(err, AttachError::Timeout { .. }));
    /// assert!(err.to_string().starts_with("channel `doc-nobody-creates-this` did not appear within"));
    /// ```
    #[cfg(not(ferry_loom))]
    pub fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError> {
        OpenOptions::new().timeout(timeout).open_sender(endpoint)
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
    /// [`AttachError::Disconnected`] once the receivers have gone (on every transport);
    /// [`AttachError::RoleTaken`] on an SPSC channel; [`AttachError::Unsupported`] on a
    /// FIFO.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::{AttachError, Config, RingKind};
    /// let (tx, rx) = ferry::in_memory(&Config::new().kind(RingKind::Mpmc))?;
    /// let tx2 = tx.try_clone()?;
    /// drop(rx);
    /// assert!(matches!(tx.try_clone(), Err(AttachError::Disconnected { .. })));
    /// # Ok::<(), ferry::AttachError>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        let gone = || AttachError::Disconnected { endpoint: self.origin.endpoint.clone() };
        if self.via.peer_gone() {
            return Err(gone());
        }
        match self.via.try_clone() {
            Ok(via) => Ok(Self::new(via, self.origin.fallback.clone(), &self.origin.endpoint)),
            // The receiver left between the look and the clone: its socket is gone.
            Err(AttachError::NotFound { .. }) => Err(gone()),
            Err(e) => Err(e),
        }
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
    /// sockets and pipes, whose buffers hold a number of messages that depends on their
    /// size.
    pub fn capacity(&self) -> usize {
        self.via.capacity()
    }

    /// The bytes of a shared-memory channel sized in bytes
    /// ([`Config::capacity_bytes`](crate::Config::capacity_bytes)); 0 on a ring of slots,
    /// on sockets and pipes.
    pub fn capacity_bytes(&self) -> usize {
        self.via.capacity_bytes()
    }

    /// The number of messages sent and not yet received (a snapshot: the other side
    /// moves on), at most [`Sender::capacity`]. Messages of an unpublished
    /// [`SendBatch`] are not counted. Sockets and pipes do not tell: 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().capacity(2))?;
    /// assert!(tx.is_empty());
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// assert_eq!(tx.len(), 2);
    /// assert!(tx.is_full());
    /// drop(rx.recv()?);
    /// assert_eq!(tx.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.via.len()
    }

    /// Whether no message waits to be received (always true on sockets and pipes, see
    /// [`Sender::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full: the next `try_send` would fail with
    /// [`SendError::Full`] unless a receiver takes a message first. Always false on
    /// sockets and pipes, which cannot tell.
    pub fn is_full(&self) -> bool {
        let capacity = self.capacity();
        capacity > 0 && self.len() >= capacity
    }

    /// Whether every receiver has gone, so that every send would fail with
    /// [`SendError::Disconnected`] (see [Disconnection](Sender#disconnection)). Reads
    /// shared memory; on a socket or pipe, one `poll` without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ferry::in_memory(&ferry::Config::new())?;
    /// assert!(!tx.is_disconnected());
    /// drop(rx);
    /// assert!(tx.is_disconnected());
    /// # Ok::<(), ferry::AttachError>(())
    /// ```
    pub fn is_disconnected(&self) -> bool {
        self.via.peer_gone()
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
    /// On an MPMC ring the loan holds its position in the order of messages: messages
    /// sent after it are not received until it is committed or dropped (head-of-line
    /// blocking; receivers do not wait for a loan as they do, briefly, for a copy
    /// [`Sender::send`], see [`Receiver::try_recv`](crate::Receiver::try_recv)). Keep it
    /// short.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] once the receivers have gone; [`SendError::Corrupt`].
    #[inline]
    pub fn loan(&mut self) -> Result<Loan<'_>, SendError> {
        self.loan_until(Wait::Forever, true)
    }

    /// Borrows a free slot without waiting. Never enters the kernel on shared memory.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::Disconnected`]; [`SendError::Corrupt`].
    pub fn try_loan(&mut self) -> Result<Loan<'_>, SendError> {
        self.loan_until(Wait::Never, true)
    }

    /// Borrows a free slot, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`SendError::Timeout`]; [`SendError::Disconnected`]; [`SendError::Corrupt`].
    pub fn loan_timeout(&mut self, timeout: Duration) -> Result<Loan<'_>, SendError> {
        self.loan_until(Wait::until(timeout), true)
    }

    #[inline]
    fn loan_until(&mut self, wait: Wait, publish: bool) -> Result<Loan<'_>, SendError> {
        let size = self.slot_size();
        let slot = self.via.loan(wait).map_err(|stop| stop.into_send_error(()))?;
        Ok(Loan { sender: self, slot, size, publish, committed: false })
    }

    /// Borrows room for a message of exactly `n` bytes, one contiguous region, waiting
    /// until there is room. On a channel sized in bytes
    /// ([`Config::capacity_bytes`](crate::Config::capacity_bytes)) the loan takes `n`
    /// bytes of the ring (plus a 16-byte header, rounded up to 16); on a ring of slots it
    /// is a slot, seen as its first `n` bytes. [`Loan::commit`] may send fewer bytes
    /// than loaned: loan the maximum when the size is not known in advance.
    ///
    /// Once the receiver drains the channel, any `n` up to the maximum fits, so a large
    /// loan waits for room but never deadlocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = ferry::Config::new().capacity_bytes(1 << 16).max_message(1 << 12);
    /// let (mut tx, mut rx) = ferry::in_memory(&config)?;
    /// let mut loan = tx.loan_bytes(3000)?;
    /// assert_eq!(loan.len(), 3000);
    /// loan.fill(9);
    /// loan.commit(2500); // fewer than loaned
    /// assert_eq!(&*rx.recv()?, &[9u8; 2500][..]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `n` is above the largest message;
    /// [`SendError::Disconnected`] once the receivers have gone; [`SendError::Corrupt`].
    #[inline]
    pub fn loan_bytes(&mut self, n: usize) -> Result<Loan<'_>, SendError> {
        self.loan_bytes_until(n, Wait::Forever)
    }

    /// Borrows room for `n` bytes without waiting (see [`Sender::loan_bytes`]).
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] if there is no contiguous room for `n` bytes now;
    /// [`SendError::TooLarge`]; [`SendError::Disconnected`]; [`SendError::Corrupt`].
    pub fn try_loan_bytes(&mut self, n: usize) -> Result<Loan<'_>, SendError> {
        self.loan_bytes_until(n, Wait::Never)
    }

    /// Borrows room for `n` bytes, waiting at most `timeout` (see [`Sender::loan_bytes`]).
    ///
    /// # Errors
    ///
    /// [`SendError::Timeout`]; [`SendError::TooLarge`]; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`].
    pub fn loan_bytes_timeout(&mut self, n: usize, timeout: Duration) -> Result<Loan<'_>, SendError> {
        self.loan_bytes_until(n, Wait::until(timeout))
    }

    #[inline]
    fn loan_bytes_until(&mut self, n: usize, wait: Wait) -> Result<Loan<'_>, SendError> {
        check_fits(n, self.slot_size())?;
        let slot = self.via.loan_n(n, wait).map_err(|stop| stop.into_send_error(()))?;
        Ok(Loan { sender: self, slot, size: n, publish: true, committed: false })
    }

    /// Copies `message` into the channel, waiting while it is full.
    ///
    /// The error borrows nothing (the caller still holds `message`), so `?` carries it
    /// into a `Box<dyn Error + Send + Sync>`:
    ///
    /// ```
    /// fn produce(tx: &mut ferry::Sender) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    ///     let message = vec![1u8, 2, 3];
    ///     tx.send(&message)?;
    ///     Ok(())
    /// }
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
    /// produce(&mut tx)?;
    /// assert_eq!(&*rx.recv()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `message` is longer than a slot;
    /// [`SendError::Disconnected`] once the receivers have gone; [`SendError::Corrupt`].
    pub fn send(&mut self, message: &[u8]) -> Result<(), SendError> {
        self.send_until(message, Wait::Forever)
    }

    /// Copies `message` into the channel if there is room now. On shared memory, never
    /// enters the kernel unless a receiver is parked and must be woken.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::TooLarge`]; [`SendError::Disconnected`] once
    /// the receivers have gone (room or not); [`SendError::Corrupt`].
    pub fn try_send(&mut self, message: &[u8]) -> Result<(), SendError> {
        self.send_until(message, Wait::Never)
    }

    /// Copies `message` into the channel, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendError::Timeout`]; [`SendError::TooLarge`]; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`].
    pub fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.send_until(message, Wait::until(timeout))
    }

    #[inline]
    fn send_until(&mut self, message: &[u8], wait: Wait) -> Result<(), SendError> {
        check_fits(message.len(), self.slot_size())?;
        self.via.send(message, wait).map_err(|stop| stop.into_send_error(()))
    }

    /// Sends a copy of `value`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if `T` is larger than a slot; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`]. The value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(16))?;
    /// tx.send_value([1u32, 2, 3])?;
    /// assert_eq!(rx.recv_value::<[u32; 3]>()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_value<T: Pod>(&mut self, value: T) -> Result<(), SendError<T>> {
        self.send_value_until(value, Wait::Forever)
    }

    /// Sends a copy of `value` if there is room now.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::TooLarge`]; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`]. The value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ferry::in_memory(&ferry::Config::new().slot_size(8).capacity(1))?;
    /// tx.try_send_value(1u64)?;
    /// let err = tx.try_send_value(2u64).unwrap_err();
    /// assert!(err.is_full());
    /// assert_eq!(err.into_inner(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send_value<T: Pod>(&mut self, value: T) -> Result<(), SendError<T>> {
        self.send_value_until(value, Wait::Never)
    }

    /// Sends a copy of `value`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendError::Timeout`]; [`SendError::TooLarge`]; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`]. The value is handed back.
    pub fn send_value_timeout<T: Pod>(&mut self, value: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_value_until(value, Wait::until(timeout))
    }

    fn send_value_until<T: Pod>(&mut self, value: T, wait: Wait) -> Result<(), SendError<T>> {
        // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes are initialised.
        let bytes = unsafe { slice::from_raw_parts((&value as *const T).cast::<u8>(), size_of::<T>()) };
        self.send_until(bytes, wait).map_err(|e| e.map(|()| value))
    }

    /// Starts a batch: on an SPSC ring, messages committed through it are published
    /// together when the batch is dropped or [`SendBatch::publish`] is called: each
    /// slot's sequence word is stored in one pass, then the ring's tail once, and a
    /// parked receiver is looked for and woken once, not per message. On a socket or a
    /// pipe (`unix:`, `fifo:`), the frames of its `try_send`s are gathered and written
    /// together, up to 4 KiB per `write` (whole frames: a pipe takes them all or none); what
    /// the stream does not take at the publish is written before the sender's next
    /// message, or when it is dropped. (An MPMC ring sends each message on its own; a
    /// loan on a stream is written at its commit.)
    pub fn batch(&mut self) -> SendBatch<'_> {
        SendBatch { sender: self }
    }

    fn publish(&mut self) {
        self.via.publish();
    }
}

/// A slot borrowed for writing. Derefs to the slot's whole payload (`slot_size` bytes,
/// or the `n` bytes asked of [`Sender::loan_bytes`]; on shared memory its first byte is
/// [`SLOT_ALIGN`]-aligned). Dropping it without [`Loan::commit`] sends nothing.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64))?;
/// let mut loan = tx.loan()?;
/// assert_eq!(loan.len(), 64); // the whole slot
/// let n = {
///     let text = b"written in place";
///     loan[..text.len()].copy_from_slice(text);
///     text.len()
/// };
/// loan.commit(n);
/// assert_eq!(&*rx.recv()?, b"written in place");
///
/// drop(tx.loan()?); // dropped uncommitted: nothing is sent
/// assert_eq!(rx.try_recv().unwrap_err(), ferry::RecvError::Empty);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Loan<'a> {
    sender: &'a mut Sender,
    slot: LoanSlot,
    /// The bytes lent: what it derefs to, the most `commit` may send.
    size: usize,
    publish: bool,
    committed: bool,
}

impl Loan<'_> {
    /// The most bytes this loan may send: the slot size, or the `n` of
    /// [`Sender::loan_bytes`]. Unlike `len()` through `Deref`, it does not touch the
    /// slot.
    ///
    /// ```
    /// let config = ferry::Config::new().capacity_bytes(4096).max_message(1024);
    /// let (mut tx, _rx) = ferry::in_memory(&config)?;
    /// assert_eq!(tx.loan()?.capacity(), 1024);
    /// assert_eq!(tx.loan_bytes(100)?.capacity(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.size
    }

    /// Sends the first `len` bytes of the slot: published at once (or at the end of the
    /// batch the loan came from). On a socket or pipe the bytes are written out now; if
    /// the receiver has gone, the next call on the sender reports it.
    ///
    /// # Panics
    ///
    /// If `len` is larger than the slot (or the size loaned).
    #[inline]
    pub fn commit(mut self, len: usize) {
        let max = self.size;
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
    #[inline]
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.committed {
            return;
        }
        self.sender.via.cancel(self.slot);
    }
}

impl Deref for Loan<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.sender.via.loaned(self.slot)[..self.size]
    }
}

impl DerefMut for Loan<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.sender.via.loaned_mut(self.slot)[..self.size]
    }
}

impl fmt::Debug for Loan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan").field("slot", &self.slot).field("capacity", &self.len()).finish()
    }
}

/// Messages sent through a batch are published together when it is dropped (see
/// [`Sender::batch`] for what that means on each transport).
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
/// {
///     let mut batch = tx.batch();
///     batch.try_send(b"one")?;
///     batch.try_send(b"two")?;
/// } // published here, with at most one wake-up
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [b"one".to_vec(), b"two".to_vec()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SendBatch<'a> {
    sender: &'a mut Sender,
}

impl SendBatch<'_> {
    /// Borrows a free slot without waiting; its commit is published with the batch.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::Disconnected`]; [`SendError::Corrupt`].
    pub fn try_loan(&mut self) -> Result<Loan<'_>, SendError> {
        self.sender.loan_until(Wait::Never, false)
    }

    /// Copies `message` into a free slot without waiting; published with the batch.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`]; [`SendError::TooLarge`]; [`SendError::Disconnected`];
    /// [`SendError::Corrupt`].
    pub fn try_send(&mut self, message: &[u8]) -> Result<(), SendError> {
        check_fits(message.len(), self.sender.slot_size())?;
        self.sender.via.send_batched(message).map_err(|stop| stop.into_send_error(()))
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

fn check_fits(len: usize, max: usize) -> Result<(), SendError> {
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
/// On a channel sized in bytes it is rung whenever the receiver frees records, which
/// may still leave too little room for a large message: the `try_` call then says
/// `Full` and re-arms it. [`Select`](crate::Select) and the async sender report such a
/// sender ready only once a message of the maximum size fits.
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
