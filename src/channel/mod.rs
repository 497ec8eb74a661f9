//! The queue pattern: [`Sender`] and [`Receiver`], the two ends of a channel (one side
//! per file: `sender.rs`, `receiver.rs`), with zero-copy loans and in-place receive
//! guards, copy helpers, typed messages and batches, over every transport.
//!
//! The API holds no transport logic: it reaches the transport under each handle through
//! the transport layer's private enum per side, and turns the transport's reasons for
//! stopping into the public errors. A sibling pattern (publish/subscribe,
//! request/response) sits beside this module, over the same transports.

mod options;
mod receiver;
mod sender;

pub use self::{
    options::OpenOptions,
    receiver::{Iter, Receiver, RecvBatch, RecvGuard, TryIter},
    sender::{Loan, SendBatch, Sender},
};
use crate::{config::Config, error::AttachError, transport::open};

/// Where a handle was opened: the endpoint as given (for errors) and why `auto:` fell
/// back from shared memory, if it did.
#[derive(Debug)]
pub(crate) struct Origin {
    endpoint: String,
    fallback: Option<String>,
}

/// What an in-memory channel's errors call it.
const IN_MEMORY: &str = "(in memory)";

/// Makes a channel inside this process, on heap memory, for use between threads.
///
/// It runs the same ring as a named channel.
///
/// # Errors
///
/// [`AttachError::InvalidConfig`] if the configuration cannot describe a ring.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ferry::in_memory(&ferry::Config::new().slot_size(64).capacity(4))?;
/// tx.send(b"hello")?;
/// assert_eq!(&*rx.try_recv()?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn in_memory(config: &Config) -> Result<(Sender, Receiver), AttachError> {
    let (tx, rx) = open::in_memory(config)?;
    Ok((Sender::new(tx, None, IN_MEMORY), Receiver::new(rx, None, IN_MEMORY)))
}

/// Removes the named shared-memory channel's segment (`NAME` or `shm:NAME`). Processes
/// attached to it keep using it; a new channel of that name can be created at once.
///
/// # Errors
///
/// [`AttachError::NotFound`], [`AttachError::InvalidName`],
/// [`AttachError::PermissionDenied`], or [`AttachError::Io`].
#[cfg(not(ferry_loom))]
pub fn unlink(name: &str) -> Result<(), AttachError> {
    open::unlink(name)
}
