//! Subscriber seats: one per subscriber of a broadcast segment, naming its process and
//! holding its cursor (the ring's word: `ring::broadcast`).
//!
//! The table is sized at create (`Config::subscribers`, 128 by default). A subscriber
//! takes a free seat with a CAS of its `owner` from 0 to its process identity, then
//! announces its cursor ([`join`]); it gives the seat back by clearing the cursor, then
//! the owner ([`leave`]). A seat whose holder died is given back by whoever finds it dead
//! ([`free_dead`]): it first CASes the owner to [`FREEING`], so that only one recoverer
//! touches the seat and no new owner can take it while its cursor is cleared, then clears
//! the cursor, then the owner. A block-mode publisher therefore stops waiting for a dead
//! subscriber as soon as a recovery ran (every blocked handle runs one every 20 ms).

use crate::{
    liveness::{
        process::alive,
        roles::{Role, EVER_HELD},
    },
    ring::broadcast::{self, Cursor},
    segment::{seat::SubscriberSeat, Segment},
    sync::Ordering::{Acquire, Relaxed, Release},
};

/// A seat's owner while a recoverer clears the cursor of its dead holder. (No identity
/// is all ones: a pid is below 2^22.)
pub(crate) const FREEING: u64 = u64::MAX;

/// Takes a free subscriber seat of `segment` for process `me` and joins the ring with a
/// history of `back` messages: returns the seat and the position the subscriber starts
/// at, or `None` if every seat is taken.
pub(crate) fn join(segment: &Segment, me: u64, back: u64) -> Option<(usize, u64)> {
    let seats = segment.subscriber_seats();
    let index = seats.iter().position(|seat| {
        // SYNC: Acquire on success; pairs with the Release store of 0 in `leave` or
        // `free_dead`: the previous owner is done with the seat and its cursor is idle.
        seat.owner.compare_exchange(0, me, Acquire, Relaxed).is_ok()
    })?;
    let start = broadcast::join(&segment.ring(), &seats[index].cursor, back);
    // SYNC: Release; pairs with the Acquire load in `holders`, which tells "never
    // subscribed" from "all gone" by it.
    Role::Receiver.word(segment).store(EVER_HELD, Release);
    Some((index, start))
}

/// Gives the seat `index` up, by its holder.
pub(crate) fn leave(segment: &Segment, index: usize) {
    if let Some(seat) = segment.subscriber_seats().get(index) {
        seat.cursor.clear();
        // SYNC: Release; pairs with the Acquire CAS in `join`: the next owner starts
        // after the cursor is idle.
        seat.owner.store(0, Release);
    }
}

/// The cursor of the subscriber in seat `index`.
pub(crate) fn cursor(segment: &Segment, index: usize) -> &Cursor {
    &segment.subscriber_seats()[index].cursor
}

/// Every subscriber seat's cursor (idle ones included: the ring ignores them).
pub(crate) fn cursors(segment: &Segment) -> impl Iterator<Item = &Cursor> {
    segment.subscriber_seats().iter().map(|seat| &seat.cursor)
}

/// `(owner, cursor)` of every occupied seat of `segment`, a snapshot for inspection.
pub(crate) fn occupants(segment: &Segment) -> Vec<(u64, Option<u64>)> {
    occupants_in(segment.subscriber_seats())
}

/// `(owner, cursor)` of every occupied seat among `seats` (mapped, or a copy read for
/// inspection).
pub(crate) fn occupants_in(seats: &[SubscriberSeat]) -> Vec<(u64, Option<u64>)> {
    seats
        .iter()
        .filter_map(|seat| {
            // SYNC: Acquire; pairs with the Acquire CAS in `join` and the Release stores
            // in `leave` (a snapshot: the cursor is read for information only).
            let owner = seat.owner.load(Acquire);
            (owner != 0 && owner != FREEING).then(|| (owner, seat.cursor.get()))
        })
        .collect()
}

/// Gives back every seat whose holder is dead; returns whether it freed any. A system
/// call per occupied seat: callers ration it.
pub(crate) fn free_dead(segment: &Segment) -> bool {
    let mut freed = false;
    for seat in segment.subscriber_seats() {
        freed |= free_if_dead(seat);
    }
    freed
}

fn free_if_dead(seat: &SubscriberSeat) -> bool {
    // SYNC: Relaxed; the CAS below decides.
    let owner = seat.owner.load(Relaxed);
    if owner == 0 || owner == FREEING || alive(owner) {
        return false;
    }
    // SYNC: Acquire on success; the dead holder's last cursor store is before ours.
    // Only the one recoverer whose CAS succeeds touches the seat.
    if seat.owner.compare_exchange(owner, FREEING, Acquire, Relaxed).is_err() {
        return false;
    }
    seat.cursor.clear();
    // SYNC: Release; pairs with the Acquire CAS in `join`.
    seat.owner.store(0, Release);
    true
}
