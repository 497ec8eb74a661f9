//! Crash recovery: finding dead holders and recording it where the other side looks.
//!
//! On an MPMC segment the seats of dead processes are freed (which uncounts them from
//! their role's word, see `seats`), and what each was claiming is resolved by the ring
//! (`ring::mpmc::rescue`). On an SPSC segment a dead holder's role word is marked
//! detached; a new holder of the role takes over where the dead one left (see `attach`),
//! and the ring's positions tell it how far that was.
//!
//! Either way the other side then learns the role has gone from one header word
//! (`holders::left`), without a system call of its own.

use std::time::Duration;

use crate::{
    liveness::{
        holders::mark_detached,
        process::{alive, me},
        roles::{Role, DETACHED},
        seats::{free, is_taken, occupant},
    },
    ring::{mpmc, mpmc::NO_CLAIM, RingKind},
    segment::Segment,
    sync::Ordering::Acquire,
};

/// How often one process looks for dead handles in a segment it waits on.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(20);

/// Runs [`recover`] if this process has not run it on this segment for
/// `RECOVERY_INTERVAL`, so that callers polling a wedged ring (or a gone peer) do not
/// pay a system call per holder on every poll. Returns whether it ran.
pub(crate) fn recover_if_due(segment: &Segment) -> bool {
    // Under loom `recover` does nothing: keep the rate limit out of the models too.
    if cfg!(ferry_loom) || !segment.due(RECOVERY_INTERVAL) {
        return false;
    }
    recover(segment);
    true
}

/// Records dead holders. SPSC: a dead holder's role word is marked detached. MPMC: the
/// seats of dead processes are freed, first resolving what each was claiming (see
/// `ring::mpmc::rescue`): a slot a dead sender claimed is marked abandoned, so receivers
/// skip it; a slot a dead receiver held is released. Wakes the side that can move on.
/// Takes a system call per holder; callers ration it.
pub(crate) fn recover(segment: &Segment) {
    // Under loom every handle is in this one live process: nothing to recover.
    if cfg!(ferry_loom) {
        return;
    }
    let signaling = segment.geometry().signaling;
    let wake_both = || {
        // Anyone parked on a role that may just have lost its last holder re-checks.
        segment.ring().control().not_empty.wake(signaling);
        segment.ring().control().not_full.wake(signaling);
    };
    if segment.geometry().kind == RingKind::Spsc {
        let mut marked = false;
        for role in [Role::Sender, Role::Receiver] {
            // SYNC: Acquire; pairs with the Release stores of the word (`attach`,
            // `detach`), as in `holders::peer`.
            let holder = role.word(segment).load(Acquire);
            if holder != 0 && holder != DETACHED && !alive(holder) {
                mark_detached(segment, role, holder);
                marked = true;
            }
        }
        if marked {
            wake_both();
        }
        return;
    }
    let ring = segment.ring();
    let seats = segment.seats();
    let mut recoverer = None;
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
            mpmc::Rescue::Skippable => ring.control().not_empty.notify(signaling),
            mpmc::Rescue::Freed => ring.control().not_full.notify(signaling),
        }
        freed |= free(segment, seat, owner, *recoverer.get_or_insert_with(me));
    }
    if freed {
        wake_both();
    }
}
