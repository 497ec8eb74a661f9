//! Loom models of the broadcast ring: the block-mode gate, the overwrite-mode seqlock,
//! and a subscriber joining while a publisher publishes. Run as the other models:
//!
//! ```sh
//! RUSTFLAGS="--cfg ferry_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p ferry-loom-tests --release
//! ```
#![cfg(ferry_loom)]

mod broadcast;
mod common;

use common::model;

#[test]
fn broadcast_block_mode_never_overwrites_an_unread_slot() {
    model(broadcast::block_gate);
}

#[test]
fn broadcast_overwrite_mode_never_accepts_a_torn_message() {
    model(broadcast::overwrite_reader_never_accepts_a_torn_message);
}

#[test]
fn broadcast_joiner_is_never_overwritten_where_it_starts() {
    model(broadcast::join_while_publishing);
}
