//! The broadcast transport: a broadcast ring in a named segment (or in heap memory),
//! with a publisher end and a subscriber end, both waiting through the one wait loop
//! (`signal::wait`).
//!
//! Only shared memory carries a broadcast channel: the point of the pattern is one write
//! read in place by every subscriber. `shm:NAME` and a bare `NAME` are accepted, and
//! `auto:NAME` means shared memory (there is no socket to fall back to).
//!
//! Each end has a pollable fd (`broadcast_bell`): a subscriber's is readable when a
//! message, a lag or the publishers' departure is there for it; a publisher's when a
//! block-mode ring has room again. Asking for it arms the end's doorbell; from then on a
//! `try_` call that finds nothing drains and re-arms it, as on a queue (`transport::shm`).

use std::{os::fd::BorrowedFd, sync::Arc};

use crate::{
    config::Config,
    error::AttachError,
    liveness::{self, subscribers, Peer, Role},
    ring::{
        broadcast::{self, Fanout, Next, Policy, Reader, Writer},
        bytes::ByteRing,
        bytes_broadcast::{self, BytesReader},
        bytes_mpmc, RingControl, RingKind, RingView, Unavailable,
    },
    segment::{Segment, Shared},
    signal::{
        wait::{Blocked, Wait, Watch},
        Signal, WaitPolicy,
    },
    sync,
    transport::{
        broadcast_bell::{Bells, PublisherBell, SubscriberBell},
        shm::gone_after_drain,
        stop::Stop,
    },
};
#[cfg(not(ferry_loom))]
use crate::{owner::Owners, transport::endpoint::Endpoint};

/// A broadcast channel's memory and doorbells as the API holds them between opening
/// the channel and attaching an end to it (the API does not reach into the segment).
#[derive(Clone)]
pub(crate) struct Channel {
    segment: Shared,
    bells: Arc<Bells>,
}

/// Makes a broadcast segment in heap memory, for a channel between threads.
pub(crate) fn in_memory(config: &Config) -> Result<Channel, AttachError> {
    let geometry = config.kind(RingKind::Broadcast).geometry();
    let segment = Shared::new(Segment::heap(geometry, liveness::me())?);
    let bells = Arc::new(Bells::pipes(geometry.fanout.subscribers)?);
    Ok(Channel { segment, bells })
}

/// Creates the named broadcast segment `endpoint` (`NAME`, `shm:NAME` or `auto:NAME`),
/// reclaiming a stale one of that name, and its doorbells.
#[cfg(not(ferry_loom))]
pub(crate) fn create(endpoint: &str, config: &Config) -> Result<Channel, AttachError> {
    let name = shm_name(endpoint)?;
    let config = config.kind(RingKind::Broadcast);
    let segment = Segment::create(&name, config.geometry(), config.get_mode(), liveness::me(), liveness::is_stale)?;
    let bells = Arc::new(Bells::create(&segment, &name, config.get_mode())?);
    Ok(Channel { segment: Shared::new(segment), bells })
}

/// Opens the named broadcast segment `endpoint`; with `expected`, its geometry must be
/// that configuration's.
#[cfg(not(ferry_loom))]
pub(crate) fn open(endpoint: &str, expected: Option<&Config>, owners: &Owners) -> Result<Channel, AttachError> {
    let name = shm_name(endpoint)?;
    let expected = expected.map(|config| config.kind(RingKind::Broadcast).geometry());
    let segment = Shared::new(Segment::open(&name, expected, owners)?);
    Ok(Channel { segment, bells: Arc::new(Bells::open(&name, owners)) })
}

#[cfg(not(ferry_loom))]
fn shm_name(endpoint: &str) -> Result<String, AttachError> {
    match Endpoint::parse(endpoint)? {
        Endpoint::Shm(name) | Endpoint::Auto(name) => Ok(name),
        Endpoint::Unix(_) | Endpoint::Fifo(_) => Err(AttachError::Unsupported {
            endpoint: endpoint.to_owned(),
            what: "broadcast: a broadcast channel lives in shared memory (use NAME or shm:NAME)",
        }),
    }
}

/// The broadcast shape of `segment`, or the error for a segment of another kind.
fn fanout(segment: &Segment) -> Result<Fanout, AttachError> {
    if segment.geometry().kind.is_broadcast() {
        return Ok(segment.geometry().fanout);
    }
    Err(AttachError::Unsupported {
        endpoint: format!("shm:{}", segment.name()),
        what: "publishing or subscribing: it is a queue (open it with Sender or Receiver)",
    })
}

/// The ring of a broadcast channel: slots (`ring::broadcast`) or records sized in bytes
/// (`ring::bytes_broadcast`). Both keep their positions and signals in a `RingControl`.
#[derive(Clone, Copy)]
enum Ring {
    Slots(RingView),
    Bytes(ByteRing),
}

impl Ring {
    fn of(segment: &Segment) -> Self {
        if segment.geometry().kind.is_bytes() {
            Self::Bytes(segment.byte_ring())
        } else {
            Self::Slots(segment.ring())
        }
    }

    fn control(&self) -> &RingControl {
        match self {
            Self::Slots(ring) => ring.control(),
            Self::Bytes(ring) => ring.control(),
        }
    }

    /// The first payload byte of the message at `pos` (a slot's whole payload, or a
    /// record whose extent the ring checked).
    fn payload(&self, pos: u64) -> *mut u8 {
        match self {
            Self::Slots(ring) => ring.payload(pos),
            Self::Bytes(ring) => ring.payload(pos),
        }
    }

    /// The largest message.
    fn max_message(&self) -> usize {
        match self {
            Self::Slots(ring) => ring.slot_size(),
            Self::Bytes(ring) => ring.max_message(),
        }
    }
}

/// The publishing end.
pub(crate) struct ShmPublisher {
    ring: Ring,
    seat: usize,
    writer: Writer,
    fanout: Fanout,
    policy: WaitPolicy,
    bell: PublisherBell,
    segment: Shared,
}

// SAFETY: the ring view points into `segment`, which the end keeps alive and which is
// `Send`; the rest is plain data.
unsafe impl Send for ShmPublisher {}

impl std::fmt::Debug for ShmPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmPublisher").field("name", &self.segment.name()).field("seat", &self.seat).finish()
    }
}

impl ShmPublisher {
    /// Attaches a publisher to the broadcast `channel`, in a seat of its own.
    pub(crate) fn attach(channel: Channel) -> Result<Self, AttachError> {
        let Channel { segment, bells } = channel;
        let fanout = fanout(&segment)?;
        // The doorbell first: a publisher that holds a seat holds `.r` open for writing.
        let bell = PublisherBell::attach(&segment, bells)?;
        let seat = liveness::attach(&segment, Role::Sender)?.expect("a broadcast publisher takes a seat");
        let ring = Ring::of(&segment);
        Ok(Self { ring, seat, writer: Writer::new(fanout), fanout, policy: WaitPolicy::default(), bell, segment })
    }

    /// The channel, for another end on it.
    pub(crate) fn channel(&self) -> Channel {
        Channel { segment: self.segment.clone(), bells: self.bell.bells().clone() }
    }

    /// The pollable fd: readable once a block-mode ring has room again after this end
    /// armed (asking for it the first time arms it; a `try_` call that finds the ring
    /// full drains and re-arms it).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.bell.fd(&self.segment)
    }

    /// Arms the doorbell if it is not, then looks whether a publish would find room
    /// (always, in overwrite mode): whether a caller may skip sleeping on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        if self.fanout.policy == Policy::Overwrite {
            return true;
        }
        let segment = &*self.segment;
        let cursors = || subscribers::cursors(segment);
        match &self.ring {
            Ring::Slots(ring) => self.writer.has_room(ring, cursors),
            // Room for the largest message: a smaller one might fit while the caller's
            // does not, and the fd would then wake it for nothing, again and again.
            Ring::Bytes(ring) => bytes_broadcast::has_room(ring, ring.max_message(), cursors),
        }
    }

    pub(crate) fn fanout(&self) -> Fanout {
        self.fanout
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.ring.max_message()
    }

    /// The geometry's capacity: slots, or bytes on a ring sized in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    /// Whether the ring is sized in bytes (messages of any size up to the maximum).
    pub(crate) fn is_bytes(&self) -> bool {
        matches!(self.ring, Ring::Bytes(_))
    }

    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.policy = policy;
    }

    /// Claims the next position for a message of up to `n` bytes (at most the largest;
    /// a slot holds the largest anyway), waiting as `wait` allows (block mode: for the
    /// slowest live subscriber), and starts writing it; returns it.
    pub(crate) fn loan(&mut self, n: usize, wait: Wait) -> Result<u64, Stop> {
        debug_assert!(n <= self.slot_size());
        let (ring, segment) = (self.ring, &self.segment);
        let writer = &mut self.writer;
        let claim = liveness::claim(segment, self.seat);
        let cursors = || subscribers::cursors(segment);
        // A publisher waits for subscribers, never on them leaving: the watch sees no
        // departure, only dead handles to recover (a dead subscriber stops gating).
        let watch = Handles { segment, role: None };
        let mut attempt = || match &ring {
            Ring::Slots(slots) => writer.claim(slots, claim, cursors),
            Ring::Bytes(bytes) => bytes_broadcast::claim(bytes, n, claim, cursors),
        };
        let pos = match wait_on(segment, &ring.control().not_full, &watch, self.policy, wait, &mut attempt) {
            Err(Stop::WouldBlock) => match self.bell.rearm(segment) {
                // Armed on the fd: drained and re-armed, so one more look and the fd
                // together miss no room. Every subscriber closed the bell: some may have
                // died, and their cursors gate until their seats are recovered.
                Some(drained) => {
                    if drained == crate::signal::doorbell::Drained::Closed {
                        liveness::recover(segment);
                    }
                    attempt().map_err(stop)
                }
                None => Err(Stop::WouldBlock),
            },
            other => other,
        }?;
        if let Ring::Slots(ring) = ring {
            broadcast::begin(&ring, pos, self.fanout.policy);
            // Tell loom the publisher now writes this payload. (The byte ring's claim
            // told it already.)
            ring.meta(pos).payload.with_mut(|_| ());
        }
        Ok(pos)
    }

    /// The payload of the loan at `pos` (its `n` bytes, or a slot's), for its holder.
    pub(crate) fn payload(&self, pos: u64) -> *mut u8 {
        self.ring.payload(pos)
    }

    /// Publishes the loaned position `pos` with `len` bytes (at most the loan's) and
    /// wakes parked subscribers.
    pub(crate) fn commit(&mut self, pos: u64, len: usize) {
        let claim = liveness::claim(&self.segment, self.seat);
        match &self.ring {
            Ring::Slots(ring) => broadcast::publish(ring, pos, len as u64, claim),
            Ring::Bytes(ring) => bytes_mpmc::publish(ring, pos, Some(len), claim),
        }
        self.bell.notify(&self.segment);
    }

    /// Gives the loaned position `pos` up: subscribers step over it.
    pub(crate) fn cancel(&mut self, pos: u64) {
        let claim = liveness::claim(&self.segment, self.seat);
        match &self.ring {
            Ring::Slots(ring) => broadcast::cancel(ring, pos, claim),
            Ring::Bytes(ring) => bytes_mpmc::publish(ring, pos, None, claim),
        }
        self.bell.notify(&self.segment);
    }

    /// Copies `message` (no longer than the largest) into the next position and
    /// publishes it.
    pub(crate) fn send(&mut self, message: &[u8], wait: Wait) -> Result<(), Stop> {
        debug_assert!(message.len() <= self.slot_size());
        let pos = self.loan(message.len(), wait)?;
        // SAFETY: the position is ours until published, and its payload holds at least
        // the message's bytes (a slot's `slot_size`, or a record claimed for them).
        unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), self.payload(pos), message.len()) };
        self.commit(pos, message.len());
        Ok(())
    }

    /// The live subscribers' processes and cursors, with the tail: a snapshot.
    pub(crate) fn subscriber_count(&self) -> usize {
        subscribers::occupants(&self.segment).len()
    }
}

impl Drop for ShmPublisher {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.segment.is_forked_copy() {
            return;
        }
        self.bell.disarm(&self.segment);
        liveness::detach(&self.segment, Role::Sender, Some(self.seat));
        // Subscribers, parked or armed on their fds, re-check and may find every
        // publisher gone. (A killed publisher's `.r` closes instead.)
        self.ring.control().not_empty.wake(self.segment.geometry().signaling);
        self.bell.ring_armed_seats(&self.segment);
    }
}

/// What a subscriber's receive found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    /// A message at this position, this long.
    Message { pos: u64, len: usize },
    /// The subscriber missed this many positions (overwrite mode).
    Lagged(u64),
}

/// A subscriber's reading state, of the kind of its ring.
/// A subscriber's ring and its reading state, of the same kind (one enum, so the two
/// cannot disagree).
enum Reading {
    Slots { ring: RingView, reader: Reader },
    Bytes { ring: ByteRing, reader: BytesReader },
}

impl Reading {
    fn ring(&self) -> Ring {
        match *self {
            Self::Slots { ring, .. } => Ring::Slots(ring),
            Self::Bytes { ring, .. } => Ring::Bytes(ring),
        }
    }

    fn position(&self) -> u64 {
        match self {
            Self::Slots { reader, .. } => reader.position(),
            Self::Bytes { reader, .. } => reader.position(),
        }
    }
}

/// The subscribing end.
pub(crate) struct ShmSubscriber {
    seat: usize,
    reader: Reading,
    fanout: Fanout,
    policy: WaitPolicy,
    bell: SubscriberBell,
    segment: Shared,
}

// SAFETY: as for `ShmPublisher`.
unsafe impl Send for ShmSubscriber {}

impl std::fmt::Debug for ShmSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmSubscriber")
            .field("name", &self.segment.name())
            .field("seat", &self.seat)
            .field("position", &self.reader.position())
            .finish()
    }
}

impl ShmSubscriber {
    /// Attaches a subscriber to the broadcast `segment`, starting `back` messages before
    /// the newest (at most the channel's history), or at the next message with 0.
    pub(crate) fn attach(channel: Channel, back: usize) -> Result<Self, AttachError> {
        let Channel { segment, bells } = channel;
        let fanout = fanout(&segment)?;
        let back = back.min(fanout.history) as u64;
        let me = liveness::me();
        let joined = subscribers::join(&segment, me, back).or_else(|| {
            // Seats of dead subscribers are given back by `recover`: try again after it.
            liveness::recover(&segment);
            subscribers::join(&segment, me, back)
        });
        let Some((seat, start)) = joined else {
            return Err(AttachError::Unsupported {
                endpoint: format!("shm:{}", segment.name()),
                what: "another subscriber: every subscriber seat is taken (Config::subscribers sets how many)",
            });
        };
        let bell = match SubscriberBell::attach(&segment, bells, seat) {
            Ok(bell) => bell,
            Err(e) => {
                subscribers::leave(&segment, seat);
                return Err(e);
            }
        };
        let reader = match Ring::of(&segment) {
            Ring::Slots(ring) => Reading::Slots { ring, reader: Reader::new(start) },
            Ring::Bytes(ring) => Reading::Bytes { ring, reader: BytesReader::new(start) },
        };
        Ok(Self { seat, reader, fanout, policy: WaitPolicy::default(), bell, segment })
    }

    /// The pollable fd: readable once a message (or a lag) is there for this subscriber
    /// after it armed, or once the publishers have all gone. Asking for it the first time
    /// arms it; a `try_` call that finds nothing drains and re-arms it.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.bell.fd(&self.segment)
    }

    /// Arms the doorbell if it is not, then looks whether a receive would find
    /// something (a message, a lag, or the publishers gone): whether a caller may skip
    /// sleeping on the fd.
    pub(crate) fn ready_now(&self) -> bool {
        let _ = self.fd();
        let ready = match &self.reader {
            Reading::Slots { ring, reader } => reader.ready(ring),
            Reading::Bytes { ring, reader } => reader.ready(ring),
        };
        ready || liveness::all_gone(&self.segment, Role::Sender)
    }

    /// Drains and re-arms the doorbell, then looks as `ready_now` does; a drain that says
    /// every publisher closed the bell is checked (a system call) and counts as ready.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_wait(&mut self) -> bool {
        if self.ready_now() {
            return true;
        }
        let drained = self.bell.rearm(&self.segment);
        let gone = drained.is_some_and(|drained| gone_after_drain(&self.segment, Role::Sender, drained));
        gone || self.ready_now()
    }

    pub(crate) fn fanout(&self) -> Fanout {
        self.fanout
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.reader.ring().max_message()
    }

    /// The geometry's capacity: slots, or bytes on a ring sized in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.segment.geometry().capacity
    }

    /// Whether the ring is sized in bytes (messages of any size up to the maximum).
    pub(crate) fn is_bytes(&self) -> bool {
        matches!(self.reader, Reading::Bytes { .. })
    }

    pub(crate) fn set_wait_policy(&mut self, policy: WaitPolicy) {
        self.policy = policy;
    }

    /// Messages (bytes, on a ring sized in bytes) published and not yet read by this
    /// subscriber (a snapshot; in overwrite mode it may exceed what the ring still holds).
    pub(crate) fn pending(&self) -> u64 {
        match &self.reader {
            Reading::Bytes { ring, reader } => bytes_broadcast::unread(ring, reader.position()),
            Reading::Slots { ring, reader } => {
                // SYNC: Relaxed; a snapshot for information.
                let tail = ring.control().tail.load(sync::Ordering::Relaxed);
                tail.saturating_sub(reader.position())
            }
        }
    }

    /// The next message whose length `accept`s (else `Refused`, and it stays), or how far
    /// this subscriber lagged, waiting as `wait` allows.
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<Got, Stop> {
        let (ring, segment, policy) = (self.reader.ring(), &self.segment, self.fanout.policy);
        let reader = &mut self.reader;
        let from = reader.position();
        let cursor = subscribers::cursor(segment, self.seat);
        let watch = Handles { segment, role: Some(Role::Sender) };
        let mut attempt = || match &mut *reader {
            Reading::Slots { ring, reader } => reader.next(ring, policy, cursor, &accept),
            Reading::Bytes { ring, reader } => {
                reader.next(ring, cursor, &accept).map(|(pos, len)| Next::Message { pos, len })
            }
        };
        let mut next = wait_on(segment, &ring.control().not_empty, &watch, self.policy, wait, &mut attempt);
        if matches!(next, Err(Stop::WouldBlock)) && liveness::all_gone(segment, Role::Sender) {
            // A `try_` call on a drained ring whose publishers have all gone: what they
            // published is visible now (the Acquire load in `all_gone`), so one last
            // look decides between a message and the end of the stream. One header
            // word, read only on an empty ring: no cost on the path that gets messages.
            next = match attempt() {
                Err(Unavailable::WouldBlock) => Err(Stop::Gone),
                other => other.map_err(stop),
            };
        } else if matches!(next, Err(Stop::WouldBlock)) {
            if let Some(drained) = self.bell.rearm(segment) {
                // Armed on the fd: drained and re-armed, so this last look and the fd
                // together miss nothing. Asked after arming, answered after the look, so
                // a killed publisher's last message is still received first.
                let gone = gone_after_drain(segment, Role::Sender, drained);
                next = match attempt() {
                    Err(Unavailable::WouldBlock) if gone => Err(Stop::Gone),
                    other => other.map_err(stop),
                };
            }
        }
        if policy == Policy::Block && self.reader.position() != from {
            // Skipped positions moved the cursor: a publisher may be waiting for that.
            self.bell.notify_publishers(segment);
        }
        let next = next?;
        Ok(match next {
            Next::Message { pos, len } => {
                if let (Ring::Slots(ring), Policy::Block) = (ring, policy) {
                    // Tell loom the subscriber now reads this payload. (In overwrite mode
                    // the read races with the next lap by design and is validated; the
                    // byte ring told it already.)
                    ring.meta(pos).payload.with(|_| ());
                }
                Got::Message { pos, len }
            }
            Next::Lagged(missed) => Got::Lagged(missed),
        })
    }

    /// The payload of the message at `pos`, for the holder of its guard.
    pub(crate) fn payload(&self, pos: u64) -> *const u8 {
        self.reader.ring().payload(pos)
    }

    /// Whether the message at `pos` is still intact (always, in block mode). If not, the
    /// cursor moves to the oldest message still held, and the number missed (counting
    /// the one at `pos`) is returned.
    pub(crate) fn validate(&mut self, pos: u64) -> Result<(), u64> {
        let cursor = subscribers::cursor(&self.segment, self.seat);
        match &mut self.reader {
            Reading::Slots { ring, reader }
                if self.fanout.policy == Policy::Overwrite && !broadcast::still_valid(ring, pos) =>
            {
                Err(reader.lagged_at(ring, pos, cursor))
            }
            // Block mode (every ring sized in bytes blocks): nothing is overwritten unread.
            _ => Ok(()),
        }
    }

    /// Moves past the message at `pos`; in block mode, wakes a publisher waiting for it.
    pub(crate) fn done(&mut self, pos: u64) {
        let cursor = subscribers::cursor(&self.segment, self.seat);
        match &mut self.reader {
            Reading::Slots { reader, .. } => reader.release(pos, cursor),
            Reading::Bytes { reader, .. } => reader.release(pos, cursor),
        }
        if self.fanout.policy == Policy::Block {
            self.bell.notify_publishers(&self.segment);
        }
    }

    /// Copies the next message into `buf` if it fits (else it stays, `Refused`), waiting
    /// as `wait` allows; validated in overwrite mode. Returns its length, or how many
    /// messages this subscriber missed.
    pub(crate) fn recv_copy(&mut self, wait: Wait, buf: &mut [u8]) -> Result<Result<usize, u64>, Stop> {
        let room = buf.len();
        match self.recv(wait, |len| len <= room)? {
            Got::Lagged(missed) => Ok(Err(missed)),
            Got::Message { pos, len } => {
                // SAFETY: `recv` checked `len` against the slot size (or the record's
                // extent) and `buf`; the bytes are plain bytes (in overwrite mode perhaps of the next lap, which
                // `validate` below tells).
                unsafe { std::ptr::copy_nonoverlapping(self.payload(pos), buf.as_mut_ptr(), len) };
                if let Err(missed) = self.validate(pos) {
                    return Ok(Err(missed));
                }
                self.done(pos);
                Ok(Ok(len))
            }
        }
    }
}

impl Drop for ShmSubscriber {
    fn drop(&mut self) {
        if sync::abandoned_by_loom() || self.segment.is_forked_copy() {
            return;
        }
        self.bell.disarm(&self.segment);
        subscribers::leave(&self.segment, self.seat);
        // A publisher waiting for this subscriber looks at the cursors again.
        self.reader.ring().control().not_full.wake(self.segment.geometry().signaling);
        self.bell.notify_publishers(&self.segment);
    }
}

/// Retries `attempt` as `wait` and `policy` allow, parked on `signal` (see
/// `signal::wait`), until it succeeds or `watch` says the peer has gone.
fn wait_on<R>(
    segment: &Shared,
    signal: &Signal,
    watch: &Handles<'_>,
    policy: WaitPolicy,
    wait: Wait,
    mut attempt: impl FnMut() -> Result<R, Unavailable>,
) -> Result<R, Stop> {
    let blocked = Blocked { signal, how: segment.geometry().signaling, policy, wait };
    blocked.retry(watch, || match attempt() {
        Ok(r) => Ok(Some(r)),
        Err(Unavailable::WouldBlock) => Ok(None),
        Err(other) => Err(stop(other)),
    })
}

/// What a ring's refusal means to the caller.
fn stop(e: Unavailable) -> Stop {
    match e {
        // (`Writing` is the MPMC ring's; a broadcast ring never reports it.)
        Unavailable::WouldBlock | Unavailable::Writing(_) => Stop::WouldBlock,
        Unavailable::Refused(len) => Stop::Refused(len),
        Unavailable::Corrupt(reason) => Stop::Corrupt(reason),
    }
}

/// The handles of a broadcast segment, as the wait loop watches them: a subscriber
/// watches the publishers (`role`), whose departure ends its stream; a publisher watches
/// nobody's departure (`None`), only dead handles to recover.
struct Handles<'a> {
    segment: &'a Shared,
    role: Option<Role>,
}

impl Watch for Handles<'_> {
    fn peer_gone(&self, check_pid: bool) -> bool {
        self.role.is_some_and(|role| liveness::peer(self.segment, role, check_pid) == Peer::Gone)
    }

    fn recover_if_due(&self) {
        liveness::recover_if_due(self.segment);
    }

    fn recover(&self) {
        liveness::recover(self.segment);
    }
}
