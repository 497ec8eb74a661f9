//! Error types, one enum per operation family.
//!
//! - [`AttachError`]: creating, opening, cloning or removing a named channel.
//! - [`SendError`]: every send and loan variant; a typed send hands its value back.
//! - [`RecvError`]: every receive variant; a failed receive consumes nothing.
//!
//! All three own what they hold (no borrow of the caller's message), are `Send + Sync +
//! 'static` (for `SendError<T>`, when `T` is), name their variant in `Debug` and say what
//! happened in `Display`, so `?` turns any of them into a `Box<dyn Error + Send + Sync>`.

use std::{fmt, io, time::Duration};

/// Why creating, opening, cloning or removing a channel failed.
///
/// # Examples
///
/// Its `Display` says what to do next; its `Debug` names the variant.
///
/// ```
/// use ferry::{AttachError, Sender};
///
/// let err = Sender::open("doc-attach-error-nobody-made-this").unwrap_err();
/// assert!(matches!(err, AttachError::NotFound { .. }));
/// assert!(format!("{err:?}").starts_with("NotFound"));
/// assert_eq!(err.to_string(), "no channel named `doc-attach-error-nobody-made-this`: has its creator started?");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// The name is not a valid channel name.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration cannot describe a ring.
    InvalidConfig(&'static str),
    /// The endpoint string is not `NAME`, `shm:NAME`, `unix:PATH`, `fifo:PATH` or
    /// `auto:NAME`.
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The transport cannot offer what was asked (a second receiver on a socket, a
    /// second sender on a FIFO, shared memory where it is disabled, a 129th handle on
    /// one MPMC channel).
    Unsupported {
        /// The endpoint.
        endpoint: String,
        /// What it cannot do.
        what: &'static str,
    },
    /// `create` found a segment of that name already there.
    AlreadyExists {
        /// The channel name.
        name: String,
    },
    /// `open` found no segment of that name.
    NotFound {
        /// The channel name.
        name: String,
    },
    /// The operating system refused access to the segment.
    PermissionDenied {
        /// The channel name.
        name: String,
    },
    /// The segment does not start with ferry's magic number: it is not a ferry segment.
    BadMagic {
        /// The channel name.
        name: String,
        /// The magic number found.
        found: u64,
    },
    /// The segment was written by another layout version of ferry.
    VersionMismatch {
        /// The channel name.
        name: String,
        /// The version in the segment.
        found: u32,
        /// The version this build speaks.
        expected: u32,
    },
    /// The segment's header fails its checksum or describes an impossible ring.
    CorruptHeader {
        /// The channel name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The segment's shape (ring kind, signaling, slot size, capacity) is not the one
    /// the caller asked for.
    GeometryMismatch {
        /// The channel name.
        name: String,
        /// The shape asked for, in words (e.g. "SPSC ring of 64 slots of 256 B, futex").
        expected: String,
        /// The shape found, in words.
        found: String,
    },
    /// The segment's size does not match the size its header describes.
    SizeMismatch {
        /// The channel name.
        name: String,
        /// Size the header describes, in bytes.
        expected: u64,
        /// Size of the shared-memory object, in bytes.
        actual: u64,
    },
    /// The creator did not finish initialising the segment in time (it may have died).
    NotInitialised {
        /// The channel name.
        name: String,
    },
    /// The role (sender or receiver) is already held by a live process.
    RoleTaken {
        /// The channel name.
        name: String,
        /// `"sender"` or `"receiver"`.
        role: &'static str,
        /// The process holding it.
        pid: u32,
    },
    /// What the name leads to belongs to another user: it may have been put there to
    /// receive this channel's messages or to forge them. Accept that owner explicitly
    /// with [`OpenOptions::allow_owner`](crate::OpenOptions::allow_owner) if it is trusted.
    NotOwned {
        /// The channel name or path.
        name: String,
        /// The uid that owns it.
        owner: u32,
        /// The caller's effective uid.
        me: u32,
    },
    /// The channel did not appear within the time given to
    /// [`OpenOptions::timeout`](crate::OpenOptions::timeout) (or `open_timeout`): its
    /// creator has not started, or has not created it yet.
    Timeout {
        /// The endpoint as given.
        endpoint: String,
        /// How long the open waited.
        waited: Duration,
        /// Why the last attempt failed (`NotFound` or `NotInitialised`).
        last: Box<AttachError>,
    },
    /// The other side of the channel has gone: a [`Sender::try_clone`](crate::Sender::try_clone)
    /// after the receivers have, or a [`Receiver::try_clone`](crate::Receiver::try_clone)
    /// after the senders have and every message has been received.
    Disconnected {
        /// The channel name or path.
        endpoint: String,
    },
    /// Another operating-system error.
    Io {
        /// What ferry was doing.
        op: &'static str,
        /// The channel name.
        name: String,
        /// The underlying error.
        source: io::Error,
    },
    /// What the name leads to is not the kind of object ferry makes there (a symbolic
    /// link, a FIFO where a segment belongs, a directory that other users can write to):
    /// ferry neither follows it nor replaces it.
    Unexpected {
        /// The channel name or path.
        name: String,
        /// What was found, in words ("a symbolic link").
        found: String,
        /// What ferry expected there, in words.
        expected: &'static str,
    },
    /// There is not room for the channel: creating it would leave a segment that a
    /// later write kills with SIGBUS. Nothing was left behind.
    NoSpace {
        /// The channel name.
        name: String,
        /// The bytes the channel needs.
        needed: u64,
        /// The bytes free where shared memory lives (`/dev/shm`), when known.
        free: Option<u64>,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { name, reason } => write!(f, "invalid channel name `{name}`: {reason}"),
            Self::InvalidConfig(reason) => write!(f, "invalid channel configuration: {reason}"),
            Self::InvalidEndpoint { endpoint, reason } => write!(
                f,
                "invalid endpoint `{endpoint}`: {reason} (expected NAME, shm:NAME, unix:PATH, fifo:PATH or auto:NAME)"
            ),
            Self::Unsupported { endpoint, what } => write!(f, "`{endpoint}` does not support {what}"),
            Self::AlreadyExists { name } => write!(
                f,
                "channel `{name}` already exists: open it instead, or remove it with ferry::unlink(\"{name}\")"
            ),
            Self::NotFound { name } => write!(f, "no channel named `{name}`: has its creator started?"),
            Self::PermissionDenied { name } => write!(
                f,
                "permission denied for channel `{name}`: it belongs to another user or its mode forbids access"
            ),
            Self::BadMagic { name, found } => write!(
                f,
                "`{name}` is not a ferry segment (magic {found:#018x}): remove it with ferry::unlink(\"{name}\")"
            ),
            Self::VersionMismatch { name, found, expected } => write!(
                f,
                "channel `{name}` was created by ferry layout v{found}, this is v{expected}: \
                 remove it with ferry::unlink(\"{name}\") and create it again"
            ),
            Self::CorruptHeader { name, reason } => write!(f, "channel `{name}` has a corrupt header: {reason}"),
            Self::GeometryMismatch { name, expected, found } => {
                write!(f, "channel `{name}` is an {found}, but an {expected} was asked for")
            }
            Self::SizeMismatch { name, expected, actual } => {
                write!(f, "channel `{name}` should be {expected} bytes but its shared-memory object is {actual} bytes")
            }
            Self::NotInitialised { name } => write!(
                f,
                "channel `{name}` was not initialised in time: its creator may have died; remove it and create it again"
            ),
            Self::RoleTaken { name, role, pid } => {
                write!(f, "channel `{name}` already has a {role} attached (process {pid}); a channel has exactly one")
            }
            Self::NotOwned { name, owner, me } => write!(
                f,
                "`{name}` belongs to uid {owner}, not to this user (uid {me}): refusing to use it; if that \
                 user is trusted, open with OpenOptions::new().allow_owner({owner})"
            ),
            Self::Timeout { endpoint, waited, last } => write!(
                f,
                "channel `{endpoint}` did not appear within {waited:.1?}: start the process that creates it, or give \
                 it longer (last try: {last})"
            ),
            Self::Disconnected { endpoint } => {
                write!(f, "the other side of channel `{endpoint}` has gone: nothing can pass through it any more")
            }
            Self::Io { op, name, source } => write!(f, "{op} channel `{name}`: {source}"),
            Self::Unexpected { name, found, expected } => write!(
                f,
                "`{name}` is {found}, not {expected}: ferry does not follow or replace what it did not make; \
                 remove it if it is yours, or use another name"
            ),
            Self::NoSpace { name, needed, free } => {
                write!(f, "channel `{name}` needs {needed} bytes of shared memory")?;
                match free {
                    Some(free) => write!(f, " but /dev/shm has {free} bytes free")?,
                    None => write!(f, " and /dev/shm has not that much free")?,
                }
                write!(f, ": make the channel smaller (slot size x capacity) or /dev/shm larger (docker --shm-size)")
            }
        }
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Timeout { last, .. } => Some(&**last),
            _ => None,
        }
    }
}

/// Why a send or a loan failed.
///
/// A typed send ([`Sender::send_value`](crate::Sender::send_value) and its `try_` and
/// `_timeout` forms) hands its value back in every variant, as crossbeam's `SendError<T>`
/// does: take it with [`SendError::into_inner`]. A send of a borrowed slice
/// ([`Sender::send`](crate::Sender::send)) and a loan report a `SendError<()>` (the
/// default): the caller still holds the slice, and the error borrows nothing, so `?`
/// carries it out of any function returning `Box<dyn Error + Send + Sync>`.
///
/// # Examples
///
/// ```
/// use ferry::{Config, SendError};
///
/// fn forward(buf: &[u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     let (mut tx, _rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(1))?;
///     tx.send(buf)?;
///     Ok(())
/// }
/// let err = forward(&[0; 9]).unwrap_err();
/// assert_eq!(err.to_string(), "a message of 9 bytes does not fit in a slot of 8 bytes");
///
/// // A typed send hands the value back.
/// let (mut tx, rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(1))?;
/// drop(rx);
/// let err = tx.send_value(7u64).unwrap_err();
/// assert!(err.is_disconnected());
/// assert_eq!(format!("{err:?}"), "Disconnected(..)");
/// assert_eq!(err.into_inner(), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendError<T = ()> {
    /// The ring is full (from the `try_*` calls).
    Full(T),
    /// The ring stayed full until the timeout passed (from the `*_timeout` calls).
    Timeout(T),
    /// The receiver has detached or died; nobody will read the message.
    Disconnected(T),
    /// The message is larger than a slot.
    TooLarge {
        /// The message.
        message: T,
        /// Its length in bytes.
        len: usize,
        /// The slot size, the largest message the channel carries.
        max: usize,
    },
    /// The ring's shared state is inconsistent: the peer is broken or hostile.
    Corrupt {
        /// The message.
        message: T,
        /// What was found wrong.
        reason: &'static str,
    },
}

impl<T> SendError<T> {
    /// Takes the message back.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(m) | Self::Timeout(m) | Self::Disconnected(m) => m,
            Self::TooLarge { message, .. } | Self::Corrupt { message, .. } => message,
        }
    }

    /// Whether the receivers have gone (nothing sent will ever be read).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected(_))
    }

    /// Whether the channel was full (from a `try_` call).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the channel stayed full until the timeout (from a `_timeout` call).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// The same error without its message, as the slice sends report it.
    pub fn without_message(self) -> SendError {
        self.map(|_| ())
    }

    /// The same error carrying another message.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> SendError<U> {
        match self {
            Self::Full(m) => SendError::Full(f(m)),
            Self::Timeout(m) => SendError::Timeout(f(m)),
            Self::Disconnected(m) => SendError::Disconnected(f(m)),
            Self::TooLarge { message, len, max } => SendError::TooLarge { message: f(message), len, max },
            Self::Corrupt { message, reason } => SendError::Corrupt { message: f(message), reason },
        }
    }
}

/// Names the variant and its fields; the message, which need not be `Debug`, shows as
/// `..` (as crossbeam's `SendError` does).
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Disconnected(_) => f.write_str("Disconnected(..)"),
            Self::TooLarge { len, max, .. } => {
                f.debug_struct("TooLarge").field("len", len).field("max", max).finish_non_exhaustive()
            }
            Self::Corrupt { reason, .. } => f.debug_struct("Corrupt").field("reason", reason).finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the channel is full"),
            Self::Timeout(_) => f.write_str("timed out waiting for room in the channel"),
            Self::Disconnected(_) => f.write_str("the receiver has gone"),
            Self::TooLarge { len, max, .. } => {
                write!(f, "a message of {len} bytes does not fit in a slot of {max} bytes")
            }
            Self::Corrupt { reason, .. } => write!(f, "the channel's shared state is corrupt: {reason}"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why a receive failed. Nothing was consumed.
///
/// # Examples
///
/// ```
/// use ferry::RecvError;
///
/// let (tx, mut rx) = ferry::in_memory(&ferry::Config::new())?;
/// assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
/// drop(tx);
/// let err = rx.try_recv().unwrap_err();
/// assert_eq!(err, RecvError::Disconnected);
/// assert_eq!(format!("{err:?}"), "Disconnected");
/// assert_eq!(err.to_string(), "the channel is empty and the sender has gone");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecvError {
    /// No message is waiting (from the `try_*` calls).
    Empty,
    /// No message arrived before the timeout passed.
    Timeout,
    /// The channel is empty and the sender has detached or died.
    Disconnected,
    /// The caller's buffer is smaller than the message; the message stays in the channel.
    BufferTooSmall {
        /// The message's length in bytes.
        needed: usize,
    },
    /// The message is not the size of the type it was read as; it stays in the channel.
    WrongSize {
        /// The size of the type.
        expected: usize,
        /// The message's length in bytes.
        actual: usize,
    },
    /// The ring's shared state is inconsistent: the peer is broken or hostile.
    Corrupt {
        /// What was found wrong.
        reason: &'static str,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the channel is empty"),
            Self::Timeout => f.write_str("timed out waiting for a message"),
            Self::Disconnected => f.write_str("the channel is empty and the sender has gone"),
            Self::BufferTooSmall { needed } => {
                write!(f, "the buffer is too small for a message of {needed} bytes")
            }
            Self::WrongSize { expected, actual } => {
                write!(f, "expected a message of {expected} bytes, found {actual} bytes")
            }
            Self::Corrupt { reason } => write!(f, "the channel's shared state is corrupt: {reason}"),
        }
    }
}

impl std::error::Error for RecvError {}
