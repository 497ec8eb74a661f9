//! The shared-memory transport: a ring in a named segment (or in heap memory), with
//! zero-copy loans and in-place reads.
//!
//! # Disconnection
//!
//! Each role's word in the segment's header says when every handle of that role has
//! gone (`liveness::left`): the last one detached (dropped), or a liveness check found
//! it dead and recorded it there. The word is written only at attach and detach, so it
//! stays in every reader's cache; a sender reads it on every claim (a cache hit, no
//! system call, no shared write) and gives up with [`Stop::Gone`] before it writes. A
//! receiver reads it only when the ring is empty, then looks at the ring once more, so
//! it reports `Gone` only after every message the senders committed. Looking for dead
//! processes takes a system call per holder, so it is rationed: at most once per
//! `RECOVERY_INTERVAL` (20 ms) per segment and process, by a call that finds the ring
//! full (a sender) or empty (a receiver), or asks [`ShmEnd::peer_gone`]. A role never
//! attached is not gone: messages sent before the receiver opens wait in the ring.
//! A role attached again (an SPSC takeover, a new MPMC handle) is no longer gone.
//!
//! # MPMC and a send in progress
//!
//! Vyukov's positions are consumed in order. A `try_recv` that finds the next position
//! claimed by a copy send that has not published it yet waits for that write, for at
//! most [`BRIEF`] (spinning, then yielding), rather than reporting the ring empty while
//! later messages are ready: a message whose `send` returned is never reported empty to
//! a `try_recv` that starts after it (unless its writer stays preempted past the bound).
//! A position claimed by a loan is different: user code may hold a loan as long as it
//! likes, so the ring reports empty at once, and the messages behind it wait until the
//! loan is committed or dropped (head-of-line blocking). Blocking receives wait for both
//! as they wait for any message.

use std::sync::Arc;

use crate::{
    error::AttachError,
    liveness::{self, Peer, Role},
    ring::{
        mpmc,
        spsc::{Consumer, Producer},
        RingView, Unavailable,
    },
    segment::Segment,
    signal::{
        wait::{briefly, Blocked, Wait, Watch, BRIEF},
        Signal, WaitPolicy,
    },
    sync::{self, Mutation},
    transport::stop::Stop,
};

/// One end of a ring: `ShmSender` or `ShmReceiver`, told apart by their SPSC state `S`.
pub(crate) struct ShmEnd<S: EndState> {
    ring: RingView,
    side: Side<S>,
    policy: WaitPolicy,
    segment: Arc<Segment>,
}

/// The sending side of a ring.
pub(crate) type ShmSender = ShmEnd<Producer>;
/// The receiving side of a ring.
pub(crate) type ShmReceiver = ShmEnd<Consumer>;

/// A handle's ring-specific state: on SPSC the side's private state (`Producer` or
/// `Consumer`); on MPMC, which keeps all its state in shared memory, the handle's seat.
#[derive(Debug)]
enum Side<S> {
    Spsc(S),
    Mpmc { seat: usize },
}

impl<S> Side<S> {
    fn seat(&self) -> Option<usize> {
        match self {
            Self::Spsc(_) => None,
            Self::Mpmc { seat } => Some(*seat),
        }
    }
}

/// What differs between the two ends, as far as attaching and detaching go.
pub(crate) trait EndState: Sized + std::fmt::Debug {
    /// The role the end takes.
    const ROLE: Role;
    /// Takes over this SPSC side where its last holder left it.
    fn attach(ring: &RingView) -> Result<Self, Unavailable>;
    /// Hands the other side what this end holds back (SPSC), before it detaches.
    fn flush(end: &mut ShmEnd<Self>);
    /// The signal the other side parks on, woken when this end leaves.
    fn peers_signal(ring: &RingView) -> &Signal;
    /// Messages published and not yet taken, as this SPSC side sees them.
    fn len(&self, ring: &RingView) -> u64;
}

impl EndState for Producer {
    const ROLE: Role = Role::Sender;

    fn attach(ring: &RingView) -> Result<Self, Unavailable> {
        Producer::attach(ring)
    }

    fn flush(end: &mut ShmSender) {
        end.publish();
    }

    fn peers_signal(ring: &RingView) -> &Signal {
        &ring.control().not_empty
    }

    fn len(&self, ring: &RingView) -> u64 {
        Producer::len(self, ring)
    }
}

impl EndState for Consumer {
    const ROLE: Role = Role::Receiver;

    fn attach(ring: &RingView) -> Result<Self, Unavailable> {
        Consumer::attach(ring)
    }

    fn flush(end: &mut ShmReceiver) {
        end.release();
    }

    fn peers_signal(ring: &RingView) -> &Signal {
        &ring.control().not_full
    }

    fn len(&self, ring: &RingView) -> u64 {
        Consumer::len(self, ring)
    }
}

// SAFETY: the ring view points into `segment`, which the end keeps alive and which is
// `Send`; the rest is plain data.
unsafe impl<S: EndState + Send> Send for ShmEnd<S> {}

impl<S: EndState> std::fmt::Debug for ShmEnd<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmEnd")
            .field("name", &self.segment.name())
            .field("role", &S::ROLE)
            .field("side", &self.side)
            .finish()
    }
}

impl<S: EndState> ShmEnd<S> {
    /// Attaches to `segment` as a sender or a receiver (taking over where the last
    /// holder of an SPSC role left).
    pub(crate) fn attach(segment: Arc<Segment>) -> Result<Self, AttachError> {
        let side = match liveness::attach(&segment, S::ROLE)? {
            Some(seat) => Side::Mpmc { seat },
            None => Side::Spsc(S::attach(&segment.ring()).map_err(|_| {
                liveness::detach(&segment, S::ROLE, None);
                AttachError::CorruptHeader {
                    name: segment.name().to_owned(),
                    reason: "the ring's positions are inconsistent",
                }
            })?),
        };
        let ring = segment.ring();
        Ok(Self { ring, side, policy: WaitPolicy::default(), segment })
    }

    pub(crate) fn try_clone(&self) -> Result<Self, AttachError> {
        Self::attach(self.segment.clone())
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.ring.slot_size()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.policy = policy;
    }

    /// Messages published and not yet taken by a receiver: a snapshot, never more than
    /// the capacity whatever shared memory says. (MPMC: sends in progress count. SPSC: a
    /// message under a receiver's guard counts until the guard is dropped, since it may
    /// be kept.)
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the API's `len`/`is_empty`/`is_full` call it (issue 13, the API branch)")
    )]
    pub(crate) fn len(&self) -> usize {
        let n = match &self.side {
            Side::Spsc(state) => state.len(&self.ring),
            Side::Mpmc { .. } => mpmc::len(&self.ring),
        };
        n.min(self.ring.capacity()) as usize
    }

    /// Whether the other side has gone: every handle of the other role detached, or
    /// found dead. No system call unless a look for dead processes is due (at most once
    /// per 20 ms per segment in this process).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the API's `is_disconnected` calls it (issue 13, the API branch)")
    )]
    pub(crate) fn peer_gone(&self) -> bool {
        liveness::recover_if_due(&self.segment);
        liveness::left(&self.segment, S::ROLE.other())
    }
}

impl<S: EndState> Drop for ShmEnd<S> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() {
            return;
        }
        S::flush(self);
        liveness::detach(&self.segment, S::ROLE, self.side.seat());
        // The other side, parked, re-checks and finds this one gone.
        S::peers_signal(&self.ring).wake(self.segment.geometry().signaling);
    }
}

impl ShmSender {
    /// Messages published and not yet released by the receivers (a snapshot, for MPMC).
    pub(crate) fn in_flight(&mut self) -> Result<usize, Stop> {
        match &mut self.side {
            Side::Spsc(state) => state.in_flight(&self.ring).map(|n| n as usize).map_err(unavailable),
            Side::Mpmc { .. } => Ok(mpmc::in_flight(&self.ring) as usize),
        }
    }

    /// Claims a free slot for a loan, waiting as `wait` allows; returns its position.
    /// `Gone` once the receivers have gone: nothing is claimed.
    pub(crate) fn loan(&mut self, wait: Wait) -> Result<u64, Stop> {
        let pos = self.claim(wait)?;
        if matches!(self.side, Side::Mpmc { .. }) {
            // User code may hold the loan for long: receivers must not wait for it.
            mpmc::mark_loaned(&self.ring, pos);
        }
        Ok(pos)
    }

    /// Claims a free slot, waiting as `wait` allows, unless the receivers have gone.
    fn claim(&mut self, wait: Wait) -> Result<u64, Stop> {
        let (ring, segment) = (self.ring, &*self.segment);
        let side = &mut self.side;
        let pos = wait_on(segment, Role::Receiver, &ring.control().not_full, self.policy, wait, || {
            // Every attempt, the first included: one load of a header word that stays in
            // this core's cache (see the module doc).
            if liveness::left(segment, Role::Receiver) {
                return Err(Stop::Gone);
            }
            attempted(match side {
                Side::Spsc(state) => state.next_free(&ring),
                Side::Mpmc { seat } => mpmc::claim_free(&ring, liveness::claim(segment, *seat)),
            })
        })?;
        // Tell loom the producer now writes this payload.
        ring.meta(pos).payload.with_mut(|_| ());
        Ok(pos)
    }

    /// Copies `message` (no longer than a slot) into a free slot, waiting as `wait`
    /// allows, and commits it: the loan and commit of `Sender::send` in one call. On
    /// MPMC the claim is not marked loaned: a receiver that finds it unpublished waits
    /// for this write, which takes no longer than the copy.
    pub(crate) fn send(&mut self, message: &[u8], wait: Wait, publish: bool) -> Result<(), Stop> {
        debug_assert!(message.len() <= self.slot_size());
        let pos = self.claim(wait)?;
        // SAFETY: the slot at `pos` is ours until committed, and its payload holds
        // `slot_size` bytes, no fewer than the message (the caller checked).
        unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), self.payload(pos), message.len()) };
        self.commit(pos, message.len(), publish);
        Ok(())
    }

    /// The whole payload of the slot at `pos`, for the holder of its loan.
    pub(crate) fn payload(&self, pos: u64) -> *mut u8 {
        self.ring.payload(pos)
    }

    /// Hands the loaned slot at `pos` to the ring with `len` bytes; on SPSC, published
    /// now or at the next `publish`.
    pub(crate) fn commit(&mut self, pos: u64, len: usize, publish: bool) {
        match &mut self.side {
            Side::Spsc(state) => {
                state.stage(&self.ring, len);
                if publish {
                    self.publish();
                }
            }
            Side::Mpmc { seat } => {
                mpmc::publish(&self.ring, pos, len as u64, liveness::claim(&self.segment, *seat));
                self.ring.control().not_empty.notify(self.segment.geometry().signaling);
            }
        }
    }

    /// Gives the loaned slot at `pos` back unused. An MPMC position is claimed for good:
    /// it is published as cancelled, so receivers skip it rather than wait on it.
    pub(crate) fn cancel(&mut self, pos: u64) {
        if let Side::Mpmc { seat } = self.side {
            mpmc::publish(&self.ring, pos, mpmc::CANCELLED, liveness::claim(&self.segment, seat));
            self.ring.control().not_empty.notify(self.segment.geometry().signaling);
        }
    }

    /// Publishes what is staged (SPSC) and wakes a parked receiver if there is one.
    pub(crate) fn publish(&mut self) {
        if let Side::Spsc(state) = &mut self.side {
            if state.publish(&self.ring) {
                self.ring.control().not_empty.notify(self.segment.geometry().signaling);
            }
        }
    }
}

impl ShmReceiver {
    /// Takes the next message whose length `accept`s, waiting as `wait` allows; a
    /// refused one stays in the ring. Returns its position and length. Without waiting
    /// (`Wait::Never`), an MPMC copy send in progress at the head is still waited for,
    /// at most [`BRIEF`] (see the module doc).
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<(u64, usize), Stop> {
        let (ring, segment) = (self.ring, &*self.segment);
        let (signal, policy) = (&ring.control().not_empty, self.policy);
        let (pos, len) = match &mut self.side {
            Side::Spsc(state) => wait_on(segment, Role::Sender, signal, policy, wait, || {
                attempted(state.next_message(&ring).and_then(|(pos, len)| {
                    if accept(len) {
                        Ok((pos, len))
                    } else {
                        Err(Unavailable::Refused(len))
                    }
                }))
            }),
            Side::Mpmc { seat } => {
                let claim = liveness::claim(segment, *seat);
                let take = || {
                    mpmc::claim_message(&ring, claim, &accept, || {
                        ring.control().not_full.notify(segment.geometry().signaling)
                    })
                };
                let settle = wait.is_never() && !sync::mutated(Mutation::MpmcWriteWait);
                wait_on(segment, Role::Sender, signal, policy, wait, || {
                    attempted(match take() {
                        Err(Unavailable::Writing(pos)) if settle => finish_writing(segment, &ring, pos, take),
                        other => other,
                    })
                })
            }
        }?;
        // Tell loom the consumer now reads this payload.
        ring.meta(pos).payload.with(|_| ());
        Ok((pos, len))
    }

    /// Copies the next message into `buf` if it fits (else it stays, `Refused`), waiting
    /// as `wait` allows, and frees its slot: `Receiver::recv_into` in one call. Returns
    /// its length.
    pub(crate) fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize, Stop> {
        let room = buf.len();
        let (pos, len) = self.recv(wait, |len| len <= room)?;
        // SAFETY: the message at `pos` is ours until its slot is freed below; `recv`
        // checked its length against the slot size, and `accept` against `buf`.
        unsafe { std::ptr::copy_nonoverlapping(self.payload(pos), buf.as_mut_ptr(), len) };
        self.done(pos, true);
        Ok(len)
    }

    /// The payload of the message at `pos`, for the holder of its guard.
    pub(crate) fn payload(&self, pos: u64) -> *const u8 {
        self.ring.payload(pos)
    }

    /// Whether a received message can be left in the ring for the next receive.
    pub(crate) fn can_keep(&self) -> bool {
        matches!(self.side, Side::Spsc(_))
    }

    /// Frees the slot of the message at `pos`; on SPSC, handed back to the sender now or
    /// at the next `release`.
    pub(crate) fn done(&mut self, pos: u64, release: bool) {
        match &mut self.side {
            Side::Spsc(state) => {
                state.advance();
                if release {
                    self.release();
                }
            }
            Side::Mpmc { seat } => {
                mpmc::release(&self.ring, pos, liveness::claim(&self.segment, *seat));
                self.ring.control().not_full.notify(self.segment.geometry().signaling);
            }
        }
    }

    /// Hands the slots read so far back (SPSC) and wakes a parked sender if there is one.
    pub(crate) fn release(&mut self) {
        if let Side::Spsc(state) = &mut self.side {
            if state.release(&self.ring) {
                self.ring.control().not_full.notify(self.segment.geometry().signaling);
            }
        }
    }
}

/// Waits until the copy send writing position `pos` at the head has published it, then
/// retries `take`, for at most [`BRIEF`] in all (another copy may be writing the next
/// head); then the ring counts as empty. Out of line: the common receive never comes
/// here. While it waits it reads only the slot's sequence word, the line the writer
/// is about to write anyway.
#[cold]
#[inline(never)]
fn finish_writing<R>(
    segment: &Segment,
    ring: &RingView,
    mut pos: u64,
    mut take: impl FnMut() -> Result<R, Unavailable>,
) -> Result<R, Unavailable> {
    if cfg!(ferry_loom) {
        // Loom explores a stale read of the watched word on every turn of a spin loop,
        // without end; under loom the wait parks instead (as every wait does there, see
        // `WaitPolicy`), woken by the writer's publication.
        let parked = wait_on(
            segment,
            Role::Sender,
            &ring.control().not_empty,
            WaitPolicy::park_at_once(),
            Wait::Forever,
            || match take() {
                Err(Unavailable::Writing(_)) => Ok(None),
                other => Ok(Some(other)),
            },
        );
        return parked.unwrap_or(Err(Unavailable::WouldBlock));
    }
    let mut result = Err(Unavailable::WouldBlock);
    briefly(BRIEF, || {
        if !mpmc::written(ring, pos) {
            return None;
        }
        match take() {
            Err(Unavailable::Writing(next)) => {
                pos = next;
                None
            }
            other => {
                result = other;
                Some(())
            }
        }
    });
    result
}

/// What a ring's answer means to the wait loop: done, not yet, or a failure.
fn attempted<R>(r: Result<R, Unavailable>) -> Result<Option<R>, Stop> {
    match r {
        Ok(r) => Ok(Some(r)),
        Err(Unavailable::WouldBlock | Unavailable::Writing(_)) => Ok(None),
        Err(other) => Err(unavailable(other)),
    }
}

fn unavailable(e: Unavailable) -> Stop {
    match e {
        Unavailable::WouldBlock | Unavailable::Writing(_) => Stop::WouldBlock,
        Unavailable::Refused(len) => Stop::Refused(len),
        Unavailable::Corrupt(reason) => Stop::Corrupt(reason),
    }
}

/// Retries `attempt` (`Ok(None)`: not yet) as `wait` and `policy` allow, parked on
/// `signal` (see `signal::wait`), until it succeeds or fails, or the `peer` on the other
/// side of `segment` has gone.
fn wait_on<R>(
    segment: &Segment,
    peer: Role,
    signal: &Signal,
    policy: WaitPolicy,
    wait: Wait,
    attempt: impl FnMut() -> Result<Option<R>, Stop>,
) -> Result<R, Stop> {
    let blocked = Blocked { signal, how: segment.geometry().signaling, policy, wait };
    blocked.retry(&PeerOf { segment, role: peer }, attempt)
}

/// The handles holding `role` in `segment`, as the wait loop watches them.
struct PeerOf<'a> {
    segment: &'a Segment,
    role: Role,
}

impl Watch for PeerOf<'_> {
    fn peer_gone(&self, check_pid: bool) -> bool {
        liveness::peer(self.segment, self.role, check_pid) == Peer::Gone
    }

    fn recover_if_due(&self) -> bool {
        liveness::recover_if_due(self.segment)
    }

    fn recover(&self) {
        liveness::recover(self.segment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ring::{Geometry, RingKind},
        signal::Signaling,
    };

    fn segment(kind: RingKind) -> Arc<Segment> {
        let geometry = Geometry { kind, signaling: Signaling::Futex, slot_size: 8, capacity: 4 };
        Arc::new(Segment::heap(geometry, liveness::me()).expect("a heap segment"))
    }

    #[test]
    fn len_counts_what_is_published_and_not_taken_on_both_ends() {
        for kind in [RingKind::Spsc, RingKind::Mpmc] {
            let segment = segment(kind);
            let mut tx = ShmSender::attach(segment.clone()).expect("sender");
            let mut rx = ShmReceiver::attach(segment).expect("receiver");
            assert_eq!((tx.len(), rx.len()), (0, 0), "{kind:?}: empty");
            for _ in 0..3 {
                tx.send(b"x", Wait::Never, true).expect("send");
            }
            assert_eq!((tx.len(), rx.len()), (3, 3), "{kind:?}: three sent");
            let (pos, _) = rx.recv(Wait::Never, |_| true).expect("recv");
            rx.done(pos, true);
            assert_eq!((tx.len(), rx.len()), (2, 2), "{kind:?}: one taken");
        }
    }

    #[test]
    fn len_is_bounded_by_the_capacity_whatever_shared_memory_says() {
        for kind in [RingKind::Spsc, RingKind::Mpmc] {
            let segment = segment(kind);
            let tx = ShmSender::attach(segment.clone()).expect("sender");
            let rx = ShmReceiver::attach(segment.clone()).expect("receiver");
            // A hostile peer's positions.
            segment.ring().control().tail.store(u64::MAX / 2, crate::sync::Ordering::Relaxed);
            segment.ring().control().head.store(0, crate::sync::Ordering::Relaxed);
            assert!(tx.len() <= 4 && rx.len() <= 4, "{kind:?}: {} and {}", tx.len(), rx.len());
        }
    }

    #[test]
    fn peer_gone_is_false_before_the_peer_attaches_and_true_once_the_last_one_leaves() {
        for kind in [RingKind::Spsc, RingKind::Mpmc] {
            let segment = segment(kind);
            let tx = ShmSender::attach(segment.clone()).expect("sender");
            assert!(!tx.peer_gone(), "{kind:?}: no receiver yet is not gone");
            let rx = ShmReceiver::attach(segment.clone()).expect("receiver");
            assert!(!tx.peer_gone() && !rx.peer_gone(), "{kind:?}: both attached");
            if kind == RingKind::Mpmc {
                let second = tx.try_clone().expect("a second sender");
                drop(tx);
                assert!(!rx.peer_gone(), "{kind:?}: one sender left of two");
                drop(second);
            } else {
                drop(tx);
            }
            assert!(rx.peer_gone(), "{kind:?}: every sender gone");
            let tx = ShmSender::attach(segment).expect("a sender again");
            assert!(!rx.peer_gone(), "{kind:?}: a sender is back");
            drop(rx);
            assert!(tx.peer_gone(), "{kind:?}: the receiver gone");
        }
    }
}
