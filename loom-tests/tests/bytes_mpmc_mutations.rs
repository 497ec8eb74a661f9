//! Proof that the MPMC byte ring's models bite: each runs with one ordering of the ring
//! weakened to Relaxed, and loom must report it: a read racing a write, or a sender that
//! never sees the room a receiver freed and sleeps for good (a deadlock). The same models
//! pass unbroken in `bytes_mpmc.rs`.
#![cfg(ferry_loom)]

mod byte_ring_mpmc;
mod common;

use common::with_mutation_bounded;
use ferry::loom_hooks::Mutation;

#[test]
#[should_panic]
fn bytes_mpmc_claim_without_acquire_is_caught() {
    with_mutation_bounded(Mutation::BytesMpmcClaim, 2, byte_ring_mpmc::two_senders_wrap);
}

#[test]
#[should_panic]
fn bytes_mpmc_publish_without_release_is_caught() {
    with_mutation_bounded(Mutation::BytesMpmcPublish, 2, byte_ring_mpmc::two_senders_wrap);
}

#[test]
#[should_panic]
fn bytes_mpmc_release_without_release_is_caught() {
    with_mutation_bounded(Mutation::BytesMpmcRelease, 2, byte_ring_mpmc::two_receivers_release_out_of_order);
}
