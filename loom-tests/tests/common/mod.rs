//! The model bodies, shared by the passing models and their deliberately broken runs.
// Each test binary uses part of this module.
#![allow(dead_code)]

use std::sync::{atomic::Ordering, Mutex};

use ferry::{
    loom_hooks::{set_mutation, Handshake, Mutation, RescueRace},
    Config, RingKind,
};
use loom::{
    sync::{atomic::AtomicBool, Arc},
    thread,
};

/// Runs `body` under loom (bounded by `LOOM_MAX_PREEMPTIONS`) and prints how many
/// interleavings it explored.
pub fn model(body: impl Fn() + Sync + Send + 'static) {
    #[allow(clippy::disallowed_types, reason = "counts interleavings outside the model; loom must not see it")]
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let start = std::time::Instant::now();
    let before = RUNS.load(Ordering::SeqCst);
    loom::model(move || {
        RUNS.fetch_add(1, Ordering::SeqCst);
        body();
    });
    let runs = RUNS.load(Ordering::SeqCst) - before;
    let test = std::thread::current().name().unwrap_or("model").to_owned();
    println!("{test}: explored {runs} interleavings in {:.1} s", start.elapsed().as_secs_f64());
}

/// Runs `body` under loom as [`model`] does, with at most `bound` preemptions whatever
/// `LOOM_MAX_PREEMPTIONS` says: for a model whose state space the suite's bound makes
/// too large to explore in CI.
pub fn model_bounded(bound: usize, body: impl Fn() + Sync + Send + 'static) {
    #[allow(clippy::disallowed_types, reason = "counts interleavings outside the model; loom must not see it")]
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(bound, |b| b.min(bound)));
    let start = std::time::Instant::now();
    let before = RUNS.load(Ordering::SeqCst);
    builder.check(move || {
        RUNS.fetch_add(1, Ordering::SeqCst);
        body();
    });
    let runs = RUNS.load(Ordering::SeqCst) - before;
    let test = std::thread::current().name().unwrap_or("model").to_owned();
    println!(
        "{test}: explored {runs} interleavings (at most {bound} preemptions) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Runs `body` under loom with `mutation` applied to ferry's code; one at a time, since
/// the switch is global to the process.
pub fn with_mutation(mutation: Mutation, body: impl Fn() + Sync + Send + 'static) {
    with_mutation_run(mutation, || model(body));
}

/// As [`with_mutation`], with at most `bound` preemptions (see [`model_bounded`]).
pub fn with_mutation_bounded(mutation: Mutation, bound: usize, body: impl Fn() + Sync + Send + 'static) {
    with_mutation_run(mutation, || model_bounded(bound, body));
}

fn with_mutation_run(mutation: Mutation, run: impl FnOnce()) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            set_mutation(Mutation::None);
        }
    }
    let _reset = Reset;
    set_mutation(mutation);
    run();
}

/// Fills `buf` with bytes derived from `value`, so a torn or stale payload shows.
fn pattern(value: u8, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = value.wrapping_mul(31).wrapping_add(i as u8);
    }
}

fn check(value: u8, bytes: &[u8]) {
    let mut want = [0u8; 8];
    pattern(value, &mut want);
    assert_eq!(bytes, &want[..], "message {value} torn or stale");
}

/// SPSC, two slots, three messages: a loan committed alone, one sent in a batch, one
/// sent blocking into the slot the first used (wrap-around). The consumer reads the
/// first in place, then releases the next two through a batch.
pub fn spsc_loans_batches_wrap() {
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(2)).unwrap();
    let producer = thread::spawn(move || {
        let mut loan = tx.loan().unwrap();
        pattern(0, &mut loan[..8]);
        loan.commit(8);

        let mut batch = tx.batch();
        let mut loan = batch.try_loan().expect("one slot is free after one message");
        pattern(1, &mut loan[..8]);
        loan.commit(8);
        drop(batch);

        let mut message = [0u8; 8];
        pattern(2, &mut message);
        tx.send(&message).unwrap();
    });
    let guard = rx.recv().unwrap();
    check(0, &guard);
    drop(guard);
    let mut got = 1;
    while got < 3 {
        let mut batch = rx.batch();
        while let Ok(guard) = batch.try_recv() {
            check(got, &guard);
            got += 1;
        }
        drop(batch);
        thread::yield_now();
    }
    producer.join().unwrap();
}

/// MPMC, two slots: two producers send one message each while two consumers (a thread
/// and the main thread) each try once to take one; what they leave, the main thread
/// takes after the others are done. Every message arrives exactly once and whole.
/// (Non-blocking calls keep the model small; the parking paths have their own models.
/// The threads hand their handles back, so that detaching, which the delivery does not
/// depend on, does not multiply the interleavings.)
pub fn mpmc_two_by_two() {
    let config = Config::new().kind(RingKind::Mpmc).slot_size(8).capacity(2);
    let (tx, mut rx) = ferry::in_memory(&config).unwrap();
    let producers = [1u8, 2].map(|value| {
        let mut tx = tx.try_clone().unwrap();
        thread::spawn(move || {
            let mut message = [0u8; 8];
            pattern(value, &mut message);
            tx.try_send(&message).expect("two slots hold both messages");
            tx
        })
    });
    let consumer = {
        let mut rx = rx.try_clone().unwrap();
        thread::spawn(move || {
            let got = rx.try_recv().ok().map(|guard| take(&guard));
            (got, rx)
        })
    };
    let mut got: Vec<u8> = rx.try_recv().ok().map(|guard| take(&guard)).into_iter().collect();
    let senders = producers.map(|producer| producer.join().unwrap());
    let (taken, other) = consumer.join().unwrap();
    got.extend(taken);
    while let Ok(guard) = rx.try_recv() {
        got.push(take(&guard));
    }
    got.sort_unstable();
    assert_eq!(got, [1, 2], "each message exactly once");
    drop((senders, other, tx));
}

/// MPMC, two slots: two producers copy one message each (`try_send`); once the second
/// one's send has returned, the consumer's `try_recv` starts and must get a message,
/// never `Empty`, whichever producer claimed first: if the first is still writing the
/// head, the consumer waits for it (not for long: it is a copy, not a loan). Both
/// messages arrive exactly once and whole. (The producers hand their handles back, so
/// that detaching, which the delivery does not depend on, does not multiply the
/// interleavings.)
pub fn mpmc_copy_in_progress() {
    let config = Config::new().kind(RingKind::Mpmc).slot_size(8).capacity(2);
    let (tx, mut rx) = ferry::in_memory(&config).unwrap();
    let returned = Arc::new(AtomicBool::new(false));
    let producer = |value: u8, done: Option<Arc<AtomicBool>>| {
        let mut tx = tx.try_clone().unwrap();
        thread::spawn(move || {
            let mut message = [0u8; 8];
            pattern(value, &mut message);
            tx.try_send(&message).expect("two slots hold both messages");
            if let Some(done) = done {
                done.store(true, Ordering::Release);
            }
            tx
        })
    };
    let first = producer(1, None);
    let second = producer(2, Some(returned.clone()));
    while !returned.load(Ordering::Acquire) {
        thread::yield_now();
    }
    let mut got = vec![rx.try_recv().map(|guard| take(&guard)).expect("a send has returned: not Empty")];
    let senders = [first.join().unwrap(), second.join().unwrap()];
    got.extend(rx.try_recv().ok().map(|guard| take(&guard)));
    got.sort_unstable();
    assert_eq!(got, [1, 2], "each message exactly once");
    drop((senders, tx));
}

/// The value a message carries, after checking every byte of it.
fn take(bytes: &[u8]) -> u8 {
    let value = (1..=2u8).find(|&v| bytes[0] == v.wrapping_mul(31)).expect("a known message");
    check(value, bytes);
    value
}

/// A receiver that parks at once on an empty ring must be woken by the one message.
pub fn sleeping_receiver(kind: RingKind) {
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().kind(kind).slot_size(8).capacity(2)).unwrap();
    let receiver = thread::spawn(move || rx.recv_value::<u64>().unwrap());
    tx.send_value(7u64).unwrap();
    assert_eq!(receiver.join().unwrap(), 7);
    drop(tx);
}

/// A sender that parks at once on a full ring of capacity `capacity` (2: a full two-slot
/// ring; 1 on MPMC: two slots, one of them free, and the limit full) must be woken by
/// the release.
pub fn sleeping_sender(kind: RingKind, capacity: usize) {
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().kind(kind).slot_size(8).capacity(capacity)).unwrap();
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

/// The creator publishes the segment while an opener looks: the opener sees nothing or
/// the whole, valid header.
pub fn segment_handshake() {
    let handshake = Arc::new(Handshake::new(8, 2));
    let creator = {
        let handshake = handshake.clone();
        thread::spawn(move || handshake.publish())
    };
    if let Some(seen) = handshake.observe() {
        assert_eq!(seen.expect("a published header checks out"), (8, 2));
    }
    creator.join().unwrap();
}

/// A live MPMC sender claims and publishes position 0 while a recoverer, told that a
/// dead sender announced the same position, tries to rescue it: the live sender's
/// announcement must be visible to the recoverer whenever the position shows claimed, so
/// the slot is never taken from it and its message arrives. (Both run on spawned
/// threads: loom explores far fewer orders of the main thread against one it spawned.)
pub fn rescue_spares_a_live_sender() {
    let race = Arc::new(RescueRace::default());
    let sender = {
        let race = race.clone();
        thread::spawn(move || race.send(7))
    };
    let rescuer = {
        let race = race.clone();
        thread::spawn(move || race.rescue_position_0(true))
    };
    sender.join().unwrap();
    let took = rescuer.join().unwrap();
    assert!(!took, "the recoverer took the live sender's slot");
    assert_eq!(race.recv(), Some(7));
}

/// As above for a live receiver holding position 0's message: its slot is never released
/// under it, and the ring keeps turning.
pub fn rescue_spares_a_live_receiver() {
    let race = Arc::new(RescueRace::default());
    race.send(7);
    let receiver = {
        let race = race.clone();
        thread::spawn(move || race.recv())
    };
    let rescuer = {
        let race = race.clone();
        thread::spawn(move || race.rescue_position_0(false))
    };
    assert_eq!(receiver.join().unwrap(), Some(7));
    let took = rescuer.join().unwrap();
    assert!(!took, "the recoverer released the live receiver's slot");
    race.send(8);
    assert_eq!(race.recv(), Some(8));
}
