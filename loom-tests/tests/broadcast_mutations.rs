//! Proof that the broadcast models bite: each runs with one deliberate breakage of the
//! broadcast ring and must be reported by loom. The same models pass unbroken in
//! `broadcast_models.rs`.
#![cfg(ferry_loom)]

mod broadcast;
mod common;

use common::with_mutation;
use ferry::loom_hooks::Mutation;

#[test]
#[should_panic]
fn subscriber_cursor_without_release_is_caught() {
    with_mutation(Mutation::BroadcastCursor, broadcast::block_gate);
}

#[test]
#[should_panic]
fn overwrite_validation_without_acquire_fence_is_caught() {
    with_mutation(Mutation::BroadcastValidate, broadcast::overwrite_reader_never_accepts_a_torn_message);
}

#[test]
#[should_panic]
fn join_without_seqcst_fence_is_caught() {
    with_mutation(Mutation::BroadcastJoin, broadcast::join_while_publishing);
}
