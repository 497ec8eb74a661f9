//! The bridge's end of a local channel, whichever pattern it is: a queue (the bridge is
//! one of its receivers or senders) or a broadcast channel (one of its subscribers or
//! publishers). The route opens the name as a queue first, and as a broadcast channel if
//! the segment says it is one.

use std::time::Duration;

use crate::{
    AttachError, Policy, PublishError, Publisher, Receiver, RecvError, SendError, Sender, Start, Subscriber,
    SubscriberError, WaitPolicy,
};

/// What a route reads from: a queue's receiver, or a broadcast channel's subscriber
/// (which joins at the next message).
pub(crate) enum Source {
    Queue(Receiver),
    /// `copy` holds a message of an overwrite-mode channel, which is copied out and
    /// checked before it goes anywhere (read in place, it could change while Zenoh
    /// copies it).
    Broadcast {
        rx: Subscriber,
        copy: Vec<u8>,
    },
}

/// What a route's read found.
pub(crate) enum Next<R> {
    /// A message, and what the caller made of it.
    Message(R),
    /// Nothing within the timeout.
    Timeout,
    /// The channel's senders (publishers) have all gone, and everything was read.
    Gone,
    /// A broadcast subscriber fell behind an overwriting publisher: this many messages
    /// were lost before the bridge could read them.
    Lagged(u64),
}

impl Source {
    /// Opens `endpoint` as a queue's receiver, or as a subscriber of a broadcast channel.
    pub(crate) fn open(endpoint: &str) -> Result<Self, AttachError> {
        match Receiver::open(endpoint) {
            Err(queue @ AttachError::Unsupported { .. }) => match Subscriber::open(endpoint, Start::Live) {
                Ok(rx) => Ok(Self::Broadcast { rx, copy: Vec::new() }),
                Err(_) => Err(queue),
            },
            other => other.map(Self::Queue),
        }
    }

    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        match self {
            Self::Queue(rx) => rx.set_wait_policy(policy),
            Self::Broadcast { rx, .. } => rx.set_wait_policy(policy),
        }
    }

    /// Waits at most `timeout` for the next message and hands its bytes to `f`: in
    /// place, or (an overwrite-mode broadcast channel) a checked copy.
    pub(crate) fn next<R>(&mut self, timeout: Duration, f: impl FnOnce(&[u8]) -> R) -> Result<Next<R>, String> {
        match self {
            Self::Queue(rx) => match rx.recv_timeout(timeout) {
                Ok(message) => Ok(Next::Message(f(&message))),
                Err(RecvError::Timeout) => Ok(Next::Timeout),
                Err(RecvError::Disconnected) => Ok(Next::Gone),
                Err(e) => Err(e.to_string()),
            },
            Self::Broadcast { rx, copy } => {
                let found = if rx.policy() == Policy::Block {
                    rx.recv_timeout(timeout).map(|message| f(&message))
                } else {
                    copy.resize(rx.slot_size(), 0);
                    rx.recv_into_timeout(copy, timeout).map(|n| f(&copy[..n]))
                };
                match found {
                    Ok(r) => Ok(Next::Message(r)),
                    Err(SubscriberError::Timeout) => Ok(Next::Timeout),
                    Err(SubscriberError::Disconnected) => Ok(Next::Gone),
                    Err(SubscriberError::Lagged(missed)) => Ok(Next::Lagged(missed)),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }
}

/// What a route writes into: a queue's sender, or a broadcast channel's publisher.
pub(crate) enum Sink {
    Queue(Sender),
    Broadcast(Publisher),
}

/// Why a message was not written.
pub(crate) enum Unwritten {
    /// No room now (a `try_` write).
    Full,
    /// No room within the timeout.
    Timeout,
    /// The queue's receivers have all gone.
    Disconnected,
    /// The bytes handed to the loan did not fill it as announced; nothing was sent.
    Short,
    /// Anything else, in words.
    Failed(String),
}

impl Sink {
    /// Opens `endpoint` as a queue's sender, or as a publisher of a broadcast channel.
    pub(crate) fn open(endpoint: &str) -> Result<Self, AttachError> {
        match Sender::open(endpoint) {
            Err(queue @ AttachError::Unsupported { .. }) => {
                Publisher::open(endpoint).map(Self::Broadcast).or(Err(queue))
            }
            other => other.map(Self::Queue),
        }
    }

    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        match self {
            Self::Queue(tx) => tx.set_wait_policy(policy),
            Self::Broadcast(tx) => tx.set_wait_policy(policy),
        }
    }

    /// The largest message.
    pub(crate) fn slot_size(&self) -> usize {
        match self {
            Self::Queue(tx) => tx.slot_size(),
            Self::Broadcast(tx) => tx.slot_size(),
        }
    }

    /// Loans `len` bytes (at most [`Sink::slot_size`]), waiting at most `timeout` or not
    /// at all (`None`), lets `fill` write them, and commits them if it says it wrote them
    /// all. A loan of exactly `len` bytes: on a channel sized in bytes it takes only that
    /// much room.
    pub(crate) fn write(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<(), Unwritten> {
        match self {
            Self::Queue(tx) => {
                let loan = match timeout {
                    Some(timeout) => tx.loan_bytes_timeout(len, timeout),
                    None => tx.try_loan_bytes(len),
                };
                let mut loan = loan.map_err(|e| match e {
                    SendError::Full(()) => Unwritten::Full,
                    SendError::Timeout(()) => Unwritten::Timeout,
                    SendError::Disconnected(()) => Unwritten::Disconnected,
                    e => Unwritten::Failed(format!("the channel failed: {e}")),
                })?;
                if !fill(&mut loan) {
                    return Err(Unwritten::Short);
                }
                loan.commit(len);
            }
            Self::Broadcast(tx) => {
                let loan = match timeout {
                    Some(timeout) => tx.loan_bytes_timeout(len, timeout),
                    None => tx.try_loan_bytes(len),
                };
                let mut loan = loan.map_err(|e| match e {
                    PublishError::Full => Unwritten::Full,
                    PublishError::Timeout => Unwritten::Timeout,
                    e => Unwritten::Failed(format!("the channel failed: {e}")),
                })?;
                if !fill(&mut loan) {
                    return Err(Unwritten::Short);
                }
                loan.commit(len);
            }
        }
        Ok(())
    }
}
