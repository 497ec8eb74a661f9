//! Proof that the doorbell model bites: a re-arm without the read-modify-write on the
//! waiter word must be reported by loom (it passes unbroken in `doorbell.rs`).
#![cfg(ferry_loom)]

mod common;
mod doorbell_bodies;

use common::with_mutation;
use doorbell_bodies::arm_then_rearm;
use ferry::loom_hooks::Mutation;

#[test]
#[should_panic]
fn doorbell_rearm_without_the_waiter_rmw_is_caught() {
    with_mutation(Mutation::DoorbellArm, arm_then_rearm);
}
