//! Crash recovery on an MPMC segment: the seats of dead processes are freed, and what
//! each was claiming is resolved by the ring (`ring::mpmc::rescue`).
//!
//! An SPSC segment needs none: a new holder of a role takes over where the dead one left
//! (see `attach`), and the ring's positions tell it how far that was.

use std::time::Duration;

use crate::{
    liveness::{
        process::alive,
        roles::Role,
        seats::{free, is_taken, occupant},
    },
    ring::{mpmc, mpmc::NO_CLAIM, RingKind},
    segment::Segment,
};

/// How often one process looks for dead handles in a segment it waits on.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(20);

/// Runs [`recover`] if this process has not run it on this segment for
/// `RECOVERY_INTERVAL`, so that callers polling a wedged ring do not pay a system call
/// per seat on every poll.
pub(crate) fn recover_if_due(segment: &Segment) {
    // Under loom `recover` does nothing: keep the rate limit out of the models too.
    if segment.geometry().kind != RingKind::Mpmc || cfg!(ferry_loom) {
        return;
    }
    if segment.due(RECOVERY_INTERVAL) {
        recover(segment);
    }
}

/// Frees the seats of dead processes (MPMC), first resolving what each was claiming
/// (see `ring::mpmc::rescue`): a slot a dead sender claimed is marked abandoned, so
/// receivers skip it; a slot a dead receiver held is released. Wakes the side that
/// can move on. Takes a system call per occupied seat; callers ration it.
pub(crate) fn recover(segment: &Segment) {
    // Under loom every handle is in this one live process: nothing to recover.
    if segment.geometry().kind != RingKind::Mpmc || cfg!(ferry_loom) {
        return;
    }
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
            pos => mpmc::rescue(&ring, pos, sender, || live_claim(role, pos)),
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
    if freed {
        // Anyone parked on a role that may just have lost its last holder re-checks.
        ring.control().not_empty.wake(signaling);
        ring.control().not_full.wake(signaling);
    }
}
