//! [`Stop`]: why a transport call that may wait gave up, and what that means to each
//! side of the API.

use crate::{
    error::{RecvError, SendError},
    signal::wait::GaveUp,
};

/// Why a call that may wait gave up.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Not possible now (from a `try_` call).
    WouldBlock,
    /// The wait ran out.
    Timeout,
    /// The peer has gone (or its connection failed and is unusable).
    Gone,
    /// The shared state or the stream is inconsistent.
    Corrupt(&'static str),
    /// The next message is this long and the caller refused it; it stays.
    Refused(usize),
}

impl From<GaveUp> for Stop {
    fn from(gave_up: GaveUp) -> Self {
        match gave_up {
            GaveUp::WouldBlock => Self::WouldBlock,
            GaveUp::Timeout => Self::Timeout,
            GaveUp::Gone => Self::Gone,
        }
    }
}

impl Stop {
    /// What a sender reports, handing `message` back.
    pub(crate) fn into_send_error<T>(self, message: T) -> SendError<T> {
        match self {
            Self::WouldBlock | Self::Refused(_) => SendError::Full(message),
            Self::Timeout => SendError::Timeout(message),
            Self::Gone => SendError::Disconnected(message),
            Self::Corrupt(reason) => SendError::Corrupt { message, reason },
        }
    }

    /// What a receiver reports.
    pub(crate) fn into_recv_error(self) -> RecvError {
        match self {
            Self::WouldBlock => RecvError::Empty,
            Self::Timeout => RecvError::Timeout,
            Self::Gone => RecvError::Disconnected,
            Self::Corrupt(reason) => RecvError::Corrupt { reason },
            Self::Refused(len) => RecvError::BufferTooSmall { needed: len },
        }
    }
}
