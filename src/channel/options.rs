//! [`OpenOptions`]: how an existing channel is opened, and how long to wait for it to
//! appear.

use std::time::{Duration, Instant};

use crate::{
    channel::{Receiver, Sender},
    config::Config,
    error::AttachError,
    owner::Owners,
    transport::open,
};

/// How to open an existing channel: the shape to expect, whose objects to accept, and
/// how long to wait for the channel to be created.
///
/// [`Sender::open`] and [`Receiver::open`] are `OpenOptions::new()` with the defaults:
/// any shape, only objects that belong to this process's effective uid, and no waiting.
/// Whatever is found under a channel's name (segment, socket, FIFO, description file)
/// that another user owns is refused with [`AttachError::NotOwned`] unless its owner is
/// allowed here.
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
///
/// Start-up order: with [`OpenOptions::timeout`], the side started first waits for the
/// other to create the channel.
///
/// ```
/// use std::{thread, time::Duration};
/// use ferry::{Config, OpenOptions, Receiver};
///
/// # let name = format!("doc-open-options-timeout-{}", std::process::id());
/// let endpoint = name.clone();
/// let creator = thread::spawn(move || {
///     thread::sleep(Duration::from_millis(100));
///     let mut rx = Receiver::create(&endpoint, &Config::new()).expect("create the channel");
///     let message = rx.recv().expect("a message").to_vec();
///     message
/// });
/// // Started first: waits up to 10 s for the receiver to create the channel.
/// let mut tx = OpenOptions::new().timeout(Duration::from_secs(10)).open_sender(&name)?;
/// tx.send(b"hello")?;
/// assert_eq!(creator.join().unwrap(), b"hello");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    // Crate-visible: each pattern (the queue here, `broadcast`) adds its own openers.
    pub(crate) expected: Option<Config>,
    pub(crate) owners: Owners,
    pub(crate) timeout: Option<Duration>,
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

    /// Waits up to `timeout` for the channel to be created, when it is not there yet:
    /// while the open finds no channel of that name ([`AttachError::NotFound`]: no
    /// segment, no socket or FIFO, a socket nobody listens on, a FIFO nobody reads) or
    /// one still being initialised ([`AttachError::NotInitialised`]), it tries again,
    /// sleeping a little longer each time (1 ms doubling to 50 ms). Any other error
    /// (permission, owner, version, corruption, geometry) returns at once. Without this
    /// call, an open does not wait.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Opens the existing channel `endpoint` as a sender.
    ///
    /// # Errors
    ///
    /// As for [`Sender::open`], plus [`AttachError::GeometryMismatch`] with
    /// [`OpenOptions::expect`], [`AttachError::NotOwned`], and
    /// [`AttachError::Timeout`] with [`OpenOptions::timeout`].
    #[cfg(not(ferry_loom))]
    pub fn open_sender(&self, endpoint: &str) -> Result<Sender, AttachError> {
        let (via, fallback) =
            self.patiently(endpoint, || open::open_sender(endpoint, self.expected.as_ref(), &self.owners))?;
        Ok(Sender::new(via, fallback, endpoint))
    }

    /// Opens the existing shared-memory channel `endpoint` as a receiver.
    ///
    /// # Errors
    ///
    /// As for [`Receiver::open`], plus [`AttachError::GeometryMismatch`] with
    /// [`OpenOptions::expect`], [`AttachError::NotOwned`], and
    /// [`AttachError::Timeout`] with [`OpenOptions::timeout`].
    #[cfg(not(ferry_loom))]
    pub fn open_receiver(&self, endpoint: &str) -> Result<Receiver, AttachError> {
        let via = self.patiently(endpoint, || open::open_receiver(endpoint, self.expected.as_ref(), &self.owners))?;
        Ok(Receiver::new(via, None, endpoint))
    }

    /// Runs `open` once, or, with a timeout, until it finds the channel or the time is up.
    #[cfg(not(ferry_loom))]
    pub(crate) fn patiently<T>(
        &self,
        endpoint: &str,
        mut open: impl FnMut() -> Result<T, AttachError>,
    ) -> Result<T, AttachError> {
        /// The first pause between two tries, doubled each time up to `MAX_PAUSE`.
        const FIRST_PAUSE: Duration = Duration::from_millis(1);
        const MAX_PAUSE: Duration = Duration::from_millis(50);
        let Some(timeout) = self.timeout else { return open() };
        let start = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            match open() {
                Err(e @ (AttachError::NotFound { .. } | AttachError::NotInitialised { .. })) => {
                    let waited = start.elapsed();
                    let Some(left) = timeout.checked_sub(waited).filter(|left| !left.is_zero()) else {
                        return Err(AttachError::Timeout { endpoint: endpoint.to_owned(), waited, last: Box::new(e) });
                    };
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                other => return other,
            }
        }
    }
}
