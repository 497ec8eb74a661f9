//! The doorbell model bodies, shared by the passing models (`doorbell.rs`) and their
//! deliberately broken run (`doorbell_mutations.rs`).
// Each test binary uses part of this module.
#![allow(dead_code)]

use ferry::loom_hooks::DoorbellRace;
use loom::thread;

/// A fresh race, leaked: a model loom reports unwinds while a thread is blocked, and a
/// loom `Arc` dropped during that unwinding aborts the process instead of reporting.
fn race() -> &'static DoorbellRace {
    Box::leak(Box::new(DoorbellRace::new()))
}

/// One sender publishes messages 1 and 2; the receiver waits for each on the doorbell
/// (arming for the first, re-arming for the second).
pub fn arm_then_rearm() {
    let race = race();
    let sender = thread::spawn(move || {
        race.publish();
        race.publish();
    });
    race.receive(2);
    sender.join().unwrap();
}

/// Two senders publish one message each, racing for the flag; the receiver waits for
/// the first, then re-arms for the second.
pub fn two_senders_race_to_ring() {
    let race = race();
    let first = thread::spawn(move || race.publish());
    let second = thread::spawn(move || race.publish());
    race.receive(2);
    first.join().unwrap();
    second.join().unwrap();
}
