//! Loom models of the MPMC byte ring: variable-length records claimed by several senders
//! or several receivers, across the wrap (a padding record, then a record at the start of
//! the region). `bytes_mpmc_mutations.rs` proves the models bite.
#![cfg(ferry_loom)]

mod byte_ring_mpmc;
mod common;

use common::model_bounded;

#[test]
fn bytes_mpmc_two_senders_deliver_every_record_once_across_the_wrap() {
    model_bounded(2, byte_ring_mpmc::two_senders_wrap);
}

#[test]
fn bytes_mpmc_a_sender_waiting_for_room_and_one_that_fits_deliver_each_once() {
    model_bounded(2, byte_ring_mpmc::two_senders_one_waits_for_room);
}

#[test]
fn bytes_mpmc_two_receivers_releasing_in_either_order_never_expose_a_read_record() {
    model_bounded(3, byte_ring_mpmc::two_receivers_release_out_of_order);
}
