//! Loom models of the broadcast byte ring: variable-length records claimed by publishers
//! in the claiming turn and read in place at each subscriber's cursor, across the wrap
//! (a padding record, then a record at the start of the region over bytes read before).
//! `bytes_broadcast_mutations.rs` proves the models bite.
#![cfg(ferry_loom)]

mod byte_ring_broadcast;
mod common;

use common::{model, model_bounded};

#[test]
fn bytes_broadcast_a_publisher_waits_for_the_cursor_before_reusing_bytes() {
    model(byte_ring_broadcast::one_subscriber_wrap);
}

#[test]
fn bytes_broadcast_the_gate_waits_for_the_lower_of_two_cursors() {
    model_bounded(2, byte_ring_broadcast::two_subscribers);
}

#[test]
fn bytes_broadcast_two_publishers_deliver_every_record_once_across_the_wrap() {
    model_bounded(2, byte_ring_broadcast::two_publishers_wrap);
}

#[test]
fn bytes_broadcast_a_joiner_is_never_overwritten_where_it_starts() {
    model(byte_ring_broadcast::join_while_publishing);
}
