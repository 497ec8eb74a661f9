//! Who holds a segment: what one side knows of the other ([`Peer`]), who holds each role
//! ([`Holders`]), and whether nobody can be using the segment any more (staleness).

use crate::{
    liveness::{
        process::{alive, pid_of},
        roles::{Role, DETACHED},
        seats::occupant,
    },
    ring::RingKind,
    segment::Segment,
    sync::Ordering::{AcqRel, Acquire, Relaxed},
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

/// Whether every handle that held `role` in `segment` has gone: detached, or found dead
/// by a liveness check (`recovery`), which records it in the same word. A role never
/// held is not gone. No system call: one load of a header word written only at attach
/// and detach, so cheap enough for every send.
#[inline]
pub(crate) fn left(segment: &Segment, role: Role) -> bool {
    // SYNC: Acquire; pairs with the Release stores (SPSC: `detach`, `recovery`) and RMWs
    // (MPMC: `seats::count`) that make the word `DETACHED`: a receiver that sees its
    // senders gone and then finds the ring empty has seen every message they published.
    // (A sender reads nothing through it; on x86-64 this is a plain load.)
    role.word(segment).load(Acquire) == DETACHED
}

/// The state of the handles holding `role` in `segment`. Whether a holder is still
/// alive takes a system call, made only with `check_pid`; an SPSC holder found dead is
/// recorded as detached, so the other side's cheap [`left`] sees it from then on.
pub(crate) fn peer(segment: &Segment, role: Role, check_pid: bool) -> Peer {
    // SYNC: Acquire; as in `left`.
    let word = role.word(segment).load(Acquire);
    let from_word = match word {
        0 => Peer::NotYet,
        DETACHED => Peer::Gone,
        _ => Peer::Attached,
    };
    // (Under loom every handle lives in this one process, and the wall clock, which
    // decides when `check_pid` is set, must not change the atomics a model runs.)
    if !check_pid || from_word != Peer::Attached || cfg!(ferry_loom) {
        return from_word;
    }
    match segment.geometry().kind {
        RingKind::Spsc if alive(word) => Peer::Attached,
        RingKind::Spsc => {
            mark_detached(segment, role, word);
            Peer::Gone
        }
        // The count can be one too high after a process died while attaching or
        // detaching (see `seats`): the seats and the holders' lives are the truth.
        RingKind::Mpmc => {
            let held = segment
                .seats()
                .iter()
                .filter_map(occupant)
                .any(|(owner, held_as, _)| held_as == role as u64 && alive(owner));
            if held {
                Peer::Attached
            } else {
                Peer::Gone
            }
        }
    }
}

/// Records that the SPSC holder `dead` of `role` has died, unless the role has changed
/// hands since.
pub(crate) fn mark_detached(segment: &Segment, role: Role, dead: u64) {
    // SYNC: AcqRel on success; Release pairs with the Acquire load in `left` and `attach`
    // like `detach`'s store (the dead holder's writes were done before it died), Acquire
    // orders them before ours. A failure means a new holder took over: leave it.
    let _ = role.word(segment).compare_exchange(dead, DETACHED, AcqRel, Relaxed);
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
    let creator = segment.header().creator();
    let role = |role: Role| {
        // SYNC: Acquire; pairs with the Release stores in `attach` and `detach`.
        let word = role.word(segment).load(Acquire);
        match (segment.geometry().kind, word) {
            (_, 0) => Holder::Never,
            (RingKind::Spsc, DETACHED) => Holder::Left,
            (RingKind::Spsc, identity) => Holder::Process { pid: pid_of(identity), alive: alive(identity) },
            (RingKind::Mpmc, _) => {
                let mut owners: Vec<u64> = segment
                    .seats()
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
