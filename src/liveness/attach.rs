//! Taking a role and giving it up.

use crate::{
    error::AttachError,
    liveness::{
        holders,
        process::{alive, me, pid_of},
        recovery::recover,
        roles::{Role, DETACHED, EVER_HELD},
        seats,
    },
    segment::Segment,
    sync::{
        fence,
        Ordering::{AcqRel, Acquire, Release, SeqCst},
    },
};

/// Takes `role` in `segment` for a handle of this process: returns its seat on an MPMC
/// segment (and for a broadcast channel's publisher). An SPSC role whose holder has died
/// is taken over.
pub(crate) fn attach(segment: &Segment, role: Role) -> Result<Option<usize>, AttachError> {
    let me = me();
    let word = role.word(segment);
    if !segment.geometry().kind.is_spsc() {
        // Seats of dead processes are given back by `recover`: try again after it.
        let seat = seats::take(segment, me, role).or_else(|| {
            recover(segment);
            seats::take(segment, me, role)
        });
        let Some(seat) = seat else {
            return Err(AttachError::Unsupported {
                endpoint: format!("shm:{}", segment.name()),
                what: "more handles attached to one MPMC channel (or publishers to one broadcast channel) at once \
                       than it has seats (128)",
            });
        };
        // SYNC: Release; pairs with the Acquire load in `holders::peer`, which tells
        // "never held" from "all gone" by it.
        word.store(EVER_HELD, Release);
        return Ok(Some(seat));
    }
    // SYNC: Acquire; pairs with the Release store in `detach`, so a new holder starts
    // after everything the previous one published.
    let mut current = word.load(Acquire);
    loop {
        if current != 0 && current != DETACHED && alive(current) {
            let pid = pid_of(current);
            return Err(AttachError::RoleTaken { name: segment.name().to_owned(), role: role.name(), pid });
        }
        // SYNC: AcqRel on success as for the load above; Acquire on failure to retry.
        match word.compare_exchange(current, me, AcqRel, Acquire) {
            Ok(_) => return Ok(None),
            Err(now) => current = now,
        }
    }
}

/// Gives `role` up (and `seat`, on an MPMC segment).
pub(crate) fn detach(segment: &Segment, role: Role, seat: Option<usize>) {
    match seat.and_then(|i| segment.seats().get(i)) {
        Some(seat) => {
            seats::leave(seat);
            // Under loom, as recovery, the mark is left out: the models check the rings
            // and the wake-ups, and a scan of every seat at each detach multiplies their
            // interleavings without being what they check.
            if !cfg!(ferry_loom) {
                // SYNC: SeqCst; orders the store that left the seat before the loads of
                // the other seats in `mark_if_all_gone`: of two last handles leaving at
                // once, at least one sees the other's seat free, so the mark is not lost.
                fence(SeqCst);
                holders::mark_if_all_gone(segment, role);
            }
        }
        // SYNC: Release; pairs with the Acquire loads in `attach` and `holders::peer`:
        // whoever sees the role released also sees everything this side published.
        None => role.word(segment).store(DETACHED, Release),
    }
}
