//! The byte rings (a channel sized in bytes, SPSC and MPMC) against a
//! `VecDeque<Vec<u8>>` model.
//!
//! Random operation sequences of random message sizes drive a heap-backed channel from
//! one thread, holding both halves. The model holds the messages and the ring's byte
//! positions as the design states them (a record is a 16-byte header plus the payload
//! rounded up to 16; a record that does not fit before the end of the region is
//! preceded by padding to the end; a claim also keeps the next record's header free; on
//! MPMC a loan keeps the size it was claimed with, and a dropped loan's record stays
//! until the receiver steps over it), so every `Full` is predicted exactly, every byte
//! received compared, every loan and guard checked for contiguity, alignment and zero
//! copy. A threaded test then streams random sizes through many wrap-arounds.

use std::{collections::VecDeque, thread};

use ferry::{in_memory, Config, Receiver, RecvError, RingKind, SendError, Sender, SLOT_ALIGN};
use proptest::{collection::vec, prelude::*};

const JUNK: u8 = 0xA5;

/// A message length relative to the maximum, so one strategy serves every geometry.
#[derive(Debug, Clone, Copy)]
enum Len {
    Zero,
    Max,
    Over(usize),
    Within(usize),
}

impl Len {
    fn bytes(self, max: usize) -> usize {
        match self {
            Self::Zero => 0,
            Self::Max => max,
            Self::Over(n) => max + n,
            Self::Within(n) => n % (max + 1),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// `try_send` of a fresh message.
    Send(Len),
    /// `try_loan_bytes(n)`, junk over the loan, a message of `k % (n + 1)` bytes, commit.
    LoanCommit(Len, usize),
    /// `try_loan_bytes(n)`, junk over it, dropped uncommitted.
    LoanAbandon(Len),
    /// `try_recv`, compare, drop.
    Recv,
    /// `try_recv`, compare, keep (the message stays).
    RecvKeep,
    /// `try_recv_into` with a buffer of this length.
    RecvInto(Len),
    /// A sender batch of `try_send`s; the receiver sees none of it before it ends.
    Batch(Vec<Len>),
}

fn len_strategy() -> impl Strategy<Value = Len> {
    prop_oneof![
        1 => Just(Len::Zero),
        1 => Just(Len::Max),
        1 => (1usize..40).prop_map(Len::Over),
        6 => any::<usize>().prop_map(Len::Within),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => len_strategy().prop_map(Op::Send),
        4 => (len_strategy(), any::<usize>()).prop_map(|(n, k)| Op::LoanCommit(n, k)),
        1 => len_strategy().prop_map(Op::LoanAbandon),
        6 => Just(Op::Recv),
        1 => Just(Op::RecvKeep),
        2 => len_strategy().prop_map(Op::RecvInto),
        1 => vec(len_strategy(), 0..6).prop_map(Op::Batch),
    ]
}

/// The bytes of message `id`, `len` long.
fn pattern(id: u64, len: usize) -> Vec<u8> {
    let h = id.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len).map(|i| (h.rotate_right((i % 8) as u32 * 8) as u8) ^ (i / 8) as u8).collect()
}

fn record(len: usize) -> u64 {
    16 + (len as u64).next_multiple_of(16)
}

/// A message (`None`: a dropped MPMC loan), where its record starts and ends, and the
/// address a loan wrote it at.
type Entry = (Option<Vec<u8>>, u64, u64, Option<usize>);

/// The model: the messages in order (`None`: an MPMC loan dropped uncommitted), where
/// each record ends, and the byte positions.
struct Model {
    mpmc: bool,
    capacity: u64,
    max: usize,
    /// Next position the producer writes.
    tail: u64,
    /// Position the consumer has released up to.
    head: u64,
    /// Each message, where its record starts and ends, and the address a loan wrote it at.
    queue: VecDeque<Entry>,
}

impl Model {
    /// Where a record for `len` bytes would start, if it fits now.
    fn room(&self, len: usize) -> Option<u64> {
        let need = record(len);
        let to_end = self.capacity - self.tail % self.capacity;
        let start = if need > to_end { self.tail + to_end } else { self.tail };
        (start + need + 16 - self.head <= self.capacity).then_some(start)
    }

    fn push(&mut self, bytes: Vec<u8>, at: Option<usize>) {
        let start = self.room(bytes.len()).expect("pushed only when there is room");
        self.tail = start + record(bytes.len());
        self.queue.push_back((Some(bytes), start, self.tail, at));
    }

    /// A loan of `n` bytes committed with `bytes` (`None`: dropped): its record ends after
    /// the committed bytes on SPSC, after the loaned ones on MPMC.
    fn push_loan(&mut self, n: usize, bytes: Option<Vec<u8>>, at: usize) {
        let start = self.room(n).expect("loaned only when there is room");
        let kept = if self.mpmc { n } else { bytes.as_ref().map_or(0, Vec::len) };
        self.tail = start + record(kept);
        self.queue.push_back((bytes, start, self.tail, Some(at)));
    }

    fn pop(&mut self) {
        let (_, _, end, _) = self.queue.pop_front().expect("popped only when non-empty");
        self.head = end;
    }

    /// What an MPMC receive steps over and frees before the next message, even when it
    /// then finds nothing or refuses it: records of dropped loans, and the padding before
    /// the message.
    fn skip_dropped(&mut self) {
        while matches!(self.queue.front(), Some((None, ..))) {
            self.pop();
        }
        if let (true, Some(&(_, start, _, _))) = (self.mpmc, self.queue.front()) {
            self.head = self.head.max(start);
        }
    }
}

fn try_send(tx: &mut Sender, model: &mut Model, message: Vec<u8>) {
    let outcome = tx.try_send(&message);
    if message.len() > model.max {
        assert!(
            matches!(outcome, Err(SendError::TooLarge { len, max, .. }) if len == message.len() && max == model.max),
            "a {}-byte message over a {}-byte maximum gave {outcome:?}",
            message.len(),
            model.max
        );
    } else if model.room(message.len()).is_none() {
        assert!(matches!(outcome, Err(SendError::Full(()))), "no room for {} bytes, got {outcome:?}", message.len());
    } else {
        outcome.unwrap_or_else(|e| panic!("room for {} bytes, got {e}", message.len()));
        model.push(message, None);
    }
}

fn check_front(rx: &mut Receiver, model: &mut Model, keep: bool) {
    model.skip_dropped();
    match model.queue.front() {
        None => assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty),
        Some((None, ..)) => unreachable!("skipped"),
        Some((Some(bytes), _, _, at)) => {
            let guard = rx.try_recv().unwrap_or_else(|e| panic!("the model holds {}, got {e}", model.queue.len()));
            assert_eq!(&guard[..], &bytes[..], "received bytes differ from the model's front");
            assert_eq!(guard.as_ptr() as usize % SLOT_ALIGN, 0, "a guard must be {SLOT_ALIGN}-aligned");
            if let Some(at) = at {
                assert_eq!(guard.as_ptr() as usize, *at, "the guard must be where the loan wrote (zero copy)");
            }
            if keep && !model.mpmc {
                guard.keep().expect("an SPSC guard can be kept");
            } else if keep {
                drop(guard.keep().expect_err("an MPMC guard cannot go back"));
                model.pop();
            } else {
                drop(guard);
                model.pop();
            }
        }
    }
}

fn run(kind: RingKind, max: usize, capacity: usize, ops: Vec<Op>) {
    let config = Config::new().kind(kind).capacity_bytes(capacity).max_message(max);
    let (mut tx, mut rx) = in_memory(&config).expect("a valid geometry");
    assert_eq!((tx.slot_size(), tx.capacity_bytes()), (max, capacity));
    let mpmc = kind == RingKind::Mpmc;
    let mut model = Model { mpmc, capacity: capacity as u64, max, tail: 0, head: 0, queue: VecDeque::new() };
    let mut id = 0u64;
    for op in ops {
        id += 1;
        match op {
            Op::Send(len) => try_send(&mut tx, &mut model, pattern(id, len.bytes(max))),
            Op::LoanCommit(n, k) => {
                let n = n.bytes(max);
                let outcome = tx.try_loan_bytes(n);
                if n > max {
                    assert!(matches!(outcome, Err(SendError::TooLarge { .. })), "loan over the maximum");
                } else if model.room(n).is_none() {
                    assert!(matches!(outcome, Err(SendError::Full(()))), "a loan of {n} bytes without room");
                } else {
                    let mut loan = outcome.unwrap_or_else(|e| panic!("room for a loan of {n} bytes, got {e}"));
                    assert_eq!(loan.len(), n, "a loan is exactly the size asked");
                    assert_eq!(loan.as_ptr() as usize % SLOT_ALIGN, 0, "a loan must be {SLOT_ALIGN}-aligned");
                    loan.fill(JUNK);
                    let bytes = pattern(id, k % (n + 1));
                    loan[..bytes.len()].copy_from_slice(&bytes);
                    let at = loan.as_ptr() as usize;
                    loan.commit(bytes.len());
                    model.push_loan(n, Some(bytes), at);
                }
            }
            Op::LoanAbandon(n) => {
                let n = n.bytes(max);
                if let Ok(mut loan) = tx.try_loan_bytes(n) {
                    assert!(n <= max && model.room(n).is_some(), "a loan of {n} bytes granted without room");
                    loan.fill(JUNK);
                    if mpmc {
                        model.push_loan(n, None, loan.as_ptr() as usize);
                    }
                }
            }
            Op::Recv => check_front(&mut rx, &mut model, false),
            Op::RecvKeep => check_front(&mut rx, &mut model, true),
            Op::RecvInto(len) => {
                let mut buf = vec![0xEE; len.bytes(max)];
                model.skip_dropped();
                match (model.queue.front(), rx.try_recv_into(&mut buf)) {
                    (None, outcome) => assert_eq!(outcome, Err(RecvError::Empty)),
                    (Some((Some(bytes), ..)), Ok(n)) => {
                        assert_eq!(&buf[..n], &bytes[..]);
                        model.pop();
                    }
                    (Some((Some(bytes), ..)), Err(RecvError::BufferTooSmall { needed })) => {
                        assert!(buf.len() < bytes.len() && needed == bytes.len(), "refused a message that fits");
                    }
                    (Some(_), outcome) => panic!("recv_into gave {outcome:?}"),
                }
            }
            Op::Batch(lens) => {
                let was_empty = model.queue.is_empty();
                {
                    let mut batch = tx.batch();
                    for len in lens {
                        id += 1;
                        let message = pattern(id, len.bytes(max));
                        let outcome = batch.try_send(&message);
                        if message.len() <= max && model.room(message.len()).is_some() {
                            outcome.unwrap_or_else(|e| panic!("batch send with room: {e}"));
                            model.push(message, None);
                        } else {
                            assert!(outcome.is_err(), "a batch send without room succeeded");
                        }
                    }
                    // (MPMC publishes each message as it is sent.)
                    if was_empty && !mpmc {
                        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "a batch is published at its end");
                    }
                }
            }
        }
    }
    while !model.queue.is_empty() {
        check_front(&mut rx, &mut model, false);
    }
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
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
    fn byte_ring_matches_the_model((max, capacity) in geometry(), ops in vec(op_strategy(), 0..200)) {
        run(RingKind::Spsc, max, capacity, ops);
    }

    #[test]
    fn mpmc_byte_ring_matches_the_model((max, capacity) in geometry(), ops in vec(op_strategy(), 0..200)) {
        run(RingKind::Mpmc, max, capacity, ops);
    }
}

#[test]
fn too_small_a_ring_for_its_largest_message_is_refused() {
    let err = in_memory(&Config::new().capacity_bytes(256).max_message(113)).unwrap_err();
    assert!(err.to_string().contains("two of its largest messages"), "{err}");
    assert!(in_memory(&Config::new().capacity_bytes(256).max_message(112)).is_ok());
    assert!(in_memory(&Config::new().capacity_bytes(300).max_message(16)).is_err(), "not a power of two");
    let broadcast = Config::new().kind(RingKind::Broadcast).capacity_bytes(1 << 12).max_message(100);
    let err = in_memory(&broadcast).unwrap_err();
    assert!(err.to_string().contains("it is a broadcast channel"), "a queue on it: {err}");
    assert!(ferry::Publisher::in_memory(&broadcast).is_ok());
    assert!(ferry::Publisher::in_memory(&broadcast.max_message(2100)).is_err(), "the same minimum on broadcast");
    let mpmc = Config::new().kind(RingKind::Mpmc).capacity_bytes(256);
    assert!(in_memory(&mpmc.max_message(113)).is_err(), "the same minimum on MPMC");
    assert!(in_memory(&mpmc.max_message(112)).is_ok());
}

#[test]
fn a_largest_message_always_fits_once_drained() {
    // From every offset of the region, an empty ring takes a message of the maximum.
    let max = 100;
    let capacity = 256;
    for kind in [RingKind::Spsc, RingKind::Mpmc] {
        let config = Config::new().kind(kind).capacity_bytes(capacity).max_message(max);
        let (mut tx, mut rx) = in_memory(&config).expect("valid");
        for shift in 0..64 {
            tx.try_send(&vec![shift as u8; max]).unwrap_or_else(|e| panic!("{kind:?}, shift {shift}: {e}"));
            assert_eq!(&*rx.try_recv().expect("sent"), &vec![shift as u8; max][..]);
            tx.try_send(&[1]).expect("an empty ring takes a byte");
            drop(rx.try_recv().expect("sent"));
        }
    }
}

#[test]
fn threaded_stream_of_random_sizes_wraps_many_times() {
    let max = 5000;
    let config = Config::new().capacity_bytes(16 << 10).max_message(max);
    let (mut tx, mut rx) = in_memory(&config).expect("valid");
    const N: u64 = 20_000;
    let producer = thread::spawn(move || {
        let mut state = 0x1234_5678_u64;
        for id in 0..N {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = match state >> 60 {
                0 => 0,
                1 => max,
                _ => (state >> 20) as usize % 300,
            };
            if id % 3 == 0 {
                let mut loan = tx.loan_bytes(max).expect("loan");
                let bytes = pattern(id, len);
                loan[..len].copy_from_slice(&bytes);
                loan.commit(len);
            } else {
                tx.send(&pattern(id, len)).expect("send");
            }
        }
    });
    let mut state = 0x1234_5678_u64;
    for id in 0..N {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = match state >> 60 {
            0 => 0,
            1 => max,
            _ => (state >> 20) as usize % 300,
        };
        let guard = rx.recv().expect("recv");
        assert_eq!(&guard[..], &pattern(id, len)[..], "message {id}");
    }
    producer.join().expect("producer");
    assert_eq!(rx.recv().unwrap_err(), RecvError::Disconnected);
}

#[test]
fn threaded_mpmc_of_random_sizes_delivers_each_message_once() {
    const MAX: usize = 5000;
    let max = MAX;
    let config = Config::new().kind(RingKind::Mpmc).capacity_bytes(16 << 10).max_message(max);
    let (tx, rx) = in_memory(&config).expect("valid");
    const N: u64 = 10_000;
    let len_of = move |producer: u64, id: u64| match (producer * N + id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58 {
        0 => 8,
        1 => MAX,
        r => 8 + (r as usize * 37) % 300,
    };
    let producers: Vec<_> = (0..2u64)
        .map(|producer| {
            let mut tx = tx.try_clone().expect("a second sender");
            thread::spawn(move || {
                for id in 0..N {
                    let mut message = pattern(producer * N + id, len_of(producer, id));
                    message[..8].copy_from_slice(&(producer * N + id).to_le_bytes());
                    match id % 4 {
                        // A loan of the maximum, committed with fewer bytes.
                        0 => {
                            let mut loan = tx.loan_bytes(max).expect("loan");
                            loan[..message.len()].copy_from_slice(&message);
                            loan.commit(message.len());
                        }
                        // A loan dropped uncommitted: never delivered.
                        1 => {
                            tx.loan_bytes(64).expect("loan").fill(JUNK);
                            tx.send(&message).expect("send");
                        }
                        _ => tx.send(&message).expect("send"),
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = rx.try_clone().expect("a second receiver");
            thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    match rx.recv() {
                        Ok(guard) => {
                            let key = u64::from_le_bytes(guard[..8].try_into().expect("8 bytes"));
                            let (producer, id) = (key / N, key % N);
                            let mut expected = pattern(key, len_of(producer, id));
                            expected[..8].copy_from_slice(&key.to_le_bytes());
                            assert_eq!(&guard[..], &expected[..], "message {key} torn or stale");
                            seen.push(key);
                        }
                        Err(RecvError::Disconnected) => return seen,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    for producer in producers {
        producer.join().expect("producer");
    }
    let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().expect("consumer")).collect();
    all.sort_unstable();
    assert_eq!(all, (0..2 * N).collect::<Vec<_>>(), "every message exactly once");
}
