//! The broadcast models' bodies, shared by the passing models and their deliberately
//! broken runs.
// Each test binary uses part of this module.
#![allow(dead_code)]

use ferry::{Config, Policy, PublishError, Publisher, RingKind, Start, SubscriberError};
use loom::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
};

/// Fills `buf` with bytes derived from `value`, so a torn or stale payload shows.
fn pattern(value: u8, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = value.wrapping_mul(31).wrapping_add(i as u8);
    }
}

/// The value a message carries, after checking every byte of it.
fn take(bytes: &[u8]) -> u8 {
    let value = bytes[0].wrapping_mul(223); // 31 * 223 = 1 (mod 256)
    let mut want = [0u8; 8];
    pattern(value, &mut want);
    assert_eq!(bytes, &want[..], "message {value} torn or stale");
    value
}

fn config(policy: Policy) -> Config {
    Config::new().kind(RingKind::Broadcast).slot_size(8).capacity(2).subscribers(1).policy(policy)
}

/// Publishes `value`, retrying (a loom scheduling point between tries) while the ring is
/// full. The non-blocking calls keep the models small; parking has its own models.
fn send(publisher: &mut Publisher, value: u8) {
    let mut message = [0u8; 8];
    pattern(value, &mut message);
    while let Err(e) = publisher.try_send(&message) {
        assert_eq!(e, PublishError::Full);
        thread::yield_now();
    }
}

/// Block mode, two slots: the publisher sends three messages (the third reuses the
/// first's slot, so it must wait until the subscriber moved past it) while the
/// subscriber reads each in place. Loom checks that the slot is never written while the
/// subscriber still reads it: the cursor's Release store, the gate's Acquire load.
pub fn block_gate() {
    let mut publisher = Publisher::in_memory(&config(Policy::Block)).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    let writer = thread::spawn(move || {
        for value in 0..3 {
            send(&mut publisher, value);
        }
    });
    let mut next = 0;
    while next < 3 {
        match subscriber.try_recv() {
            Ok(guard) => {
                assert_eq!(take(&guard), next);
                next += 1;
            }
            Err(SubscriberError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    writer.join().unwrap();
}

/// Overwrite mode, two slots: the publisher sends four messages without ever waiting
/// (message `p` is `p + 1` bytes long) while the subscriber copies them out. Whatever it
/// accepts must be the message of the position it expects (the length is read from the
/// slot as the bytes are, so a torn read shows as a wrong length), and what it accepts
/// plus what it is told it missed must be all four. Loom checks the seqlock: the WRITING
/// mark and Release fence before a lap's write, the Acquire fence before the reader's
/// second look.
pub fn overwrite_reader_never_accepts_a_torn_message() {
    let mut publisher = Publisher::in_memory(&config(Policy::Overwrite)).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    let writer = thread::spawn(move || {
        for pos in 0..4u8 {
            let len = usize::from(pos) + 1;
            let mut loan = publisher.try_loan().expect("overwrite mode never waits");
            loan[..len].fill(pos);
            loan.commit(len);
        }
    });
    let mut expected = 0u64;
    let mut buf = [0u8; 8];
    while expected < 4 {
        match subscriber.try_recv_into(&mut buf) {
            Ok(len) => {
                assert_eq!(len as u64, expected + 1, "accepted a torn message at position {expected}");
                expected += 1;
            }
            Err(SubscriberError::Lagged(missed)) => expected += missed,
            Err(SubscriberError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(expected, 4, "received and missed add up to every message");
    writer.join().unwrap();
}

/// Block mode, two slots: a subscriber joins (live) while the publisher sends three
/// messages. From where it starts, it must read every later message whole and in order:
/// a publisher whose gate missed the joiner's cursor must not overwrite where it starts
/// (the SeqCst fences of the join and of the gate's scan).
pub fn join_while_publishing() {
    let mut publisher = Publisher::in_memory(&config(Policy::Block)).unwrap();
    let joiner = publisher.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        thread::spawn(move || {
            for value in 0..3 {
                send(&mut publisher, value);
            }
            done.store(true, Ordering::Release);
        })
    };
    let mut subscriber = joiner.subscribe(Start::Live).unwrap();
    let mut next = None;
    loop {
        let finished = done.load(Ordering::Acquire);
        match subscriber.try_recv() {
            Ok(guard) => {
                let value = take(&guard);
                assert!(next.is_none_or(|next| value == next), "a message skipped");
                next = Some(value + 1);
            }
            Err(SubscriberError::Empty) if finished => break,
            Err(SubscriberError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(next.is_none_or(|next| next == 3), "the stream ended early");
    writer.join().unwrap();
    drop(joiner);
}
