//! Loom models of the wake-up protocol under `Signaling::Semaphore`: the semaphore is a
//! count on one of ferry's own atomic words (`src/signal/semaphore.rs`), so loom checks
//! it with the same futex model as the futex signaling. A parked side must be woken by
//! the one publication (or release) it waits for. The deliberately broken run is in
//! `semaphore_mutations.rs`: a mutation is global to the process, so it cannot run
//! beside these.
#![cfg(ferry_loom)]

mod common;

use common::model;
use ferry::{Config, RingKind, Signaling};
use loom::thread;

/// The channel every model here runs: semaphore signaling, two slots.
fn config(kind: RingKind) -> Config {
    Config::new().kind(kind).signaling(Signaling::Semaphore).slot_size(8).capacity(2)
}

/// A receiver that parks at once on an empty ring must be woken by the one message.
fn sleeping_receiver(kind: RingKind) {
    let (mut tx, mut rx) = ferry::in_memory(&config(kind)).unwrap();
    let receiver = thread::spawn(move || rx.recv_value::<u64>().unwrap());
    tx.send_value(7u64).unwrap();
    assert_eq!(receiver.join().unwrap(), 7);
    drop(tx);
}

/// A sender that parks at once on a full two-slot ring must be woken by the release.
/// (SPSC only: the semaphore is the same code under either ring, and the MPMC sender's
/// extra compare-and-swaps take loom past several minutes.)
fn sleeping_sender(kind: RingKind) {
    let (mut tx, mut rx) = ferry::in_memory(&config(kind)).unwrap();
    let sender = thread::spawn(move || {
        for value in 1..=3u64 {
            tx.send_value(value).unwrap();
        }
    });
    for value in 1..=3u64 {
        assert_eq!(rx.recv_value::<u64>().unwrap(), value);
    }
    sender.join().unwrap();
}

#[test]
fn spsc_receiver_parked_on_an_empty_semaphore_is_woken() {
    model(|| sleeping_receiver(RingKind::Spsc));
}

#[test]
fn mpmc_receiver_parked_on_an_empty_semaphore_is_woken() {
    model(|| sleeping_receiver(RingKind::Mpmc));
}

#[test]
fn spsc_sender_parked_on_a_full_semaphore_is_woken() {
    model(|| sleeping_sender(RingKind::Spsc));
}
