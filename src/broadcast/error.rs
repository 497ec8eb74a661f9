//! The broadcast pattern's errors, one enum per side: [`PublishError`] for every publish
//! and loan call, [`SubscriberError`] for every receive.

use std::fmt;

/// Why a publish or a loan failed. Nothing was published.
///
/// It borrows nothing, so it travels through `?` into any error type:
///
/// ```
/// use ferry::{Config, Publisher};
///
/// fn announce(publisher: &mut Publisher) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     publisher.send(b"hello")?;
///     Ok(())
/// }
/// let mut publisher = Publisher::in_memory(&Config::new().capacity(4).slot_size(64))?;
/// announce(&mut publisher).map_err(|e| e.to_string())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// Block mode: the slowest live subscriber is a whole ring behind (from the `try_`
    /// calls). Either mode: another publisher has not finished the slot's previous lap.
    Full,
    /// The ring stayed full until the timeout passed (from the `_timeout` calls).
    Timeout,
    /// The message is larger than a slot; nothing was sent.
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The slot size, the largest message the channel carries.
        max: usize,
    },
    /// The ring's shared state is inconsistent: a peer is broken or hostile.
    Corrupt {
        /// What was found wrong.
        reason: &'static str,
    },
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("the broadcast ring is full: its slowest subscriber is a whole ring behind"),
            Self::Timeout => f.write_str("timed out waiting for the slowest subscriber to make room"),
            Self::TooLarge { len, max } => {
                write!(f, "a message of {len} bytes does not fit in a slot of {max} bytes: create the channel with a larger slot size")
            }
            Self::Corrupt { reason } => write!(f, "the broadcast channel's shared state is corrupt: {reason}"),
        }
    }
}

impl std::error::Error for PublishError {}

/// Why a subscriber's receive returned no message.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Publisher, Start, SubscriberError};
///
/// let mut publisher = Publisher::in_memory(&Config::new().slot_size(16).capacity(4))?;
/// let mut subscriber = publisher.subscribe(Start::Live)?;
/// assert_eq!(subscriber.try_recv().err(), Some(SubscriberError::Empty));
/// publisher.send(b"last")?;
/// let mut small = [0u8; 2];
/// assert_eq!(subscriber.try_recv_into(&mut small), Err(SubscriberError::BufferTooSmall { needed: 4 }));
/// drop(publisher);
/// assert_eq!(&*subscriber.recv()?, b"last"); // what was published is still read
/// assert_eq!(subscriber.try_recv().err(), Some(SubscriberError::Disconnected));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberError {
    /// No new message (from the `try_` calls).
    Empty,
    /// No message arrived before the timeout passed.
    Timeout,
    /// Every publisher has gone and this subscriber has read every message it can see.
    Disconnected,
    /// Overwrite mode: this subscriber fell behind and this many positions were
    /// overwritten before it read them (or while it read the last one: see
    /// [`SubscriberGuard::validate`](crate::SubscriberGuard::validate)). Each lost
    /// message counts one; so does a position that held none because its publisher gave
    /// it up (a loan dropped without a commit, a publisher that died between its claim
    /// and its publication), which the overwrite erased too. The next receive returns the
    /// oldest message the channel still holds.
    Lagged(u64),
    /// The caller's buffer is smaller than the message; it stays for the next receive.
    BufferTooSmall {
        /// The message's length in bytes.
        needed: usize,
    },
    /// The ring's shared state is inconsistent: a peer is broken or hostile.
    Corrupt {
        /// What was found wrong.
        reason: &'static str,
    },
}

impl fmt::Display for SubscriberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no new message"),
            Self::Timeout => f.write_str("timed out waiting for a message"),
            Self::Disconnected => f.write_str("every publisher has gone and every message was read"),
            Self::Lagged(n) => write!(
                f,
                "this subscriber fell behind and missed {n} messages; it continues from the oldest still held"
            ),
            Self::BufferTooSmall { needed } => write!(f, "the buffer is too small for a message of {needed} bytes"),
            Self::Corrupt { reason } => write!(f, "the broadcast channel's shared state is corrupt: {reason}"),
        }
    }
}

impl std::error::Error for SubscriberError {}
