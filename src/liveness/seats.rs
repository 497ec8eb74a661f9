//! Seats: one per attached MPMC handle, naming its process, its role and the ring
//! position it is claiming.
//!
//! A handle announces in its seat's claim word the position it is about to claim
//! *before* its CAS on the ring's tail (sender) or head (receiver), and withdraws it once
//! it has published (sender) or released (receiver) the slot, or given up (the ring does
//! both: `ring::mpmc`). So whoever sees a position claimed (the tail or head past it)
//! also sees the claimer's announcement, and a position claimed by a dead handle can be
//! told from one claimed by a live handle that is merely slow: see `ring::mpmc::rescue`
//! and `recovery`.
//!
//! A seat's `owner` is taken with a CAS from 0, and given back by its holder or by
//! whoever finds the holder dead.

use crate::{
    liveness::roles::Role,
    ring::mpmc::NO_CLAIM,
    segment::{seat::Seat, Segment},
    sync::{
        AtomicU64,
        Ordering::{Acquire, Relaxed, Release},
    },
};

/// `(owner, role, claim)` of `seat`, or `None` if the seat is free or changed owner
/// while read (a new owner is alive, so a caller that needs certainty treats that as
/// live).
pub(crate) fn occupant(seat: &Seat) -> Option<(u64, u64, u64)> {
    // SYNC: Acquire, all three; pair with the Release stores in `take` and `leave` and
    // the claim's announcement: a seat read with an owner shows that owner's role and a
    // claim it announced (or a later one).
    let owner = seat.owner.load(Acquire);
    let role = seat.role.load(Acquire);
    let claim = seat.claim.load(Acquire);
    (owner != 0 && seat.owner.load(Acquire) == owner).then_some((owner, role, claim))
}

/// Whether `seat` has an owner (perhaps one still setting it up).
pub(crate) fn is_taken(seat: &Seat) -> bool {
    // SYNC: Acquire; pairs with the CAS in `take`, as in `occupant`.
    seat.owner.load(Acquire) != 0
}

/// Takes a free seat of `segment` for a handle of process `me` in `role`, if there is
/// one; returns its index.
pub(crate) fn take(segment: &Segment, me: u64, role: Role) -> Option<usize> {
    segment.seats().iter().position(|seat| {
        // SYNC: Acquire on success; pairs with the Release store of 0 in `leave` or
        // `free`: the previous owner is done with the seat.
        let taken = seat.owner.compare_exchange(0, me, Acquire, Relaxed).is_ok();
        if taken {
            // SYNC: Release, both; pair with the Acquire loads in `occupant`.
            seat.claim.store(NO_CLAIM, Release);
            seat.role.store(role as u64, Release);
        }
        taken
    })
}

/// Gives `seat` up, by its holder.
pub(crate) fn leave(seat: &Seat) {
    // SYNC: Release, all three; pair with the Acquire loads in `occupant` and the CAS in
    // `take`: the next owner starts after this one.
    seat.claim.store(NO_CLAIM, Release);
    seat.role.store(0, Release);
    seat.owner.store(0, Release);
}

/// Gives back the seat of `owner`, found dead; `false` if someone else already did.
pub(crate) fn free(seat: &Seat, owner: u64) -> bool {
    // SYNC: Release on success; pairs with the Acquire CAS in `take`. Only the one
    // recoverer whose CAS succeeds gives the seat back; it writes nothing else, since a
    // new owner may take the seat at once.
    seat.owner.compare_exchange(owner, 0, Release, Relaxed).is_ok()
}

/// The claim word of the handle in seat `index` of `segment`.
pub(crate) fn claim(segment: &Segment, index: usize) -> &AtomicU64 {
    &segment.seats()[index].claim
}
