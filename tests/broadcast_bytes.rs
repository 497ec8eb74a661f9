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

/// The broadcast byte ring against a model: every subscriber's stream a slice of one
/// `Vec` of messages, and the byte positions as the design states them (a record is a
/// 16-byte header plus the payload rounded up to 16, preceded by padding to the end of
/// the region when it does not fit before it; a claim also keeps the next header free;
/// a loan keeps the size it was claimed with; the bytes before the lowest subscriber's
/// cursor are free, and with no subscriber every byte is). So every `Full` is predicted
/// exactly and every byte received compared, with subscribers joining and leaving.
mod model {
    use ferry::{Config, PublishError, Publisher, RingKind, Start, Subscriber, SubscriberError, SLOT_ALIGN};
    use proptest::{collection::vec, prelude::*};

    #[derive(Debug, Clone)]
    enum Op {
        /// `try_send` of a message of this length (modulo the maximum plus a few).
        Send(usize),
        /// `try_loan_bytes(n)`, then a message of `k % (n + 1)` bytes committed.
        LoanCommit(usize, usize),
        /// `try_loan_bytes(n)`, dropped uncommitted.
        LoanAbandon(usize),
        /// `try_recv` by the subscriber of this index (modulo those attached).
        Recv(usize),
        /// `try_recv_into` by a subscriber, with a buffer of this length.
        RecvInto(usize, usize),
        /// A new subscriber.
        Join,
        /// A subscriber leaves.
        Leave(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<usize>().prop_map(Op::Send),
            3 => (any::<usize>(), any::<usize>()).prop_map(|(n, k)| Op::LoanCommit(n, k)),
            1 => any::<usize>().prop_map(Op::LoanAbandon),
            8 => any::<usize>().prop_map(Op::Recv),
            2 => (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Op::RecvInto(i, n)),
            1 => Just(Op::Join),
            1 => any::<usize>().prop_map(Op::Leave),
        ]
    }

    fn record(len: usize) -> u64 {
        16 + (len as u64).next_multiple_of(16)
    }

    fn pattern(id: u64, len: usize) -> Vec<u8> {
        let h = id.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..len).map(|i| (h.rotate_right((i % 8) as u32 * 8) as u8) ^ (i / 8) as u8).collect()
    }

    /// A subscriber, the index of the next message it reads, and its cursor.
    struct Reader {
        subscriber: Subscriber,
        next: usize,
        cursor: u64,
    }

    struct Model {
        capacity: u64,
        tail: u64,
        /// Every record published: its message (`None`: a dropped loan), its start and
        /// its end.
        records: Vec<(Option<Vec<u8>>, u64, u64)>,
    }

    impl Model {
        /// Where a record of `len` bytes would start, if it fits now.
        fn room(&self, len: usize, readers: &[Reader]) -> Option<u64> {
            let need = record(len);
            let to_end = self.capacity - self.tail % self.capacity;
            let start = if need > to_end { self.tail + to_end } else { self.tail };
            let gate = readers.iter().map(|r| r.cursor).min().unwrap_or(self.tail);
            (start + need + 16 - gate <= self.capacity).then_some(start)
        }

        fn push(&mut self, loaned: usize, message: Option<Vec<u8>>, readers: &[Reader]) {
            let start = self.room(loaned, readers).expect("pushed only with room");
            self.tail = start + record(loaned);
            self.records.push((message, start, self.tail));
        }

        /// What subscriber `reader` receives next (skipping dropped loans): the message,
        /// and its record's start and end.
        fn front(&self, reader: &mut Reader) -> Option<(Vec<u8>, u64, u64)> {
            while let Some((message, start, end)) = self.records.get(reader.next) {
                match message {
                    Some(bytes) => return Some((bytes.clone(), *start, *end)),
                    None => {
                        reader.next += 1;
                        reader.cursor = *end;
                    }
                }
            }
            None
        }
    }

    fn run(max: usize, capacity: usize, ops: Vec<Op>) {
        let config = Config::new().kind(RingKind::Broadcast).capacity_bytes(capacity).max_message(max);
        let mut publisher = Publisher::in_memory(&config).expect("a valid geometry");
        let mut model = Model { capacity: capacity as u64, tail: 0, records: Vec::new() };
        let mut readers: Vec<Reader> = Vec::new();
        for (id, op) in ops.into_iter().enumerate() {
            let id = id as u64;
            match op {
                Op::Send(n) => {
                    let message = pattern(id, n % (max + 4));
                    let outcome = publisher.try_send(&message);
                    if message.len() > max {
                        assert_eq!(outcome, Err(PublishError::TooLarge { len: message.len(), max }));
                    } else if model.room(message.len(), &readers).is_none() {
                        assert_eq!(outcome, Err(PublishError::Full), "no room for {} bytes", message.len());
                    } else {
                        outcome.unwrap_or_else(|e| panic!("room for {} bytes, got {e}", message.len()));
                        model.push(message.len(), Some(message), &readers);
                    }
                }
                Op::LoanCommit(n, k) | Op::LoanAbandon(n @ k) => {
                    let commit = matches!(op, Op::LoanCommit(..));
                    let n = n % (max + 1);
                    match (model.room(n, &readers), publisher.try_loan_bytes(n)) {
                        (None, outcome) => assert!(matches!(outcome, Err(PublishError::Full)), "a loan without room"),
                        (Some(_), Err(e)) => panic!("room for a loan of {n} bytes, got {e}"),
                        (Some(_), Ok(mut loan)) => {
                            assert_eq!((loan.len(), loan.as_ptr() as usize % SLOT_ALIGN), (n, 0));
                            loan.fill(0xA5);
                            let message = commit.then(|| pattern(id, k % (n + 1)));
                            if let Some(bytes) = &message {
                                loan[..bytes.len()].copy_from_slice(bytes);
                                loan.commit(bytes.len());
                            }
                            model.push(n, message, &readers);
                        }
                    }
                }
                Op::Recv(i) | Op::RecvInto(i, _) if !readers.is_empty() => {
                    let i = i % readers.len();
                    let front = model.front(&mut readers[i]);
                    let reader = &mut readers[i];
                    let received = match op {
                        Op::RecvInto(_, len) => {
                            let mut buf = vec![0xEE; len % (max + 1)];
                            match reader.subscriber.try_recv_into(&mut buf) {
                                Ok(n) => Ok(Some(buf[..n].to_vec())),
                                Err(SubscriberError::BufferTooSmall { needed }) => {
                                    let (bytes, start, _) = front.clone().expect("refused a message");
                                    assert!(needed == bytes.len() && buf.len() < needed, "refused one that fits");
                                    // It stays; the padding before it, if any, is passed.
                                    reader.cursor = start;
                                    Ok(None)
                                }
                                Err(e) => Err(e),
                            }
                        }
                        _ => reader.subscriber.try_recv().map(|guard| Some(guard.to_vec())),
                    };
                    match (front, received) {
                        (None, outcome) => assert_eq!(outcome, Err(SubscriberError::Empty)),
                        (Some(_), Ok(None)) => {}
                        (Some((bytes, _, end)), Ok(Some(got))) => {
                            assert_eq!(got, bytes, "subscriber {i} received other bytes");
                            reader.next += 1;
                            reader.cursor = end;
                        }
                        (Some(_), Err(e)) => panic!("subscriber {i} expected a message, got {e}"),
                    }
                }
                Op::Join if readers.len() < 3 => {
                    let subscriber = publisher.subscribe(Start::Live).expect("a seat");
                    readers.push(Reader { subscriber, next: model.records.len(), cursor: model.tail });
                }
                Op::Leave(i) if !readers.is_empty() => {
                    readers.remove(i % readers.len());
                }
                _ => {}
            }
        }
        for (i, reader) in readers.iter_mut().enumerate() {
            while let Some((bytes, _, end)) = model.front(reader) {
                let guard = reader.subscriber.try_recv().expect("the model holds more");
                assert_eq!(&*guard, &bytes[..], "subscriber {i}, draining");
                drop(guard);
                reader.next += 1;
                reader.cursor = end;
            }
            assert_eq!(reader.subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
        }
    }

    fn geometry() -> impl Strategy<Value = (usize, usize)> {
        (prop_oneof![Just(0usize), Just(1), Just(16), Just(100), Just(1000)], 0u32..3).prop_map(|(max, scale)| {
            let min = (2 * record(max)).next_power_of_two() as usize;
            (max, min << scale)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn broadcast_byte_ring_matches_the_model((max, capacity) in geometry(), ops in vec(op(), 0..200)) {
            run(max, capacity, ops);
        }
    }
}
