//! Proof that the semaphore models bite: the wake-up model of `semaphore.rs`, run with
//! the waker reading the waiter count without the light barrier before it, must be reported by loom as a lost wake-up (a deadlock). A test
//! binary of its own, since the mutation is global to the process.
#![cfg(ferry_loom)]

mod common;

use common::with_mutation;
use ferry::{loom_hooks::Mutation, Config, RingKind, Signaling};
use loom::thread;

/// A receiver that parks at once on an empty semaphore-signalled ring, and the one
/// message that must wake it.
fn sleeping_receiver() {
    let config = Config::new().kind(RingKind::Spsc).signaling(Signaling::Semaphore).slot_size(8).capacity(2);
    let (mut tx, mut rx) = ferry::in_memory(&config).unwrap();
    let receiver = thread::spawn(move || rx.recv_value::<u64>().unwrap());
    tx.send_value(7u64).unwrap();
    assert_eq!(receiver.join().unwrap(), 7);
    drop(tx);
}

#[test]
#[should_panic]
fn a_semaphore_notify_without_the_light_barrier_is_caught() {
    with_mutation(Mutation::NotifyLoad, sleeping_receiver);
}
