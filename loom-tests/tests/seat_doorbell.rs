//! Loom model of the broadcast channel's per-seat doorbell (`src/signal/seat_doorbell.rs`):
//! a subscriber that sleeps on its fd is never left asleep while a message it has not seen
//! is published, whichever other subscriber or publisher races it; the publisher learns
//! from the shared waiter word that a seat is armed, then scans the seats' flags. The
//! broken variant runs in `seat_doorbell_mutations.rs` (the breakage switch is global to
//! the process, so it gets a binary of its own).
#![cfg(ferry_loom)]

mod common;
mod seat_doorbell_bodies;

use common::model;
use seat_doorbell_bodies::{
    one_subscriber_arms_then_rearms, two_publishers_race_to_ring_a_seat, two_subscribers_each_hear_the_publication,
};

#[test]
fn seat_doorbell_subscriber_armed_while_publisher_publishes_is_rung() {
    model(one_subscriber_arms_then_rearms);
}

#[test]
fn seat_doorbell_every_armed_subscriber_hears_a_publication() {
    model(two_subscribers_each_hear_the_publication);
}

#[test]
fn seat_doorbell_two_publishers_racing_for_a_flag_lose_no_ring() {
    model(two_publishers_race_to_ring_a_seat);
}
