//! The transport under a `Receiver`: shared memory, a Unix socket or a FIFO, dispatched
//! by a private enum, and where a received message lives.

use std::slice;

use crate::{
    error::AttachError,
    signal::{wait::Wait, WaitPolicy},
    transport::{fifo::FifoReceiver, shm::ShmReceiver, shm_bytes::BytesReceiver, stop::Stop, unix::UnixReceiver},
};

/// The transport under a receiver.
#[derive(Debug)]
pub(crate) enum RecvVia {
    Shm(ShmReceiver),
    /// A ring sized in bytes.
    ShmBytes(BytesReceiver),
    Unix(UnixReceiver),
    Fifo(FifoReceiver),
}

/// Where a received message lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GuardSlot {
    /// A slot of the shared ring, at this position.
    Ring(u64),
    /// A record of a byte ring, at this position.
    Record(u64),
    /// The frame buffer of this connected sender.
    Socket(usize),
    /// The FIFO's frame buffer.
    Pipe,
}

impl RecvVia {
    /// Another receiver on the same channel (MPMC shared memory only).
    pub(crate) fn try_clone(&self) -> Result<Self, AttachError> {
        match self {
            Self::Shm(r) => Ok(Self::Shm(r.try_clone()?)),
            Self::Unix(_) | Self::Fifo(_) => Err(AttachError::Unsupported {
                endpoint: String::from("unix: or fifo:"),
                what: "a second receiver on a socket or pipe",
            }),
            Self::ShmBytes(r) => Ok(Self::ShmBytes(r.try_clone()?)),
        }
    }

    /// The handle's pollable fd (see `Receiver`'s `AsFd`).
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Self::Shm(r) => r.fd(),
            Self::ShmBytes(r) => r.fd(),
            Self::Unix(r) => r.fd(),
            Self::Fifo(r) => r.fd(),
        }
    }

    /// Whether a receive would find something now without the fd being readable (a
    /// message in a ring, or buffered from a stream): arms a ring's doorbell first.
    pub(crate) fn ready_now(&self) -> bool {
        match self {
            Self::Shm(r) => r.ready_now(),
            Self::ShmBytes(r) => r.ready_now(),
            Self::Unix(r) => r.has_buffered(),
            Self::Fifo(r) => r.has_buffered(),
        }
    }

    /// The largest message in bytes.
    pub(crate) fn slot_size(&self) -> usize {
        match self {
            Self::Shm(r) => r.slot_size(),
            Self::ShmBytes(r) => r.max_message(),
            Self::Unix(r) => r.slot_size(),
            Self::Fifo(r) => r.slot_size(),
        }
    }

    /// How many messages a shared-memory ring of slots holds; 0 on a ring sized in
    /// bytes, on sockets and pipes.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Self::Shm(r) => r.capacity(),
            Self::ShmBytes(_) | Self::Unix(_) | Self::Fifo(_) => 0,
        }
    }

    /// The bytes of a ring sized in bytes; 0 elsewhere.
    pub(crate) fn capacity_bytes(&self) -> usize {
        match self {
            Self::ShmBytes(r) => r.capacity_bytes(),
            Self::Shm(_) | Self::Unix(_) | Self::Fifo(_) => 0,
        }
    }

    /// Messages published and not yet received (shared memory; 0 on streams, whose
    /// kernel buffers do not say).
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Shm(r) => r.len(),
            Self::ShmBytes(_) | Self::Unix(_) | Self::Fifo(_) => 0,
        }
    }

    /// Whether every sender has gone (messages may remain), without taking a message.
    pub(crate) fn peer_gone(&mut self) -> bool {
        match self {
            Self::Shm(r) => r.peer_gone(),
            Self::ShmBytes(r) => r.peer_gone(),
            Self::Unix(r) => r.senders_gone(),
            Self::Fifo(r) => r.sender_gone(),
        }
    }

    /// Whether nothing more can be received: the senders have gone and the ring is
    /// empty (shared memory; false on streams, whose one receiver is never cloned).
    pub(crate) fn exhausted(&self) -> bool {
        match self {
            Self::Shm(r) => r.peer_gone() && r.len() == 0,
            Self::ShmBytes(r) => r.peer_gone() && r.unread_bytes() == 0,
            Self::Unix(_) | Self::Fifo(_) => false,
        }
    }

    /// Sets how blocked calls spin, yield and park (shared memory; the stream
    /// transports sleep in `poll`).
    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        match self {
            Self::Shm(r) => r.set_wait_policy(policy),
            Self::ShmBytes(r) => r.set_wait_policy(policy),
            Self::Unix(_) | Self::Fifo(_) => {}
        }
    }

    /// Takes the next message whose length `accept`s, waiting as `wait` allows (a
    /// refused one stays, `Refused`): where it is and its length.
    #[inline]
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<(GuardSlot, usize), Stop> {
        match self {
            Self::Shm(r) => r.recv(wait, accept).map(|(pos, len)| (GuardSlot::Ring(pos), len)),
            Self::ShmBytes(r) => r.recv(wait, accept).map(|(pos, len)| (GuardSlot::Record(pos), len)),
            Self::Unix(r) => r.recv(wait, accept).map(|(sender, len)| (GuardSlot::Socket(sender), len)),
            Self::Fifo(r) => r.recv(wait, accept).map(|len| (GuardSlot::Pipe, len)),
        }
    }

    /// Copies the next message into `buf` if it fits (else it stays, `Refused`), waiting
    /// as `wait` allows, and frees it. Returns its length.
    #[inline]
    pub(crate) fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, Stop> {
        match self {
            Self::Shm(r) => return r.recv_copy(wait, buf),
            Self::ShmBytes(r) => return r.recv_copy(wait, buf),
            Self::Unix(_) | Self::Fifo(_) => {}
        }
        let room = buf.len();
        let (slot, len) = self.recv(wait, |len| len <= room)?;
        buf[..len].copy_from_slice(self.message(slot, len));
        self.done(slot, len, true);
        Ok(len)
    }

    /// The `len` bytes of the message `recv` found at `slot`.
    #[inline]
    pub(crate) fn message(&self, slot: GuardSlot, len: usize) -> &[u8] {
        match (self, slot) {
            // SAFETY: the message at `pos` is published and not yet released, so no
            // sender writes it; `len` was checked against the slot size when claimed.
            (Self::Shm(r), GuardSlot::Ring(pos)) => unsafe { slice::from_raw_parts(r.payload(pos), len) },
            // SAFETY: the record at `pos` is published and not yet released, so the
            // sender does not write it; its extent was checked against the region.
            (Self::ShmBytes(r), GuardSlot::Record(pos)) => unsafe { slice::from_raw_parts(r.payload(pos), len) },
            (Self::Unix(r), GuardSlot::Socket(sender)) => r.frame(sender, len),
            (Self::Fifo(r), GuardSlot::Pipe) => r.frame(len),
            _ => unreachable!("a guard's slot matches its receiver's transport"),
        }
    }

    /// Whether the message at `slot` can be left in the channel for the next receive
    /// (not on an MPMC ring, where it was handed to this receiver alone).
    pub(crate) fn can_keep(&self, slot: GuardSlot) -> bool {
        match (self, slot) {
            (Self::Shm(r), GuardSlot::Ring(_)) => r.can_keep(),
            (Self::ShmBytes(r), GuardSlot::Record(_)) => r.can_keep(),
            _ => true,
        }
    }

    /// Frees the message at `slot`: on an SPSC ring, handed back to the sender now or
    /// (without `release`) at the next `release`.
    #[inline]
    pub(crate) fn done(&mut self, slot: GuardSlot, len: usize, release: bool) {
        match (self, slot) {
            (Self::Shm(r), GuardSlot::Ring(pos)) => r.done(pos, release),
            (Self::ShmBytes(r), GuardSlot::Record(pos)) => r.done(pos, len, release),
            (Self::Unix(r), GuardSlot::Socket(sender)) => r.consume(sender, len),
            (Self::Fifo(r), GuardSlot::Pipe) => r.consume(len),
            _ => unreachable!("a guard's slot matches its receiver's transport"),
        }
    }

    /// Hands the slots read so far back to the sender (SPSC ring; nothing elsewhere).
    pub(crate) fn release(&mut self) {
        match self {
            Self::Shm(r) => r.release(),
            Self::ShmBytes(r) => r.release(),
            Self::Unix(_) | Self::Fifo(_) => {}
        }
    }
}
