//! Proof that the models bite: each runs with one deliberate breakage of the production
//! code (an ordering weakened, a barrier left out) and must be
//! reported by loom. The same models pass unbroken in `models.rs`.
#![cfg(ferry_loom)]

mod common;

use common::{
    mpmc_copy_in_progress, mpmc_two_by_two, rescue_spares_a_live_receiver, rescue_spares_a_live_sender,
    segment_handshake, sleeping_receiver, spsc_loans_batches_wrap, with_mutation, with_mutation_bounded,
};
use ferry::{loom_hooks::Mutation, RingKind};

#[test]
#[should_panic]
fn spsc_publish_without_release_is_caught() {
    with_mutation(Mutation::SpscPublish, spsc_loans_batches_wrap);
}

#[test]
#[should_panic]
fn spsc_release_without_release_is_caught() {
    with_mutation(Mutation::SpscRelease, spsc_loans_batches_wrap);
}

#[test]
#[should_panic]
fn mpmc_publish_without_release_is_caught() {
    with_mutation_bounded(Mutation::MpmcPublish, 2, mpmc_two_by_two);
}

#[test]
#[should_panic]
fn waker_reading_waiters_without_the_light_barrier_is_caught() {
    with_mutation(Mutation::NotifyLoad, || sleeping_receiver(RingKind::Spsc));
}

#[test]
#[should_panic]
fn magic_published_without_release_is_caught() {
    with_mutation(Mutation::InitMagic, segment_handshake);
}

#[test]
#[should_panic]
fn sender_claim_without_release_is_caught() {
    with_mutation(Mutation::MpmcClaim, rescue_spares_a_live_sender);
}

#[test]
#[should_panic]
fn receiver_claim_without_release_is_caught() {
    with_mutation(Mutation::MpmcClaim, rescue_spares_a_live_receiver);
}

#[test]
#[should_panic]
fn try_recv_not_waiting_for_a_copy_in_progress_is_caught() {
    with_mutation(Mutation::MpmcWriteWait, mpmc_copy_in_progress);
}
