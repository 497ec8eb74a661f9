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
//!
//! Each seat in a role is also counted in the role's word in the header (see `roles`),
//! so that the other side learns "every holder has gone" from one word it reads cheaply.
//! The seat's role word says whether its seat is counted: a new owner counts itself
//! before it stores its role, and whoever clears the role (the holder leaving, or the one
//! recoverer that took the seat of a dead holder) uncounts it. So a seat is uncounted at
//! most once per count; a process dying between the two steps leaves the count one too
//! high (the role looks held until the seats are scanned, as `holders::peer` does with
//! `check_pid`), never too low (a live role reported gone).

use crate::{
    liveness::roles::{joined, left_one, Role},
    ring::mpmc::NO_CLAIM,
    segment::{seat::Seat, Segment},
    sync::{
        AtomicU64,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
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
            // SYNC: Release; pairs with the Acquire loads in `occupant`.
            seat.claim.store(NO_CLAIM, Release);
            // Counted before the role is stored (see the module doc).
            count(segment, role, joined);
            // SYNC: Release; pairs with the Acquire loads in `occupant` and the swap in
            // `uncount`: whoever sees the role sees the seat counted.
            seat.role.store(role as u64, Release);
        }
        taken
    })
}

/// Gives `seat` up, by its holder.
pub(crate) fn leave(segment: &Segment, seat: &Seat) {
    // SYNC: Release; pairs with the Acquire loads in `occupant`.
    seat.claim.store(NO_CLAIM, Release);
    uncount(segment, seat);
    // SYNC: Release; pairs with the Acquire loads in `occupant` and the CAS in `take`:
    // the next owner starts after this one.
    seat.owner.store(0, Release);
}

/// Gives back the seat of `owner`, found dead, for the recoverer `me` (alive); `false`
/// if someone else already did.
///
/// The one recoverer whose CAS moves the seat from the dead owner to itself clears it
/// and uncounts it; meanwhile nobody can take it (`take` needs 0), so a second, late
/// recoverer cannot uncount the seat of a new owner. Should the recoverer die before it
/// gives the seat back, the seat shows a dead owner again and the next recovery
/// finishes the job.
pub(crate) fn free(segment: &Segment, seat: &Seat, owner: u64, me: u64) -> bool {
    // SYNC: Acquire on success; pairs with the Release stores of the dead owner (`take`):
    // its role is visible to `uncount`.
    if seat.owner.compare_exchange(owner, me, Acquire, Relaxed).is_err() {
        return false;
    }
    // SYNC: Release; the claim was resolved by the caller, pairs with `occupant`.
    seat.claim.store(NO_CLAIM, Release);
    uncount(segment, seat);
    // SYNC: Release; pairs with the Acquire CAS in `take`: the next owner starts after
    // the seat was cleared.
    seat.owner.store(0, Release);
    true
}

/// Clears the role of `seat` (held by the caller) and uncounts the seat from the role it
/// named, if it was counted.
fn uncount(segment: &Segment, seat: &Seat) {
    // SYNC: AcqRel; Acquire pairs with the Release store in `take` (the count happened
    // before), Release with the Acquire loads in `occupant`.
    if let Some(role) = Role::from_u64(seat.role.swap(0, AcqRel)) {
        count(segment, role, left_one);
    }
}

/// Applies `change` to `role`'s count in `segment`'s header.
fn count(segment: &Segment, role: Role, change: fn(u64) -> u64) {
    // SYNC: AcqRel, Acquire on failure; Release pairs with the Acquire load in
    // `holders::left` and `holders::peer`: a side that sees the role gone (the last
    // detach's value) sees everything each leaving handle published before it left (the
    // RMWs form one release sequence). Acquire so that a later count follows this one.
    let word = role.word(segment);
    let _ = word.fetch_update(AcqRel, Acquire, |w| Some(change(w)));
}

/// The claim word of the handle in seat `index` of `segment`.
pub(crate) fn claim(segment: &Segment, index: usize) -> &AtomicU64 {
    &segment.seats()[index].claim
}
