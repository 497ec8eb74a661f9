//! One pollable fd for a stream handle that has several (a Unix socket receiver's
//! listener and connections) or whose fd may be replaced (a FIFO receiver reopens its
//! FIFO): an epoll instance watching them, readable whenever one of them is ready.
//!
//! Every ferry handle's fd is *readable* when the handle can make progress (a message,
//! room to send, or a departed peer), whatever the transport: a stream sender's socket
//! or pipe, ready for writing, makes this epoll readable too.

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
};

use rustix::event::epoll;

/// An epoll instance standing for a handle's descriptors.
#[derive(Debug)]
pub(crate) struct Pollable {
    epoll: OwnedFd,
}

/// What makes a watched descriptor ready.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ready {
    /// Something to read (or end of file, or a hang-up).
    Readable,
    /// Room to write (or the reader gone).
    Writable,
}

impl Pollable {
    /// An epoll instance watching nothing yet.
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self { epoll: epoll::create(epoll::CreateFlags::CLOEXEC)? })
    }

    /// An epoll instance watching `fd` for `ready`.
    pub(crate) fn watching(fd: BorrowedFd<'_>, ready: Ready) -> io::Result<Self> {
        let pollable = Self::new()?;
        pollable.watch(fd, ready)?;
        Ok(pollable)
    }

    /// Adds `fd`. Closing it (its last descriptor) removes it again.
    pub(crate) fn watch(&self, fd: BorrowedFd<'_>, ready: Ready) -> io::Result<()> {
        let flags = match ready {
            Ready::Readable => epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
            Ready::Writable => epoll::EventFlags::OUT,
        };
        match epoll::add(&self.epoll, fd, epoll::EventData::new_u64(0), flags) {
            Err(rustix::io::Errno::EXIST) => Ok(()),
            other => Ok(other?),
        }
    }

    /// The epoll instance's fd, readable while a watched descriptor is ready.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
