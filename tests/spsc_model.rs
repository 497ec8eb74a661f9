//! The SPSC ring against a `VecDeque` model.
//!
//! Random operation sequences drive a heap-backed channel ([`ferry::in_memory`]) from one
//! thread, holding both halves, and every outcome is compared with what the model
//! predicts: each error variant (with the message handed back), each byte received, each
//! `in_flight` count, and what the receiver can see while a batch is open on either side.
//! A threaded test then runs a real producer and consumer through many wrap-arounds.

use std::{
    collections::VecDeque,
    panic::{self, AssertUnwindSafe},
    thread,
};

use ferry::{in_memory, Config, Loan, Receiver, RecvError, RecvGuard, SendError, Sender, SLOT_ALIGN};
use proptest::{collection::vec, prelude::*};

/// Byte written over a whole loaned slot before the message, so stale bytes past a
/// message's end, or an abandoned loan's bytes, cannot pass for message bytes.
const JUNK: u8 = 0xA5;
/// Byte a receive buffer is filled with, to see what a receive wrote into it.
const UNTOUCHED: u8 = 0xEE;

/// A message length relative to the slot size, so one strategy serves every geometry.
#[derive(Debug, Clone, Copy)]
enum Len {
    /// An empty message.
    Zero,
    /// Exactly one slot.
    Full,
    /// This many bytes more than a slot.
    Over(usize),
    /// `n % (slot_size + 1)`: anything from empty to a full slot.
    Within(usize),
}

impl Len {
    fn bytes(self, slot_size: usize) -> usize {
        match self {
            Self::Zero => 0,
            Self::Full => slot_size,
            Self::Over(n) => slot_size + n,
            Self::Within(n) => n % (slot_size + 1),
        }
    }

    /// As [`Len::bytes`], but at most a slot: what a loan can commit.
    fn fitting(self, slot_size: usize) -> usize {
        self.bytes(slot_size).min(slot_size)
    }
}

/// One step of the single-threaded model test.
#[derive(Debug, Clone)]
enum Op {
    /// `tx.try_send` of a fresh message.
    Send(Len),
    /// `tx.try_loan`, write a fresh message, `commit`.
    LoanCommit(Len),
    /// `tx.try_loan`, scribble over the slot, drop the loan uncommitted.
    LoanAbandon,
    /// `rx.try_recv`, compare, drop the guard (consume and release).
    Recv,
    /// `rx.try_recv`, compare, `keep` (the message stays).
    RecvKeep,
    /// `rx.try_recv_into` with a buffer of this length (possibly too small).
    RecvInto(Len),
    /// `tx.send_value::<u64>`.
    SendValue(u64),
    /// `rx.recv_value::<u64>` when the front is 8 bytes, else `RecvGuard::value` + `keep`.
    RecvValue,
    /// A sender batch; the receiver acts between its steps.
    SendBatch(Vec<TxStep>),
    /// A receiver batch; the sender acts between its steps.
    RecvBatch(Vec<RxStep>),
}

/// One step inside a sender batch.
#[derive(Debug, Clone)]
enum TxStep {
    /// `batch.try_send` of a fresh message.
    Send(Len),
    /// `batch.try_loan`, write, `commit`.
    LoanCommit(Len),
    /// `batch.try_loan`, scribble, drop uncommitted.
    LoanAbandon,
    /// `batch.publish()` in the middle of the batch.
    Publish,
    /// `rx.try_recv` + drop while the batch is open: sees only published messages.
    RxRecv,
    /// `rx.try_recv` + `keep` while the batch is open.
    RxPeek,
}

/// One step inside a receiver batch.
#[derive(Debug, Clone)]
enum RxStep {
    /// `batch.try_recv`, compare, drop (consumed, slot not yet released).
    Recv,
    /// `batch.try_recv`, compare, `keep`.
    Keep,
    /// `batch.release()` in the middle of the batch.
    Release,
    /// `tx.try_send` while the batch is open: slots read in it are not free yet.
    TxSend(Len),
}

/// A message the model expects, and the payload address a loan wrote it at.
#[derive(Debug, Clone)]
struct Expected {
    bytes: Vec<u8>,
    /// `Some` for messages written through a loan: the receiver must read them there.
    at: Option<usize>,
}

impl Expected {
    fn copied(bytes: Vec<u8>) -> Self {
        Self { bytes, at: None }
    }
}

/// The bytes of message `id`, `len` long: distinct for nearby ids even at length 1.
fn pattern(id: u64, len: usize) -> Vec<u8> {
    let h = id.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len).map(|i| (h.rotate_right((i % 8) as u32 * 8) as u8) ^ (i / 8) as u8).collect()
}

/// Checks a copying send's outcome against the model; `true` if the message went in.
fn check_send(outcome: Result<(), SendError>, message: &[u8], slot_size: usize, free: usize) -> bool {
    if message.len() > slot_size {
        match outcome {
            Err(SendError::TooLarge { len, max, .. }) => {
                assert_eq!((len, max), (message.len(), slot_size), "TooLarge reports the wrong sizes");
            }
            other => panic!("a {}-byte message into {slot_size}-byte slots gave {other:?}", message.len()),
        }
        false
    } else if free == 0 {
        match outcome {
            Err(SendError::Full(())) => {}
            other => panic!("a send into a full ring gave {other:?}"),
        }
        false
    } else {
        outcome.unwrap_or_else(|e| panic!("a {}-byte send with {free} free slots failed: {e}", message.len()));
        true
    }
}

/// Checks a `try_loan` outcome against the model; the loan if one was due.
fn check_loan<'a>(outcome: Result<Loan<'a>, SendError<()>>, slot_size: usize, free: usize) -> Option<Loan<'a>> {
    if free == 0 {
        match outcome {
            Err(SendError::Full(())) => None,
            other => panic!("a loan from a full ring gave {other:?}"),
        }
    } else {
        let loan = outcome.unwrap_or_else(|e| panic!("a loan with {free} free slots failed: {e}"));
        assert_eq!(loan.len(), slot_size, "a loan must span the whole slot");
        assert_eq!(loan.as_ptr() as usize % SLOT_ALIGN, 0, "a loan must be {SLOT_ALIGN}-byte aligned");
        Some(loan)
    }
}

/// Fills the loan with junk, writes message `id` of `len` bytes over its start, commits.
fn write_and_commit(mut loan: Loan<'_>, id: u64, len: usize) -> Expected {
    let bytes = pattern(id, len);
    loan.fill(JUNK);
    loan[..len].copy_from_slice(&bytes);
    let at = loan.as_ptr() as usize;
    loan.commit(len);
    Expected { bytes, at: Some(at) }
}

/// Scribbles over the whole loaned slot and drops the loan without committing.
fn abandon(mut loan: Loan<'_>) {
    loan.fill(JUNK);
    // The loan goes out of scope here, uncommitted.
}

/// Checks a received guard against the message the model expects at the front.
fn check_guard(guard: &RecvGuard<'_>, expected: &Expected) {
    assert_eq!(&guard[..], &expected.bytes[..], "received bytes differ from the model's front");
    if let Some(at) = expected.at {
        assert_eq!(guard.as_ptr() as usize, at, "the receiver must read the slot the loan wrote (zero copy)");
    }
}

/// `rx.try_recv` then drop the guard: the front is consumed, or the ring is empty.
fn recv_and_release(rx: &mut Receiver, queue: &mut VecDeque<Expected>) {
    match queue.front() {
        None => assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the model is empty"),
        Some(front) => {
            let guard = rx.try_recv().unwrap_or_else(|e| panic!("the model holds {} messages, got {e}", queue.len()));
            check_guard(&guard, front);
            drop(guard);
            queue.pop_front();
        }
    }
}

/// `rx.try_recv` then `keep`: sees the front without consuming it.
fn peek(rx: &mut Receiver, queue: &VecDeque<Expected>) {
    match queue.front() {
        None => assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the model is empty"),
        Some(front) => {
            let guard = rx.try_recv().unwrap_or_else(|e| panic!("the model holds {} messages, got {e}", queue.len()));
            check_guard(&guard, front);
            guard.keep().expect("an SPSC ring takes a message back");
        }
    }
}

/// A channel and the model it must follow.
struct Harness {
    tx: Sender,
    rx: Receiver,
    slot_size: usize,
    capacity: usize,
    /// Published messages not yet received, oldest first.
    queue: VecDeque<Expected>,
    /// Id of the next message made.
    next_id: u64,
}

impl Harness {
    fn new(slot_size: usize, capacity: usize) -> Self {
        let (tx, rx) = in_memory(&Config::new().slot_size(slot_size).capacity(capacity)).expect("valid geometry");
        assert_eq!((tx.slot_size(), tx.capacity()), (slot_size, capacity));
        assert_eq!((rx.slot_size(), rx.capacity()), (slot_size, capacity));
        Self { tx, rx, slot_size, capacity, queue: VecDeque::new(), next_id: 0 }
    }

    fn fresh_id(next_id: &mut u64) -> u64 {
        *next_id += 1;
        *next_id
    }

    fn check_in_flight(&mut self, held: usize) {
        assert_eq!(self.tx.in_flight(), Ok(self.queue.len() + held), "in_flight disagrees with the model");
    }

    fn apply(&mut self, op: &Op) {
        let (slot_size, capacity) = (self.slot_size, self.capacity);
        let free = capacity - self.queue.len();
        match op {
            Op::Send(len) => {
                let message = pattern(Self::fresh_id(&mut self.next_id), len.bytes(slot_size));
                if check_send(self.tx.try_send(&message), &message, slot_size, free) {
                    self.queue.push_back(Expected::copied(message));
                }
            }
            Op::LoanCommit(len) => {
                let id = Self::fresh_id(&mut self.next_id);
                if let Some(loan) = check_loan(self.tx.try_loan(), slot_size, free) {
                    self.queue.push_back(write_and_commit(loan, id, len.fitting(slot_size)));
                }
            }
            Op::LoanAbandon => {
                if let Some(loan) = check_loan(self.tx.try_loan(), slot_size, free) {
                    abandon(loan);
                }
                self.check_in_flight(0);
                peek(&mut self.rx, &self.queue);
            }
            Op::Recv => recv_and_release(&mut self.rx, &mut self.queue),
            Op::RecvKeep => peek(&mut self.rx, &self.queue),
            Op::RecvInto(len) => {
                let mut buf = vec![UNTOUCHED; len.bytes(slot_size)];
                let outcome = self.rx.try_recv_into(&mut buf);
                match self.queue.front() {
                    None => assert_eq!(outcome, Err(RecvError::Empty)),
                    Some(front) if buf.len() < front.bytes.len() => {
                        assert_eq!(outcome, Err(RecvError::BufferTooSmall { needed: front.bytes.len() }));
                        assert!(buf.iter().all(|&b| b == UNTOUCHED), "a failed recv_into wrote into the buffer");
                    }
                    Some(front) => {
                        let n = front.bytes.len();
                        assert_eq!(outcome, Ok(n));
                        assert_eq!(&buf[..n], &front.bytes[..], "recv_into copied the wrong bytes");
                        assert!(buf[n..].iter().all(|&b| b == UNTOUCHED), "recv_into wrote past the message");
                        self.queue.pop_front();
                    }
                }
            }
            Op::SendValue(value) => {
                if slot_size < 8 {
                    let expected = SendError::TooLarge { message: *value, len: 8, max: slot_size };
                    assert_eq!(self.tx.send_value(*value), Err(expected));
                } else if free > 0 {
                    // A full ring is skipped: `send_value` would wait for room forever.
                    assert_eq!(self.tx.send_value(*value), Ok(()));
                    self.queue.push_back(Expected::copied(value.to_ne_bytes().to_vec()));
                }
            }
            Op::RecvValue => match self.queue.front() {
                // An empty ring is only probed: `recv_value` would wait forever.
                None => assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty),
                Some(front) if front.bytes.len() == 8 => {
                    let expected = u64::from_ne_bytes(front.bytes[..].try_into().expect("8 bytes"));
                    assert_eq!(self.rx.recv_value::<u64>(), Ok(expected));
                    self.queue.pop_front();
                }
                Some(front) => {
                    // Not `recv_value`: it consumes the message it rejects (see the
                    // ignored `recv_value_of_the_wrong_size_keeps_the_message`). The
                    // guard's `value` must reject it in place.
                    let guard = self.rx.try_recv().expect("the model holds a message");
                    let expected = RecvError::WrongSize { expected: 8, actual: front.bytes.len() };
                    assert_eq!(guard.value::<u64>().unwrap_err(), expected);
                    guard.keep().expect("an SPSC ring takes a message back");
                }
            },
            Op::SendBatch(steps) => self.send_batch(steps),
            Op::RecvBatch(steps) => self.recv_batch(steps),
        }
    }

    /// Runs a sender batch; the receiver must see nothing it staged until it publishes.
    fn send_batch(&mut self, steps: &[TxStep]) {
        let Self { tx, rx, slot_size, capacity, queue, next_id } = self;
        let (slot_size, capacity) = (*slot_size, *capacity);
        let mut staged: Vec<Expected> = Vec::new();
        let mut batch = tx.batch();
        for step in steps {
            let free = capacity - queue.len() - staged.len();
            match step {
                TxStep::Send(len) => {
                    let message = pattern(Self::fresh_id(next_id), len.bytes(slot_size));
                    if check_send(batch.try_send(&message), &message, slot_size, free) {
                        staged.push(Expected::copied(message));
                    }
                }
                TxStep::LoanCommit(len) => {
                    let id = Self::fresh_id(next_id);
                    if let Some(loan) = check_loan(batch.try_loan(), slot_size, free) {
                        staged.push(write_and_commit(loan, id, len.fitting(slot_size)));
                    }
                }
                TxStep::LoanAbandon => {
                    if let Some(loan) = check_loan(batch.try_loan(), slot_size, free) {
                        abandon(loan);
                    }
                }
                TxStep::Publish => {
                    batch.publish();
                    queue.extend(staged.drain(..));
                }
                TxStep::RxRecv => recv_and_release(rx, queue),
                TxStep::RxPeek => peek(rx, queue),
            }
        }
        // Whatever is staged is still invisible: the receiver sees the published front,
        // or nothing at all.
        peek(rx, queue);
        drop(batch);
        let first_staged = staged.first().cloned();
        let was_empty = queue.is_empty();
        queue.extend(staged);
        self.check_in_flight(0);
        if let (true, Some(first)) = (was_empty, first_staged) {
            // The batch's first message is now at the front.
            let guard = self.rx.try_recv().expect("the batch was published");
            check_guard(&guard, &first);
            guard.keep().expect("an SPSC ring takes a message back");
        }
    }

    /// Runs a receiver batch; the slots it reads must stay taken until it releases.
    fn recv_batch(&mut self, steps: &[RxStep]) {
        let Self { tx, rx, slot_size, capacity, queue, next_id } = self;
        let (slot_size, capacity) = (*slot_size, *capacity);
        let mut held = 0;
        let mut batch = rx.batch();
        for step in steps {
            match step {
                RxStep::Recv | RxStep::Keep => match queue.front() {
                    None => assert_eq!(batch.try_recv().unwrap_err(), RecvError::Empty, "the model is empty"),
                    Some(front) => {
                        let guard = batch.try_recv().expect("the model holds a message");
                        check_guard(&guard, front);
                        if matches!(step, RxStep::Keep) {
                            guard.keep().expect("an SPSC ring takes a message back");
                        } else {
                            drop(guard);
                            queue.pop_front();
                            held += 1;
                        }
                    }
                },
                RxStep::Release => {
                    batch.release();
                    held = 0;
                }
                RxStep::TxSend(len) => {
                    let message = pattern(Self::fresh_id(next_id), len.bytes(slot_size));
                    let free = capacity - queue.len() - held;
                    if check_send(tx.try_send(&message), &message, slot_size, free) {
                        queue.push_back(Expected::copied(message));
                    }
                }
            }
            assert_eq!(tx.in_flight(), Ok(queue.len() + held), "slots read in an open batch count as in flight");
        }
        drop(batch);
        self.check_in_flight(0);
    }

    /// Drains the ring against the model, then checks that exactly `capacity` slots are free.
    fn finish(mut self) {
        while !self.queue.is_empty() {
            recv_and_release(&mut self.rx, &mut self.queue);
        }
        assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty);
        self.check_in_flight(0);
        for _ in 0..self.capacity {
            let message = pattern(Self::fresh_id(&mut self.next_id), self.slot_size);
            self.tx.try_send(&message).expect("an empty ring has room for `capacity` messages");
            self.queue.push_back(Expected::copied(message));
        }
        let extra = [1u8];
        assert!(matches!(self.tx.try_send(&extra), Err(SendError::Full(_))), "one more than capacity must be Full");
        self.check_in_flight(0);
        while !self.queue.is_empty() {
            recv_and_release(&mut self.rx, &mut self.queue);
        }
        assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty);
        self.check_in_flight(0);
    }
}

/// Any capacity: one that is not a power of two holds exactly that many messages in
/// the next power of two of slots.
fn capacity() -> impl Strategy<Value = usize> {
    1usize..=9
}

fn slot_size() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 1usize..=96, 1 => Just(64usize), 1 => Just(65usize), 1 => Just(128usize)]
}

fn len() -> impl Strategy<Value = Len> {
    prop_oneof![
        1 => Just(Len::Zero),
        1 => Just(Len::Full),
        1 => (1usize..=8).prop_map(Len::Over),
        5 => (0usize..1000).prop_map(Len::Within),
    ]
}

fn tx_step() -> impl Strategy<Value = TxStep> {
    prop_oneof![
        4 => len().prop_map(TxStep::Send),
        3 => len().prop_map(TxStep::LoanCommit),
        1 => Just(TxStep::LoanAbandon),
        1 => Just(TxStep::Publish),
        3 => Just(TxStep::RxRecv),
        1 => Just(TxStep::RxPeek),
    ]
}

fn rx_step() -> impl Strategy<Value = RxStep> {
    prop_oneof![
        4 => Just(RxStep::Recv),
        1 => Just(RxStep::Keep),
        1 => Just(RxStep::Release),
        3 => len().prop_map(RxStep::TxSend),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => len().prop_map(Op::Send),
        4 => len().prop_map(Op::LoanCommit),
        1 => Just(Op::LoanAbandon),
        6 => Just(Op::Recv),
        1 => Just(Op::RecvKeep),
        3 => len().prop_map(Op::RecvInto),
        1 => any::<u64>().prop_map(Op::SendValue),
        1 => Just(Op::RecvValue),
        2 => vec(tx_step(), 0..12).prop_map(Op::SendBatch),
        2 => vec(rx_step(), 0..12).prop_map(Op::RecvBatch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of operations gives the outcomes, bytes and counts the model predicts.
    #[test]
    fn ring_follows_the_model(capacity in capacity(), slot_size in slot_size(), ops in vec(op(), 1..64)) {
        let mut harness = Harness::new(slot_size, capacity);
        for op in &ops {
            harness.apply(op);
            harness.check_in_flight(0);
        }
        harness.finish();
    }

    /// Messages sent in a batch stay invisible, even to a receiver that drained everything
    /// published before, until the batch publishes; then they all arrive, in order.
    #[test]
    fn send_batch_publishes_at_once(
        capacity in capacity(),
        slot_size in slot_size(),
        before in 0usize..=8,
        lens in vec(len(), 1..=8),
        explicit_publish in any::<bool>(),
    ) {
        let mut h = Harness::new(slot_size, capacity);
        for _ in 0..before.min(capacity) {
            h.apply(&Op::Send(Len::Within(before)));
        }
        let Harness { tx, rx, queue, next_id, .. } = &mut h;
        let mut staged = Vec::new();
        let mut batch = tx.batch();
        for (i, len) in lens.iter().enumerate() {
            if i == lens.len() / 2 {
                // Drain what was published before the batch: frees room for it too.
                while !queue.is_empty() {
                    recv_and_release(rx, queue);
                }
            }
            let message = pattern(Harness::fresh_id(next_id), len.bytes(slot_size));
            let free = capacity - queue.len() - staged.len();
            if check_send(batch.try_send(&message), &message, slot_size, free) {
                staged.push(Expected::copied(message));
            }
            peek(rx, queue);
        }
        while !queue.is_empty() {
            recv_and_release(rx, queue);
        }
        prop_assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "staged messages must be invisible");
        if explicit_publish {
            batch.publish();
            // Visible at once, while the batch is still open.
            queue.extend(staged.drain(..));
            peek(rx, queue);
        }
        drop(batch);
        queue.extend(staged);
        h.check_in_flight(0);
        h.finish();
    }

    /// Slots read in a receiver batch stay taken (a full ring stays full for the sender)
    /// until the batch ends; then all of them are free at once.
    #[test]
    fn recv_batch_frees_at_once(
        capacity in capacity(),
        slot_size in slot_size(),
        read in 1usize..=8,
        explicit_release in any::<bool>(),
    ) {
        let read = read.min(capacity);
        let mut h = Harness::new(slot_size, capacity);
        for _ in 0..capacity {
            h.apply(&Op::LoanCommit(Len::Within(read * 7)));
        }
        h.check_in_flight(0);
        let Harness { tx, rx, queue, next_id, .. } = &mut h;
        let mut batch = rx.batch();
        for _ in 0..read {
            let front = queue.pop_front().expect("the ring is full");
            let guard = batch.try_recv().expect("the ring is full");
            check_guard(&guard, &front);
            drop(guard);
            prop_assert_eq!(tx.in_flight(), Ok(capacity), "a slot read in a batch was freed early");
            let message = pattern(Harness::fresh_id(next_id), 0);
            prop_assert!(!check_send(tx.try_send(&message), &message, slot_size, 0));
            prop_assert!(matches!(tx.try_loan(), Err(SendError::Full(()))));
        }
        if explicit_release {
            batch.release();
            prop_assert_eq!(tx.in_flight(), Ok(capacity - read), "release must free the batch's slots");
        }
        drop(batch);
        prop_assert_eq!(tx.in_flight(), Ok(capacity - read), "ending the batch must free its slots");
        for _ in 0..read {
            h.apply(&Op::Send(Len::Full));
        }
        prop_assert_eq!(h.queue.len(), capacity, "every slot the batch read must be usable again");
        h.apply(&Op::Send(Len::Zero));
        h.finish();
    }

    /// `send_value` / `recv_value` round-trip any `u64`, across the wrap.
    #[test]
    fn u64_values_round_trip(capacity in capacity(), slot_size in 8usize..=96, values in vec(any::<u64>(), 1..40)) {
        let (mut tx, mut rx) = in_memory(&Config::new().slot_size(slot_size).capacity(capacity)).unwrap();
        for chunk in values.chunks(capacity) {
            for &v in chunk {
                prop_assert_eq!(tx.send_value(v), Ok(()));
            }
            prop_assert_eq!(tx.in_flight(), Ok(chunk.len()));
            for &v in chunk {
                prop_assert_eq!(rx.recv_value::<u64>(), Ok(v));
            }
            prop_assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
        }
    }
}

/// Committing more than a slot panics and sends nothing.
#[test]
fn commit_past_the_slot_panics_and_sends_nothing() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(10).capacity(2)).unwrap();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| tx.try_loan().unwrap().commit(11)));
    assert!(outcome.is_err(), "commit(11) into a 10-byte slot must panic");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    assert_eq!(tx.in_flight(), Ok(0));
    tx.try_send(b"0123456789").unwrap();
    tx.try_send(b"").unwrap();
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Full(_))), "the panicking commit must not take a slot");
    assert_eq!(&*rx.try_recv().unwrap(), b"0123456789");
    assert_eq!(&*rx.try_recv().unwrap(), b"");
}

/// A wrong-size message rejected by `recv_value` stays in the channel, as documented.
#[test]
fn recv_value_of_the_wrong_size_keeps_the_message() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(16).capacity(2)).unwrap();
    tx.try_send(b"abc").unwrap();
    tx.send_value(7u64).unwrap();
    assert_eq!(rx.recv_value::<u64>(), Err(RecvError::WrongSize { expected: 8, actual: 3 }));
    assert_eq!(tx.in_flight(), Ok(2), "the rejected message must not be released");
    assert_eq!(&*rx.try_recv().unwrap(), b"abc", "the rejected message must come next");
    assert_eq!(rx.recv_value::<u64>(), Ok(7));
}

const THREADED_MESSAGES: u64 = 200_000;
const THREADED_SLOT: usize = 40;

/// The value message `seq` carries, when it is a value message.
fn threaded_value(seq: u64) -> u64 {
    seq.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ seq
}

/// The bytes of message `seq` in the threaded test: every fifth one is a `u64` value.
fn threaded_message(seq: u64) -> Vec<u8> {
    if seq % 5 == 4 {
        threaded_value(seq).to_ne_bytes().to_vec()
    } else {
        pattern(seq, (seq as usize * 7) % (THREADED_SLOT + 1))
    }
}

/// A producer and a consumer thread pass 200k messages through an 8-slot ring (25k
/// wrap-arounds), each side mixing copies, loans, values and batches; every message must
/// arrive intact and in order, then the receiver must see the sender leave.
#[test]
fn threads_pass_every_message_in_order() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(THREADED_SLOT).capacity(8)).unwrap();
    let producer = thread::spawn(move || {
        let mut seq = 0;
        while seq < THREADED_MESSAGES {
            let group = seq / 16;
            if group % 3 == 2 {
                // Up to the group's end through batches; a full ring ends a batch early.
                let end = ((group + 1) * 16).min(THREADED_MESSAGES);
                let mut batch = tx.batch();
                while seq < end && batch.try_send(&threaded_message(seq)).is_ok() {
                    seq += 1;
                }
                drop(batch);
                if seq < end {
                    tx.send(&threaded_message(seq)).unwrap();
                    seq += 1;
                }
                continue;
            }
            let message = threaded_message(seq);
            match seq % 5 {
                4 => tx.send_value(threaded_value(seq)).unwrap(),
                0 | 2 => tx.send(&message).unwrap(),
                _ => {
                    let mut loan = tx.loan().unwrap();
                    loan.fill(JUNK);
                    loan[..message.len()].copy_from_slice(&message);
                    loan.commit(message.len());
                }
            }
            seq += 1;
        }
        // Dropping `tx` here detaches the sender.
    });

    let mut buf = [UNTOUCHED; THREADED_SLOT];
    let mut seq = 0;
    while seq < THREADED_MESSAGES {
        match seq % 3 {
            0 if seq % 5 == 4 => assert_eq!(rx.recv_value::<u64>(), Ok(threaded_value(seq)), "message {seq}"),
            0 => assert_eq!(&*rx.recv().unwrap(), &threaded_message(seq)[..], "message {seq}"),
            1 => {
                let n = rx.recv_into(&mut buf).unwrap();
                assert_eq!(&buf[..n], &threaded_message(seq)[..], "message {seq}");
            }
            _ => {
                // Whatever is waiting, up to 6, through one batch; else one blocking receive.
                let start = seq;
                let mut batch = rx.batch();
                while seq < THREADED_MESSAGES && seq - start < 6 {
                    let Ok(guard) = batch.try_recv() else { break };
                    assert_eq!(&*guard, &threaded_message(seq)[..], "message {seq}");
                    drop(guard);
                    seq += 1;
                }
                drop(batch);
                if seq == start {
                    assert_eq!(&*rx.recv().unwrap(), &threaded_message(seq)[..], "message {seq}");
                    seq += 1;
                }
                continue;
            }
        }
        seq += 1;
    }
    producer.join().unwrap();
    assert_eq!(rx.recv().unwrap_err(), RecvError::Disconnected, "no message may follow the last one");
}
