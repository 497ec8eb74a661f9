//! [`Config`]: the shape of a channel, as its creator chooses it. Below the transports,
//! which create channels from it, and the API, which takes it.

use crate::{
    error::AttachError,
    ring::{Geometry, RingKind},
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
    /// the process umask: at most 0o777 (setuid, setgid and sticky bits, or larger
    /// values, make creating the channel fail with [`AttachError::InvalidConfig`]).
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
        Geometry { kind: self.kind, signaling: self.signaling, slot_size: self.slot_size, capacity: self.capacity }
    }
}
