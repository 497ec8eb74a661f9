//! The broadcast ring against a model: a `VecDeque` of pending messages per subscriber.
//!
//! Random sequences of publishes (copied and loaned, by two publishers), receives (in
//! place and copied), joins (live and with history) and leaves run on an in-memory
//! broadcast channel and on the model, in both policies; every result must agree: what
//! each subscriber receives, when a block-mode publisher is refused (`Full` exactly when
//! some subscriber has a whole ring unread), and in overwrite mode the exact count of a
//! lagging subscriber's missed messages.

use std::collections::VecDeque;

use ferry::{AttachError, Config, Policy, PublishError, Publisher, RingKind, Start, Subscriber, SubscriberError};
use proptest::prelude::*;

const CAPACITY: usize = 8;
const SLOT: usize = 16;
const SEATS: usize = 3;
const HISTORY: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// Publish a message of this length, through publisher 0 or 1, copied or loaned.
    Publish { publisher: usize, len: usize, loan: bool },
    /// Receive on subscriber slot `sub`, in place or copied.
    Recv { sub: usize, in_place: bool },
    /// Join a subscriber into slot `sub` (if free), live or with history.
    Join { sub: usize, history: Option<usize> },
    /// Drop the subscriber in slot `sub`.
    Leave { sub: usize },
    /// A loan dropped without commit: subscribers never see it.
    Cancel { publisher: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..=SLOT, any::<bool>()).prop_map(|(publisher, len, loan)| Op::Publish { publisher, len, loan }),
        4 => (0..SEATS + 1, any::<bool>()).prop_map(|(sub, in_place)| Op::Recv { sub, in_place }),
        1 => (0..SEATS + 1, proptest::option::of(0..6usize)).prop_map(|(sub, history)| Op::Join { sub, history }),
        1 => (0..SEATS + 1).prop_map(|sub| Op::Leave { sub }),
        1 => (0..2usize).prop_map(|publisher| Op::Cancel { publisher }),
    ]
}

/// The bytes of the `n`th message published.
fn message(n: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (n as u8).wrapping_mul(37).wrapping_add(i as u8)).collect()
}

/// One subscriber of the model: the positions it has yet to read (`None` for a loan
/// dropped without commit, which takes a position but is no message), and how many
/// positions it missed.
#[derive(Default)]
struct ModelSub {
    pending: VecDeque<Option<Vec<u8>>>,
    missed: u64,
}

/// A position published (`Some`) or cancelled (`None`) reaches every model subscriber;
/// in overwrite mode one a whole ring behind loses its oldest position.
fn push(subs: &mut [Option<(Subscriber, ModelSub)>], history: &mut VecDeque<Option<Vec<u8>>>, entry: Option<Vec<u8>>) {
    for (_, model) in subs.iter_mut().flatten() {
        model.pending.push_back(entry.clone());
        if model.pending.len() > CAPACITY {
            model.pending.pop_front();
            model.missed += 1;
        }
    }
    history.push_back(entry);
    if history.len() > HISTORY {
        history.pop_front();
    }
}

fn run(policy: Policy, ops: &[Op]) -> Result<(), TestCaseError> {
    let config = Config::new()
        .kind(RingKind::Broadcast)
        .capacity(CAPACITY)
        .slot_size(SLOT)
        .subscribers(SEATS)
        .history(HISTORY)
        .policy(policy);
    let first = Publisher::in_memory(&config).unwrap();
    let second = first.try_clone().unwrap();
    let mut publishers = [first, second];
    // Slots for subscribers: one more than there are seats, to try a join too many.
    let mut subs: Vec<Option<(Subscriber, ModelSub)>> = (0..=SEATS).map(|_| None).collect();
    let mut history: VecDeque<Option<Vec<u8>>> = VecDeque::new();
    let mut published = 0u64;
    for op in ops {
        match *op {
            Op::Publish { publisher, len, loan } => {
                let bytes = message(published, len);
                let full =
                    policy == Policy::Block && subs.iter().flatten().any(|(_, model)| model.pending.len() == CAPACITY);
                let publisher = &mut publishers[publisher];
                let result = if loan {
                    publisher.try_loan().map(|mut loan| {
                        loan[..len].copy_from_slice(&bytes);
                        loan.commit(len);
                    })
                } else {
                    publisher.try_send(&bytes)
                };
                if full {
                    prop_assert_eq!(result, Err(PublishError::Full));
                    continue;
                }
                prop_assert_eq!(result, Ok(()));
                published += 1;
                push(&mut subs, &mut history, Some(bytes));
            }
            Op::Cancel { publisher } => {
                let full =
                    policy == Policy::Block && subs.iter().flatten().any(|(_, model)| model.pending.len() == CAPACITY);
                match publishers[publisher].try_loan() {
                    Ok(loan) => {
                        prop_assert!(!full);
                        drop(loan);
                        push(&mut subs, &mut history, None);
                    }
                    Err(e) => prop_assert!(full && e == PublishError::Full, "{e}"),
                }
            }
            Op::Recv { sub, in_place } => {
                let Some((subscriber, model)) = subs[sub].as_mut() else { continue };
                let got = if in_place {
                    subscriber.try_recv().map(|guard| guard.to_vec())
                } else {
                    let mut buf = [0u8; SLOT];
                    subscriber.try_recv_into(&mut buf).map(|n| buf[..n].to_vec())
                };
                if model.missed > 0 {
                    prop_assert_eq!(got, Err(SubscriberError::Lagged(model.missed)));
                    model.missed = 0;
                } else {
                    // Cancelled positions are stepped over.
                    while model.pending.front().is_some_and(Option::is_none) {
                        model.pending.pop_front();
                    }
                    match model.pending.pop_front().flatten() {
                        Some(want) => prop_assert_eq!(got, Ok(want)),
                        None => prop_assert_eq!(got, Err(SubscriberError::Empty)),
                    }
                }
            }
            Op::Join { sub, history: asked } => {
                if subs[sub].is_some() {
                    continue;
                }
                let start = asked.map_or(Start::Live, Start::History);
                let taken = subs.iter().flatten().count();
                match publishers[0].subscribe(start) {
                    Ok(subscriber) => {
                        prop_assert!(taken < SEATS);
                        let back = asked.unwrap_or(0).min(history.len());
                        let pending = history.iter().skip(history.len() - back).cloned().collect();
                        subs[sub] = Some((subscriber, ModelSub { pending, missed: 0 }));
                    }
                    Err(AttachError::Unsupported { .. }) => prop_assert_eq!(taken, SEATS),
                    Err(e) => return Err(TestCaseError::fail(format!("subscribe: {e}"))),
                }
            }
            Op::Leave { sub } => subs[sub] = None,
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn block_mode_matches_the_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(Policy::Block, &ops)?;
    }

    #[test]
    fn overwrite_mode_matches_the_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(Policy::Overwrite, &ops)?;
    }
}

#[test]
fn a_dropped_subscriber_stops_gating_and_a_full_table_refuses_one_more() {
    let config = Config::new().kind(RingKind::Broadcast).capacity(4).slot_size(8).subscribers(2);
    let mut publisher = Publisher::in_memory(&config).unwrap();
    let slow = publisher.subscribe(Start::Live).unwrap();
    let _other = publisher.subscribe(Start::Live).unwrap();
    assert!(matches!(publisher.subscribe(Start::Live), Err(AttachError::Unsupported { .. })));
    for i in 0..4u64 {
        publisher.try_send(&i.to_le_bytes()).unwrap();
    }
    assert_eq!(publisher.try_send(b"more"), Err(PublishError::Full));
    drop(slow);
    // `_other` still holds the ring.
    assert_eq!(publisher.try_send(b"more"), Err(PublishError::Full));
    let mut third = publisher.subscribe(Start::History(2)).unwrap();
    assert_eq!(third.try_recv().unwrap_err(), SubscriberError::Empty, "a channel without history keeps none");
}

#[test]
fn every_publisher_gone_is_disconnected_after_the_last_message() {
    let config = Config::new().kind(RingKind::Broadcast).capacity(4).slot_size(8);
    let mut publisher = Publisher::in_memory(&config).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    publisher.send(b"last").unwrap();
    drop(publisher);
    assert_eq!(&*subscriber.recv().unwrap(), b"last");
    assert_eq!(subscriber.recv().unwrap_err(), SubscriberError::Disconnected);
    assert_eq!(subscriber.recv_timeout(std::time::Duration::from_secs(1)).unwrap_err(), SubscriberError::Disconnected);
}

#[test]
fn a_queue_is_not_a_broadcast_channel_and_back() {
    let name = format!("bc-model-kinds-{}", std::process::id());
    let _rx = ferry::Receiver::create(&name, &Config::new()).unwrap();
    assert!(matches!(Publisher::open(&name), Err(AttachError::Unsupported { .. })));
    assert!(matches!(Subscriber::open(&name, Start::Live), Err(AttachError::Unsupported { .. })));
    let name = format!("bc-model-kinds2-{}", std::process::id());
    let _publisher = Publisher::create(&name, &Config::new()).unwrap();
    assert!(matches!(ferry::Sender::open(&name), Err(AttachError::Unsupported { .. })));
    assert!(matches!(ferry::Receiver::open(&name), Err(AttachError::Unsupported { .. })));
}
