//! Proof that the doorbell model bites: a re-arm without the heavy barrier after it
//! must be reported by loom (it passes unbroken in `doorbell.rs`).
#![cfg(ferry_loom)]

mod common;
mod doorbell_bodies;

use common::with_mutation;
use doorbell_bodies::arm_then_rearm;
use ferry::loom_hooks::Mutation;

#[test]
#[should_panic]
fn doorbell_rearm_without_the_heavy_barrier_is_caught() {
    with_mutation(Mutation::DoorbellArm, arm_then_rearm);
}
