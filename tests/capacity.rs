//! A queue holds exactly the number of messages it was configured for, any number from 1
//! to `MAX_CAPACITY`, as crossbeam-channel's `bounded(n)` and `sync_channel(n)` do: not
//! only powers of two. (The ring itself has the next power of two of slots, and at least
//! two on MPMC; the limit is what the senders see.) A broadcast channel's capacity stays
//! a power of two.

use std::{
    collections::HashSet,
    thread,
    time::{Duration, Instant},
};

use ferry::{in_memory, AttachError, Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::Cleanup;

fn unique(tag: &str) -> String {
    format!("capacity-{tag}-{}", std::process::id())
}

/// Checks one channel of capacity `capacity`: exactly that many messages fit, whatever
/// was sent and received before, in order.
fn holds_exactly(what: &str, capacity: usize, tx: &mut Sender, rx: &mut Receiver) {
    assert_eq!((tx.capacity(), rx.capacity()), (capacity, capacity), "{what}");
    let mut next = 0u64;
    let mut expected = 0u64;
    for round in 0..3 {
        for _ in 0..capacity {
            tx.try_send(&next.to_le_bytes()).unwrap_or_else(|e| panic!("{what}, round {round}: {e:?}"));
            next += 1;
        }
        assert!(matches!(tx.try_send(b"too many"), Err(SendError::Full(_))), "{what}: full at {capacity}");
        assert!(
            matches!(tx.send_timeout(b"too many", Duration::from_millis(1)), Err(SendError::Timeout(_))),
            "{what}: a timed send waits at {capacity}"
        );
        assert_eq!((rx.len(), rx.is_full(), tx.is_full()), (capacity, true, true), "{what}");
        // One out makes room for exactly one in.
        let got = rx.try_recv().unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(&*got, expected.to_le_bytes(), "{what}: in order");
        drop(got);
        expected += 1;
        tx.try_send(&next.to_le_bytes()).unwrap_or_else(|e| panic!("{what}: room after a receive: {e:?}"));
        next += 1;
        assert!(matches!(tx.try_send(b"too many"), Err(SendError::Full(_))), "{what}: full again");
        // Drained, the next round starts capacity + 1 positions on: at another slot.
        while let Ok(got) = rx.try_recv() {
            assert_eq!(&*got, expected.to_le_bytes(), "{what}: in order");
            expected += 1;
        }
        assert_eq!(expected, next, "{what}: every message");
    }
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "{what}");
}

#[test]
fn any_capacity_holds_exactly_that_many_messages() {
    for kind in [RingKind::Spsc, RingKind::Mpmc] {
        for capacity in [1, 2, 3, 5, 6, 7, 9, 10, 100, 1000] {
            let config = Config::new().kind(kind).slot_size(8).capacity(capacity);
            let (mut tx, mut rx) = in_memory(&config).unwrap_or_else(|e| panic!("{kind:?} {capacity}: {e}"));
            holds_exactly(&format!("{kind:?} in memory, capacity {capacity}"), capacity, &mut tx, &mut rx);

            let name = unique(&format!("{kind:?}-{capacity}"));
            let _cleanup = Cleanup(name.clone());
            let mut rx = Receiver::create(&name, &config).unwrap_or_else(|e| panic!("{kind:?} {capacity}: {e}"));
            let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("{kind:?} {capacity}: {e}"));
            holds_exactly(&format!("{kind:?} in shared memory, capacity {capacity}"), capacity, &mut tx, &mut rx);
        }
    }
}

#[test]
fn a_loan_counts_against_the_capacity() {
    let (mut tx, mut rx) = in_memory(&Config::new().kind(RingKind::Mpmc).slot_size(8).capacity(3)).unwrap();
    let mut other = tx.try_clone().unwrap();
    tx.try_send(b"one").unwrap();
    tx.try_send(b"two").unwrap();
    let loan = tx.try_loan().unwrap();
    assert!(matches!(other.try_send(b"four"), Err(SendError::Full(_))), "the loan holds the third place");
    drop(loan);
    assert!(matches!(other.try_send(b"four"), Err(SendError::Full(_))), "a dropped loan's place is consumed in turn");
    assert_eq!(&*rx.try_recv().unwrap(), b"one");
    other.try_send(b"five").unwrap();

    let (mut tx, _rx) = in_memory(&Config::new().slot_size(8).capacity(3)).unwrap();
    tx.try_send(b"one").unwrap();
    tx.try_send(b"two").unwrap();
    let mut loan = tx.try_loan().unwrap();
    loan[..5].copy_from_slice(b"three");
    loan.commit(5);
    assert!(matches!(tx.try_send(b"four"), Err(SendError::Full(_))), "a committed loan takes the third place");
}

#[test]
fn zero_and_too_large_capacities_and_a_broadcast_ring_not_a_power_of_two_are_refused() {
    for config in [
        Config::new().slot_size(8).capacity(0),
        Config::new().kind(RingKind::Mpmc).slot_size(8).capacity(0),
        Config::new().slot_size(8).capacity(ferry::MAX_CAPACITY + 1),
        Config::new().kind(RingKind::Broadcast).slot_size(8).capacity(3),
    ] {
        assert!(matches!(in_memory(&config).map(drop), Err(AttachError::InvalidConfig(_))), "{config:?}");
    }
}

/// Senders and receivers in threads of their own over an MPMC channel of capacity 3 (in
/// 4 slots, so the limit, not the slots, decides when it is full, while releases come in
/// any order): every message arrives once, and nobody waits for ever.
#[test]
fn mpmc_threads_through_a_capacity_of_three() {
    const SENDERS: u64 = 3;
    const PER_SENDER: u64 = 20_000;
    let name = unique("threads");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Mpmc).slot_size(8).capacity(3);
    let rx = Receiver::create(&name, &config).unwrap();
    // Every sender attaches before any receiver starts, so a receiver that finds them
    // all gone has seen the end.
    let senders: Vec<_> = (0..SENDERS).map(|_| Sender::open(&name).unwrap()).collect();
    let senders: Vec<_> = senders
        .into_iter()
        .zip(0..)
        .map(|(mut tx, s): (Sender, u64)| {
            thread::spawn(move || {
                for i in 0..PER_SENDER {
                    tx.send(&(s << 32 | i).to_le_bytes()).unwrap();
                }
            })
        })
        .collect();
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = Receiver::open(&name).unwrap();
            thread::spawn(move || {
                let mut got = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(m) => got.push(u64::from_le_bytes(m[..8].try_into().unwrap())),
                        Err(RecvError::Disconnected) => break,
                        Err(RecvError::Timeout) => assert!(Instant::now() < deadline, "stuck"),
                        Err(e) => panic!("{e:?}"),
                    }
                }
                got
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    drop(rx);
    let mut seen = HashSet::new();
    for r in receivers {
        for m in r.join().unwrap() {
            assert!(seen.insert(m), "message {m:#x} twice");
        }
    }
    assert_eq!(seen.len() as u64, SENDERS * PER_SENDER, "every message once");
}
