//! The shared-memory transport of a channel sized in bytes: a byte ring
//! (`ring/bytes.rs`) in a named segment (or in heap memory), with zero-copy loans of
//! any size up to the maximum message and in-place reads.
//!
//! The ends attach, detach and wait as the slot ring's ends do (`shm.rs`): on SPSC one
//! role word per side, taken over from a dead holder; on MPMC (`ring/bytes_mpmc.rs`) a
//! seat per handle, whose claim word recovery reads; the same wait loop and wake-ups,
//! and the same fd doorbell (`signal::doorbell`), rung from the same two places (a
//! publish, a release).

use std::os::fd::BorrowedFd;

use crate::{
    error::AttachError,
    liveness::{self, Peer, Role},
    ring::{
        bytes::{ByteRing, BytesConsumer, BytesProducer},
        bytes_mpmc, Unavailable,
    },
    segment::Shared,
    signal::{wait::Wait, Signal, WaitPolicy},
    sync::{self, Ordering::Relaxed},
    transport::{
        shm::{accepted, gone_after_drain, refuse_broadcast, unavailable, wait_on, Bell, Side},
        stop::Stop,
    },
};

/// One end of a byte ring: `BytesSender` or `BytesReceiver`, told apart by their state.
pub(crate) struct BytesEnd<S: BytesSide> {
    ring: ByteRing,
    side: Side<S>,
    policy: WaitPolicy,
    bell: Bell,
    segment: Shared,
}

/// The sending side of a byte ring.
pub(crate) type BytesSender = BytesEnd<BytesProducer>;
/// The receiving side of a byte ring.
pub(crate) type BytesReceiver = BytesEnd<BytesConsumer>;

/// What differs between the two ends, as far as attaching and detaching go.
pub(crate) trait BytesSide: Sized + std::fmt::Debug {
    /// The role the end takes.
    const ROLE: Role;
    /// The role of the other side.
    const PEER: Role;
    /// Takes over this SPSC side where its last holder left it.
    fn attach(ring: &ByteRing) -> Result<Self, Unavailable>;
    /// Hands the other side what this end holds back (SPSC), before it detaches.
    fn flush(end: &mut BytesEnd<Self>);
    /// The signal the other side parks on, woken when this end leaves.
    fn peers_signal(ring: &ByteRing) -> &Signal;
    /// The signal this side parks (and arms its doorbell) on.
    fn own_signal(ring: &ByteRing) -> &Signal;
}

impl BytesSide for BytesProducer {
    const ROLE: Role = Role::Sender;
    const PEER: Role = Role::Receiver;

    fn attach(ring: &ByteRing) -> Result<Self, Unavailable> {
        BytesProducer::attach(ring)
    }

    fn flush(end: &mut BytesSender) {
        end.publish();
    }

    fn peers_signal(ring: &ByteRing) -> &Signal {
        &ring.control().not_empty
    }

    fn own_signal(ring: &ByteRing) -> &Signal {
        &ring.control().not_full
    }
}

impl BytesSide for BytesConsumer {
    const ROLE: Role = Role::Receiver;
    const PEER: Role = Role::Sender;

    fn attach(ring: &ByteRing) -> Result<Self, Unavailable> {
        BytesConsumer::attach(ring)
    }

    fn flush(end: &mut BytesReceiver) {
        end.release();
    }

    fn peers_signal(ring: &ByteRing) -> &Signal {
        &ring.control().not_full
    }

    fn own_signal(ring: &ByteRing) -> &Signal {
        &ring.control().not_empty
    }
}

// SAFETY: the ring view points into `segment`, which the end keeps alive and which is
// `Send`; the rest is plain data.
unsafe impl<S: BytesSide + Send> Send for BytesEnd<S> {}

impl<S: BytesSide> std::fmt::Debug for BytesEnd<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BytesEnd")
            .field("name", &self.segment.name())
            .field("role", &S::ROLE)
            .field("side", &self.side)
            .finish()
    }
}

impl<S: BytesSide> BytesEnd<S> {
    /// Attaches to `segment`, whose kind is sized in bytes, as a sender or a receiver
    /// (on SPSC taking over where the last holder of the role left), with the doorbell
    /// `bell`.
    pub(crate) fn attach(segment: Shared, bell: Bell) -> Result<Self, AttachError> {
        refuse_broadcast(&segment)?;
        let ring = segment.byte_ring();
        let side = match liveness::attach(&segment, S::ROLE)? {
            Some(seat) => Side::Mpmc { seat },
            None => Side::Spsc(S::attach(&ring).map_err(|_| {
                liveness::detach(&segment, S::ROLE, None);
                AttachError::CorruptHeader {
                    name: segment.name().to_owned(),
                    reason: "the ring's positions are inconsistent",
                }
            })?),
        };
        Ok(Self { ring, side, policy: WaitPolicy::default(), bell, segment })
    }

    /// Another handle of the same side (MPMC; on SPSC the role is taken).
    pub(crate) fn try_clone(&self) -> Result<Self, AttachError> {
        Self::attach(self.segment.clone(), self.bell.try_clone()?)
    }

    /// The doorbell's pollable fd, as for the slot ring (`ShmEnd::fd`): asking for it
    /// arms the doorbell; from then on a `try_` call that finds nothing re-arms it.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.bell.fd(S::own_signal(&self.ring))
    }

    /// After a `try_` call found nothing: drains and re-arms the doorbell if this end
    /// sleeps on its fd, then makes the caller's re-check (`attempt`), as
    /// `ShmEnd::rearm_and_retry` does.
    fn rearm_and_retry<R>(&mut self, mut attempt: impl FnMut(&mut Self) -> Result<R, Stop>) -> Result<R, Stop> {
        let Some(drained) = self.bell.rearm(S::own_signal(&self.ring)) else {
            return Err(Stop::WouldBlock);
        };
        let gone = gone_after_drain(&self.segment, S::PEER, drained);
        match attempt(self) {
            Err(Stop::WouldBlock) if gone => Err(Stop::Gone),
            other => other,
        }
    }

    /// The largest message.
    pub(crate) fn max_message(&self) -> usize {
        self.ring.max_message()
    }

    /// Bytes in the ring.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.ring.capacity() as usize
    }

    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.policy = policy;
    }

    /// Bytes published (MPMC: claimed) and not yet taken by a receiver, records, headers
    /// and padding, clamped to the capacity (a snapshot).
    pub(crate) fn unread_bytes(&self) -> usize {
        if matches!(self.side, Side::Mpmc { .. }) {
            return bytes_mpmc::unread(&self.ring) as usize;
        }
        let control = self.ring.control();
        // SYNC: Relaxed; a snapshot for information, nothing is read through it.
        let (tail, head) = (control.tail.load(Relaxed), control.head.load(Relaxed));
        tail.saturating_sub(head).min(self.ring.capacity()) as usize
    }

    /// Whether every handle of the other side has gone. No system call.
    pub(crate) fn peer_gone(&self) -> bool {
        match self.side {
            Side::Spsc(_) => liveness::peer(&self.segment, S::PEER, false) == Peer::Gone,
            Side::Mpmc { .. } => liveness::all_gone(&self.segment, S::PEER),
        }
    }

    /// Retries `attempt` as `wait` allows, parked on `signal`, until the peer has gone.
    fn wait<R>(
        &mut self,
        signal: impl Fn(&ByteRing) -> &Signal,
        wait: Wait,
        mut attempt: impl FnMut(&ByteRing, &mut Side<S>, &Shared) -> Result<R, Unavailable>,
    ) -> Result<R, Stop> {
        let (ring, side, segment) = (&self.ring, &mut self.side, &self.segment);
        wait_on(segment, S::PEER, signal(ring), self.policy, wait, || attempt(ring, side, segment))
    }

    /// Wakes a parked peer on `signal`, and rings its doorbell if one is armed.
    fn notify(&self, signal: &Signal) {
        self.bell.ring(signal.notify(self.segment.geometry().signaling));
    }
}

impl<S: BytesSide> Drop for BytesEnd<S> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.segment.is_forked_copy() {
            return;
        }
        if let Side::Spsc(_) = self.side {
            S::flush(self);
        }
        self.bell.disarm(S::own_signal(&self.ring));
        liveness::detach(&self.segment, S::ROLE, self.side.seat());
        // The other side, parked, re-checks and finds this one gone.
        S::peers_signal(&self.ring).wake(self.segment.geometry().signaling);
    }
}

impl BytesSender {
    /// Arms the doorbell if it is not, then looks whether a message of the maximum size
    /// would find room (or the receiver has gone): whether a caller may skip sleeping on
    /// the fd. The maximum, not any size: a smaller message may fit sooner, but a sender
    /// told "room" must not find the ring full again and again.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        let room = match &self.side {
            Side::Spsc(state) => state.has_room(&self.ring, self.max_message()),
            Side::Mpmc { .. } => bytes_mpmc::has_room(&self.ring, self.max_message()),
        };
        room || self.peer_gone()
    }

    /// Drains and re-arms the doorbell, then looks for room for the largest message (or
    /// a departed receiver), as `ShmSender::prepare_wait` does.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        if self.ready_now() {
            return true;
        }
        // `ready_now` armed the doorbell: this drains and re-arms it.
        let drained = self.bell.rearm(BytesProducer::own_signal(&self.ring));
        let gone = drained.is_some_and(|drained| gone_after_drain(&self.segment, Role::Receiver, drained));
        gone || self.ready_now()
    }

    /// Bytes published and not yet released by the receiver (MPMC: claimed and not yet
    /// free for senders, a snapshot).
    pub(crate) fn in_flight(&mut self) -> Result<usize, Stop> {
        match &mut self.side {
            Side::Spsc(state) => state.in_flight(&self.ring).map(|n| n as usize).map_err(unavailable),
            Side::Mpmc { .. } => Ok(bytes_mpmc::used(&self.ring) as usize),
        }
    }

    /// Claims room for a message of `n` bytes (at most the maximum), waiting as `wait`
    /// allows; returns the position of its record.
    pub(crate) fn loan(&mut self, n: usize, wait: Wait) -> Result<u64, Stop> {
        debug_assert!(n <= self.max_message());
        if self.peer_gone() {
            return Err(Stop::Gone);
        }
        let claim = |ring: &ByteRing, side: &mut Side<BytesProducer>, segment: &Shared| match side {
            Side::Spsc(state) => state.claim(ring, n),
            Side::Mpmc { seat } => bytes_mpmc::claim(ring, n, liveness::claim(segment, *seat)),
        };
        match self.wait(|ring| &ring.control().not_full, wait, claim) {
            Err(Stop::WouldBlock) => {
                self.rearm_and_retry(|end| end.wait(|ring| &ring.control().not_full, Wait::Never, claim))
            }
            other => other,
        }
    }

    /// The payload of the record at `pos`, for the holder of its loan.
    pub(crate) fn payload(&self, pos: u64) -> *mut u8 {
        self.ring.payload(pos)
    }

    /// Copies `message` (at most the maximum) into the ring, waiting as `wait` allows,
    /// and commits it.
    pub(crate) fn send(&mut self, message: &[u8], wait: Wait, publish: bool) -> Result<(), Stop> {
        let pos = self.loan(message.len(), wait)?;
        // SAFETY: the record at `pos` is ours until committed, and `claim` found room for
        // `message.len()` payload bytes, contiguous, inside the region.
        unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), self.payload(pos), message.len()) };
        self.commit(pos, message.len(), publish);
        Ok(())
    }

    /// Hands the loaned record at `pos` to the ring with `len` bytes (at most the loaned
    /// size); on SPSC published now or at the next `publish`, on MPMC now.
    pub(crate) fn commit(&mut self, pos: u64, len: usize, publish: bool) {
        match &mut self.side {
            Side::Spsc(state) => {
                state.stage(&self.ring, pos, len);
                if publish {
                    self.publish();
                }
            }
            Side::Mpmc { seat } => {
                bytes_mpmc::publish(&self.ring, pos, Some(len), liveness::claim(&self.segment, *seat));
                self.notify(&self.ring.control().not_empty);
            }
        }
    }

    /// Gives the loaned record at `pos` back unused. An SPSC record was never staged;
    /// an MPMC one is claimed for good, so it is published as abandoned and receivers
    /// step over it.
    pub(crate) fn cancel(&mut self, pos: u64) {
        if let Side::Mpmc { seat } = self.side {
            bytes_mpmc::publish(&self.ring, pos, None, liveness::claim(&self.segment, seat));
            self.notify(&self.ring.control().not_empty);
        }
    }

    /// Publishes what is staged (SPSC) and wakes a parked receiver if there is one.
    pub(crate) fn publish(&mut self) {
        if let Side::Spsc(state) = &mut self.side {
            if state.publish(&self.ring) {
                self.notify(&self.ring.control().not_empty);
            }
        }
    }
}

impl BytesReceiver {
    /// Arms the doorbell if it is not, then looks whether a receive would find something
    /// (a record, or the sender gone): whether a caller may skip sleeping on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        let message = match &self.side {
            Side::Spsc(state) => state.has_message(&self.ring),
            Side::Mpmc { .. } => bytes_mpmc::has_message(&self.ring),
        };
        message || self.peer_gone()
    }

    /// Takes the next message whose length `accept`s, waiting as `wait` allows; a
    /// refused one stays in the ring. Returns its position and length.
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<(u64, usize), Stop> {
        match self.take(wait, &accept) {
            // Only on an empty ring: look at the sender, then once more at the ring (it
            // published everything before it left).
            Err(Stop::WouldBlock) if self.peer_gone() => match self.take(Wait::Never, &accept) {
                Err(Stop::WouldBlock) => Err(Stop::Gone),
                other => other,
            },
            Err(Stop::WouldBlock) => self.rearm_and_retry(|end| end.take(Wait::Never, &accept)),
            other => other,
        }
    }

    fn take(&mut self, wait: Wait, accept: &impl Fn(usize) -> bool) -> Result<(u64, usize), Stop> {
        let (ring, side, segment, bell) = (&self.ring, &mut self.side, &self.segment, &self.bell);
        wait_on(segment, Role::Sender, &ring.control().not_empty, self.policy, wait, || match side {
            Side::Spsc(state) => accepted(state.next_message(ring), accept),
            Side::Mpmc { seat } => {
                let freed = || bell.ring(ring.control().not_full.notify(segment.geometry().signaling));
                bytes_mpmc::claim_message(ring, liveness::claim(segment, *seat), accept, freed)
            }
        })
    }

    /// Copies the next message into `buf` if it fits (else it stays, `Refused`) and
    /// frees its record. Returns its length.
    pub(crate) fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, Stop> {
        let room = buf.len();
        let (pos, len) = self.recv(wait, |len| len <= room)?;
        // SAFETY: the record at `pos` is ours until released below; its extent was
        // checked against the region, and `accept` checked `len` against `buf`.
        unsafe { std::ptr::copy_nonoverlapping(self.payload(pos), buf.as_mut_ptr(), len) };
        self.done(pos, len, true);
        Ok(len)
    }

    /// The payload of the message at `pos`, for the holder of its guard.
    pub(crate) fn payload(&self, pos: u64) -> *const u8 {
        self.ring.payload(pos)
    }

    /// Whether a received message can be left in the ring for the next receive (not on
    /// MPMC, where it was handed to this receiver alone).
    pub(crate) fn can_keep(&self) -> bool {
        matches!(self.side, Side::Spsc(_))
    }

    /// Frees the record at `pos` of the message of `len` bytes last returned by `recv`;
    /// on SPSC handed back to the sender now or at the next `release`, on MPMC now.
    pub(crate) fn done(&mut self, pos: u64, len: usize, release: bool) {
        match &mut self.side {
            Side::Spsc(state) => {
                state.advance(len);
                if release {
                    self.release();
                }
            }
            Side::Mpmc { seat } => {
                bytes_mpmc::release(&self.ring, pos, liveness::claim(&self.segment, *seat));
                self.notify(&self.ring.control().not_full);
            }
        }
    }

    /// Hands the records read so far back (SPSC) and wakes a parked sender if there is one.
    pub(crate) fn release(&mut self) {
        if let Side::Spsc(state) = &mut self.side {
            if state.release(&self.ring) {
                self.notify(&self.ring.control().not_full);
            }
        }
    }
}
