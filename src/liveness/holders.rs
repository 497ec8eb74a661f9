//! Who holds a segment: what one side knows of the other ([`Peer`]), who holds each role
//! ([`Holders`]), and whether nobody can be using the segment any more (staleness).

use crate::{
    liveness::{
        process::{alive, pid_of, running},
        roles::{Role, DETACHED, EVER_HELD},
        seats::occupant,
        subscribers,
    },
    ring::RingKind,
    segment::{
        header::Header,
        seat::{Seat, SubscriberSeat},
        Segment,
    },
    sync::Ordering::{AcqRel, Acquire, Relaxed, Release},
};

/// What one side knows of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Never attached yet: wait for it.
    NotYet,
    /// Attached and alive.
    Attached,
    /// Detached, or died while attached.
    Gone,
}

/// The state of the handles holding `role` in `segment`. Whether a holder is still
/// alive takes a system call, made only with `check_pid`.
pub(crate) fn peer(segment: &Segment, role: Role, check_pid: bool) -> Peer {
    peer_by(segment, role, check_pid.then_some(alive))
}

/// [`peer`] once this side's doorbell has reported that every holder of its ringing end
/// closed it: a holder that has begun to exit counts as gone (`process::running`), so
/// that the hang-up and the receive after it agree even before the kernel has made the
/// holder a zombie.
pub(crate) fn peer_after_hangup(segment: &Segment, role: Role) -> Peer {
    peer_by(segment, role, Some(running))
}

/// [`peer`], asking `live` (a system call) whether a holder still runs, if given.
fn peer_by(segment: &Segment, role: Role, live: Option<fn(u64) -> bool>) -> Peer {
    // SYNC: Acquire; pairs with the Release stores in `attach` and `detach`: a caller
    // that sees `Gone` and then finds the ring empty has seen every message the peer
    // published.
    let word = role.word(segment).load(Acquire);
    match segment.geometry().kind {
        RingKind::Spsc | RingKind::SpscBytes => match word {
            0 => Peer::NotYet,
            DETACHED => Peer::Gone,
            holder if live.is_some_and(|live| !live(holder)) => {
                // Remembered in the word, so that the `try_` calls see it too.
                // SYNC: AcqRel on success, as in `recovery::mark_dead_holders`.
                let _ = role.word(segment).compare_exchange(holder, DETACHED, AcqRel, Relaxed);
                Peer::Gone
            }
            _ => Peer::Attached,
        },
        RingKind::Mpmc | RingKind::MpmcBytes | RingKind::Broadcast | RingKind::BroadcastBytes => {
            let held = segment
                .seats()
                .iter()
                .filter_map(occupant)
                .any(|(owner, held_as, _)| held_as == role as u64 && live.is_none_or(|live| live(owner)));
            match (held, word) {
                (true, _) => Peer::Attached,
                (false, 0) => Peer::NotYet,
                (false, _) => Peer::Gone,
            }
        }
    }
}

/// Whether every handle of `role` has gone from `segment`, from one load of the role
/// word and without a system call: the check a send or receive makes on every call.
///
/// SPSC: the word says `DETACHED`. MPMC (and a broadcast channel's publishers): the
/// last handle to leave (or the recovery that frees the last dead one's seat) marks the
/// word `DETACHED` ([`mark_if_all_gone`]), and a new handle's attach overwrites the mark.
/// A mark that raced with an attach is caught here, confirmed against the seats, and
/// taken back. A dead holder counts as present until recovery frees its seat.
pub(crate) fn all_gone(segment: &Segment, role: Role) -> bool {
    let word = role.word(segment);
    // SYNC: Acquire; pairs with the Release stores of the word in `attach`, `detach` and
    // `mark_if_all_gone`: a caller that sees the peers gone and then finds the ring empty
    // has seen every message they published.
    if word.load(Acquire) != DETACHED {
        return false;
    }
    match segment.geometry().kind {
        RingKind::Spsc | RingKind::SpscBytes => true,
        _ => {
            if peer(segment, role, false) == Peer::Gone {
                return true;
            }
            // A handle attached while the mark was made: take the mark back.
            // SYNC: Relaxed; the word is only a hint here, the seats were just read.
            let _ = word.compare_exchange(DETACHED, EVER_HELD, Relaxed, Relaxed);
            false
        }
    }
}

/// Marks `role`'s word `DETACHED` if no seat of `segment` holds `role` any more (MPMC
/// and broadcast publishers; see [`all_gone`]). Called after a handle leaves its seat
/// and after recovery frees dead ones.
pub(crate) fn mark_if_all_gone(segment: &Segment, role: Role) {
    let held = segment.seats().iter().filter_map(occupant).any(|(_, held_as, _)| held_as == role as u64);
    if !held {
        // SYNC: Release on success; pairs with the Acquire load in `all_gone`, and orders
        // after the leaving handle's publications (its seat's Release stores). Only a
        // word some handle set (`EVER_HELD`) is marked: never a role nobody took yet.
        let _ = role.word(segment).compare_exchange(EVER_HELD, DETACHED, Release, Relaxed);
    }
}

/// Who holds a segment, as [`holders`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holders {
    pub(crate) creator_pid: u32,
    pub(crate) creator_alive: bool,
    pub(crate) sender: Holder,
    pub(crate) receiver: Holder,
}

impl Holders {
    /// Whether nobody can be using the segment: its creator is dead and no live process
    /// holds a role.
    pub(crate) fn stale(&self) -> bool {
        let idle = |h: &Holder| match h {
            Holder::Never | Holder::Left => true,
            Holder::Process { alive, .. } => !alive,
            Holder::Processes(all) => all.iter().all(|&(_, alive)| !alive),
        };
        !self.creator_alive && idle(&self.sender) && idle(&self.receiver)
    }
}

/// Who holds one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// Never held.
    Never,
    /// Held, then given up.
    Left,
    /// Held by this process (SPSC), alive or dead.
    Process { pid: u32, alive: bool },
    /// Held by these processes (MPMC; pid and whether alive, each once), maybe none now.
    Processes(Vec<(u32, bool)>),
}

/// Who holds `segment`: its creator and both roles, as seen now.
pub(crate) fn holders(segment: &Segment) -> Holders {
    holders_in(segment.geometry().kind, segment.header(), segment.seats(), segment.subscriber_seats())
}

/// Who holds the segment of `kind` whose header, seats and subscriber seats these are
/// (mapped, or a copy read for inspection: `segment::snapshot`).
pub(crate) fn holders_in(
    kind: RingKind,
    header: &Header,
    seats: &[Seat],
    subscriber_seats: &[SubscriberSeat],
) -> Holders {
    let creator = header.creator();
    let role = |role: Role| {
        let word = match role {
            Role::Sender => header.sender_word(),
            Role::Receiver => header.receiver_word(),
        };
        // SYNC: Acquire; pairs with the Release stores in `attach` and `detach`.
        let word = word.load(Acquire);
        match (kind, word) {
            (_, 0) => Holder::Never,
            (RingKind::Spsc | RingKind::SpscBytes, DETACHED) => Holder::Left,
            (RingKind::Spsc | RingKind::SpscBytes, identity) => {
                Holder::Process { pid: pid_of(identity), alive: alive(identity) }
            }
            (RingKind::Broadcast | RingKind::BroadcastBytes, _) if role == Role::Receiver => {
                let mut owners =
                    subscribers::occupants_in(subscriber_seats).into_iter().map(|(owner, _)| owner).collect::<Vec<_>>();
                owners.sort_unstable();
                owners.dedup();
                let processes = owners.into_iter().map(|owner| (pid_of(owner), alive(owner))).collect::<Vec<_>>();
                if processes.is_empty() {
                    Holder::Left
                } else {
                    Holder::Processes(processes)
                }
            }
            (RingKind::Mpmc | RingKind::MpmcBytes | RingKind::Broadcast | RingKind::BroadcastBytes, _) => {
                let mut owners: Vec<u64> = seats
                    .iter()
                    .filter_map(occupant)
                    .filter(|&(_, held_as, _)| held_as == role as u64)
                    .map(|(owner, _, _)| owner)
                    .collect();
                owners.sort_unstable();
                owners.dedup();
                let processes = owners.into_iter().map(|owner| (pid_of(owner), alive(owner))).collect::<Vec<_>>();
                if processes.is_empty() {
                    Holder::Left
                } else {
                    Holder::Processes(processes)
                }
            }
        }
    };
    Holders {
        creator_pid: pid_of(creator),
        creator_alive: alive(creator),
        sender: role(Role::Sender),
        receiver: role(Role::Receiver),
    }
}

/// Whether nobody can be using `segment` (see [`Holders::stale`]): the judge
/// `Segment::create` reclaims a left-behind segment by.
pub(crate) fn is_stale(segment: &Segment) -> bool {
    holders(segment).stale()
}

/// Removes the segment `name` if it is stale; returns whether it did. A segment that
/// cannot be opened and checked is left alone.
#[cfg(not(ferry_loom))]
pub(crate) fn reclaim_if_stale(name: &str) -> bool {
    crate::segment::reclaim_if(name, is_stale)
}
