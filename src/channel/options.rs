//! [`OpenOptions`]: how an existing channel is opened.

use crate::{
    channel::{Receiver, Sender},
    config::Config,
    error::AttachError,
    owner::Owners,
    transport::open,
};

/// How to open an existing channel: the shape to expect and whose objects to accept.
///
/// [`Sender::open`] and [`Receiver::open`] are `OpenOptions::new()` with the defaults:
/// any shape, and only objects that belong to this process's effective uid. Whatever is
/// found under a channel's name (segment, socket, FIFO, description file) that another
/// user owns is refused with [`AttachError::NotOwned`] unless its owner is allowed here.
///
/// # Examples
///
/// ```
/// use ferry::{Config, OpenOptions, Receiver};
///
/// # let name = format!("doc-open-options-{}", std::process::id());
/// let config = Config::new().slot_size(128).capacity(16);
/// let _rx = Receiver::create(&name, &config)?;
/// // Open only if the channel has exactly this shape.
/// let tx = OpenOptions::new().expect(&config).open_sender(&name)?;
/// assert_eq!(tx.slot_size(), 128);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    expected: Option<Config>,
    owners: Owners,
}

impl OpenOptions {
    /// The defaults: any shape, objects of this process's effective uid only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails with [`AttachError::GeometryMismatch`] unless the shared-memory channel has
    /// `config`'s kind, signaling, slot size and capacity (on sockets and pipes, unless
    /// the receiver's slot size is `config`'s).
    pub fn expect(mut self, config: &Config) -> Self {
        self.expected = Some(*config);
        self
    }

    /// Also accepts a channel whose objects belong to `uid` (a trusted other user, such
    /// as a service account that creates the channel).
    pub fn allow_owner(mut self, uid: u32) -> Self {
        self.owners.allow(uid);
        self
    }

    /// Accepts a channel whatever user its objects belong to. Only for channels whose
    /// names no other user can have prepared (and never for `auto:` in a shared
    /// directory): another user's object under the name would receive the messages.
    pub fn allow_any_owner(mut self) -> Self {
        self.owners.allow_any();
        self
    }

    /// Opens the existing channel `endpoint` as a sender.
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], plus [`AttachError::GeometryMismatch`] with
    /// [`OpenOptions::expect`] and [`AttachError::NotOwned`].
    #[cfg(not(ferry_loom))]
    pub fn open_sender(&self, endpoint: &str) -> Result<Sender, AttachError> {
        let (via, fallback) = open::open_sender(endpoint, self.expected.as_ref(), &self.owners)?;
        Ok(Sender::new(via, fallback))
    }

    /// Opens the existing shared-memory channel `endpoint` as a receiver.
    ///
    /// # Errors
    ///
    /// As for [`Receiver::open`], plus [`AttachError::GeometryMismatch`] with
    /// [`OpenOptions::expect`] and [`AttachError::NotOwned`].
    #[cfg(not(ferry_loom))]
    pub fn open_receiver(&self, endpoint: &str) -> Result<Receiver, AttachError> {
        Ok(Receiver::new(open::open_receiver(endpoint, self.expected.as_ref(), &self.owners)?, None))
    }
}
