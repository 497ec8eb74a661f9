//! Crash recovery on an MPMC or broadcast segment: the seats of dead processes are
//! freed, and what each was claiming is resolved by the ring (`ring::mpmc::rescue`,
//! `ring::bytes_mpmc::rescue`, `ring::broadcast::rescue`); a broadcast segment's dead subscribers stop gating its
//! publishers (`subscribers::free_dead`).
//!
//! An SPSC segment needs none: a new holder of a role takes over where the dead one left
//! (see `attach`), and the ring's positions tell it how far that was.

use std::time::Duration;

#[cfg(not(ferry_loom))]
use super::watcher::watch;

use crate::{
    liveness::{
        holders,
        process::alive,
        roles::{Role, DETACHED},
        seats::{free, is_taken, occupant},
        subscribers,
    },
    ring::{broadcast, bytes_mpmc, mpmc, mpmc::NO_CLAIM, RingKind},
    segment::{Ration, Segment, Shared},
    sync::Ordering::{AcqRel, Acquire, Relaxed},
};

/// How often one process looks for dead handles in a segment it waits on, where it
/// polls for them (system calls).
const RECOVERY_INTERVAL: Duration = Duration::from_millis(20);
/// How often one process makes sure that every holder of a segment it waits on is
/// watched (`watcher`): a holder that dies before it is watched is found by the next
/// look, at most this late.
const WATCH_INTERVAL: Duration = Duration::from_millis(2);

/// Makes sure dead handles in `segment` are found, at most every `WATCH_INTERVAL`: where
/// the watcher runs, by having every holder watched (no system call, but for a holder
/// seen the first time); else, or for a holder found dead or that cannot be watched, by
/// [`recover_dead`], at most every `RECOVERY_INTERVAL`, so that callers polling a wedged
/// ring do not pay a system call per seat on every poll.
pub(crate) fn recover_if_due(segment: &Shared) {
    // Under loom `recover` does nothing: keep the rate limits out of the models too.
    if cfg!(ferry_loom) || !segment.due(Ration::Watch, WATCH_INTERVAL) {
        return;
    }
    #[cfg(not(ferry_loom))]
    if watch(segment) {
        // The watcher recovers the dead; what is left is the mark two last handles
        // leaving at once may both have missed (see `recover`).
        mark_all_gone(segment);
        return;
    }
    // (Where the watcher runs, only a holder found dead, or one it cannot watch, comes
    // here: the first time at once.)
    if segment.due(Ration::Poll, RECOVERY_INTERVAL) {
        recover_dead(segment);
    }
}

/// Resolves what every dead handle of `segment` left behind, and wakes the side that can
/// move on: [`mark_dead_holders`] (SPSC) or [`recover`]. A system call per holder.
pub(crate) fn recover_dead(segment: &Segment) {
    if segment.geometry().kind.is_spsc() {
        mark_dead_holders(segment);
    } else {
        recover(segment);
    }
}

/// SPSC: a role whose holder has died is marked `DETACHED`, as if it had left, so that
/// every later call of the other side (the `try_` calls included, which look only at
/// the word) reports it gone. The dead holder's messages were published before it
/// died: the other side still receives them first.
pub(crate) fn mark_dead_holders(segment: &Segment) {
    let mut marked = false;
    for role in [Role::Sender, Role::Receiver] {
        let word = role.word(segment);
        // SYNC: Acquire; pairs with the Release stores of the word in `attach` and
        // `detach`, as in `holders::peer`.
        let holder = word.load(Acquire);
        if holder != 0 && holder != DETACHED && !alive(holder) {
            // SYNC: AcqRel on success, as `detach`'s Release store would be (pairs with
            // the Acquire loads of the word); only the dead holder's identity is replaced,
            // never a new holder's.
            marked |= word.compare_exchange(holder, DETACHED, AcqRel, Relaxed).is_ok();
        }
    }
    if marked {
        let signaling = segment.geometry().signaling;
        let wake = |control: &crate::ring::RingControl| {
            control.not_empty.wake(signaling);
            control.not_full.wake(signaling);
        };
        if segment.geometry().kind.is_bytes() {
            wake(segment.byte_ring().control());
        } else {
            wake(segment.ring().control());
        }
    }
}

/// Frees the seats of dead processes (MPMC), first resolving what each was claiming
/// (see `ring::mpmc::rescue`): a slot a dead sender claimed is marked abandoned, so
/// receivers skip it; a slot a dead receiver held is released. Wakes the side that
/// can move on. Takes a system call per occupied seat; callers ration it.
pub(crate) fn recover(segment: &Segment) {
    // Under loom every handle is in this one live process: nothing to recover.
    let kind = segment.geometry().kind;
    if kind.is_spsc() || cfg!(ferry_loom) {
        return;
    }
    // (On a ring sized in bytes only the control block of this view is meaningful: the
    // signals. Its claims are resolved on the byte ring.)
    let ring = segment.ring();
    let seats = segment.seats();
    let signaling = segment.geometry().signaling;
    let live_claim = |role: u64, pos: u64| {
        seats.iter().any(|seat| match occupant(seat) {
            Some((owner, held_as, claim)) => held_as == role && claim == pos && alive(owner),
            // Changing hands: its new owner is alive and might claim `pos`.
            None => is_taken(seat),
        })
    };
    let mut freed = false;
    for seat in seats {
        let Some((owner, role, claim)) = occupant(seat) else { continue };
        if alive(owner) {
            continue;
        }
        let sender = role == Role::Sender as u64;
        let outcome = match claim {
            NO_CLAIM => mpmc::Rescue::Nothing,
            pos => match kind {
                RingKind::Broadcast => broadcast::rescue(&ring, pos, || live_claim(role, pos)),
                // A broadcast byte ring's claims are its publishers', as on MPMC.
                RingKind::MpmcBytes | RingKind::BroadcastBytes => {
                    bytes_mpmc::rescue(&segment.byte_ring(), pos, sender, || live_claim(role, pos))
                }
                _ => mpmc::rescue(&ring, pos, sender, || live_claim(role, pos)),
            },
        };
        match outcome {
            mpmc::Rescue::Pending => continue,
            mpmc::Rescue::Nothing => {}
            // The fd doorbell is not rung from here (this layer holds no fds): the
            // recoverer re-checks the ring itself, and a handle asleep on its fd re-checks
            // within its wait's slice.
            mpmc::Rescue::Skippable => {
                let _ = ring.control().not_empty.notify(signaling);
            }
            mpmc::Rescue::Freed => {
                let _ = ring.control().not_full.notify(signaling);
            }
        }
        freed |= free(seat, owner);
    }
    if kind.is_broadcast() && subscribers::free_dead(segment) {
        // A dead subscriber no longer gates the publishers (who hold no doorbell: a
        // broadcast channel has none yet).
        let _ = ring.control().not_full.notify(signaling);
    }
    // Also after no seat was freed here: two last handles leaving at once may both have
    // seen the other's seat still taken.
    mark_all_gone(segment);
    if freed {
        // Anyone parked on a role that may just have lost its last holder re-checks.
        ring.control().not_empty.wake(signaling);
        ring.control().not_full.wake(signaling);
    }
}

/// Marks each role of an MPMC or broadcast `segment` that no seat holds any more (see
/// `holders::all_gone`). (A broadcast channel's receivers are its subscribers, whose
/// seats are not these: only its publishers are marked.)
fn mark_all_gone(segment: &Segment) {
    let kind = segment.geometry().kind;
    if kind.is_spsc() {
        return;
    }
    holders::mark_if_all_gone(segment, Role::Sender);
    if matches!(kind, RingKind::Mpmc | RingKind::MpmcBytes) {
        holders::mark_if_all_gone(segment, Role::Receiver);
    }
}
