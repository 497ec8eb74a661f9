//! Disconnection on shared memory, in one process: every call reports `Disconnected`
//! where crossbeam-channel's bounded channel does.
//!
//! - The receivers gone: every send call (`send`, `try_send`, `send_timeout`,
//!   `send_value`, a loan, a batch's send) fails at once, although the ring has room,
//!   handing the message back; nothing is written.
//! - The senders gone: the receive calls (`try_recv`, `try_recv_into`, a batch's
//!   `try_recv`) give every message the senders committed, then `Disconnected`.
//! - MPMC: the role is gone only when its last handle is.
//! - A role never attached is not gone (messages wait in the ring for a receiver that
//!   opens later), and a role attached again is no longer gone.
//!
//! Each runs on an SPSC and an MPMC ring in a named segment (the cross-process version,
//! with the peer killed, is `disconnect_shm_killed.rs`).

use std::{process, ptr, time::Duration};

use ferry::{Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::Cleanup;

const SLOT: usize = 64;
const CAPACITY: usize = 8;
const SHORT: Duration = Duration::from_millis(50);
const KINDS: [RingKind; 2] = [RingKind::Spsc, RingKind::Mpmc];

fn unique(tag: &str, kind: RingKind) -> String {
    format!("dc-{tag}-{kind:?}-{}", process::id())
}

fn config(kind: RingKind) -> Config {
    Config::new().kind(kind).slot_size(SLOT).capacity(CAPACITY)
}

/// A receiver that created channel `tag` and a sender that opened it.
fn pair(tag: &str, kind: RingKind) -> (Cleanup, Sender, Receiver) {
    let name = unique(tag, kind);
    let rx = Receiver::create(&name, &config(kind)).expect("create the receiver");
    let tx = Sender::open(&name).expect("open a sender");
    (Cleanup(name), tx, rx)
}

/// Every send call fails with `Disconnected`, handing the message back, and nothing was
/// written.
fn assert_every_send_disconnected(tx: &mut Sender, what: &str) {
    let before = tx.in_flight().expect("in_flight");
    assert_eq!(tx.send_value(42u64), Err(SendError::Disconnected(42)), "{what}: send_value");
    let message = [7u8; 16];
    match tx.send(&message) {
        Err(SendError::Disconnected(back)) => assert!(ptr::eq(back, &message[..]), "{what}: the message handed back"),
        other => panic!("{what}: send: {other:?}"),
    }
    assert!(matches!(tx.try_send(&message), Err(SendError::Disconnected(_))), "{what}: try_send");
    assert!(matches!(tx.send_timeout(&message, SHORT), Err(SendError::Disconnected(_))), "{what}: send_timeout");
    assert!(matches!(tx.try_loan().map(drop), Err(SendError::Disconnected(()))), "{what}: try_loan");
    assert!(matches!(tx.loan().map(drop), Err(SendError::Disconnected(()))), "{what}: loan");
    assert!(matches!(tx.loan_timeout(SHORT).map(drop), Err(SendError::Disconnected(()))), "{what}: loan_timeout");
    let mut batch = tx.batch();
    assert!(matches!(batch.try_send(&message), Err(SendError::Disconnected(_))), "{what}: a batch's try_send");
    drop(batch);
    assert_eq!(tx.in_flight().expect("in_flight"), before, "{what}: messages written for nobody");
}

#[test]
fn every_send_call_fails_once_the_receiver_is_dropped() {
    for kind in KINDS {
        let (_cleanup, mut tx, rx) = pair("rx-dropped", kind);
        tx.send(b"while there").expect("send while the receiver is there");
        drop(rx);
        assert_every_send_disconnected(&mut tx, &format!("{kind:?}"));
    }
}

/// Which receive call drains the ring.
#[derive(Debug, Clone, Copy)]
enum TryRecv {
    Guard,
    Into,
    Batch,
}

/// The next message by `how`, as a vector.
fn try_recv(rx: &mut Receiver, how: TryRecv) -> Result<Vec<u8>, RecvError> {
    match how {
        TryRecv::Guard => rx.try_recv().map(|m| m.to_vec()),
        TryRecv::Into => {
            let mut buf = [0u8; SLOT];
            rx.try_recv_into(&mut buf).map(|n| buf[..n].to_vec())
        }
        TryRecv::Batch => rx.batch().try_recv().map(|m| m.to_vec()),
    }
}

#[test]
fn the_try_receives_give_every_message_then_disconnected_once_the_sender_is_dropped() {
    for kind in KINDS {
        for how in [TryRecv::Guard, TryRecv::Into, TryRecv::Batch] {
            let what = format!("{kind:?} {how:?}");
            let (_cleanup, mut tx, mut rx) = pair("tx-dropped", kind);
            for i in 0..3u8 {
                tx.send(&[i; 5]).expect("send");
            }
            drop(tx);
            for i in 0..3u8 {
                assert_eq!(try_recv(&mut rx, how), Ok(vec![i; 5]), "{what}: message {i}");
            }
            assert_eq!(try_recv(&mut rx, how), Err(RecvError::Disconnected), "{what}: after the last message");
            // And it stays so, for every call.
            assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{what}: try_recv again");
            assert_eq!(rx.recv_timeout(SHORT).map(|m| m.len()), Err(RecvError::Disconnected), "{what}: recv_timeout");
        }
    }
}

#[test]
fn a_message_committed_just_before_the_sender_left_is_received_before_disconnected() {
    for kind in KINDS {
        let (_cleanup, mut tx, mut rx) = pair("last-message", kind);
        // An empty ring seen first, then a message and the departure.
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: nothing yet");
        let mut loan = tx.try_loan().expect("loan");
        loan[..4].copy_from_slice(b"last");
        loan.commit(4);
        drop(tx);
        assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"last".to_vec()), "{kind:?}: the last message");
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}");
    }
}

#[test]
fn mpmc_senders_are_gone_only_when_the_last_one_is() {
    let (_cleanup, tx, mut rx) = pair("two-senders", RingKind::Mpmc);
    let mut other = tx.try_clone().expect("a second sender");
    drop(tx);
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "one sender is still there");
    assert_eq!(rx.recv_timeout(SHORT).map(|m| m.len()), Err(RecvError::Timeout), "one sender is still there");
    other.send(b"from the other").expect("the remaining sender sends");
    drop(other);
    assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"from the other".to_vec()));
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "both senders dropped");
}

#[test]
fn mpmc_receivers_are_gone_only_when_the_last_one_is() {
    let (_cleanup, mut tx, rx) = pair("two-receivers", RingKind::Mpmc);
    let mut other = rx.try_clone().expect("a second receiver");
    drop(rx);
    tx.try_send(b"one").expect("one receiver is still there");
    tx.send_value(2u64).expect("one receiver is still there");
    assert_eq!(other.try_recv().map(|m| m.to_vec()), Ok(b"one".to_vec()));
    drop(other);
    assert_every_send_disconnected(&mut tx, "both receivers dropped");
}

#[test]
fn a_receiver_that_never_attached_is_not_gone() {
    for kind in KINDS {
        let name = unique("not-yet", kind);
        let _cleanup = Cleanup(name.clone());
        let mut tx = Sender::create(&name, &config(kind)).expect("create the sender");
        for i in 0..CAPACITY as u64 {
            tx.try_send(&i.to_le_bytes()).unwrap_or_else(|e| panic!("{kind:?}: send {i} before anyone reads: {e}"));
        }
        assert!(matches!(tx.try_send(b"x"), Err(SendError::Full(_))), "{kind:?}: a full ring is full, not gone");
        assert!(matches!(tx.send_timeout(b"x", SHORT), Err(SendError::Timeout(_))), "{kind:?}: send_timeout");
        let mut rx = Receiver::open(&name).expect("the receiver opens later");
        for i in 0..CAPACITY as u64 {
            assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(i.to_le_bytes().to_vec()), "{kind:?}: message {i}");
        }
    }
}

#[test]
fn a_sender_that_never_attached_is_not_gone() {
    for kind in KINDS {
        let name = unique("no-sender-yet", kind);
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &config(kind)).expect("create the receiver");
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: no sender yet");
        assert_eq!(rx.recv_timeout(SHORT).map(|m| m.len()), Err(RecvError::Timeout), "{kind:?}: no sender yet");
    }
}

#[test]
fn a_role_attached_again_is_no_longer_gone() {
    for kind in KINDS {
        // The sender made the channel: receivers come and go.
        let name = unique("rx-again", kind);
        let _cleanup = Cleanup(name.clone());
        let mut tx = Sender::create(&name, &config(kind)).expect("create the sender");
        drop(Receiver::open(&name).expect("a receiver"));
        assert!(matches!(tx.try_send(b"x"), Err(SendError::Disconnected(_))), "{kind:?}: the receiver left");
        let mut rx = Receiver::open(&name).expect("a new receiver");
        tx.try_send(b"back").expect("a receiver is there again");
        assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"back".to_vec()), "{kind:?}");

        // The receiver made the channel: senders come and go.
        let (cleanup, tx, mut rx) = pair("tx-again", kind);
        drop(tx);
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: the sender left");
        let mut tx = Sender::open(&cleanup.0).expect("a new sender");
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: a sender is there again");
        tx.try_send(b"more").expect("send");
        assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"more".to_vec()), "{kind:?}");
    }
}

#[test]
fn an_in_memory_channel_disconnects_too() {
    for kind in KINDS {
        let (mut tx, rx) = ferry::in_memory(&config(kind)).expect("in_memory");
        drop(rx);
        assert_every_send_disconnected(&mut tx, &format!("in memory {kind:?}"));
        let (mut tx, mut rx) = ferry::in_memory(&config(kind)).expect("in_memory");
        tx.send(b"only").expect("send");
        drop(tx);
        assert_eq!(rx.try_recv().map(|m| m.to_vec()), Ok(b"only".to_vec()));
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "in memory {kind:?}");
    }
}
