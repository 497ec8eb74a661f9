//! The publishing side: [`Publisher`] and the [`PublishLoan`] of a slot.

use std::{
    fmt,
    mem::{align_of, size_of},
    ops::{Deref, DerefMut},
    slice,
    time::Duration,
};

#[cfg(not(ferry_loom))]
use crate::channel::OpenOptions;
use crate::{
    broadcast::{PublishError, Start, Subscriber},
    config::Config,
    error::AttachError,
    pod::Pod,
    ring::{broadcast::Policy, SLOT_ALIGN},
    signal::{wait::Wait, WaitPolicy},
    sync,
    transport::{
        broadcast::{self, ShmPublisher},
        stop::Stop,
    },
};

/// The publishing end of a broadcast channel: every message it publishes goes to every
/// subscriber, written once into shared memory and read there in place by each.
///
/// Any number of publishers, in any processes, may publish on one channel
/// ([`Publisher::open`], [`Publisher::try_clone`]); each one's messages arrive in the
/// order it published them. A publisher never reports `Disconnected`: with no subscriber
/// its messages go to the channel's history for late joiners (if it keeps one) and are
/// then overwritten.
///
/// In block mode ([`Policy::Block`], the default) a publish waits while the slowest live
/// subscriber is a whole ring behind; a subscriber that dies stops counting within the
/// detection time (about a millisecond where pidfds can be used, else about 20 ms). In overwrite mode ([`Policy::Overwrite`]) a publish
/// never waits for subscribers.
///
/// `Send` but not `Sync`: one thread publishes through it at a time.
///
/// Pollable: in block mode a publisher has a file descriptor
/// ([`AsFd`](std::os::fd::AsFd)) that turns readable when a full ring gets room, for an
/// event loop, a [`Select`](crate::Select) or an async runtime.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Publisher, RingKind, Start};
///
/// # let name = format!("doc-publisher-{}", std::process::id());
/// let config = Config::new().kind(RingKind::Broadcast).slot_size(64).capacity(16);
/// let mut publisher = Publisher::create(&name, &config)?;
/// // Usually in other processes: `Subscriber::open(&name, Start::Live)`.
/// let mut a = publisher.subscribe(Start::Live)?;
/// let mut b = publisher.subscribe(Start::Live)?;
///
/// let mut loan = publisher.loan()?; // zero-copy: write into the ring
/// loan[..5].copy_from_slice(b"hello");
/// loan.commit(5);
/// publisher.send(b"world")?; // or copy
///
/// assert_eq!(&*a.recv()?, b"hello");
/// assert_eq!(&*b.recv()?, b"hello");
/// let mut buf = [0u8; 64];
/// let n = b.recv_into(&mut buf)?;
/// assert_eq!(&buf[..n], b"world");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Publisher {
    end: ShmPublisher,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").field("end", &self.end).finish()
    }
}

impl Publisher {
    /// Creates the broadcast channel `endpoint` (`NAME` or `shm:NAME`) in shared memory
    /// and attaches to it as a publisher. `config` gives the slot size, capacity, policy,
    /// history and subscriber seats (its kind is taken to be
    /// [`RingKind::Broadcast`](crate::RingKind::Broadcast)). The name is removed when
    /// this publisher is dropped; attached processes keep working.
    ///
    /// # Errors
    ///
    /// [`AttachError::AlreadyExists`], [`AttachError::InvalidName`],
    /// [`AttachError::InvalidEndpoint`], [`AttachError::InvalidConfig`] (for example a
    /// history over half the capacity), [`AttachError::PermissionDenied`],
    /// [`AttachError::Unsupported`] for `unix:` and `fifo:`, or [`AttachError::Io`].
    #[cfg(not(ferry_loom))]
    pub fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Self::attach(broadcast::create(endpoint, config)?)
    }

    /// Opens the existing broadcast channel `endpoint` as another publisher.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotFound`], [`AttachError::Unsupported`] if it is a queue (or all
    /// 128 publisher seats are taken), [`AttachError::NotOwned`], and the header errors
    /// ([`AttachError::VersionMismatch`], [`AttachError::CorruptHeader`], ...).
    #[cfg(not(ferry_loom))]
    pub fn open(endpoint: &str) -> Result<Self, AttachError> {
        OpenOptions::new().open_publisher(endpoint)
    }

    /// Like [`Publisher::open`], but waits up to `timeout` for the channel to be created
    /// (by a subscriber that creates it, say), so the processes may start in any order.
    ///
    /// # Errors
    ///
    /// [`AttachError::Timeout`] naming the endpoint if it did not appear in time; the
    /// other errors of [`Publisher::open`] at once.
    #[cfg(not(ferry_loom))]
    pub fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError> {
        OpenOptions::new().timeout(timeout).open_publisher(endpoint)
    }

    /// Like [`Publisher::open`], but checks the channel's shape against `config`'s
    /// (slot size, capacity, signaling, policy, history, subscriber seats).
    ///
    /// # Errors
    ///
    /// As for [`Publisher::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        OpenOptions::new().expect(config).open_publisher(endpoint)
    }

    /// Makes a broadcast channel inside this process, on heap memory, for use between
    /// threads: the same ring as a named channel.
    ///
    /// # Errors
    ///
    /// [`AttachError::InvalidConfig`] if the configuration cannot describe a ring.
    pub fn in_memory(config: &Config) -> Result<Self, AttachError> {
        Self::attach(broadcast::in_memory(config)?)
    }

    fn attach(segment: broadcast::Channel) -> Result<Self, AttachError> {
        Ok(Self { end: ShmPublisher::attach(segment)? })
    }

    /// Attaches a subscriber to this channel, starting as `start` says.
    ///
    /// # Errors
    ///
    /// [`AttachError::Unsupported`] if every subscriber seat is taken.
    pub fn subscribe(&self, start: Start) -> Result<Subscriber, AttachError> {
        Subscriber::attach(self.end.channel(), start)
    }

    /// Attaches another publisher to the same channel.
    ///
    /// # Errors
    ///
    /// [`AttachError::Unsupported`] if every publisher seat (128) is taken.
    pub fn try_clone(&self) -> Result<Self, AttachError> {
        Self::attach(self.end.channel())
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.end.slot_size()
    }

    /// The number of slots in the ring; 0 on a channel sized in bytes (see
    /// [`Publisher::capacity_bytes`]).
    pub fn capacity(&self) -> usize {
        if self.end.is_bytes() {
            0
        } else {
            self.end.capacity()
        }
    }

    /// The bytes of a channel sized in bytes
    /// ([`Config::capacity_bytes`](crate::Config::capacity_bytes)); 0 on a ring of slots.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::{Config, Publisher, RingKind};
    ///
    /// let config = Config::new().kind(RingKind::Broadcast).capacity_bytes(1 << 16).max_message(1 << 12);
    /// let publisher = Publisher::in_memory(&config)?;
    /// assert_eq!((publisher.capacity_bytes(), publisher.capacity(), publisher.slot_size()), (1 << 16, 0, 1 << 12));
    /// # Ok::<(), ferry::AttachError>(())
    /// ```
    pub fn capacity_bytes(&self) -> usize {
        if self.end.is_bytes() {
            self.end.capacity()
        } else {
            0
        }
    }

    /// The channel's slow-subscriber policy.
    pub fn policy(&self) -> Policy {
        self.end.fanout().policy
    }

    /// How many of the latest messages the channel keeps for late joiners.
    pub fn history(&self) -> usize {
        self.end.fanout().history
    }

    /// How many subscribers are attached now (a snapshot; dead ones count until a
    /// blocked handle recovers their seats).
    pub fn subscriber_count(&self) -> usize {
        self.end.subscriber_count()
    }

    /// Sets how blocked calls of this publisher spin, yield and park.
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.end.set_wait_policy(policy);
    }

    /// Borrows the next slot to write a message into, waiting (block mode) while the
    /// slowest live subscriber is a whole ring behind. The message is published by
    /// [`PublishLoan::commit`]; dropping the loan publishes nothing (subscribers step
    /// over the position).
    ///
    /// While a loan is held, later messages (of any publisher) wait behind it: hold it
    /// only while writing.
    ///
    /// # Errors
    ///
    /// [`PublishError::Corrupt`].
    pub fn loan(&mut self) -> Result<PublishLoan<'_>, PublishError> {
        self.loan_until(Wait::Forever)
    }

    /// Borrows the next slot without waiting. Never enters the kernel unless a
    /// subscriber is parked and must be woken.
    ///
    /// # Errors
    ///
    /// [`PublishError::Full`]; [`PublishError::Corrupt`].
    pub fn try_loan(&mut self) -> Result<PublishLoan<'_>, PublishError> {
        self.loan_until(Wait::Never)
    }

    /// Borrows the next slot, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Timeout`]; [`PublishError::Corrupt`].
    pub fn loan_timeout(&mut self, timeout: Duration) -> Result<PublishLoan<'_>, PublishError> {
        self.loan_until(Wait::until(timeout))
    }

    fn loan_until(&mut self, wait: Wait) -> Result<PublishLoan<'_>, PublishError> {
        let size = self.slot_size();
        self.loan_bytes_until(size, wait)
    }

    /// Borrows room for a message of exactly `n` bytes, one contiguous region, waiting
    /// (block mode) while the slowest live subscriber holds the room back. On a channel
    /// sized in bytes ([`Config::capacity_bytes`](crate::Config::capacity_bytes)) the
    /// loan takes `n` bytes of the ring (plus a 16-byte header, rounded up to 16); on a
    /// ring of slots it is a slot, seen as its first `n` bytes. [`PublishLoan::commit`]
    /// may publish fewer bytes than loaned: loan the maximum when the size is not known
    /// in advance (the record keeps the loaned size in the ring).
    ///
    /// Once every subscriber has read what was published, any `n` up to the maximum
    /// fits, so a large loan waits for room but never deadlocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::{Config, Publisher, RingKind, Start};
    ///
    /// let config = Config::new().kind(RingKind::Broadcast).capacity_bytes(1 << 16).max_message(1 << 12);
    /// let mut publisher = Publisher::in_memory(&config)?;
    /// let mut subscriber = publisher.subscribe(Start::Live)?;
    /// let mut loan = publisher.loan_bytes(3000)?;
    /// assert_eq!(loan.len(), 3000);
    /// loan.fill(9);
    /// loan.commit(2500); // fewer than loaned
    /// publisher.send(b"small")?;
    /// assert_eq!(&*subscriber.recv()?, &[9u8; 2500][..]);
    /// assert_eq!(&*subscriber.recv()?, b"small");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`] if `n` is above the largest message;
    /// [`PublishError::Corrupt`].
    pub fn loan_bytes(&mut self, n: usize) -> Result<PublishLoan<'_>, PublishError> {
        self.loan_bytes_until(n, Wait::Forever)
    }

    /// Borrows room for `n` bytes without waiting (see [`Publisher::loan_bytes`]).
    ///
    /// # Errors
    ///
    /// [`PublishError::Full`] if there is no contiguous room for `n` bytes now;
    /// [`PublishError::TooLarge`]; [`PublishError::Corrupt`].
    pub fn try_loan_bytes(&mut self, n: usize) -> Result<PublishLoan<'_>, PublishError> {
        self.loan_bytes_until(n, Wait::Never)
    }

    /// Borrows room for `n` bytes, waiting at most `timeout` (see
    /// [`Publisher::loan_bytes`]).
    ///
    /// # Errors
    ///
    /// [`PublishError::Timeout`]; [`PublishError::TooLarge`]; [`PublishError::Corrupt`].
    pub fn loan_bytes_timeout(&mut self, n: usize, timeout: Duration) -> Result<PublishLoan<'_>, PublishError> {
        self.loan_bytes_until(n, Wait::until(timeout))
    }

    fn loan_bytes_until(&mut self, n: usize, wait: Wait) -> Result<PublishLoan<'_>, PublishError> {
        let max = self.slot_size();
        if n > max {
            return Err(PublishError::TooLarge { len: n, max });
        }
        let pos = self.end.loan(n, wait).map_err(publish_error)?;
        Ok(PublishLoan { publisher: self, pos, size: n, committed: false })
    }

    /// Copies `message` into the channel, waiting (block mode) for room.
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`]; [`PublishError::Corrupt`].
    pub fn send(&mut self, message: &[u8]) -> Result<(), PublishError> {
        self.send_until(message, Wait::Forever)
    }

    /// Copies `message` into the channel if there is room now.
    ///
    /// # Errors
    ///
    /// [`PublishError::Full`]; [`PublishError::TooLarge`]; [`PublishError::Corrupt`].
    pub fn try_send(&mut self, message: &[u8]) -> Result<(), PublishError> {
        self.send_until(message, Wait::Never)
    }

    /// Copies `message` into the channel, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PublishError::Timeout`]; [`PublishError::TooLarge`]; [`PublishError::Corrupt`].
    pub fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), PublishError> {
        self.send_until(message, Wait::until(timeout))
    }

    /// Publishes a copy of `value`, waiting (block mode) for room.
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`] if `T` is larger than a slot; [`PublishError::Corrupt`].
    pub fn send_value<T: Pod>(&mut self, value: T) -> Result<(), PublishError> {
        // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes are initialised.
        let bytes = unsafe { slice::from_raw_parts((&value as *const T).cast::<u8>(), size_of::<T>()) };
        self.send_until(bytes, Wait::Forever)
    }

    fn send_until(&mut self, message: &[u8], wait: Wait) -> Result<(), PublishError> {
        let max = self.slot_size();
        if message.len() > max {
            return Err(PublishError::TooLarge { len: message.len(), max });
        }
        self.end.send(message, wait).map_err(publish_error)
    }
}

/// The publisher's pollable file descriptor, for `poll`, `epoll`, an async runtime, or
/// [`Select`](crate::Select): in block mode it becomes readable when a ring that was
/// full gets room (a subscriber moved on, left or died). In overwrite mode a publish
/// never waits and nothing rings the fd: [`Select`](crate::Select) reports such a
/// publisher ready at once.
///
/// It is *level-triggered until drained*: once it reports readable, publish with the
/// `try_` calls until [`PublishError::Full`] before waiting on it again; the call that
/// finds the ring full resets it and arms it. Asking for the fd arms it. Readiness can be
/// spurious (another publisher took the room); `Full` says so.
///
/// The fd is the channel's publishers' doorbell (`/dev/shm/ferry-bell.NAME.s`, a pipe in
/// memory), rung by subscribers only when a publisher armed it. It stays the same for
/// the publisher's life and is closed when it is dropped.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use rustix::event::{poll, PollFd, PollFlags};
/// use ferry::{Config, PublishError, Publisher, Start};
///
/// let mut publisher = Publisher::in_memory(&Config::new().slot_size(8).capacity(2))?;
/// let mut subscriber = publisher.subscribe(Start::Live)?;
/// publisher.send(b"one")?;
/// publisher.send(b"two")?;
/// let _ = publisher.as_fd(); // arms
/// assert_eq!(publisher.try_send(b"three").unwrap_err(), PublishError::Full);
/// drop(subscriber.recv()?); // frees a slot
/// let mut waiting = [PollFd::new(&publisher, PollFlags::IN)];
/// assert_eq!(poll(&mut waiting, None)?, 1);
/// publisher.try_send(b"three")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::os::fd::AsFd for Publisher {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.end.fd()
    }
}

/// The fd of [`AsFd`](std::os::fd::AsFd), as a raw descriptor (for C and FFI callers).
impl std::os::fd::AsRawFd for Publisher {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsFd::as_fd(self).as_raw_fd()
    }
}

impl Publisher {
    /// Whether a publish would find room without the fd being readable (arms the
    /// doorbell first): for `Select` and the async wrapper, before they sleep on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        self.end.ready_now()
    }
}

fn publish_error(stop: Stop) -> PublishError {
    match stop {
        Stop::WouldBlock | Stop::Refused(_) => PublishError::Full,
        // A publisher watches no departure: `Gone` cannot come; report it as the wait it
        // ended.
        Stop::Timeout | Stop::Gone => PublishError::Timeout,
        Stop::Corrupt(reason) => PublishError::Corrupt { reason },
    }
}

/// Room borrowed for writing. Derefs to the bytes loaned (a slot's whole payload,
/// `slot_size` bytes, from [`Publisher::loan`]; exactly `n` from
/// [`Publisher::loan_bytes`]), its first byte [`SLOT_ALIGN`]-aligned. Dropping it
/// without [`PublishLoan::commit`] publishes nothing.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Publisher, Start};
///
/// let mut publisher = Publisher::in_memory(&Config::new().slot_size(64).capacity(8))?;
/// let mut subscriber = publisher.subscribe(Start::Live)?;
/// let mut loan = publisher.loan()?; // a whole slot, written in place
/// assert_eq!(loan.len(), 64);
/// loan[..5].copy_from_slice(b"hello");
/// loan.commit(5); // publishes the first 5 bytes
/// drop(publisher.loan()?); // dropped uncommitted: publishes nothing
/// assert_eq!(&*subscriber.recv()?, b"hello");
/// assert!(subscriber.try_recv().is_err());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub struct PublishLoan<'a> {
    publisher: &'a mut Publisher,
    pos: u64,
    /// Bytes loaned.
    size: usize,
    committed: bool,
}

impl PublishLoan<'_> {
    /// Publishes the first `len` bytes of the loan to every subscriber.
    ///
    /// # Panics
    ///
    /// If `len` is larger than the loan.
    pub fn commit(mut self, len: usize) {
        let max = self.size;
        assert!(len <= max, "committed {len} bytes into a loan of {max} bytes");
        self.committed = true;
        self.publisher.end.commit(self.pos, len);
    }

    /// Writes `value` at the start of the slot and commits `size_of::<T>()` bytes.
    ///
    /// # Panics
    ///
    /// If `T` is larger than the slot or aligned to more than [`SLOT_ALIGN`].
    pub fn write_value<T: Pod>(mut self, value: T) {
        assert!(size_of::<T>() <= self.len() && align_of::<T>() <= SLOT_ALIGN, "value does not fit a slot");
        // SAFETY: the payload is at least `size_of::<T>()` bytes, SLOT_ALIGN-aligned, and
        // the loan gives exclusive write access; `T: Pod` has no padding to leak.
        unsafe { self.as_mut_ptr().cast::<T>().write(value) };
        self.commit(size_of::<T>());
    }
}

impl Deref for PublishLoan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the claim holds at least `size` payload bytes (a slot of `slot_size`,
        // or a record claimed for `size`), written only through this loan until it is
        // committed or dropped.
        unsafe { slice::from_raw_parts(self.publisher.end.payload(self.pos), self.size) }
    }
}

impl DerefMut for PublishLoan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the access unique in this process.
        unsafe { slice::from_raw_parts_mut(self.publisher.end.payload(self.pos), self.size) }
    }
}

impl Drop for PublishLoan<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.committed {
            return;
        }
        self.publisher.end.cancel(self.pos);
    }
}

impl fmt::Debug for PublishLoan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishLoan").field("position", &self.pos).field("capacity", &self.len()).finish()
    }
}

#[cfg(not(ferry_loom))]
impl OpenOptions {
    /// Opens the existing broadcast channel `endpoint` as another publisher, with these
    /// options (shape, owners, how long to wait for it).
    ///
    /// # Errors
    ///
    /// As for [`Publisher::open`], plus [`AttachError::GeometryMismatch`] with
    /// [`OpenOptions::expect`] and [`AttachError::Timeout`] with [`OpenOptions::timeout`].
    #[cfg(not(ferry_loom))]
    pub fn open_publisher(&self, endpoint: &str) -> Result<Publisher, AttachError> {
        self.patiently(endpoint, || Publisher::attach(broadcast::open(endpoint, self.expected.as_ref(), &self.owners)?))
    }
}
