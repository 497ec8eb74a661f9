//! [`Config`]: the shape of a channel, as its creator chooses it. Below the transports,
//! which create channels from it, and the API, which takes it.

use crate::{
    error::AttachError,
    ring::{
        broadcast::{Fanout, Policy},
        Geometry, RingKind,
    },
    signal::Signaling,
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
    /// Broadcast only, like the two below.
    subscribers: usize,
    policy: Policy,
    history: usize,
    /// Whether `capacity` counts bytes (a ring of records of any size up to
    /// `slot_size`) rather than slots.
    bytes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            kind: RingKind::Spsc,
            signaling: Signaling::Futex,
            slot_size: 1024,
            capacity: 256,
            mode: 0o600,
            subscribers: 128,
            policy: Policy::Block,
            history: 0,
            bytes: false,
        }
    }
}

impl Config {
    /// An SPSC ring of 256 slots of 1 KiB, futex signaling, mode 0600.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which ring: one sender and one receiver ([`RingKind::Spsc`], the default), any
    /// number of each ([`RingKind::Mpmc`]), or publishers and subscribers
    /// ([`RingKind::Broadcast`]). A kind sized in bytes ([`RingKind::SpscBytes`],
    /// [`RingKind::MpmcBytes`], [`RingKind::BroadcastBytes`]) is the same as its kind
    /// with [`Config::capacity_bytes`].
    pub fn kind(mut self, kind: RingKind) -> Self {
        self.kind = kind;
        if kind.is_bytes() {
            // The same as `capacity_bytes`: the capacity counts bytes.
            self.bytes = true;
            self.kind = match kind {
                RingKind::MpmcBytes => RingKind::Mpmc,
                RingKind::BroadcastBytes => RingKind::Broadcast,
                _ => RingKind::Spsc,
            };
        }
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

    /// How many messages the channel holds at once: any number from 1 to
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY) (2^24), as crossbeam-channel's `bounded(n)`
    /// and `std::sync::mpsc::sync_channel(n)`. The ring has the next power of two of
    /// slots (and at least two on MPMC); senders find it full at `capacity` messages. A
    /// broadcast channel's capacity, the messages it keeps, must be a power of two.
    ///
    /// ```
    /// use ferry::{Config, SendError};
    ///
    /// let (mut tx, _rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(3))?;
    /// for message in [b"one", b"two", b"six"] {
    ///     tx.try_send(message)?;
    /// }
    /// assert!(matches!(tx.try_send(b"ten"), Err(SendError::Full(_))));
    /// assert_eq!(tx.capacity(), 3);
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages;
        self
    }

    /// Sizes the channel in bytes: a ring of `bytes` bytes (a power of two) that carries
    /// messages of any size from 0 to [`Config::max_message`], each taking its length
    /// rounded up to 16 plus a 16-byte header. Memory is then the configured bytes, not
    /// slots x largest message. The ring must hold two of the largest messages:
    /// `bytes >= 2 x (16 + max_message)`, else creating the channel fails with
    /// [`AttachError::InvalidConfig`]. A message that finds too little contiguous room
    /// waits (or `try_` reports the ring full); once the receiver drains the ring, any
    /// message up to the maximum fits.
    ///
    /// With [`RingKind::Mpmc`] the channel has any number of senders and receivers
    /// ([`RingKind::MpmcBytes`]); a loan then keeps the size it was taken with until the
    /// message is received, whatever it commits. With [`RingKind::Broadcast`] it is a
    /// broadcast channel ([`RingKind::BroadcastBytes`], for
    /// [`Publisher`](crate::Publisher) and [`Subscriber`](crate::Subscriber)): every
    /// message to every subscriber, publishers waiting for the slowest live one
    /// ([`Policy::Block`]); [`Policy::Overwrite`] and a history need slots, and creating
    /// such a channel fails with [`AttachError::InvalidConfig`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::Config;
    ///
    /// let config = Config::new().capacity_bytes(1 << 20).max_message(64 << 10);
    /// let (mut tx, mut rx) = ferry::in_memory(&config)?;
    /// tx.send(&[7u8; 40_000])?;
    /// tx.send(b"")?;
    /// assert_eq!(rx.recv()?.len(), 40_000);
    /// assert_eq!(rx.recv()?.len(), 0);
    ///
    /// // Any number of senders and receivers, messages of any size.
    /// let config = config.kind(ferry::RingKind::Mpmc);
    /// let (tx, rx) = ferry::in_memory(&config)?;
    /// let (mut tx2, mut rx2) = (tx.try_clone()?, rx.try_clone()?);
    /// tx2.send(&[1u8; 3])?;
    /// assert_eq!(&*rx2.recv()?, &[1, 1, 1]);
    ///
    /// // Every message, of any size, to every subscriber.
    /// let config = config.kind(ferry::RingKind::Broadcast);
    /// let mut publisher = ferry::Publisher::in_memory(&config)?;
    /// let mut subscribers = [publisher.subscribe(ferry::Start::Live)?, publisher.subscribe(ferry::Start::Live)?];
    /// publisher.send(&[2u8; 50_000])?;
    /// for subscriber in &mut subscribers {
    ///     assert_eq!(subscriber.recv()?.len(), 50_000);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity_bytes(mut self, bytes: usize) -> Self {
        self.bytes = true;
        self.capacity = bytes;
        self
    }

    /// The largest message, in bytes: the same setting as [`Config::slot_size`], under
    /// the name that fits a channel sized in bytes ([`Config::capacity_bytes`]), where
    /// it may be 0 to 1 GiB.
    pub fn max_message(self, bytes: usize) -> Self {
        self.slot_size(bytes)
    }

    /// Permission bits of the shared-memory object (default 0o600), applied whatever
    /// the process umask: at most 0o777 (setuid, setgid and sticky bits, or larger
    /// values, make creating the channel fail with [`AttachError::InvalidConfig`]).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Broadcast: how many subscribers may be attached at once (default 128, at most
    /// 65536). Each takes a 128-byte seat in the segment.
    pub fn subscribers(mut self, seats: usize) -> Self {
        self.subscribers = seats;
        self
    }

    /// Broadcast: what a publisher does about a subscriber a whole ring behind:
    /// [`Policy::Block`] (the default) or [`Policy::Overwrite`].
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Broadcast: how many of the latest messages the channel keeps for subscribers that
    /// join late and ask for them (default 0, at most half the capacity). In block mode
    /// a publisher treats them as one more subscriber `history` behind the tail, so a
    /// joiner always finds them intact; subscribers may still fall a whole ring behind.
    pub fn history(mut self, messages: usize) -> Self {
        self.history = messages;
        self
    }

    /// The kind of ring.
    pub fn get_kind(&self) -> RingKind {
        self.kind
    }

    /// Broadcast: the slow-subscriber policy.
    pub fn get_policy(&self) -> Policy {
        self.policy
    }

    /// Broadcast: the history length.
    pub fn get_history(&self) -> usize {
        self.history
    }

    /// Broadcast: the number of subscriber seats.
    pub fn get_subscribers(&self) -> usize {
        self.subscribers
    }

    /// The largest message, in bytes.
    pub fn get_slot_size(&self) -> usize {
        self.slot_size
    }

    /// The number of slots, or of bytes on a channel sized in bytes.
    pub fn get_capacity(&self) -> usize {
        self.capacity
    }

    /// The permission bits the channel's files are created with.
    pub(crate) fn get_mode(&self) -> u32 {
        self.mode
    }

    /// Checks that this configuration can describe a channel: its ring, and a mode of
    /// permission bits only.
    pub(crate) fn validate(&self) -> Result<(), AttachError> {
        self.geometry().validate().map_err(AttachError::InvalidConfig)?;
        if self.mode & !0o777 != 0 {
            return Err(AttachError::InvalidConfig("the mode may hold permission bits only (at most 0o777)"));
        }
        Ok(())
    }

    /// The ring this configuration describes.
    pub(crate) fn geometry(&self) -> Geometry {
        let kind = match (self.bytes, self.kind) {
            (true, RingKind::Spsc) => RingKind::SpscBytes,
            (true, RingKind::Mpmc) => RingKind::MpmcBytes,
            (true, RingKind::Broadcast) => RingKind::BroadcastBytes,
            (_, kind) => kind,
        };
        let fanout = match kind {
            RingKind::Broadcast | RingKind::BroadcastBytes => {
                Fanout { subscribers: self.subscribers, policy: self.policy, history: self.history }
            }
            _ => Fanout::default(),
        };
        Geometry { kind, signaling: self.signaling, slot_size: self.slot_size, capacity: self.capacity, fanout }
    }
}
