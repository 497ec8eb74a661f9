//! The shared-memory transport: a ring in a named segment (or in heap memory), with
//! zero-copy loans and in-place reads, and each handle's doorbell (`signal::doorbell`):
//! the fd it can sleep on in an event loop.
//!
//! On an MPMC ring a receive that may not wait (`try_recv`) still waits, at most
//! [`BRIEF`], when the next position is claimed by a copy send (`send`, `try_send`)
//! still writing it: the write takes nanoseconds unless its thread is preempted, and
//! the messages behind it may already be published, their sends returned. A position
//! claimed by a loan, which user code may hold as long as it likes, is not waited for:
//! the ring is reported empty (head-of-line blocking; see `ring::mpmc`). The SPSC
//! receive never comes near this: it has no claims to wait for.

use std::{os::fd::BorrowedFd, sync::Arc};

use crate::{
    error::AttachError,
    liveness::{self, Peer, Role},
    ring::{
        mpmc,
        spsc::{Consumer, Producer},
        RingView, Unavailable,
    },
    segment::{Segment, Shared},
    signal::{
        bell::{BellFds, BellFiles},
        doorbell::{self, Armed, Drained},
        wait::{briefly, Blocked, Wait, Watch, BRIEF},
        Signal, WaitPolicy,
    },
    sync::{self, Mutation, Ordering::Relaxed},
    transport::stop::Stop,
};

/// One end of a ring: `ShmSender` or `ShmReceiver`, told apart by their SPSC state `S`.
pub(crate) struct ShmEnd<S: EndState> {
    ring: RingView,
    side: Side<S>,
    policy: WaitPolicy,
    bell: Bell,
    segment: Shared,
}

/// A handle's doorbell: its fds, whether it is armed, and (for the creator's handles)
/// the hold on the named bells that removes them with the last of those handles.
#[derive(Debug)]
pub(crate) struct Bell {
    fds: BellFds,
    armed: Armed,
    files: Option<Arc<BellFiles>>,
}

impl Bell {
    /// A doorbell on `fds`; `files` for the handles of the bells' creator.
    pub(crate) fn new(fds: BellFds, files: Option<Arc<BellFiles>>) -> Self {
        Self { fds, armed: Armed::new(), files }
    }

    /// The pollable fd, arming the doorbell on `own` (the signal this handle's side
    /// parks on) the first time: see `ShmEnd::fd`.
    pub(crate) fn fd(&self, own: &Signal) -> BorrowedFd<'_> {
        if !self.armed.is_armed() {
            let _ = self.armed.arm(own, &self.fds);
        }
        self.fds.fd()
    }

    /// If the handle sleeps on its fd, drains and re-arms the doorbell on `own`, and
    /// says what the drain found; `None` if the handle never asked for its fd.
    pub(crate) fn rearm(&self, own: &Signal) -> Option<Drained> {
        self.armed.is_armed().then(|| self.armed.arm(own, &self.fds))
    }

    /// Rings the other side's doorbell if `ring` says so.
    pub(crate) fn ring(&self, ring: doorbell::Ring) {
        doorbell::ring(ring, &self.fds);
    }

    /// Stops counting the handle as armed on `own` (it is going away).
    pub(crate) fn disarm(&self, own: &Signal) {
        self.armed.disarm(own);
    }

    pub(crate) fn try_clone(&self) -> Result<Self, AttachError> {
        let fds = self.fds.try_clone().map_err(|source| AttachError::Io {
            op: "duplicate the doorbell of",
            name: String::from("a channel"),
            source,
        })?;
        Ok(Self::new(fds, self.files.clone()))
    }
}

/// Refuses a queue handle on a broadcast segment (before its doorbell is looked for:
/// a broadcast channel has none).
pub(crate) fn refuse_broadcast(segment: &Segment) -> Result<(), AttachError> {
    if segment.geometry().kind.is_broadcast() {
        return Err(AttachError::Unsupported {
            endpoint: format!("shm:{}", segment.name()),
            what: "a queue sender or receiver: it is a broadcast channel (use Publisher or Subscriber)",
        });
    }
    Ok(())
}

/// The sending side of a ring.
pub(crate) type ShmSender = ShmEnd<Producer>;
/// The receiving side of a ring.
pub(crate) type ShmReceiver = ShmEnd<Consumer>;

/// A handle's ring-specific state: on SPSC the side's private state (`Producer` or
/// `Consumer`, or their byte ring counterparts); on MPMC, which keeps all its state in
/// shared memory, the handle's seat.
#[derive(Debug)]
pub(crate) enum Side<S> {
    Spsc(S),
    Mpmc { seat: usize },
}

impl<S> Side<S> {
    pub(crate) fn seat(&self) -> Option<usize> {
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
    /// The role of the other side.
    const PEER: Role;
    /// Takes over this SPSC side where its last holder left it.
    fn attach(ring: &RingView) -> Result<Self, Unavailable>;
    /// Hands the other side what this end holds back (SPSC), before it detaches.
    fn flush(end: &mut ShmEnd<Self>);
    /// The signal the other side parks on, woken when this end leaves.
    fn peers_signal(ring: &RingView) -> &Signal;
    /// The signal this side parks (and arms its doorbell) on.
    fn own_signal(ring: &RingView) -> &Signal;
}

impl EndState for Producer {
    const ROLE: Role = Role::Sender;
    const PEER: Role = Role::Receiver;

    fn attach(ring: &RingView) -> Result<Self, Unavailable> {
        Producer::attach(ring)
    }

    fn flush(end: &mut ShmSender) {
        end.publish();
    }

    fn peers_signal(ring: &RingView) -> &Signal {
        &ring.control().not_empty
    }

    fn own_signal(ring: &RingView) -> &Signal {
        &ring.control().not_full
    }
}

impl EndState for Consumer {
    const ROLE: Role = Role::Receiver;
    const PEER: Role = Role::Sender;

    fn attach(ring: &RingView) -> Result<Self, Unavailable> {
        Consumer::attach(ring)
    }

    fn flush(end: &mut ShmReceiver) {
        end.release();
    }

    fn peers_signal(ring: &RingView) -> &Signal {
        &ring.control().not_full
    }

    fn own_signal(ring: &RingView) -> &Signal {
        &ring.control().not_empty
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
    /// holder of an SPSC role left), with the doorbell `bell`.
    pub(crate) fn attach(segment: Shared, bell: Bell) -> Result<Self, AttachError> {
        refuse_broadcast(&segment)?;
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
        Ok(Self { ring, side, policy: WaitPolicy::default(), bell, segment })
    }

    pub(crate) fn try_clone(&self) -> Result<Self, AttachError> {
        Self::attach(self.segment.clone(), self.bell.try_clone()?)
    }

    /// The doorbell's pollable fd: readable once the other side publishes (or frees a
    /// slot) after this end armed, or once the other side has all gone. Asking for it
    /// the first time arms the doorbell; from then on a `try_` call that finds nothing
    /// drains and re-arms it (module doc of `signal::doorbell`). Later calls change
    /// nothing: an event loop may ask for the fd before every wait.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.bell.fd(S::own_signal(&self.ring))
    }

    /// Rings the other side's doorbell if `ring` says so.
    fn ring(&self, ring: doorbell::Ring) {
        self.bell.ring(ring);
    }

    /// After a `try_` call found nothing: if this end sleeps on its fd, drains and
    /// re-arms the doorbell, so that the caller's re-check (`attempt`, made here) and
    /// the fd together miss nothing. `Gone` if the doorbell says every peer closed it and
    /// the liveness check agrees.
    fn rearm_and_retry<R>(&mut self, mut attempt: impl FnMut(&mut Self) -> Result<R, Stop>) -> Result<R, Stop> {
        let Some(drained) = self.bell.rearm(S::own_signal(&self.ring)) else {
            return Err(Stop::WouldBlock);
        };
        // Asked after arming, answered before the last look, so a peer's last message is
        // still received first.
        let gone = gone_after_drain(&self.segment, S::PEER, drained);
        match attempt(self) {
            Err(Stop::WouldBlock) if gone => Err(Stop::Gone),
            other => other,
        }
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

    /// Messages published and not yet received, clamped to the capacity (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let control = self.ring.control();
        // SYNC: Relaxed; a snapshot for information, nothing is read through it.
        let (tail, head) = (control.tail.load(Relaxed), control.head.load(Relaxed));
        tail.saturating_sub(head).min(self.ring.capacity()) as usize
    }

    /// Whether every handle of the other side has gone (detached; a dead process is
    /// seen once the wait loop or recovery has noticed it). No system call.
    #[inline(always)]
    pub(crate) fn peer_gone(&self) -> bool {
        liveness::all_gone(&self.segment, S::PEER)
    }
}

impl<S: EndState> Drop for ShmEnd<S> {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.segment.is_forked_copy() {
            return;
        }
        S::flush(self);
        self.bell.disarm(S::own_signal(&self.ring));
        liveness::detach(&self.segment, S::ROLE, self.side.seat());
        // The other side, parked, re-checks and finds this one gone.
        S::peers_signal(&self.ring).wake(self.segment.geometry().signaling);
    }
}

impl ShmSender {
    /// Drains and re-arms the doorbell, then looks for room (or departed receivers).
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        if self.ready_now() {
            return true;
        }
        // `ready_now` armed the doorbell: this drains and re-arms it.
        let drained = self.bell.rearm(Producer::own_signal(&self.ring));
        let gone = drained.is_some_and(|drained| gone_after_drain(&self.segment, Role::Receiver, drained));
        gone || self.ready_now()
    }

    /// Arms the doorbell if it is not, then looks whether a send would find room (or the
    /// receivers gone): whether a caller may skip sleeping on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        let room = match &self.side {
            Side::Spsc(state) => state.has_room(&self.ring),
            Side::Mpmc { .. } => mpmc::has_room(&self.ring),
        };
        room || self.peer_gone()
    }

    /// Messages published and not yet released by the receivers (a snapshot, for MPMC).
    pub(crate) fn in_flight(&mut self) -> Result<usize, Stop> {
        match &mut self.side {
            Side::Spsc(state) => state.in_flight(&self.ring).map(|n| n as usize).map_err(unavailable),
            Side::Mpmc { .. } => Ok(mpmc::in_flight(&self.ring) as usize),
        }
    }

    /// Claims a free slot for a loan, waiting as `wait` allows; returns its position.
    pub(crate) fn loan(&mut self, wait: Wait) -> Result<u64, Stop> {
        let pos = self.claim(wait)?;
        if matches!(self.side, Side::Mpmc { .. }) {
            // User code may hold the loan for long: receivers must not wait for it.
            mpmc::mark_loaned(&self.ring, pos);
        }
        Ok(pos)
    }

    /// Claims a free slot, waiting as `wait` allows; returns its position. Unmarked: an
    /// MPMC receiver that finds it unpublished takes it for a copy in progress.
    #[inline(always)]
    fn claim(&mut self, wait: Wait) -> Result<u64, Stop> {
        if self.peer_gone() {
            return Err(Stop::Gone);
        }
        match self.wait_for_slot(wait) {
            Err(Stop::WouldBlock) => self.rearm_and_retry(|end| end.wait_for_slot(Wait::Never)),
            other => other,
        }
    }

    #[inline(always)]
    fn wait_for_slot(&mut self, wait: Wait) -> Result<u64, Stop> {
        let (ring, segment) = (&self.ring, &self.segment);
        let side = &mut self.side;
        let pos = wait_on(segment, Role::Receiver, &ring.control().not_full, self.policy, wait, || match side {
            Side::Spsc(state) => state.next_free(ring),
            Side::Mpmc { seat } => mpmc::claim_free(ring, liveness::claim(segment, *seat)),
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
    #[inline(always)]
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
                self.ring(self.ring.control().not_empty.notify(self.segment.geometry().signaling));
            }
        }
    }

    /// Gives the loaned slot at `pos` back unused. An MPMC position is claimed for good:
    /// it is published as cancelled, so receivers skip it rather than wait on it.
    pub(crate) fn cancel(&mut self, pos: u64) {
        if let Side::Mpmc { seat } = self.side {
            mpmc::publish(&self.ring, pos, mpmc::CANCELLED, liveness::claim(&self.segment, seat));
            self.ring(self.ring.control().not_empty.notify(self.segment.geometry().signaling));
        }
    }

    /// Publishes what is staged (SPSC) and wakes a parked receiver if there is one.
    #[inline(always)]
    pub(crate) fn publish(&mut self) {
        if let Side::Spsc(state) = &mut self.side {
            if state.publish(&self.ring) {
                self.ring(self.ring.control().not_empty.notify(self.segment.geometry().signaling));
            }
        }
    }
}

impl ShmReceiver {
    /// Arms the doorbell if it is not, then looks whether a receive would find something
    /// (a message, or the senders gone): whether a caller may skip sleeping on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        let message = match &self.side {
            Side::Spsc(state) => state.has_message(&self.ring),
            Side::Mpmc { .. } => mpmc::has_message(&self.ring),
        };
        message || self.peer_gone()
    }

    /// Takes the next message whose length `accept`s, waiting as `wait` allows; a
    /// refused one stays in the ring. Returns its position and length. Without waiting
    /// (`Wait::Never`), an MPMC copy send in progress at the head is still waited for,
    /// at most [`BRIEF`] (see the module doc).
    #[inline(always)]
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<(u64, usize), Stop> {
        match self.take(wait, &accept) {
            // Only on an empty ring: look at the senders, then once more at the ring
            // (they published everything before they left).
            Err(Stop::WouldBlock) if self.peer_gone() => match self.take(Wait::Never, &accept) {
                Err(Stop::WouldBlock) => Err(Stop::Gone),
                other => other,
            },
            Err(Stop::WouldBlock) => self.rearm_and_retry(|end| end.take(Wait::Never, &accept)),
            other => other,
        }
    }

    #[inline(always)]
    fn take(&mut self, wait: Wait, accept: &impl Fn(usize) -> bool) -> Result<(u64, usize), Stop> {
        let (ring, segment, bell) = (&self.ring, &self.segment, &self.bell);
        let side = &mut self.side;
        // MPMC: only a call that may not wait waits for a copy in progress apart (out of
        // line); a blocking one waits for it as for any message.
        let settle = wait.is_never() && !sync::mutated(Mutation::MpmcWriteWait);
        let (pos, len) = wait_on(segment, Role::Sender, &ring.control().not_empty, self.policy, wait, || match side {
            Side::Spsc(state) => accepted(state.next_message(ring), accept),
            Side::Mpmc { seat } => {
                let claim = liveness::claim(segment, *seat);
                let take = || {
                    mpmc::claim_message(
                        ring,
                        claim,
                        accept,
                        || bell.ring(ring.control().not_full.notify(segment.geometry().signaling)),
                        settle,
                    )
                };
                match take() {
                    Err(Unavailable::Writing(pos)) => finish_writing(segment, ring, pos, take),
                    other => other,
                }
            }
        })?;
        // Tell loom the consumer now reads this payload.
        ring.meta(pos).payload.with(|_| ());
        Ok((pos, len))
    }

    /// Copies the next message into `buf` if it fits (else it stays, `Refused`), waiting
    /// as `wait` allows, and frees its slot: `Receiver::recv_into` in one call. Returns
    /// its length.
    #[inline]
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
    #[inline(always)]
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
                self.ring(self.ring.control().not_full.notify(self.segment.geometry().signaling));
            }
        }
    }

    /// Hands the slots read so far back (SPSC) and wakes a parked sender if there is one.
    #[inline(always)]
    pub(crate) fn release(&mut self) {
        if let Side::Spsc(state) = &mut self.side {
            if state.release(&self.ring) {
                self.ring(self.ring.control().not_full.notify(self.segment.geometry().signaling));
            }
        }
    }
}

/// Whether the handles of `peer` have all gone, as a drain of this side's doorbell
/// suggests. `Closed`: every holder of its ringing end has closed it, so the peers have
/// left or died (the liveness check, with its system call, confirms it). `Rung`: the
/// short read that emptied the fd cannot say whether it was also closed, so shared
/// memory says whether the peers detached (a peer that died shows at the next drain).
pub(crate) fn gone_after_drain(segment: &Segment, peer: Role, drained: Drained) -> bool {
    match drained {
        Drained::Closed => liveness::peer_after_hangup(segment, peer) == Peer::Gone,
        Drained::Rung => liveness::all_gone(segment, peer),
        Drained::Nothing => false,
    }
}

/// Waits until the copy send writing position `pos` at the head has published it (or
/// it shows as a loan whose mark the first look missed), then retries `take`, for at
/// most [`BRIEF`] in all (another copy may be writing the next head); then the ring
/// counts as empty. Out of line: the common receive never comes here. While it waits
/// it reads only the slot's sequence and length words, the line the writer is about to
/// write anyway.
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
        // without end; under loom the wait parks instead, woken by the writer's
        // publication (`commit` notifies `not_empty`). The bare announce, re-check, park
        // protocol (see `signal`), without the wait loop's clock and liveness looks:
        // every atomic access multiplies the interleavings of the models that come here.
        let (signal, how) = (&ring.control().not_empty, segment.geometry().signaling);
        let waiting = signal.announce(how);
        loop {
            let ticket = waiting.ticket();
            match take() {
                // (The timeout is not modelled: loom's futex sleeps until woken.)
                Err(Unavailable::Writing(_)) => waiting.park(ticket, BRIEF),
                other => return other,
            }
        }
    }
    let mut result = Err(Unavailable::WouldBlock);
    briefly(BRIEF, || {
        if mpmc::writing(ring, pos) {
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

pub(crate) fn unavailable(e: Unavailable) -> Stop {
    match e {
        Unavailable::WouldBlock | Unavailable::Writing(_) => Stop::WouldBlock,
        Unavailable::Refused(len) => Stop::Refused(len),
        Unavailable::Corrupt(reason) => Stop::Corrupt(reason),
    }
}

/// Retries `attempt` as `wait` and `policy` allow, parked on `signal` (see
/// `signal::wait`), until it succeeds or the `peer` on the other side of `segment` has
/// gone.
#[inline(always)]
pub(crate) fn wait_on<R>(
    segment: &Shared,
    peer: Role,
    signal: &Signal,
    policy: WaitPolicy,
    wait: Wait,
    mut attempt: impl FnMut() -> Result<R, Unavailable>,
) -> Result<R, Stop> {
    // The common case, ready at the first look, inline and building nothing.
    if let Some(r) = look(attempt())? {
        return Ok(r);
    }
    wait_on_after_first_look(segment, peer, signal, policy, wait, attempt)
}

/// What one look of a wait found: `None` for "not yet".
#[inline(always)]
fn look<R>(found: Result<R, Unavailable>) -> Result<Option<R>, Stop> {
    match found {
        Ok(r) => Ok(Some(r)),
        Err(Unavailable::WouldBlock | Unavailable::Writing(_)) => Ok(None),
        Err(other) => Err(unavailable(other)),
    }
}

/// The message a look found, if its length is one the receive `accept`s; a refused one
/// stays where it is (`Refused`).
#[inline(always)]
pub(crate) fn accepted(
    found: Result<(u64, usize), Unavailable>,
    accept: &impl Fn(usize) -> bool,
) -> Result<(u64, usize), Unavailable> {
    match found {
        Ok((_, len)) if !accept(len) => Err(Unavailable::Refused(len)),
        other => other,
    }
}

/// [`wait_on`] once the first look found nothing (out of line).
#[inline(never)]
fn wait_on_after_first_look<R>(
    segment: &Shared,
    peer: Role,
    signal: &Signal,
    policy: WaitPolicy,
    wait: Wait,
    mut attempt: impl FnMut() -> Result<R, Unavailable>,
) -> Result<R, Stop> {
    let blocked = Blocked { signal, how: segment.geometry().signaling, policy, wait };
    blocked.retry_after_first_look(&PeerOf { segment, role: peer }, || look(attempt()))
}

/// The handles holding `role` in `segment`, as the wait loop watches them.
struct PeerOf<'a> {
    segment: &'a Shared,
    role: Role,
}

impl Watch for PeerOf<'_> {
    fn peer_gone(&self, check_pid: bool) -> bool {
        liveness::peer(self.segment, self.role, check_pid) == Peer::Gone
    }

    fn recover_if_due(&self) {
        liveness::recover_if_due(self.segment);
    }

    fn recover(&self) {
        liveness::recover(self.segment);
    }
}
