//! The broadcast byte ring's model bodies, shared by the passing models
//! (`bytes_broadcast.rs`) and their deliberately broken runs
//! (`bytes_broadcast_mutations.rs`). They are separate test binaries because the
//! mutation switch is global to the process: a model run beside a mutated one would be
//! broken too.
//!
//! All run on a 64-byte ring for messages of up to 16 bytes, so a record is 32 bytes (a
//! message of 1 to 16 bytes) or 16 (an empty one), with one subscriber seat per
//! subscriber of the model (each seat is a cursor a publisher's gate reads). In each
//! model a later claim does not fit beside what the subscribers have not yet moved past:
//! the publisher waits for their cursors, then (in most orders after a padding record at
//! the end of the region) writes over units a subscriber read on the lap before.
//! Under loom each 16-byte unit's payload cell records the publishers' writes (at the
//! claim) and the subscribers' reads (when a record is handed out), so bytes written
//! before every subscriber moved past them, or read before they were published, are a
//! reported race. The models of two threads never park (`try_` calls, a loom yield
//! between tries): the model kernel's lock would order the two sides and hide a missing
//! Release. Those of three threads block (under loom a blocked call parks at once): two
//! threads retrying in turn could starve the third for ever in loom's exploration, and
//! every order in which nobody parks before the claim that reuses bytes still has no lock
//! between the sides.
// Each test binary uses part of this module.
#![allow(dead_code)]

use ferry::{Config, PublishError, Publisher, RingKind, Start, Subscriber, SubscriberError};
use loom::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
};

/// The bytes of message `id`, `len` long.
fn pattern(id: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| id.wrapping_mul(31).wrapping_add(i as u8)).collect()
}

/// Which of `sent` (`(id, len)` pairs) `bytes` is, after checking every byte of it.
fn identify(bytes: &[u8], sent: &[(u8, usize)]) -> u8 {
    let found = sent.iter().find(|&&(id, len)| bytes == &pattern(id, len)[..]);
    found.unwrap_or_else(|| panic!("a torn, stale or unknown message: {bytes:?}")).0
}

/// A broadcast ring of 64 bytes for messages of up to 16, with `subscribers` seats.
fn config(subscribers: usize) -> Config {
    Config::new().kind(RingKind::Broadcast).capacity_bytes(64).max_message(16).subscribers(subscribers)
}

/// Publishes message `id` of `len` bytes, retrying (a loom scheduling point between
/// tries) while the subscribers hold the room.
fn send(publisher: &mut Publisher, id: u8, len: usize) {
    while let Err(e) = publisher.try_send(&pattern(id, len)) {
        assert_eq!(e, PublishError::Full);
        thread::yield_now();
    }
}

/// As [`send`], through a loan of the largest message committed with `len` bytes: the
/// record keeps the extent it was claimed with.
fn send_loaned(publisher: &mut Publisher, id: u8, len: usize) {
    loop {
        match publisher.try_loan_bytes(16) {
            Ok(mut loan) => {
                loan[..len].copy_from_slice(&pattern(id, len));
                loan.commit(len);
                return;
            }
            Err(e) => assert_eq!(e, PublishError::Full),
        }
        thread::yield_now();
    }
}

/// The next message on `subscriber`, identified among `sent` after checking every byte
/// of it, waiting (a loom yield between tries) while there is none.
fn receive(subscriber: &mut Subscriber, sent: &[(u8, usize)]) -> u8 {
    loop {
        match subscriber.try_recv() {
            Ok(guard) => return identify(&guard, sent),
            Err(SubscriberError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Receives every message of `sent` on `subscriber`, in that order, then nothing.
fn receive_in_order(subscriber: &mut Subscriber, sent: &[(u8, usize)]) {
    for &(id, _) in sent {
        assert_eq!(receive(subscriber, sent), id, "a message out of order");
    }
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty, "nothing after the last message");
}

/// A publisher on a thread of its own, running `publish`; the thread hands it back, so
/// that detaching, which the delivery does not depend on, does not multiply the
/// interleavings.
fn spawn_publisher(
    mut publisher: Publisher,
    publish: impl FnOnce(&mut Publisher) + Send + 'static,
) -> JoinHandle<Publisher> {
    thread::spawn(move || {
        publish(&mut publisher);
        publisher
    })
}

/// One publisher (a thread) and one subscriber (the main thread). The publisher sends `A`
/// (16 bytes, through a loan), `B` (empty), `C` (9 bytes) and `D` (3 bytes): `A` and `B`
/// fill the region up to its last unit; `C` does not fit before the end of the region,
/// so it pads there and starts the next lap over `A`'s units, which needs the
/// subscriber's cursor past `B`; `D` follows over `B`'s unit and the padding's, which
/// needs the cursor past `C`. The subscriber reads each in place, steps over the
/// padding, and gets the four whole, in order, and nothing else: its cursor's Release
/// store, the gate's Acquire load, order its reads of a record before the next lap's
/// write there.
pub fn one_subscriber_wrap() {
    const SENT: [(u8, usize); 4] = [(1, 16), (2, 0), (3, 9), (4, 3)];
    let publisher = Publisher::in_memory(&config(1)).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    let publisher = spawn_publisher(publisher, |publisher| {
        send_loaned(publisher, 1, 16);
        send(publisher, 2, 0);
        send(publisher, 3, 9);
        send(publisher, 4, 3);
    });
    receive_in_order(&mut subscriber, &SENT);
    drop((publisher.join().unwrap(), subscriber));
}

/// One publisher (the main thread) and two subscribers on threads of their own, one
/// reading in place, one copying out. The publisher sends `A` (16 bytes) and `B` (empty),
/// which fill the region up to its last unit, then `C` (16 bytes), which pads to the end
/// and starts the next lap over `A`: its gate is the lower of the two cursors, whichever
/// subscriber that is at the time, so it never writes `C` over `A` while either may still
/// read `A`. Each subscriber gets the three whole, in order, and nothing else. (The
/// calls block; see the module doc.)
pub fn two_subscribers() {
    const SENT: [(u8, usize); 3] = [(1, 16), (2, 0), (3, 16)];
    let mut publisher = Publisher::in_memory(&config(2)).unwrap();
    let mut in_place = publisher.subscribe(Start::Live).unwrap();
    let mut copying = publisher.subscribe(Start::Live).unwrap();
    publisher.send(&pattern(1, 16)).unwrap();
    publisher.send(&pattern(2, 0)).unwrap();
    let in_place = thread::spawn(move || {
        for (id, _) in SENT {
            assert_eq!(identify(&in_place.recv().unwrap(), &SENT), id, "a message out of order");
        }
        in_place
    });
    let copying = thread::spawn(move || {
        let mut buf = [0u8; 16];
        for (id, _) in SENT {
            let len = copying.recv_into(&mut buf).unwrap();
            assert_eq!(identify(&buf[..len], &SENT), id, "a message out of order");
        }
        copying
    });
    publisher.send(&pattern(3, 16)).unwrap();
    let mut subscribers = [in_place, copying].map(|s| s.join().unwrap());
    for subscriber in &mut subscribers {
        assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty, "nothing after the last message");
    }
    drop((publisher, subscribers));
}

/// Two publishers (threads) and one subscriber (the main thread). The first publisher
/// sends `A` (16 bytes, through a loan) then `B` (5 bytes); the second sends `C` (empty).
/// Records of 32, 32 and 16 bytes never fit in the region at once (a claim also keeps
/// the next header free), so whatever the order of the claims, a publisher waits for the
/// cursor; in the orders `A`, `C`, `B` and `C`, `A`, `B` the last claim pads to the end
/// and starts the next lap (the record published before its padding, so the subscriber
/// waiting at the padding never passes it early), in the order `A`, `B`, `C` the last
/// record starts the next lap over `A`'s first unit. The subscriber gets the three
/// whole, each once, `A` before `B`, and nothing else. (The calls block; see the module
/// doc.)
pub fn two_publishers_wrap() {
    const SENT: [(u8, usize); 3] = [(1, 16), (2, 5), (3, 0)];
    let publisher = Publisher::in_memory(&config(1)).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    let first = spawn_publisher(publisher.try_clone().unwrap(), |publisher| {
        let mut loan = publisher.loan_bytes(16).unwrap();
        loan.copy_from_slice(&pattern(1, 16));
        loan.commit(16);
        publisher.send(&pattern(2, 5)).unwrap();
    });
    let second = spawn_publisher(publisher.try_clone().unwrap(), |publisher| publisher.send(&[]).unwrap());
    let got: Vec<u8> = (0..3).map(|_| identify(&subscriber.recv().unwrap(), &SENT)).collect();
    let publishers = [first, second].map(|p| p.join().unwrap());
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty, "nothing after the three messages");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3], "each message exactly once");
    let position = |id| got.iter().position(|&g| g == id);
    assert!(position(1) < position(2), "the first publisher's messages out of order: {got:?}");
    drop((publishers, publisher, subscriber));
}

/// A subscriber joins (live, the main thread) while a publisher (a thread) sends three
/// messages of 16 bytes: each record is 32 bytes, so every claim after the first reads
/// the cursors, and the third starts the next lap over the first. From where it starts
/// (a record boundary at the tail), the joiner must read every later message whole and
/// in order: a publisher whose gate missed the joiner's cursor must not write over where
/// it starts (the SeqCst fences of the join and of the gate's scan).
pub fn join_while_publishing() {
    const SENT: [(u8, usize); 3] = [(1, 16), (2, 16), (3, 16)];
    let publisher = Publisher::in_memory(&config(1)).unwrap();
    let joiner = publisher.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let publisher = {
        let done = done.clone();
        spawn_publisher(publisher, move |publisher| {
            for (id, len) in SENT {
                send(publisher, id, len);
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
                let id = identify(&guard, &SENT);
                assert!(next.is_none_or(|next| id == next), "a message skipped: got {id}, expected {next:?}");
                next = Some(id + 1);
            }
            Err(SubscriberError::Empty) if finished => break,
            Err(SubscriberError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(next.is_none_or(|next| next == 4), "the stream ended early at {next:?}");
    drop((publisher.join().unwrap(), subscriber, joiner));
}
