//! Subscriber seats: one per subscriber of a broadcast segment, naming its process and
//! holding its cursor (the ring's word: `ring::broadcast`).
//!
//! The table is sized at create (`Config::subscribers`, 128 by default). A subscriber
//! takes a free seat with a CAS of its `owner` from 0 to its process identity, then
//! announces its cursor ([`join`]); it gives the seat back by clearing the cursor, then
//! the owner ([`leave`]). A seat whose holder died is given back by whoever finds it dead
//! ([`free_dead`]): it first CASes the owner to its own identity, so that only one
//! recoverer touches the seat and no new owner can take it while its cursor is cleared,
//! then clears the cursor, then the owner. A recoverer that dies on the way leaves the
//! seat owned by a dead process, which the next recovery frees in turn: a seat is never
//! lost, and a dead subscriber's cursor never gates the publishers for good. A
//! block-mode publisher therefore stops waiting for a dead subscriber as soon as a
//! recovery ran (the watcher runs one when a watched subscriber dies; without it, every
//! blocked handle runs one every 20 ms).

use crate::{
    liveness::{
        process::{alive, me},
        roles::{Role, EVER_HELD},
    },
    ring::{
        broadcast::{self, Cursor},
        bytes_broadcast,
    },
    segment::{seat::SubscriberSeat, Segment},
    sync::Ordering::{Acquire, Relaxed, Release},
};

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
    let cursor = &seats[index].cursor;
    let start = if segment.geometry().kind.is_bytes() {
        bytes_broadcast::join(&segment.byte_ring(), cursor)
    } else {
        broadcast::join(&segment.ring().control().tail, |tail| tail, cursor, back)
    };
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
            (owner != 0).then(|| (owner, seat.cursor.get()))
        })
        .collect()
}

/// Gives back every seat whose holder is dead; returns whether it freed any. A system
/// call per occupied seat: callers ration it.
pub(crate) fn free_dead(segment: &Segment) -> bool {
    let mut recoverer = None;
    let mut freed = false;
    for seat in segment.subscriber_seats() {
        freed |= free_if_dead(seat, &mut recoverer);
    }
    freed
}

/// Frees `seat` if its holder is dead, taking it first as `recoverer` (this process's
/// identity, looked up once).
fn free_if_dead(seat: &SubscriberSeat, recoverer: &mut Option<u64>) -> bool {
    // SYNC: Relaxed; the CAS below decides.
    let owner = seat.owner.load(Relaxed);
    if owner == 0 || alive(owner) {
        return false;
    }
    let me = *recoverer.get_or_insert_with(me);
    // SYNC: Acquire on success; the dead holder's last cursor store is before ours.
    // Only the one recoverer whose CAS succeeds touches the seat; while it holds it, no
    // subscriber can take it (`join` needs 0).
    if seat.owner.compare_exchange(owner, me, Acquire, Relaxed).is_err() {
        return false;
    }
    seat.cursor.clear();
    // SYNC: Release; pairs with the Acquire CAS in `join`: the next owner starts after
    // the cursor is idle.
    seat.owner.store(0, Release);
    true
}

#[cfg(all(test, not(ferry_loom)))]
mod tests {
    use super::*;
    use crate::{config::Config, ring::RingKind, sync::Ordering::SeqCst};

    /// An identity no live process has: pid 4194303 is above the kernel's limit.
    const DEAD: u64 = (1 << 32) | 0x3f_ffff;

    fn segment() -> Segment {
        let geometry = Config::new().kind(RingKind::Broadcast).capacity(8).slot_size(8).subscribers(4).geometry();
        Segment::heap(geometry, me()).expect("a heap segment")
    }

    #[test]
    fn a_dead_subscribers_seat_is_freed_and_its_cursor_stops_gating() {
        let segment = segment();
        let (index, _) = join(&segment, DEAD, 0).expect("a seat");
        assert!(cursor(&segment, index).get().is_some());
        assert!(free_dead(&segment));
        assert_eq!(segment.subscriber_seats()[index].owner.load(SeqCst), 0);
        assert!(cursor(&segment, index).get().is_none());
        assert!(!free_dead(&segment), "nothing left to free");
    }

    #[test]
    fn a_seat_left_by_a_recoverer_that_died_mid_free_is_freed_by_the_next() {
        let segment = segment();
        let (index, _) = join(&segment, DEAD, 0).expect("a seat");
        // A recoverer (process DEAD + 1, dead too) took the seat and died before
        // clearing the cursor: the seat names it, and the cursor still gates.
        segment.subscriber_seats()[index].owner.store(DEAD + 1, SeqCst);
        assert!(free_dead(&segment));
        assert!(cursor(&segment, index).get().is_none());
        assert!(join(&segment, me(), 0).is_some_and(|(i, _)| i == index), "the seat is free again");
    }

    #[test]
    fn a_live_subscribers_seat_is_left_alone() {
        let segment = segment();
        let (index, _) = join(&segment, me(), 0).expect("a seat");
        assert!(!free_dead(&segment));
        assert_eq!(segment.subscriber_seats()[index].owner.load(SeqCst), me());
        leave(&segment, index);
    }
}
