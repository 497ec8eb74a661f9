//! Proof that the per-seat doorbell model bites: a subscriber's re-arm without the
//! heavy barrier (modelled by its read-modify-write on the waiter word) must be reported by loom (it passes unbroken in
//! `seat_doorbell.rs`).
#![cfg(ferry_loom)]

mod common;
mod seat_doorbell_bodies;

use common::with_mutation;
use ferry::loom_hooks::Mutation;
use seat_doorbell_bodies::one_subscriber_arms_then_rearms;

#[test]
#[should_panic]
fn seat_doorbell_rearm_without_the_heavy_barrier_is_caught() {
    with_mutation(Mutation::DoorbellArm, one_subscriber_arms_then_rearms);
}
