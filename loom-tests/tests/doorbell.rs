//! Loom model of the fd doorbell's arm/ring protocol (`src/signal/doorbell.rs`): a
//! receiver that sleeps on its fd is never left asleep while a message it has not seen
//! is published, across a first arming and a re-arming, with one or two senders. The
//! broken variant runs in `doorbell_mutations.rs` (the breakage switch is global to the
//! process, so it gets a binary of its own).
#![cfg(ferry_loom)]

mod common;
mod doorbell_bodies;

use common::model;
use doorbell_bodies::{arm_then_rearm, two_senders_race_to_ring};

#[test]
fn doorbell_receiver_armed_while_sender_publishes_is_rung() {
    model(arm_then_rearm);
}

#[test]
fn doorbell_two_senders_racing_for_the_flag_lose_no_ring() {
    model(two_senders_race_to_ring);
}
