//! Loom models of ferry's rings, wake-up protocol and segment handshake.
//!
//! Every model drives ferry's own code (the crate built with `--cfg ferry_loom`, whose
//! `src/sync/` then hands out loom's atomics, `UnsafeCell` and a futex model) on heap
//! memory. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg ferry_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p ferry-loom-tests --release
//! ```
#![cfg(ferry_loom)]

mod common;

use common::{
    model, model_bounded, mpmc_copy_in_progress, mpmc_two_by_two, rescue_spares_a_live_receiver,
    rescue_spares_a_live_sender, segment_handshake, sleeping_receiver, sleeping_sender, spsc_loans_batches_wrap,
};
use ferry::RingKind;

#[test]
fn spsc_delivers_every_message_once_across_wrap_around() {
    model(spsc_loans_batches_wrap);
}

/// The suite's bound of three preemptions: since `try_recv` waits for a copy in progress
/// (parked, under loom), that is 2,960,555 interleavings, about seven minutes on the
/// 2-vCPU CI machine, the longest model of the suite.
#[test]
fn mpmc_two_producers_two_consumers_exactly_once() {
    model_bounded(3, mpmc_two_by_two);
}

#[test]
fn mpmc_try_recv_after_a_send_returned_waits_for_the_copy_ahead_of_it() {
    model(mpmc_copy_in_progress);
}

#[test]
fn spsc_receiver_parked_on_empty_is_woken() {
    model(|| sleeping_receiver(RingKind::Spsc));
}

#[test]
fn mpmc_receiver_parked_on_empty_is_woken() {
    model(|| sleeping_receiver(RingKind::Mpmc));
}

#[test]
fn spsc_sender_parked_on_full_is_woken() {
    model(|| sleeping_sender(RingKind::Spsc, 2));
}

#[test]
fn mpmc_sender_parked_on_full_is_woken() {
    model(|| sleeping_sender(RingKind::Mpmc, 2));
}

/// Capacity 1 in two slots: the sender finds its slot free but the ring at its limit,
/// parks, and the release of the position before it must wake it.
#[test]
fn mpmc_sender_parked_at_its_limit_is_woken() {
    model(|| sleeping_sender(RingKind::Mpmc, 1));
}

#[test]
fn opener_never_sees_a_half_initialised_header() {
    model(segment_handshake);
}

#[test]
fn mpmc_rescue_never_takes_a_live_senders_slot() {
    model(rescue_spares_a_live_sender);
}

#[test]
fn mpmc_rescue_never_releases_a_live_receivers_slot() {
    model(rescue_spares_a_live_receiver);
}
