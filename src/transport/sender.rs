//! The transport under a `Sender`: shared memory, a Unix socket or a FIFO, dispatched by
//! a private enum (as crossbeam's channel flavours are), and where a loan's bytes live.

use std::slice;

use crate::{
    error::AttachError,
    signal::{wait::Wait, WaitPolicy},
    transport::{
        fifo::FifoSender,
        shm::ShmSender,
        shm_bytes::BytesSender,
        stop::Stop,
        unix::{self, UnixSender},
    },
};

/// The transport under a sender.
#[derive(Debug)]
pub(crate) enum SendVia {
    Shm(ShmSender),
    /// A ring sized in bytes.
    ShmBytes(BytesSender),
    Unix(UnixSender),
    Fifo(FifoSender),
}

/// Where a loan's bytes live.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoanSlot {
    /// A slot of the shared ring, at this position.
    Ring(u64),
    /// A record of a byte ring, at this position, of this many payload bytes.
    Record { pos: u64, size: usize },
    /// The stream sender's loan buffer, written out by `commit` within the loan's wait.
    Buffer(Wait),
}

impl SendVia {
    /// Another sender on the same channel: MPMC shared memory, or another connection to
    /// a Unix socket.
    pub(crate) fn try_clone(&self) -> Result<Self, AttachError> {
        match self {
            Self::Shm(s) => Ok(Self::Shm(s.try_clone()?)),
            Self::ShmBytes(s) => Ok(Self::ShmBytes(s.try_clone()?)),
            Self::Unix(s) => Ok(Self::Unix(unix::open_sender(s.path(), s.owners())?)),
            Self::Fifo(_) => {
                Err(AttachError::Unsupported { endpoint: String::from("fifo:"), what: "a second sender on one FIFO" })
            }
        }
    }

    /// Whether this is a socket or a pipe, whose receiver's slot size is its whole
    /// geometry.
    pub(crate) fn is_stream(&self) -> bool {
        !matches!(self, Self::Shm(_) | Self::ShmBytes(_))
    }

    /// The handle's pollable fd (see `Sender`'s `AsFd`).
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Self::Shm(s) => s.fd(),
            Self::ShmBytes(s) => s.fd(),
            Self::Unix(s) => s.fd(),
            Self::Fifo(s) => s.fd(),
        }
    }

    /// Whether a send would find room now without the fd being readable (a ring's room;
    /// a stream's fd says it all): arms a ring's doorbell first.
    pub(crate) fn ready_now(&self) -> bool {
        match self {
            Self::Shm(s) => s.ready_now(),
            Self::ShmBytes(s) => s.ready_now(),
            Self::Unix(_) | Self::Fifo(_) => false,
        }
    }

    /// Drains and re-arms a ring's doorbell, then looks for room; a stream looks at its
    /// socket or pipe without waiting.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        match self {
            Self::Shm(s) => s.prepare_wait(),
            Self::ShmBytes(s) => s.prepare_wait(),
            Self::Unix(s) => s.writable_now(),
            Self::Fifo(s) => s.writable_now(),
        }
    }

    /// The largest message in bytes.
    pub(crate) fn slot_size(&self) -> usize {
        match self {
            Self::Shm(s) => s.slot_size(),
            Self::ShmBytes(s) => s.max_message(),
            Self::Unix(s) => s.slot_size(),
            Self::Fifo(s) => s.slot_size(),
        }
    }

    /// How many messages a shared-memory ring of slots holds; 0 on a ring sized in
    /// bytes, on sockets and pipes.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Self::Shm(s) => s.capacity(),
            Self::ShmBytes(_) | Self::Unix(_) | Self::Fifo(_) => 0,
        }
    }

    /// The bytes of a ring sized in bytes; 0 elsewhere.
    pub(crate) fn capacity_bytes(&self) -> usize {
        match self {
            Self::ShmBytes(s) => s.capacity_bytes(),
            Self::Shm(_) | Self::Unix(_) | Self::Fifo(_) => 0,
        }
    }

    /// Messages published and not yet received (shared memory; 0 on streams, whose
    /// kernel buffers do not say).
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Shm(s) => s.len(),
            Self::ShmBytes(_) | Self::Unix(_) | Self::Fifo(_) => 0,
        }
    }

    /// Whether every receiver has gone: read from shared memory, or one `poll` of the
    /// stream.
    pub(crate) fn peer_gone(&self) -> bool {
        match self {
            Self::Shm(s) => s.peer_gone(),
            Self::ShmBytes(s) => s.peer_gone(),
            Self::Unix(s) => s.receiver_gone(),
            Self::Fifo(s) => s.receiver_gone(),
        }
    }

    /// Sets how blocked calls spin, yield and park (shared memory; the stream
    /// transports sleep in `poll`).
    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        match self {
            Self::Shm(s) => s.set_wait_policy(policy),
            Self::ShmBytes(s) => s.set_wait_policy(policy),
            Self::Unix(_) | Self::Fifo(_) => {}
        }
    }

    /// Messages published and not yet released (shared memory; 0 on streams).
    pub(crate) fn in_flight(&mut self) -> Result<usize, Stop> {
        match self {
            Self::Shm(s) => s.in_flight(),
            Self::ShmBytes(s) => s.in_flight(),
            Self::Unix(_) | Self::Fifo(_) => Ok(0),
        }
    }

    /// Lends a free slot (a ring's) or the loan buffer (a stream's), waiting as `wait`
    /// allows; on a ring sized in bytes, room for the largest message.
    pub(crate) fn loan(&mut self, wait: Wait) -> Result<LoanSlot, Stop> {
        let max = self.slot_size();
        self.loan_n(max, wait)
    }

    /// Lends room for `n` bytes (at most the largest message): a record of exactly `n`
    /// bytes on a ring sized in bytes, else a whole slot or the loan buffer.
    #[inline]
    pub(crate) fn loan_n(&mut self, n: usize, wait: Wait) -> Result<LoanSlot, Stop> {
        match self {
            Self::ShmBytes(s) => s.loan(n, wait).map(|pos| LoanSlot::Record { pos, size: n }),
            Self::Shm(s) => s.loan(wait).map(LoanSlot::Ring),
            Self::Unix(s) => s.loan(wait).map(|()| LoanSlot::Buffer(wait)),
            Self::Fifo(s) => s.loan(wait).map(|()| LoanSlot::Buffer(wait)),
        }
    }

    /// The loaned bytes: the slot's whole payload, `slot_size` bytes.
    #[inline]
    pub(crate) fn loaned(&self, slot: LoanSlot) -> &[u8] {
        match (self, slot) {
            // SAFETY: the ring slot at `pos` is free (the consumer released it) and not
            // yet published, so only its loan touches its `slot_size` payload bytes.
            (Self::Shm(s), LoanSlot::Ring(pos)) => unsafe { slice::from_raw_parts(s.payload(pos), s.slot_size()) },
            // SAFETY: the record at `pos` was claimed for `size` payload bytes, contiguous
            // inside the region, and is not yet published: only its loan touches them.
            (Self::ShmBytes(s), LoanSlot::Record { pos, size }) => unsafe {
                slice::from_raw_parts(s.payload(pos), size)
            },
            (Self::Unix(s), LoanSlot::Buffer(_)) => s.loaned(),
            (Self::Fifo(s), LoanSlot::Buffer(_)) => s.loaned(),
            _ => unreachable!("a loan's slot matches its sender's transport"),
        }
    }

    /// The loaned bytes, for writing.
    #[inline]
    pub(crate) fn loaned_mut(&mut self, slot: LoanSlot) -> &mut [u8] {
        match (self, slot) {
            // SAFETY: as in `loaned`; `&mut self` makes the access unique in this process.
            (Self::Shm(s), LoanSlot::Ring(pos)) => unsafe { slice::from_raw_parts_mut(s.payload(pos), s.slot_size()) },
            // SAFETY: as in `loaned`; `&mut self` makes the access unique in this process.
            (Self::ShmBytes(s), LoanSlot::Record { pos, size }) => unsafe {
                slice::from_raw_parts_mut(s.payload(pos), size)
            },
            (Self::Unix(s), LoanSlot::Buffer(_)) => s.loaned_mut(),
            (Self::Fifo(s), LoanSlot::Buffer(_)) => s.loaned_mut(),
            _ => unreachable!("a loan's slot matches its sender's transport"),
        }
    }

    /// Sends the first `len` bytes of the loan: on a ring, published now or (without
    /// `publish`) at the next `publish`; on a stream, written out now, an error being
    /// reported by the next call.
    #[inline]
    pub(crate) fn commit(&mut self, slot: LoanSlot, len: usize, publish: bool) {
        match (self, slot) {
            (Self::Shm(s), LoanSlot::Ring(pos)) => s.commit(pos, len, publish),
            (Self::ShmBytes(s), LoanSlot::Record { pos, .. }) => s.commit(pos, len, publish),
            (Self::Unix(s), LoanSlot::Buffer(wait)) => s.commit(len, wait),
            (Self::Fifo(s), LoanSlot::Buffer(wait)) => s.commit(len, wait),
            _ => unreachable!("a loan's slot matches its sender's transport"),
        }
    }

    /// Gives an uncommitted loan back (an MPMC ring's slot or record is published as
    /// cancelled; an SPSC one was never staged, so there is nothing to undo).
    pub(crate) fn cancel(&mut self, slot: LoanSlot) {
        match (self, slot) {
            (Self::Shm(s), LoanSlot::Ring(pos)) => s.cancel(pos),
            (Self::ShmBytes(s), LoanSlot::Record { pos, .. }) => s.cancel(pos),
            _ => {}
        }
    }

    /// Copies `message` (no longer than a slot) into the channel, waiting as `wait`
    /// allows; a stream takes it straight, without the loan buffer.
    #[inline]
    pub(crate) fn send(&mut self, message: &[u8], wait: Wait) -> Result<(), Stop> {
        match self {
            Self::Shm(s) => s.send(message, wait, true),
            Self::ShmBytes(s) => s.send(message, wait, true),
            Self::Unix(s) => s.send(message, wait),
            Self::Fifo(s) => s.send(message, wait),
        }
    }

    /// Copies `message` (no longer than a slot) into the channel without waiting, as
    /// part of a batch: staged on a ring, gathered on a stream, for the batch's `publish`.
    pub(crate) fn send_batched(&mut self, message: &[u8]) -> Result<(), Stop> {
        match self {
            Self::Shm(s) => s.send(message, Wait::Never, false),
            Self::ShmBytes(s) => s.send(message, Wait::Never, false),
            Self::Unix(s) => s.send_batched(message),
            Self::Fifo(s) => s.send_batched(message),
        }
    }

    /// Publishes what is staged on an SPSC ring, writes what a stream gathered.
    pub(crate) fn publish(&mut self) {
        match self {
            Self::Shm(s) => s.publish(),
            Self::ShmBytes(s) => s.publish(),
            Self::Unix(s) => s.publish(),
            Self::Fifo(s) => s.publish(),
        }
    }
}
