//! The shared-memory transport of a channel sized in bytes: a byte ring
//! (`ring/bytes.rs`) in a named segment (or in heap memory), with zero-copy loans of
//! any size up to the maximum message and in-place reads.
//!
//! The ends attach, detach and wait as the slot ring's ends do (`shm.rs`): one role
//! word per side, taken over from a dead holder, the same wait loop and wake-ups, and
//! the same fd doorbell (`signal::doorbell`), rung from the same two places (a publish,
//! a release).

use std::os::fd::BorrowedFd;

use crate::{
    error::AttachError,
    liveness::{self, Peer, Role},
    ring::{
        bytes::{ByteRing, BytesConsumer, BytesProducer},
        Unavailable,
    },
    segment::Shared,
    signal::{wait::Wait, Signal, WaitPolicy},
    sync::{self, Ordering::Relaxed},
    transport::{
        shm::{gone_after_drain, unavailable, wait_on, Bell},
        stop::Stop,
    },
};

/// One end of a byte ring: `BytesSender` or `BytesReceiver`, told apart by their state.
pub(crate) struct BytesEnd<S: BytesSide> {
    ring: ByteRing,
    state: S,
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
    /// Takes over this side where its last holder left it.
    fn attach(ring: &ByteRing) -> Result<Self, Unavailable>;
    /// Hands the other side what this end holds back, before it detaches.
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
            .field("state", &self.state)
            .finish()
    }
}

impl<S: BytesSide> BytesEnd<S> {
    /// Attaches to `segment`, whose kind is sized in bytes, as a sender or a receiver
    /// (taking over where the last holder of the role left), with the doorbell `bell`.
    pub(crate) fn attach(segment: Shared, bell: Bell) -> Result<Self, AttachError> {
        let ring = segment.byte_ring();
        liveness::attach(&segment, S::ROLE)?;
        let state = S::attach(&ring).map_err(|_| {
            liveness::detach(&segment, S::ROLE, None);
            AttachError::CorruptHeader {
                name: segment.name().to_owned(),
                reason: "the ring's positions are inconsistent",
            }
        })?;
        Ok(Self { ring, state, policy: WaitPolicy::default(), bell, segment })
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

    /// Bytes published and not yet released (records, headers and padding), clamped
    /// to the capacity (a snapshot).
    pub(crate) fn used_bytes(&self) -> usize {
        let control = self.ring.control();
        // SYNC: Relaxed; a snapshot for information, nothing is read through it.
        let (tail, head) = (control.tail.load(Relaxed), control.head.load(Relaxed));
        tail.saturating_sub(head).min(self.ring.capacity()) as usize
    }

    /// Whether every handle of the other side has gone. No system call.
    pub(crate) fn peer_gone(&self) -> bool {
        liveness::peer(&self.segment, S::PEER, false) == Peer::Gone
    }

    /// Retries `attempt` as `wait` allows, parked on `signal`, until the peer has gone.
    fn wait<R>(
        &mut self,
        signal: impl Fn(&ByteRing) -> &Signal,
        wait: Wait,
        mut attempt: impl FnMut(&ByteRing, &mut S) -> Result<R, Unavailable>,
    ) -> Result<R, Stop> {
        let (ring, state) = (self.ring, &mut self.state);
        wait_on(&self.segment, S::PEER, signal(&ring), self.policy, wait, || attempt(&ring, state))
    }

    /// Wakes a parked peer on `signal`, and rings its doorbell if one is armed.
    fn notify(&self, signal: &Signal) {
        self.bell.ring(signal.notify(self.segment.geometry().signaling));
    }
}

impl<S: BytesSide> Drop for BytesEnd<S> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        S::flush(self);
        self.bell.disarm(S::own_signal(&self.ring));
        liveness::detach(&self.segment, S::ROLE, None);
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
        self.state.has_room(&self.ring, self.max_message()) || self.peer_gone()
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

    /// Bytes published and not yet released by the receiver.
    pub(crate) fn in_flight(&mut self) -> Result<usize, Stop> {
        self.state.in_flight(&self.ring).map(|n| n as usize).map_err(unavailable)
    }

    /// Claims room for a message of `n` bytes (at most the maximum), waiting as `wait`
    /// allows; returns the position of its record.
    pub(crate) fn loan(&mut self, n: usize, wait: Wait) -> Result<u64, Stop> {
        debug_assert!(n <= self.max_message());
        if self.peer_gone() {
            return Err(Stop::Gone);
        }
        match self.wait(|ring| &ring.control().not_full, wait, |ring, state| state.claim(ring, n)) {
            Err(Stop::WouldBlock) => self.rearm_and_retry(|end| {
                end.wait(|ring| &ring.control().not_full, Wait::Never, |ring, state| state.claim(ring, n))
            }),
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
    /// size); published now or at the next `publish`.
    pub(crate) fn commit(&mut self, pos: u64, len: usize, publish: bool) {
        self.state.stage(&self.ring, pos, len);
        if publish {
            self.publish();
        }
    }

    /// Publishes what is staged and wakes a parked receiver if there is one.
    pub(crate) fn publish(&mut self) {
        if self.state.publish(&self.ring) {
            self.notify(&self.ring.control().not_empty);
        }
    }
}

impl BytesReceiver {
    /// Arms the doorbell if it is not, then looks whether a receive would find something
    /// (a record, or the sender gone): whether a caller may skip sleeping on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        self.state.has_message(&self.ring) || self.peer_gone()
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
        self.wait(
            |ring| &ring.control().not_empty,
            wait,
            |ring, state| {
                state.next_message(ring).and_then(|(pos, len)| {
                    if accept(len) {
                        Ok((pos, len))
                    } else {
                        Err(Unavailable::Refused(len))
                    }
                })
            },
        )
    }

    /// Copies the next message into `buf` if it fits (else it stays, `Refused`) and
    /// frees its record. Returns its length.
    pub(crate) fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, Stop> {
        let room = buf.len();
        let (pos, len) = self.recv(wait, |len| len <= room)?;
        // SAFETY: the record at `pos` is ours until released below; its extent was
        // checked against the region, and `accept` checked `len` against `buf`.
        unsafe { std::ptr::copy_nonoverlapping(self.payload(pos), buf.as_mut_ptr(), len) };
        self.done(len, true);
        Ok(len)
    }

    /// The payload of the message at `pos`, for the holder of its guard.
    pub(crate) fn payload(&self, pos: u64) -> *const u8 {
        self.ring.payload(pos)
    }

    /// Frees the record of the message of `len` bytes last returned by `recv`; handed
    /// back to the sender now or at the next `release`.
    pub(crate) fn done(&mut self, len: usize, release: bool) {
        self.state.advance(len);
        if release {
            self.release();
        }
    }

    /// Hands the records read so far back and wakes a parked sender if there is one.
    pub(crate) fn release(&mut self) {
        if self.state.release(&self.ring) {
            self.notify(&self.ring.control().not_full);
        }
    }
}
