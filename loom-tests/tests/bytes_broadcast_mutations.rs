//! Proof that the broadcast byte ring's models bite: each runs with one ordering of the
//! ring weakened, and loom must report it: a publisher writing bytes a subscriber still
//! reads, or a subscriber reading bytes not yet written. The same models pass unbroken in
//! `bytes_broadcast.rs`.
#![cfg(ferry_loom)]

mod byte_ring_broadcast;
mod common;

use common::{with_mutation, with_mutation_bounded};
use ferry::loom_hooks::Mutation;

#[test]
#[should_panic]
fn bytes_broadcast_cursor_without_release_is_caught() {
    with_mutation(Mutation::BroadcastCursor, byte_ring_broadcast::one_subscriber_wrap);
}

#[test]
#[should_panic]
fn bytes_broadcast_cursor_without_release_is_caught_with_two_subscribers() {
    with_mutation_bounded(Mutation::BroadcastCursor, 2, byte_ring_broadcast::two_subscribers);
}

#[test]
#[should_panic]
fn bytes_broadcast_publish_without_release_is_caught() {
    with_mutation(Mutation::BytesMpmcPublish, byte_ring_broadcast::one_subscriber_wrap);
}

#[test]
#[should_panic]
fn bytes_broadcast_claim_without_acquire_is_caught() {
    with_mutation_bounded(Mutation::BytesMpmcClaim, 2, byte_ring_broadcast::two_publishers_wrap);
}

#[test]
#[should_panic]
fn bytes_broadcast_join_without_seqcst_fence_is_caught() {
    with_mutation(Mutation::BroadcastJoin, byte_ring_broadcast::join_while_publishing);
}
