//! The broadcast channel sized in bytes, in one process: every message of any size to
//! every subscriber, in order, in place; block mode holds a publisher for the slowest
//! subscriber; a dropped loan is skipped.

use std::{thread, time::Duration};

use ferry::{AttachError, Config, Policy, PublishError, Publisher, RingKind, Start, SubscriberError};

fn config(capacity: usize, max: usize) -> Config {
    Config::new().kind(RingKind::Broadcast).capacity_bytes(capacity).max_message(max)
}

fn message(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i * 31 + k) as u8).collect()
}

#[test]
fn every_subscriber_gets_every_size_in_order() {
    let mut publisher = Publisher::in_memory(&config(1 << 14, 3000)).expect("valid");
    let mut subscribers: Vec<_> = (0..3).map(|_| publisher.subscribe(Start::Live).expect("a seat")).collect();
    let sizes = [0, 1, 15, 16, 17, 64, 1000, 3000, 2999];
    let total = 400;
    let readers: Vec<_> = subscribers
        .drain(..)
        .map(|mut subscriber| {
            thread::spawn(move || {
                for i in 0..total {
                    let guard = subscriber.recv_timeout(Duration::from_secs(30)).expect("a message");
                    assert_eq!(&*guard, &message(i, sizes[i % sizes.len()])[..], "message {i}");
                }
                subscriber
            })
        })
        .collect();
    for i in 0..total {
        let bytes = message(i, sizes[i % sizes.len()]);
        if i % 2 == 0 {
            publisher.send_timeout(&bytes, Duration::from_secs(30)).expect("room");
        } else {
            // Loan the largest, commit fewer.
            let mut loan = publisher.loan_bytes_timeout(3000, Duration::from_secs(30)).expect("room");
            loan[..bytes.len()].copy_from_slice(&bytes);
            loan.commit(bytes.len());
        }
    }
    for reader in readers {
        let mut subscriber = reader.join().expect("no panic");
        assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
        assert_eq!(subscriber.pending(), 0);
    }
}

#[test]
fn a_slow_subscriber_holds_the_publisher_back_and_a_dropped_loan_is_skipped() {
    let mut publisher = Publisher::in_memory(&config(256, 48)).expect("valid");
    let mut slow = publisher.subscribe(Start::Live).expect("a seat");
    let mut sent = 0;
    while publisher.try_send(&[sent as u8; 40]).is_ok() {
        sent += 1;
    }
    assert!(sent >= 3, "256 bytes hold several 40-byte messages, sent {sent}");
    assert_eq!(publisher.try_send(&[9; 40]).unwrap_err(), PublishError::Full);
    assert_eq!(publisher.send_timeout(&[9; 40], Duration::from_millis(20)).unwrap_err(), PublishError::Timeout);
    for i in 0..sent {
        assert_eq!(&*slow.try_recv().expect("kept"), &[i as u8; 40][..]);
    }
    drop(publisher.try_loan_bytes(20).expect("room again"));
    publisher.try_send(b"after").expect("room");
    assert_eq!(&*slow.try_recv().expect("the dropped loan is stepped over"), b"after");
    // A subscriber that leaves stops holding the publisher back.
    drop(slow);
    for i in 0..100 {
        publisher.try_send(&[i; 48]).expect("nobody to wait for");
    }
}

#[test]
fn a_late_joiner_starts_at_the_next_message_and_the_guard_is_aligned() {
    let mut publisher = Publisher::in_memory(&config(4096, 100)).expect("valid");
    publisher.send(b"before").expect("room");
    let mut late = publisher.subscribe(Start::Live).expect("a seat");
    assert_eq!(late.try_recv().unwrap_err(), SubscriberError::Empty);
    publisher.send(&[3; 33]).expect("room");
    let guard = late.try_recv().expect("published after joining");
    assert_eq!(guard.as_ptr() as usize % ferry::SLOT_ALIGN, 0);
    assert_eq!(&*guard, &[3; 33][..]);
    drop(guard);
    let mut buf = [0u8; 8];
    publisher.send(&[4; 9]).expect("room");
    assert_eq!(late.try_recv_into(&mut buf).unwrap_err(), SubscriberError::BufferTooSmall { needed: 9 });
    let mut buf = [0u8; 9];
    assert_eq!(late.try_recv_into(&mut buf), Ok(9));
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let refused = |config: Config| match Publisher::in_memory(&config) {
        Err(AttachError::InvalidConfig(reason)) => reason,
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    assert!(refused(config(4096, 100).policy(Policy::Overwrite)).contains("Overwrite"));
    assert!(refused(config(4096, 100).history(2)).contains("history"));
    assert!(refused(config(256, 200)).contains("two of its largest"));
    let mut publisher = Publisher::in_memory(&config(4096, 100)).expect("valid");
    assert_eq!(publisher.try_send(&[0; 101]).unwrap_err(), PublishError::TooLarge { len: 101, max: 100 });
    assert_eq!(publisher.try_loan_bytes(101).unwrap_err(), PublishError::TooLarge { len: 101, max: 100 });
}
