//! MPMC and a send in progress (issue 13, item 5).
//!
//! Vyukov's positions are consumed in order, so a position claimed and not yet published
//! holds up the messages behind it. For a copy send (`send`, `try_send`, ...), whose
//! write takes nanoseconds unless its thread is preempted, `try_recv` waits for the
//! write (a bounded time: 500 µs, spinning then yielding) rather than report `Empty`
//! while later messages are ready, as crossbeam's bounded channel never reports empty a
//! message whose send has returned. For a loan, which user code may hold indefinitely,
//! `try_recv` reports `Empty` at once: head-of-line blocking, documented.
//!
//! The threads coordinate through std's atomics (the harness's own flags and counters;
//! loom models the library, not its tests: see `loom-tests` for the model of this case).
#![allow(clippy::disallowed_types, reason = "test-harness flags and counters; loom models the library, not its tests")]

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, RecvError, RingKind};

/// The big sender's messages: copying one takes tens of microseconds, a window in which
/// the small senders' later messages are published and their sends return.
const BIG: usize = 1 << 20;
/// The bound `try_recv` waits for a copy send in progress (500 µs), less a margin for
/// the clock.
const WAITED: Duration = Duration::from_micros(400);

/// One sender copies 1 MiB messages while two others copy small ones, on their own
/// threads, and a receiver polls with `try_recv`. Before each poll the receiver reads how
/// many sends have returned; if more have returned than it has received, a message is
/// ready behind the head, so the poll must not report `Empty`, unless it waited the
/// whole bound for a writer that stayed preempted. Without the wait, the big message's
/// writer still copying at the head shows as a quick `Empty`.
#[test]
fn try_recv_never_quickly_reports_empty_while_a_returned_send_is_behind_a_copy_in_progress() {
    // Each round gives the threads another chance to interleave as the test needs.
    for _ in 0..3 {
        big_and_small_senders_and_a_polling_receiver();
    }
}

/// One sender copies 1 MiB messages while two others copy small ones, free running on
/// their own threads, and a receiver polls with `try_recv`. Before each poll the
/// receiver reads how many sends have returned; if more have returned than it has
/// received, a message is ready behind the head, so the poll must not report `Empty`,
/// unless it waited the whole bound for a writer that stayed preempted. Without the
/// wait, the big message's writer still copying at the head shows as a quick `Empty`.
fn big_and_small_senders_and_a_polling_receiver() {
    const SENDERS: u64 = 3;
    const BIG_MESSAGES: u64 = 1_000;
    let config = Config::new().kind(RingKind::Mpmc).slot_size(BIG).capacity(16);
    let (tx, mut rx) = ferry::in_memory(&config).expect("in_memory");
    let returned = Arc::new(AtomicU64::new(0));
    // The small senders keep sending until the big one is done, so the two interleave.
    let big_done = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|id| {
            let mut tx = tx.try_clone().expect("a sender per thread");
            let (returned, big_done) = (returned.clone(), big_done.clone());
            thread::spawn(move || {
                let mut message = vec![0u8; if id == 0 { BIG } else { 16 }];
                let mut seq = 0;
                while if id == 0 { seq < BIG_MESSAGES } else { !big_done.load(Ordering::Relaxed) } {
                    message[..8].copy_from_slice(&(id << 32 | seq).to_le_bytes());
                    tx.send(&message).expect("send");
                    // The send has returned: its message must not be reported empty.
                    returned.fetch_add(1, Ordering::Release);
                    seq += 1;
                }
                if id == 0 {
                    big_done.store(true, Ordering::Relaxed);
                }
            })
        })
        .collect();
    drop(tx);
    let (mut received, mut quick_empties, mut waited_out) = (0u64, 0u64, 0u64);
    let mut next = [0u64; SENDERS as usize];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no Disconnected within 60 s of the senders' start");
        let ready = returned.load(Ordering::Acquire);
        let started = Instant::now();
        match rx.try_recv() {
            Ok(message) => {
                let tag = u64::from_le_bytes(message[..8].try_into().expect("8 bytes"));
                let (id, seq) = ((tag >> 32) as usize, tag & 0xffff_ffff);
                assert_eq!(seq, next[id], "sender {id}'s messages in order");
                next[id] += 1;
                received += 1;
            }
            Err(RecvError::Empty) if ready > received => {
                if started.elapsed() < WAITED {
                    quick_empties += 1;
                } else {
                    waited_out += 1;
                }
            }
            Err(RecvError::Empty) => thread::yield_now(),
            Err(RecvError::Disconnected) => break,
            Err(e) => panic!("try_recv: {e}"),
        }
    }
    for sender in senders {
        sender.join().expect("a sender thread");
    }
    eprintln!("{received} received; {waited_out} polls waited out the bound, {quick_empties} reported Empty at once");
    assert_eq!(next[0], BIG_MESSAGES, "every big message");
    assert_eq!(received, returned.load(Ordering::Acquire), "every message");
    assert_eq!(quick_empties, 0, "try_recv reported Empty at once with a returned send's message in the ring");
}

/// In lock step, round after round: a sender starts copying a 1 MiB message; once it has
/// claimed its position, another thread sends a small one, which returns while the big
/// one is still being copied (it is claimed after it, so it sits behind it), and at once
/// polls. The poll must give a message (the big one, waited for), or report `Empty` only
/// after waiting out the bound. (The small send and the poll share a thread, so no
/// hand-over between threads, which a loaded machine can delay by a time slice, lets the
/// copy finish first.)
#[test]
fn try_recv_waits_for_the_copy_at_the_head_when_a_later_send_has_returned() {
    const ROUNDS: u64 = 100;
    let config = Config::new().kind(RingKind::Mpmc).slot_size(BIG).capacity(4);
    let (tx, mut rx) = ferry::in_memory(&config).expect("in_memory");
    // The round the big sender may start.
    let go = AtomicU64::new(0);
    thread::scope(|scope| {
        let mut big = tx.try_clone().expect("the big sender");
        let go_b = &go;
        scope.spawn(move || {
            let message = vec![0xb1u8; BIG];
            for round in 1..=ROUNDS {
                while go_b.load(Ordering::Acquire) < round {
                    std::hint::spin_loop();
                }
                big.send(&message).expect("send the big message");
            }
        });
        let mut small = tx;
        let (mut quick_empties, mut waited_out, mut in_progress) = (0, 0, 0);
        for round in 1..=ROUNDS {
            go.store(round, Ordering::Release);
            // Until the big send has claimed its position (the ring, drained at the end
            // of each round, counts claims in its length).
            while small.is_empty() {
                std::hint::spin_loop();
            }
            small.send(b"small").expect("send the small message");
            // The small send has returned, behind the big one.
            in_progress += usize::from(small.in_flight().expect("in_flight") < 2);
            let started = Instant::now();
            let first = rx.try_recv().map(|m| m.len());
            match first {
                Ok(len) => assert_eq!(len, BIG, "round {round}: the big message first"),
                Err(RecvError::Empty) if started.elapsed() < WAITED => quick_empties += 1,
                Err(RecvError::Empty) => waited_out += 1,
                Err(e) => panic!("round {round}: try_recv: {e}"),
            }
            // Take what is left of the round's two messages.
            let left = if first.is_ok() { 1 } else { 2 };
            for _ in 0..left {
                rx.recv_timeout(Duration::from_secs(5)).expect("the round's messages");
            }
        }
        eprintln!(
            "{ROUNDS} rounds: the big copy still in progress after the small send in {in_progress}; \
             {waited_out} waited out the bound, {quick_empties} reported Empty at once"
        );
        assert_eq!(quick_empties, 0, "try_recv reported Empty at once with a returned send's message behind the head");
    });
}

/// A loan holds its position for as long as user code likes, so a `try_recv` that finds
/// it at the head reports `Empty` (at once) even though a later message is published:
/// head-of-line blocking. Once the loan is committed (or dropped), both arrive, in order.
#[test]
fn a_held_loan_at_the_head_reports_empty_until_it_is_committed() {
    let config = Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(8);
    let (tx, mut rx) = ferry::in_memory(&config).expect("in_memory");
    let (mut early, mut late) = (tx.try_clone().expect("a sender"), tx);
    let mut loan = early.try_loan().expect("loan the head");
    late.send(b"later").expect("a later message, published");
    assert_eq!(rx.try_recv().map(|m| m.to_vec()), Err(RecvError::Empty), "held loan at the head");
    let mut buf = [0u8; 64];
    assert_eq!(rx.try_recv_into(&mut buf), Err(RecvError::Empty), "held loan at the head");
    assert_eq!(rx.recv_timeout(Duration::from_millis(20)).map(|m| m.len()), Err(RecvError::Timeout));
    loan[..5].copy_from_slice(b"first");
    loan.commit(5);
    assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"first".to_vec()));
    assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"later".to_vec()));

    // A dropped loan is skipped, not waited for.
    let loan = early.try_loan().expect("loan the head");
    late.send(b"after a cancel").expect("send");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "held loan at the head");
    drop(loan);
    assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"after a cancel".to_vec()));
}

/// A blocking receive on a ring whose head is a held loan waits, and gets the message as
/// soon as the loan is committed on another thread.
#[test]
fn a_blocking_receive_waits_for_a_held_loan() {
    let config = Config::new().kind(RingKind::Mpmc).slot_size(64).capacity(8);
    let (mut tx, mut rx) = ferry::in_memory(&config).expect("in_memory");
    let loaned = Arc::new(AtomicBool::new(false));
    let committer = {
        let loaned = loaned.clone();
        thread::spawn(move || {
            let mut loan = tx.try_loan().expect("loan");
            loaned.store(true, Ordering::Release);
            thread::sleep(Duration::from_millis(30));
            loan[..4].copy_from_slice(b"held");
            loan.commit(4);
            tx
        })
    };
    while !loaned.load(Ordering::Acquire) {
        thread::yield_now();
    }
    let message = rx.recv_timeout(Duration::from_secs(5)).map(|m| m.to_vec());
    assert_eq!(message, Ok(b"held".to_vec()));
    drop(committer.join().expect("the committer"));
}
