//! The per-seat doorbell model bodies (a broadcast channel's subscribers), shared by the
//! passing models (`seat_doorbell.rs`) and their deliberately broken run
//! (`seat_doorbell_mutations.rs`).
// Each test binary uses part of this module.
#![allow(dead_code)]

use ferry::loom_hooks::SeatDoorbellRace;
use loom::thread;

/// A fresh race, leaked: a model loom reports unwinds while a thread is blocked, and a
/// loom `Arc` dropped during that unwinding aborts the process instead of reporting.
fn race() -> &'static SeatDoorbellRace {
    Box::leak(Box::new(SeatDoorbellRace::new()))
}

/// One publisher publishes messages 1 and 2; the subscriber of seat 0 waits for each on
/// its doorbell (arming for the first, re-arming for the second).
pub fn one_subscriber_arms_then_rearms() {
    let race = race();
    let publisher = thread::spawn(move || {
        race.publish();
        race.publish();
    });
    race.receive(0, 2);
    publisher.join().unwrap();
}

/// One publisher publishes one message; both subscribers wait for it on their own
/// doorbells: each must be rung (a byte consumed by one must not leave the other asleep).
pub fn two_subscribers_each_hear_the_publication() {
    let race = race();
    let publisher = thread::spawn(move || race.publish());
    let other = thread::spawn(move || race.receive(1, 1));
    race.receive(0, 1);
    publisher.join().unwrap();
    other.join().unwrap();
}

/// Two publishers publish one message each, racing for the seat's flag; the subscriber
/// waits for the first, then re-arms for the second.
pub fn two_publishers_race_to_ring_a_seat() {
    let race = race();
    let first = thread::spawn(move || race.publish());
    let second = thread::spawn(move || race.publish());
    race.receive(0, 2);
    first.join().unwrap();
    second.join().unwrap();
}
