//! The subscribing side: [`Subscriber`], where it [`Start`]s, and the
//! [`SubscriberGuard`] that reads a message in place.

use std::{fmt, mem::size_of, ops::Deref, slice, time::Duration};

#[cfg(not(ferry_loom))]
use crate::channel::OpenOptions;
use crate::{
    broadcast::SubscriberError,
    config::Config,
    error::AttachError,
    pod::Pod,
    ring::broadcast::Policy,
    signal::{wait::Wait, WaitPolicy},
    sync,
    transport::{
        broadcast::{self, Got, ShmSubscriber},
        stop::Stop,
    },
};

/// Where a new subscriber starts reading.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Publisher, Start};
///
/// let config = Config::new().kind(ferry::RingKind::Broadcast).slot_size(8).capacity(8).history(2);
/// let mut publisher = Publisher::in_memory(&config)?;
/// for message in [b"one", b"two", b"six"] {
///     publisher.send(message)?;
/// }
/// let mut late = publisher.subscribe(Start::History(2))?; // the last two, then live
/// let mut live = publisher.subscribe(Start::Live)?; // only what comes next
/// publisher.send(b"ten")?;
/// for expected in [b"two", b"six", b"ten"] {
///     assert_eq!(&*late.recv()?, expected);
/// }
/// assert_eq!(&*live.recv()?, b"ten");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// With the next message published after it joined.
    #[default]
    Live,
    /// With the last `k` messages already published (as many as there are, and at most
    /// the channel's [`Config::history`]), then the live stream.
    History(usize),
}

/// The subscribing end of a broadcast channel: it receives every message published
/// after it joined (and, with [`Start::History`], the last few before), in each
/// publisher's order, reading each in place in shared memory.
///
/// Each subscriber has its own cursor; subscribers never wait for each other. Any
/// number may attach, up to the channel's subscriber seats ([`Config::subscribers`],
/// 128 by default).
///
/// In overwrite mode ([`Policy::Overwrite`]) a subscriber that falls a whole ring
/// behind gets [`SubscriberError::Lagged`] with the number of positions it missed (the
/// messages lost, plus any position a publisher gave up without a message), then
/// continues with the oldest message still held. A message read in place may then
/// be overwritten while it is read: the copy calls ([`Subscriber::recv_into`]) validate
/// what they copied and report `Lagged` instead of torn bytes; a [`SubscriberGuard`]
/// must be validated ([`SubscriberGuard::validate`]) after reading and before acting on
/// what was read. In block mode nothing is overwritten before every live subscriber read
/// it, and validation always succeeds.
///
/// `Send` but not `Sync`: one thread receives through it at a time.
///
/// Pollable: the subscriber has a file descriptor ([`AsFd`](std::os::fd::AsFd)) that an
/// event loop, a [`Select`](crate::Select) or an async runtime can wait on; it turns
/// readable when a message (or a lag, or the departure of every publisher) is there for
/// this subscriber. Each subscriber has a doorbell of its own, so every subscriber
/// sleeping on its fd hears every publication, and publishers ring only subscribers
/// that armed theirs (found the ring empty since the last ring): a stream that keeps its
/// subscribers busy makes no system call for them.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Policy, Publisher, RingKind, Start, SubscriberError};
///
/// let config = Config::new().kind(RingKind::Broadcast).capacity(4).slot_size(8).policy(Policy::Overwrite);
/// let mut publisher = Publisher::in_memory(&config)?;
/// let mut slow = publisher.subscribe(Start::Live)?;
/// for i in 0..10u64 {
///     publisher.send_value(i)?; // never waits in overwrite mode
/// }
/// // The ring holds the last 4 of 10: the first 6 were overwritten.
/// assert_eq!(slow.recv_value::<u64>(), Err(SubscriberError::Lagged(6)));
/// assert_eq!(slow.recv_value::<u64>()?, 6);
///
/// // In place: read, then validate before trusting what was read.
/// let mut guard = slow.recv()?;
/// let first = guard[0];
/// guard.validate()?;
/// assert_eq!(first, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Subscriber {
    end: ShmSubscriber,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber").field("end", &self.end).finish()
    }
}

impl Subscriber {
    /// Opens the existing broadcast channel `endpoint` (`NAME` or `shm:NAME`) as a
    /// subscriber that starts as `start` says.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotFound`] (has the publisher started?), [`AttachError::Unsupported`]
    /// if it is a queue or every subscriber seat is taken, [`AttachError::NotOwned`], and
    /// the header errors.
    #[cfg(not(ferry_loom))]
    pub fn open(endpoint: &str, start: Start) -> Result<Self, AttachError> {
        OpenOptions::new().open_subscriber(endpoint, start)
    }

    /// Like [`Subscriber::open`], but waits up to `timeout` for the channel to be created
    /// by its publisher, so the processes may start in any order.
    ///
    /// # Errors
    ///
    /// [`AttachError::Timeout`] naming the endpoint if it did not appear in time; the
    /// other errors of [`Subscriber::open`] at once.
    #[cfg(not(ferry_loom))]
    pub fn open_timeout(endpoint: &str, start: Start, timeout: Duration) -> Result<Self, AttachError> {
        OpenOptions::new().timeout(timeout).open_subscriber(endpoint, start)
    }

    /// Like [`Subscriber::open`], but checks the channel's shape against `config`'s.
    ///
    /// # Errors
    ///
    /// As for [`Subscriber::open`], plus [`AttachError::GeometryMismatch`].
    #[cfg(not(ferry_loom))]
    pub fn open_expecting(endpoint: &str, config: &Config, start: Start) -> Result<Self, AttachError> {
        OpenOptions::new().expect(config).open_subscriber(endpoint, start)
    }

    /// Creates the broadcast channel `endpoint` and subscribes to it, for a subscriber
    /// that starts before its publishers (which then [`open`](crate::Publisher::open)
    /// it). The name is removed when this subscriber is dropped.
    ///
    /// # Errors
    ///
    /// As for [`Publisher::create`](crate::Publisher::create).
    #[cfg(not(ferry_loom))]
    pub fn create(endpoint: &str, config: &Config, start: Start) -> Result<Self, AttachError> {
        Self::attach(broadcast::create(endpoint, config)?, start)
    }

    pub(super) fn attach(segment: broadcast::Channel, start: Start) -> Result<Self, AttachError> {
        let back = match start {
            Start::Live => 0,
            Start::History(k) => k,
        };
        Ok(Self { end: ShmSubscriber::attach(segment, back)? })
    }

    /// The largest message in bytes.
    pub fn slot_size(&self) -> usize {
        self.end.slot_size()
    }

    /// The number of slots in the ring; 0 on a channel sized in bytes (see
    /// [`Subscriber::capacity_bytes`]).
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
    /// use ferry::{Config, Publisher, RingKind, Start};
    ///
    /// let config = Config::new().kind(RingKind::Broadcast).capacity_bytes(4096).max_message(100);
    /// let subscriber = Publisher::in_memory(&config)?.subscribe(Start::Live)?;
    /// assert_eq!((subscriber.capacity_bytes(), subscriber.capacity()), (4096, 0));
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

    /// Messages published that this subscriber has not read yet (a snapshot; in
    /// overwrite mode, more than the ring holds once it lags). On a channel sized in
    /// bytes, the bytes of the records it has not read yet, headers included.
    pub fn pending(&self) -> u64 {
        self.end.pending()
    }

    /// Sets how blocked calls of this subscriber spin, yield and park.
    pub fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.end.set_wait_policy(policy);
    }

    /// Waits for the next message and returns a guard that reads it in place.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::Disconnected`] once every publisher has gone and every message
    /// was read; [`SubscriberError::Lagged`] (overwrite mode); [`SubscriberError::Corrupt`].
    pub fn recv(&mut self) -> Result<SubscriberGuard<'_>, SubscriberError> {
        self.recv_until(Wait::Forever, |_| true)
    }

    /// Returns the next message if one is there. Never enters the kernel unless a
    /// publisher is parked (block mode) and must be woken.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::Empty`]; [`SubscriberError::Disconnected`] once every
    /// publisher has gone and this subscriber has read what it can see (as
    /// crossbeam-channel's `try_recv`); [`SubscriberError::Lagged`];
    /// [`SubscriberError::Corrupt`].
    ///
    /// ```
    /// use ferry::{Config, Publisher, Start, SubscriberError};
    ///
    /// let mut publisher = Publisher::in_memory(&Config::new().capacity(4).slot_size(8))?;
    /// let mut subscriber = publisher.subscribe(Start::Live)?;
    /// assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
    /// publisher.send(b"last")?;
    /// drop(publisher);
    /// assert_eq!(&*subscriber.try_recv()?, b"last");
    /// assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Disconnected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<SubscriberGuard<'_>, SubscriberError> {
        self.recv_until(Wait::Never, |_| true)
    }

    /// Waits at most `timeout` for the next message.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::Timeout`]; [`SubscriberError::Disconnected`];
    /// [`SubscriberError::Lagged`]; [`SubscriberError::Corrupt`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<SubscriberGuard<'_>, SubscriberError> {
        self.recv_until(Wait::until(timeout), |_| true)
    }

    fn recv_until(
        &mut self,
        wait: Wait,
        accept: impl Fn(usize) -> bool,
    ) -> Result<SubscriberGuard<'_>, SubscriberError> {
        match self.end.recv(wait, accept).map_err(subscriber_error)? {
            Got::Lagged(missed) => Err(SubscriberError::Lagged(missed)),
            Got::Message { pos, len } => Ok(SubscriberGuard { subscriber: self, pos, len }),
        }
    }

    /// Waits for the next message and copies it into `buf`, returning its length. In
    /// overwrite mode the copy is validated: a message overwritten while it was copied
    /// is reported as [`SubscriberError::Lagged`], never returned torn.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::BufferTooSmall`] (the message stays);
    /// [`SubscriberError::Disconnected`]; [`SubscriberError::Lagged`];
    /// [`SubscriberError::Corrupt`].
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, SubscriberError> {
        self.recv_copy(Wait::Forever, buf)
    }

    /// Copies the next message into `buf` if one is there.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::Empty`]; [`SubscriberError::Disconnected`] (as
    /// [`Subscriber::try_recv`]); [`SubscriberError::BufferTooSmall`];
    /// [`SubscriberError::Lagged`]; [`SubscriberError::Corrupt`].
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, SubscriberError> {
        self.recv_copy(Wait::Never, buf)
    }

    /// Copies the next message into `buf`, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::Timeout`]; [`SubscriberError::BufferTooSmall`];
    /// [`SubscriberError::Disconnected`]; [`SubscriberError::Lagged`];
    /// [`SubscriberError::Corrupt`].
    pub fn recv_into_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, SubscriberError> {
        self.recv_copy(Wait::until(timeout), buf)
    }

    fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, SubscriberError> {
        match self.end.recv_copy(wait, buf).map_err(subscriber_error)? {
            Ok(len) => Ok(len),
            Err(missed) => Err(SubscriberError::Lagged(missed)),
        }
    }

    /// Waits for the next message and returns a (validated) copy of it as a `T`.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::BufferTooSmall`] if the message is larger than `T` (it stays);
    /// as for [`Subscriber::recv_into`] otherwise. A shorter message is consumed and
    /// reported as [`SubscriberError::Corrupt`].
    pub fn recv_value<T: Pod>(&mut self) -> Result<T, SubscriberError> {
        let mut value = std::mem::MaybeUninit::<T>::zeroed();
        // SAFETY: the zeroed `T: Pod` is a valid `T`; its bytes are initialised.
        let bytes = unsafe { slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
        let len = self.recv_into(bytes)?;
        if len != size_of::<T>() {
            return Err(SubscriberError::Corrupt { reason: "a message is shorter than the type it was read as" });
        }
        // SAFETY: every byte of `value` is initialised (zeroed, then copied into), and any
        // bytes are a valid `T: Pod`.
        Ok(unsafe { value.assume_init() })
    }
}

/// The subscriber's pollable file descriptor, for `poll`, `epoll`, an async runtime, or
/// [`Select`](crate::Select): it becomes readable when a message arrives for this
/// subscriber, when it lagged (overwrite mode), or when every publisher has gone (then
/// the next receive, after the messages still there, reports
/// [`SubscriberError::Disconnected`]; a killed publisher counts too).
///
/// It is *level-triggered until drained*: once it reports readable, receive with the
/// `try_` calls until [`SubscriberError::Empty`] before waiting on it again; the call that
/// finds nothing resets it and arms it for the next message. Do the same once before the
/// first wait (messages may be waiting already). Asking for the fd arms it.
///
/// The fd is an epoll instance over the subscriber's own doorbell (a FIFO beside the
/// segment, `/dev/shm/ferry-bell.NAME.seat-I`, made by the first subscriber of seat `I`
/// and removed with the channel; a pipe in memory) and the channel's publishers'
/// presence. It stays the same for the subscriber's life and is closed when it is
/// dropped.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use rustix::event::{poll, PollFd, PollFlags};
/// use ferry::{Config, Publisher, Start, SubscriberError};
///
/// let mut publisher = Publisher::in_memory(&Config::new().slot_size(64).capacity(4))?;
/// let mut a = publisher.subscribe(Start::Live)?;
/// let mut b = publisher.subscribe(Start::Live)?;
/// assert_eq!(a.try_recv().unwrap_err(), SubscriberError::Empty); // nothing there yet
/// assert_eq!(b.try_recv().unwrap_err(), SubscriberError::Empty);
/// let mut waiting = [PollFd::new(&a, PollFlags::IN), PollFd::new(&b, PollFlags::IN)]; // arms both
/// publisher.send(b"to everyone")?;
/// assert_eq!(poll(&mut waiting, None)?, 2); // both hear it
/// drop(waiting);
/// assert_eq!(&*a.try_recv()?, b"to everyone");
/// assert_eq!(&*b.try_recv()?, b"to everyone");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::os::fd::AsFd for Subscriber {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.end.fd()
    }
}

/// The fd of [`AsFd`](std::os::fd::AsFd), as a raw descriptor (for C and FFI callers).
impl std::os::fd::AsRawFd for Subscriber {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsFd::as_fd(self).as_raw_fd()
    }
}

impl Subscriber {
    /// Whether a receive would find something without the fd being readable (arms the
    /// doorbell first): for `Select` and the async wrapper, before they sleep on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        self.end.ready_now()
    }

    /// Before sleeping on the fd in an edge-triggered loop (tokio): drains the fd and
    /// re-arms it, taking nothing; `true` if a receive would not say `Empty`.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        self.end.prepare_wait()
    }
}

fn subscriber_error(stop: Stop) -> SubscriberError {
    match stop {
        Stop::WouldBlock => SubscriberError::Empty,
        Stop::Timeout => SubscriberError::Timeout,
        Stop::Gone => SubscriberError::Disconnected,
        Stop::Corrupt(reason) => SubscriberError::Corrupt { reason },
        Stop::Refused(needed) => SubscriberError::BufferTooSmall { needed },
    }
}

/// A message read in place. Derefs to its bytes; dropping it moves the subscriber past
/// the message (in block mode, freeing its slot once every subscriber has).
///
/// In overwrite mode the bytes may be overwritten by a publisher while they are read:
/// read what you need, then call [`SubscriberGuard::validate`], and act on what you read
/// only if it succeeds (the seqlock pattern). In block mode it always succeeds.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Policy, Publisher, Start};
///
/// let config = Config::new().slot_size(8).capacity(4).policy(Policy::Overwrite);
/// let mut publisher = Publisher::in_memory(&config)?;
/// let mut subscriber = publisher.subscribe(Start::Live)?;
/// publisher.send(&42u64.to_le_bytes())?;
/// let mut message = subscriber.recv()?;
/// let value = u64::from_le_bytes(message[..8].try_into()?); // read in place...
/// message.validate()?; // ...and checked: no publisher overwrote it meanwhile
/// assert_eq!(value, 42);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub struct SubscriberGuard<'a> {
    subscriber: &'a mut Subscriber,
    pos: u64,
    len: usize,
}

impl SubscriberGuard<'_> {
    /// Checks that the message was not overwritten since it was received: everything read
    /// from the guard before this call is the message as published.
    ///
    /// # Errors
    ///
    /// [`SubscriberError::Lagged`] with the number of messages missed, this one included,
    /// if it was overwritten: discard what was read. The next receive returns the oldest
    /// message still held.
    pub fn validate(&mut self) -> Result<(), SubscriberError> {
        self.subscriber.end.validate(self.pos).map_err(SubscriberError::Lagged)
    }

    /// The message's position in the channel's stream (counted from 0, every publisher's
    /// messages together).
    pub fn position(&self) -> u64 {
        self.pos
    }
}

impl Deref for SubscriberGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the message's `len` bytes lie in its slot's payload (`len` was checked
        // against the slot size). In block mode no publisher writes them until this
        // subscriber moves past them; in overwrite mode one may (the bytes are plain
        // bytes, any value is valid), which `validate` reports.
        unsafe { slice::from_raw_parts(self.subscriber.end.payload(self.pos), self.len) }
    }
}

impl Drop for SubscriberGuard<'_> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        self.subscriber.end.done(self.pos);
    }
}

impl fmt::Debug for SubscriberGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberGuard").field("position", &self.pos).field("len", &self.len).finish()
    }
}

#[cfg(not(ferry_loom))]
impl OpenOptions {
    /// Opens the existing broadcast channel `endpoint` as a subscriber starting at
    /// `start`, with these options (shape, owners, how long to wait for it).
    ///
    /// # Errors
    ///
    /// As for [`Subscriber::open`], plus [`AttachError::GeometryMismatch`] with
    /// [`OpenOptions::expect`] and [`AttachError::Timeout`] with [`OpenOptions::timeout`].
    #[cfg(not(ferry_loom))]
    pub fn open_subscriber(&self, endpoint: &str, start: Start) -> Result<Subscriber, AttachError> {
        self.patiently(endpoint, || {
            Subscriber::attach(broadcast::open(endpoint, self.expected.as_ref(), &self.owners)?, start)
        })
    }
}
