//! The MPMC ring against a `VecDeque` model.
//!
//! Random operation sequences drive a heap-backed MPMC channel ([`ferry::in_memory`])
//! from one thread, holding a sender and a receiver, and every outcome is compared with
//! what the model predicts: each error variant (with the message handed back), each byte
//! received, each `in_flight` count.
//!
//! MPMC differs from SPSC in ways the model spells out:
//! - a loan dropped without commit still takes its position: it is published as a
//!   cancelled slot, which receivers never see but which fills a slot of the ring until a
//!   receive passes over it (any receive attempt, whatever its outcome);
//! - a received message cannot be put back (`keep` hands the guard back);
//! - batches do not defer anything: each slot is published, and released, on its own.
//!
//! Single cases pin what the random runs reach rarely or not at all (a loan holding back
//! later messages, a one-slot ring, a message behind many cancelled slots, wake-ups), and
//! a threaded test runs four producers and four consumers through a named channel.

use std::{
    collections::VecDeque,
    process,
    sync::{atomic::Ordering, mpsc},
    thread,
    time::{Duration, Instant},
};

use ferry::{in_memory, Config, Loan, Receiver, RecvError, RecvGuard, RingKind, SendError, Sender, SLOT_ALIGN};
use proptest::{collection::vec, prelude::*};

mod support;
use support::Cleanup;

/// Byte written over a whole loaned slot before the message, so stale bytes past a
/// message's end, or an abandoned loan's bytes, cannot pass for message bytes.
const JUNK: u8 = 0xA5;
/// Byte a receive buffer is filled with, to see what a receive wrote into it.
const UNTOUCHED: u8 = 0xEE;

fn mpmc(slot_size: usize, capacity: usize) -> Config {
    Config::new().kind(RingKind::Mpmc).slot_size(slot_size).capacity(capacity)
}

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
    /// `tx.try_loan`, write a fresh message over the slot, drop the loan uncommitted.
    LoanAbandon,
    /// `rx.try_recv`, compare, drop the guard (consume and release).
    Recv,
    /// `rx.try_recv`, compare, `keep` (refused on MPMC: the guard comes back).
    RecvKeep,
    /// `rx.try_recv_into` with a buffer of this length (possibly too small).
    RecvInto(Len),
    /// `tx.send_value::<u64>`.
    SendValue(u64),
    /// `rx.recv_value::<u64>` (refused, keeping the message, unless it is 8 bytes).
    RecvValue,
    /// `rx.try_recv` and hold the guard while the sender tries these sends.
    Hold(Vec<Len>),
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
    /// `batch.try_loan`, write, drop uncommitted.
    LoanAbandon,
    /// `batch.publish()` in the middle of the batch (nothing is staged on MPMC).
    Publish,
    /// `rx.try_recv` + drop while the batch is open: sees every message sent so far.
    RxRecv,
}

/// One step inside a receiver batch.
#[derive(Debug, Clone)]
enum RxStep {
    /// `batch.try_recv`, compare, drop (consumed and, on MPMC, released at once).
    Recv,
    /// `batch.try_recv`, compare, `keep` (refused: the guard comes back).
    Keep,
    /// `batch.release()` in the middle of the batch (nothing is held back on MPMC).
    Release,
    /// `tx.try_send` while the batch is open: slots read in it are free already.
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

/// What occupies a position of the ring, in the model.
#[derive(Debug, Clone)]
enum Entry {
    /// A published message.
    Message(Expected),
    /// A loan dropped uncommitted: invisible, but it fills its slot until a receive
    /// passes over it.
    Cancelled,
}

type Queue = VecDeque<Entry>;

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
fn write_and_commit(mut loan: Loan<'_>, id: u64, len: usize) -> Entry {
    let bytes = pattern(id, len);
    loan.fill(JUNK);
    loan[..len].copy_from_slice(&bytes);
    let at = loan.as_ptr() as usize;
    loan.commit(len);
    Entry::Message(Expected { bytes, at: Some(at) })
}

/// Writes a whole message (message `id`, a full slot) into the loan and drops it
/// uncommitted: a receiver that saw it would see a plausible message.
fn abandon(mut loan: Loan<'_>, id: u64) -> Entry {
    let decoy = pattern(id, loan.len());
    loan.copy_from_slice(&decoy);
    drop(loan);
    Entry::Cancelled
}

/// Every receive attempt first passes over the cancelled slots at the front, freeing
/// them, whatever it then finds.
fn pass_cancelled(queue: &mut Queue) {
    while matches!(queue.front(), Some(Entry::Cancelled)) {
        queue.pop_front();
    }
}

/// The message at the front, once the cancelled slots before it are passed.
fn front(queue: &mut Queue) -> Option<&Expected> {
    pass_cancelled(queue);
    match queue.front() {
        Some(Entry::Message(expected)) => Some(expected),
        Some(Entry::Cancelled) => unreachable!("passed above"),
        None => None,
    }
}

/// Checks a received guard against the message the model expects at the front.
fn check_guard(guard: &RecvGuard<'_>, expected: &Expected) {
    assert_eq!(&guard[..], &expected.bytes[..], "received bytes differ from the model's front");
    if let Some(at) = expected.at {
        assert_eq!(guard.as_ptr() as usize, at, "the receiver must read the slot the loan wrote (zero copy)");
    }
}

/// `rx.try_recv` then drop the guard: the front is consumed, or the ring is empty.
fn recv_and_release(rx: &mut Receiver, queue: &mut Queue) {
    let held = queue.len();
    match front(queue) {
        None => assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the model holds {held} cancelled slots"),
        Some(expected) => {
            let guard = rx.try_recv().unwrap_or_else(|e| panic!("the model holds a message, got {e}"));
            check_guard(&guard, expected);
            drop(guard);
            queue.pop_front();
        }
    }
}

/// `rx.try_recv` then `keep`: refused on MPMC, the guard comes back; dropping it then
/// consumes the message.
fn recv_and_keep(rx: &mut Receiver, queue: &mut Queue) {
    match front(queue) {
        None => assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the model is empty"),
        Some(expected) => {
            let guard = rx.try_recv().unwrap_or_else(|e| panic!("the model holds a message, got {e}"));
            let guard = guard.keep().expect_err("an MPMC ring cannot take a message back");
            check_guard(&guard, expected);
            drop(guard);
            queue.pop_front();
        }
    }
}

/// A channel and the model it must follow.
struct Harness {
    tx: Sender,
    rx: Receiver,
    slot_size: usize,
    capacity: usize,
    /// Published messages and cancelled slots not yet passed by a receive, oldest first.
    queue: Queue,
    /// Id of the next message made.
    next_id: u64,
}

impl Harness {
    fn new(slot_size: usize, capacity: usize) -> Self {
        let (tx, rx) = in_memory(&mpmc(slot_size, capacity)).expect("valid geometry");
        assert_eq!((tx.slot_size(), tx.capacity()), (slot_size, capacity));
        assert_eq!((rx.slot_size(), rx.capacity()), (slot_size, capacity));
        Self { tx, rx, slot_size, capacity, queue: VecDeque::new(), next_id: 0 }
    }

    fn fresh_id(next_id: &mut u64) -> u64 {
        *next_id += 1;
        *next_id
    }

    /// With no loan out and no guard held, `in_flight` counts the ring's occupied slots:
    /// messages and cancelled slots alike.
    fn check_in_flight(&mut self) {
        assert_eq!(self.tx.in_flight(), Ok(self.queue.len()), "in_flight disagrees with the model");
    }

    fn apply(&mut self, op: &Op) {
        let (slot_size, capacity) = (self.slot_size, self.capacity);
        let free = capacity - self.queue.len();
        match op {
            Op::Send(len) => {
                let message = pattern(Self::fresh_id(&mut self.next_id), len.bytes(slot_size));
                if check_send(self.tx.try_send(&message), &message, slot_size, free) {
                    self.queue.push_back(Entry::Message(Expected::copied(message)));
                }
            }
            Op::LoanCommit(len) => {
                let id = Self::fresh_id(&mut self.next_id);
                if let Some(loan) = check_loan(self.tx.try_loan(), slot_size, free) {
                    self.queue.push_back(write_and_commit(loan, id, len.fitting(slot_size)));
                }
            }
            Op::LoanAbandon => {
                let id = Self::fresh_id(&mut self.next_id);
                if let Some(loan) = check_loan(self.tx.try_loan(), slot_size, free) {
                    self.queue.push_back(abandon(loan, id));
                }
            }
            Op::Recv => recv_and_release(&mut self.rx, &mut self.queue),
            Op::RecvKeep => recv_and_keep(&mut self.rx, &mut self.queue),
            Op::RecvInto(len) => {
                let mut buf = vec![UNTOUCHED; len.bytes(slot_size)];
                let outcome = self.rx.try_recv_into(&mut buf);
                match front(&mut self.queue) {
                    None => assert_eq!(outcome, Err(RecvError::Empty)),
                    Some(expected) if buf.len() < expected.bytes.len() => {
                        assert_eq!(outcome, Err(RecvError::BufferTooSmall { needed: expected.bytes.len() }));
                        assert!(buf.iter().all(|&b| b == UNTOUCHED), "a failed recv_into wrote into the buffer");
                    }
                    Some(expected) => {
                        let n = expected.bytes.len();
                        assert_eq!(outcome, Ok(n));
                        assert_eq!(&buf[..n], &expected.bytes[..], "recv_into copied the wrong bytes");
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
                    self.queue.push_back(Entry::Message(Expected::copied(value.to_ne_bytes().to_vec())));
                }
            }
            Op::RecvValue => match front(&mut self.queue).map(|e| e.bytes.clone()) {
                // No message, maybe cancelled slots: only probed, as `recv_value` would
                // wait forever.
                None => assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty),
                Some(bytes) if bytes.len() == 8 => {
                    let expected = u64::from_ne_bytes(bytes[..].try_into().expect("8 bytes"));
                    assert_eq!(self.rx.recv_value::<u64>(), Ok(expected));
                    self.queue.pop_front();
                }
                Some(bytes) => {
                    // Refused, and the message stays for the next receive.
                    let expected = RecvError::WrongSize { expected: 8, actual: bytes.len() };
                    assert_eq!(self.rx.recv_value::<u64>(), Err(expected.clone()));
                    self.check_in_flight();
                    let guard = self.rx.try_recv().expect("the refused message is still there");
                    assert_eq!(&guard[..], &bytes[..], "the refused message must come next");
                    assert_eq!(guard.value::<u64>().unwrap_err(), expected);
                    drop(guard);
                    self.queue.pop_front();
                }
            },
            Op::Hold(lens) => self.hold(lens),
            Op::SendBatch(steps) => self.send_batch(steps),
            Op::RecvBatch(steps) => self.recv_batch(steps),
        }
    }

    /// Holds a received guard while the sender tries `lens`: the guard's slot stays taken
    /// until it is dropped.
    fn hold(&mut self, lens: &[Len]) {
        let Self { tx, rx, slot_size, capacity, queue, next_id } = self;
        let (slot_size, capacity) = (*slot_size, *capacity);
        let Some(expected) = front(queue).cloned() else {
            assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the model is empty");
            return;
        };
        let guard = rx.try_recv().expect("the model holds a message");
        queue.pop_front();
        for len in lens {
            let message = pattern(Self::fresh_id(next_id), len.bytes(slot_size));
            let free = capacity - queue.len() - 1;
            if check_send(tx.try_send(&message), &message, slot_size, free) {
                queue.push_back(Entry::Message(Expected::copied(message)));
            }
        }
        if queue.len() + 1 == capacity {
            assert!(matches!(tx.try_loan(), Err(SendError::Full(()))), "a held guard's slot must stay taken");
        }
        assert_eq!(tx.in_flight(), Ok(queue.len() + 1), "a message being read is in flight until released");
        // The sends did not disturb the message being read.
        check_guard(&guard, &expected);
        drop(guard);
        // Dropping the guard freed its slot at once.
        let message = pattern(Self::fresh_id(next_id), 0);
        let free = capacity - queue.len();
        if check_send(tx.try_send(&message), &message, slot_size, free) {
            queue.push_back(Entry::Message(Expected::copied(message)));
        }
    }

    /// Runs a sender batch: on MPMC each message is visible as soon as it is committed.
    fn send_batch(&mut self, steps: &[TxStep]) {
        let Self { tx, rx, slot_size, capacity, queue, next_id } = self;
        let (slot_size, capacity) = (*slot_size, *capacity);
        let mut batch = tx.batch();
        for step in steps {
            let free = capacity - queue.len();
            match step {
                TxStep::Send(len) => {
                    let message = pattern(Self::fresh_id(next_id), len.bytes(slot_size));
                    if check_send(batch.try_send(&message), &message, slot_size, free) {
                        queue.push_back(Entry::Message(Expected::copied(message)));
                    }
                }
                TxStep::LoanCommit(len) => {
                    let id = Self::fresh_id(next_id);
                    if let Some(loan) = check_loan(batch.try_loan(), slot_size, free) {
                        queue.push_back(write_and_commit(loan, id, len.fitting(slot_size)));
                    }
                }
                TxStep::LoanAbandon => {
                    let id = Self::fresh_id(next_id);
                    if let Some(loan) = check_loan(batch.try_loan(), slot_size, free) {
                        queue.push_back(abandon(loan, id));
                    }
                }
                TxStep::Publish => batch.publish(),
                TxStep::RxRecv => recv_and_release(rx, queue),
            }
        }
        drop(batch);
    }

    /// Runs a receiver batch: on MPMC each slot is free again as soon as its guard drops.
    fn recv_batch(&mut self, steps: &[RxStep]) {
        let Self { tx, rx, slot_size, capacity, queue, next_id } = self;
        let (slot_size, capacity) = (*slot_size, *capacity);
        let mut batch = rx.batch();
        for step in steps {
            match step {
                RxStep::Recv | RxStep::Keep => match front(queue) {
                    None => assert_eq!(batch.try_recv().unwrap_err(), RecvError::Empty, "the model is empty"),
                    Some(expected) => {
                        let guard = batch.try_recv().expect("the model holds a message");
                        let guard = if matches!(step, RxStep::Keep) {
                            guard.keep().expect_err("an MPMC ring cannot take a message back")
                        } else {
                            guard
                        };
                        check_guard(&guard, expected);
                        drop(guard);
                        queue.pop_front();
                    }
                },
                RxStep::Release => batch.release(),
                RxStep::TxSend(len) => {
                    let message = pattern(Self::fresh_id(next_id), len.bytes(slot_size));
                    let free = capacity - queue.len();
                    if check_send(tx.try_send(&message), &message, slot_size, free) {
                        queue.push_back(Entry::Message(Expected::copied(message)));
                    }
                }
            }
            assert_eq!(tx.in_flight(), Ok(queue.len()), "a slot read in a batch must be released at once");
        }
        drop(batch);
    }

    /// Drains the ring against the model; then fills it with cancelled slots, which
    /// must make it full until a receive passes them, and then with `capacity` messages.
    fn finish(mut self) {
        while !self.queue.is_empty() {
            recv_and_release(&mut self.rx, &mut self.queue);
        }
        assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty);
        self.check_in_flight();

        for _ in 0..self.capacity {
            let id = Self::fresh_id(&mut self.next_id);
            let loan = self.tx.try_loan().expect("an empty ring has room for `capacity` loans");
            self.queue.push_back(abandon(loan, id));
        }
        let extra = [1u8];
        assert!(matches!(self.tx.try_send(&extra), Err(SendError::Full(_))), "cancelled slots fill the ring");
        self.check_in_flight();
        assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty, "cancelled slots are never received");
        self.queue.clear();
        self.check_in_flight();

        for _ in 0..self.capacity {
            let message = pattern(Self::fresh_id(&mut self.next_id), self.slot_size);
            self.tx.try_send(&message).expect("passed cancelled slots are free again");
            self.queue.push_back(Entry::Message(Expected::copied(message)));
        }
        assert!(matches!(self.tx.try_send(&extra), Err(SendError::Full(_))), "one more than capacity must be Full");
        self.check_in_flight();
        while !self.queue.is_empty() {
            recv_and_release(&mut self.rx, &mut self.queue);
        }
        assert_eq!(self.rx.try_recv().unwrap_err(), RecvError::Empty);
        self.check_in_flight();
    }
}

/// Ends the whole test process if the case holding it runs past `CASE_LIMIT`: the model
/// makes blocking calls (`send_value`, `recv_value`) only where it predicts they return
/// at once, and a ring that blocks there must fail the run, not hang it.
fn watchdog(test: &'static str) -> mpsc::Sender<()> {
    let (done, finished) = mpsc::channel::<()>();
    thread::spawn(move || {
        if finished.recv_timeout(CASE_LIMIT) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("{test}: a case still runs after {CASE_LIMIT:?}: a call the model expects to return is blocked");
            process::exit(3);
        }
    });
    // Dropping the sender ends the watchdog.
    done
}

const CASE_LIMIT: Duration = Duration::from_secs(60);

/// Capacities with wrap-around every few messages. (A one-slot MPMC ring cannot work:
/// see `a_one_slot_ring_is_refused_or_holds_one_message`.)
/// Any capacity: one that is not a power of two (or 1) holds exactly that many
/// messages in more slots.
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
        2 => Just(TxStep::LoanAbandon),
        1 => Just(TxStep::Publish),
        4 => Just(TxStep::RxRecv),
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
        3 => Just(Op::LoanAbandon),
        6 => Just(Op::Recv),
        1 => Just(Op::RecvKeep),
        3 => len().prop_map(Op::RecvInto),
        1 => any::<u64>().prop_map(Op::SendValue),
        2 => Just(Op::RecvValue),
        2 => vec(len(), 0..10).prop_map(Op::Hold),
        2 => vec(tx_step(), 0..12).prop_map(Op::SendBatch),
        2 => vec(rx_step(), 0..12).prop_map(Op::RecvBatch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of operations gives the outcomes, bytes and counts the model predicts.
    #[test]
    fn ring_follows_the_model(capacity in capacity(), slot_size in slot_size(), ops in vec(op(), 1..64)) {
        let _watchdog = watchdog("ring_follows_the_model");
        let mut harness = Harness::new(slot_size, capacity);
        for op in &ops {
            harness.apply(op);
            harness.check_in_flight();
        }
        harness.finish();
    }

    /// On MPMC a batch publishes each message on its own: a receiver sees it while the
    /// batch is still open, before anything else is committed.
    #[test]
    fn send_batch_messages_are_visible_at_once(
        capacity in capacity(),
        slot_size in slot_size(),
        lens in vec(len(), 1..=12),
        abandon_every in 2usize..=5,
    ) {
        let Harness { mut tx, mut rx, .. } = Harness::new(slot_size, capacity);
        let mut next_id = 0;
        let mut batch = tx.batch();
        for (i, len) in lens.iter().enumerate() {
            // The ring is drained after every message; a cancelled slot takes one slot.
            let mut free = capacity;
            if i % abandon_every == 0 {
                let loan = batch.try_loan().expect("the ring is drained after every message");
                abandon(loan, Harness::fresh_id(&mut next_id));
                free -= 1;
            }
            let message = pattern(Harness::fresh_id(&mut next_id), len.bytes(slot_size));
            if check_send(batch.try_send(&message), &message, slot_size, free) {
                let guard = rx.try_recv().expect("a batch's message must be visible at once on MPMC");
                prop_assert_eq!(&guard[..], &message[..]);
            }
            prop_assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
        }
        drop(batch);
        prop_assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "ending the batch must publish nothing more");
        prop_assert_eq!(tx.in_flight(), Ok(0));
    }

    /// `send_value` / `recv_value` round-trip any `u64`, across the wrap and past
    /// cancelled slots.
    #[test]
    fn u64_values_round_trip(
        capacity in capacity(),
        slot_size in 8usize..=96,
        values in vec((any::<u64>(), any::<bool>()), 1..40),
    ) {
        let _watchdog = watchdog("u64_values_round_trip");
        let (mut tx, mut rx) = in_memory(&mpmc(slot_size, capacity)).unwrap();
        for chunk in values.chunks(capacity) {
            let mut sent = Vec::new();
            for &(v, cancel_first) in chunk {
                if cancel_first && tx.in_flight() != Ok(capacity) {
                    drop(tx.try_loan().unwrap());
                }
                if tx.in_flight() == Ok(capacity) {
                    break;
                }
                prop_assert_eq!(tx.send_value(v), Ok(()));
                sent.push(v);
            }
            for &v in &sent {
                prop_assert_eq!(rx.recv_value::<u64>(), Ok(v));
            }
            prop_assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
            prop_assert_eq!(tx.in_flight(), Ok(0));
        }
    }
}

/// An MPMC position is taken for good by its loan: later messages wait behind it, in
/// position order, until it is committed or cancelled.
#[test]
fn a_loan_in_progress_holds_back_later_messages_until_it_ends() {
    let name = unique("order");
    let _cleanup = Cleanup(name.clone());
    let mut first = Sender::create(&name, &mpmc(16, 4)).unwrap();
    let mut second = Sender::open(&name).unwrap();
    let mut rx = Receiver::open(&name).unwrap();

    // Committed: the loan's message comes first, though it was committed last.
    let mut loan = first.try_loan().unwrap();
    second.try_send(b"after the loan").unwrap();
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the message behind an open loan must wait");
    assert_eq!(second.in_flight(), Ok(1), "an open loan is not in flight; the message behind it is");
    loan[..4].copy_from_slice(b"loan");
    loan.commit(4);
    assert_eq!(&*rx.try_recv().unwrap(), b"loan");
    assert_eq!(&*rx.try_recv().unwrap(), b"after the loan");

    // Cancelled: the message behind it comes through, the loan's bytes never.
    let mut loan = first.try_loan().unwrap();
    loan.copy_from_slice(b"decoy decoy deco");
    second.try_send(b"behind a cancel").unwrap();
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the message behind an open loan must wait");
    drop(loan);
    assert_eq!(&*rx.try_recv().unwrap(), b"behind a cancel");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    assert_eq!(first.in_flight(), Ok(0));
}

/// Committing more than a slot panics and publishes nothing but a cancelled slot.
#[test]
fn commit_past_the_slot_panics_and_sends_nothing() {
    use std::panic::{self, AssertUnwindSafe};
    let (mut tx, mut rx) = in_memory(&mpmc(10, 2)).unwrap();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| tx.try_loan().unwrap().commit(11)));
    assert!(outcome.is_err(), "commit(11) into a 10-byte slot must panic");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    assert_eq!(tx.in_flight(), Ok(0), "the receive passed the cancelled slot");
    tx.try_send(b"0123456789").unwrap();
    tx.try_send(b"").unwrap();
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Full(_))));
    assert_eq!(&*rx.try_recv().unwrap(), b"0123456789");
    assert_eq!(&*rx.try_recv().unwrap(), b"");
}

/// With one slot, an MPMC sequence number could not tell "published at position p"
/// (p + 1) from "free for position p + 1" (p + slots): a second send would overwrite
/// the unread message and wedge the ring. A channel of capacity 1 has two slots, and
/// holds one message, as crossbeam's `bounded(1)` does, in shared memory and in memory.
#[test]
fn a_capacity_of_one_holds_one_message() {
    let name = unique("one-slot");
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &mpmc(8, 1)).expect("an MPMC channel of capacity 1");
    let mut tx = Sender::open(&name).expect("its sender");
    assert_eq!((tx.capacity(), rx.capacity()), (1, 1));
    tx.try_send(b"first").unwrap();
    assert!(matches!(tx.try_send(b"second"), Err(SendError::Full(_))), "capacity 1 holds one message");
    drop((tx, rx));
    let (mut tx, mut rx) = in_memory(&mpmc(8, 1)).expect("an MPMC channel of capacity 1 in memory");
    tx.try_send(b"first").unwrap();
    assert!(matches!(tx.try_send(b"second"), Err(SendError::Full(_))), "one slot holds one message");
    assert_eq!(&*rx.try_recv().expect("the first message"), b"first");
    tx.try_send(b"third").unwrap();
    assert_eq!(&*rx.try_recv().expect("the third message"), b"third");
    drop(tx.try_loan().unwrap());
    assert!(matches!(tx.try_send(b"fourth"), Err(SendError::Full(_))), "the cancelled slot fills the ring");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
    tx.try_send(b"fifth").unwrap();
    assert_eq!(&*rx.try_recv().expect("the fifth message"), b"fifth");
}

/// `try_recv` reports a waiting message even behind more cancelled slots than a claim
/// makes attempts (64).
#[test]
fn try_recv_finds_a_message_behind_many_cancelled_slots() {
    let (mut tx, mut rx) = in_memory(&mpmc(8, 128)).unwrap();
    for _ in 0..100 {
        drop(tx.try_loan().unwrap());
    }
    tx.try_send(b"waiting").unwrap();
    assert_eq!(tx.in_flight(), Ok(101));
    assert_eq!(&*rx.try_recv().expect("a message is waiting"), b"waiting");
    assert_eq!(tx.in_flight(), Ok(0), "the cancelled slots passed over are free");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
}

/// `in_flight` counts a message received but not yet released, as on SPSC and as its
/// documentation says ("published and not yet released by the receivers"): its slot is
/// not free for the senders.
#[test]
fn in_flight_counts_a_held_guard() {
    let (mut tx, mut rx) = in_memory(&mpmc(8, 2)).unwrap();
    tx.try_send(b"held").unwrap();
    tx.try_send(b"next").unwrap();
    let guard = rx.try_recv().unwrap();
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Full(_))), "the held slot is not free");
    assert_eq!(tx.in_flight(), Ok(2), "the held message's slot is not released");
    drop(guard);
    assert_eq!(tx.in_flight(), Ok(1));
}

// ---------------------------------------------------------------------------------------
// Threads.
// ---------------------------------------------------------------------------------------

fn unique(tag: &str) -> String {
    #[allow(clippy::disallowed_types, reason = "test-harness counter; loom models the library, not its tests")]
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("mm-{tag}-{}-{}", process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Wake-ups are timed: a parked side re-checks every 20 ms park slice anyway, so a
/// missing wake-up shows only as latency. Each round parks a thread (`park_at_once`) and
/// unblocks it 5 ms later; a missing wake-up then leaves it asleep for the rest of its
/// slice, 15 ms or more, every round. A round within `PROMPT` passes the test; on a
/// loaded machine a round may be slow for want of a CPU, so there are `WAKE_ROUNDS`.
const PROMPT: Duration = Duration::from_millis(10);
const WAKE_ROUNDS: usize = 30;
/// A parked thread not woken by then is stuck: the test fails rather than hang.
const STUCK: Duration = Duration::from_secs(10);

/// Runs `round` (which returns how long a parked thread took to wake) until one is
/// within `PROMPT`.
fn wakes_promptly(who: &str, mut round: impl FnMut() -> Duration) {
    let mut latencies = Vec::new();
    while latencies.len() < WAKE_ROUNDS {
        let latency = round();
        if latency < PROMPT {
            return;
        }
        latencies.push(latency);
    }
    panic!("{who} woke only after {latencies:?}");
}

/// A receiver parked on an empty ring is woken by a message.
#[test]
fn a_receiver_parked_on_an_empty_ring_wakes_when_a_message_arrives() {
    let name = unique("wake-rx");
    let _cleanup = Cleanup(name.clone());
    let mut tx = Sender::create(&name, &mpmc(8, 2)).unwrap();
    wakes_promptly("the parked receiver", || {
        let mut rx = Receiver::open(&name).unwrap();
        rx.set_wait_policy(ferry::WaitPolicy::park_at_once());
        let parked = thread::spawn(move || {
            let got = rx.recv_timeout(STUCK).map(|guard| guard.to_vec());
            (got, Instant::now())
        });
        thread::sleep(Duration::from_millis(5));
        let sent = Instant::now();
        tx.try_send(b"wake").unwrap();
        let (got, woke) = parked.join().unwrap();
        assert_eq!(got.as_deref(), Ok(&b"wake"[..]));
        woke.saturating_duration_since(sent)
    });
}

/// A sender parked on a full ring is woken when a receiver releases a slot.
#[test]
fn a_sender_parked_on_a_full_ring_wakes_when_a_slot_is_released() {
    let name = unique("wake-tx");
    let _cleanup = Cleanup(name.clone());
    let mut first = Sender::create(&name, &mpmc(8, 2)).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    wakes_promptly("the parked sender", || {
        first.try_send(b"a").unwrap();
        first.try_send(b"b").unwrap();
        let mut second = Sender::open(&name).unwrap();
        second.set_wait_policy(ferry::WaitPolicy::park_at_once());
        let parked = thread::spawn(move || {
            second.send_timeout(b"c", STUCK).unwrap();
            Instant::now()
        });
        thread::sleep(Duration::from_millis(5));
        let released = Instant::now();
        assert_eq!(&*rx.try_recv().unwrap(), b"a");
        let latency = parked.join().unwrap().saturating_duration_since(released);
        assert_eq!(&*rx.try_recv().unwrap(), b"b");
        assert_eq!(&*rx.try_recv().unwrap(), b"c");
        latency
    });
}

/// A sender parked on a ring full of cancelled slots is woken as soon as a receive
/// passes over them (frees them).
#[test]
fn a_sender_parked_behind_cancelled_slots_wakes_when_they_are_passed() {
    let name = unique("wake-skip");
    let _cleanup = Cleanup(name.clone());
    let mut first = Sender::create(&name, &mpmc(8, 2)).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    wakes_promptly("the sender parked behind cancelled slots", || {
        drop(first.try_loan().unwrap());
        drop(first.try_loan().unwrap());
        let mut second = Sender::open(&name).unwrap();
        second.set_wait_policy(ferry::WaitPolicy::park_at_once());
        let parked = thread::spawn(move || {
            second.send_timeout(b"x", STUCK).unwrap();
            Instant::now()
        });
        thread::sleep(Duration::from_millis(5));
        let passed = Instant::now();
        assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "only cancelled slots");
        let latency = parked.join().unwrap().saturating_duration_since(passed);
        assert_eq!(&*rx.try_recv().unwrap(), b"x");
        latency
    });
}

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 100_000;
const THREADED_SLOT: usize = 48;
/// Producer id (4 bytes) and sequence number (8 bytes) lead every message.
const HEADER: usize = 12;
/// The threaded test fails if its threads have not finished by then.
const THREADED_DEADLINE: Duration = Duration::from_secs(120);

/// Message `seq` of producer `id`: its id and seq, then bytes derived from both, 12 to
/// `THREADED_SLOT` bytes long.
fn threaded_message(id: u32, seq: u64, out: &mut [u8; THREADED_SLOT]) -> usize {
    let h = (seq ^ u64::from(id) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let len = HEADER + (h >> 32) as usize % (THREADED_SLOT - HEADER + 1);
    out[..4].copy_from_slice(&id.to_le_bytes());
    out[4..HEADER].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in out[HEADER..len].iter_mut().enumerate() {
        *b = h.rotate_left(i as u32 * 7) as u8 ^ i as u8;
    }
    len
}

/// Checks a received message and returns its producer and sequence number.
fn parse_threaded(got: &[u8]) -> (u32, u64) {
    assert!(got.len() >= HEADER, "a message of {} bytes", got.len());
    let id = u32::from_le_bytes(got[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(got[4..HEADER].try_into().unwrap());
    assert!((id as usize) < PRODUCERS && seq < PER_PRODUCER, "no such message: producer {id}, seq {seq}");
    let mut expected = [0u8; THREADED_SLOT];
    let len = threaded_message(id, seq, &mut expected);
    assert_eq!(got, &expected[..len], "message {seq} of producer {id} is torn or mixed");
    (id, seq)
}

fn produce(id: u32, mut tx: Sender) {
    let mut buf = [0u8; THREADED_SLOT];
    let mut seq = 0;
    while seq < PER_PRODUCER {
        let len = threaded_message(id, seq, &mut buf);
        match seq % 7 {
            0 | 1 => tx.send(&buf[..len]).unwrap(),
            2 => {
                // A loan filled with a copy of the message and dropped: never delivered.
                let mut loan = tx.loan().unwrap();
                loan[..len].copy_from_slice(&buf[..len]);
                drop(loan);
                tx.send_timeout(&buf[..len], Duration::from_secs(60)).unwrap();
            }
            3 | 4 => {
                let mut loan = tx.loan().unwrap();
                loan.fill(JUNK);
                loan[..len].copy_from_slice(&buf[..len]);
                loan.commit(len);
            }
            _ => {
                let mut batch = tx.batch();
                match batch.try_send(&buf[..len]) {
                    Ok(()) => {}
                    Err(SendError::Full(_)) => {
                        drop(batch);
                        tx.send(&buf[..len]).unwrap();
                    }
                    Err(e) => panic!("producer {id}: {e}"),
                }
            }
        }
        seq += 1;
    }
}

/// Receives until every producer has gone; returns, per producer, the sequence numbers
/// received, which must rise.
fn consume(mut rx: Receiver) -> Vec<Vec<u64>> {
    let mut got: Vec<Vec<u64>> = vec![Vec::new(); PRODUCERS];
    let mut buf = [UNTOUCHED; THREADED_SLOT];
    let mut take = |bytes: &[u8]| {
        let (id, seq) = parse_threaded(bytes);
        let list = &mut got[id as usize];
        assert!(list.last().is_none_or(|&last| last < seq), "producer {id}: seq {seq} after {:?}", list.last());
        list.push(seq);
    };
    let mut round = 0u64;
    loop {
        round += 1;
        let outcome = match round % 3 {
            0 => rx.recv().map(|guard| take(&guard)),
            1 => rx.recv_into(&mut buf).map(|n| take(&buf[..n])),
            _ => {
                let mut batch = rx.batch();
                let mut any = false;
                while let Ok(guard) = batch.try_recv() {
                    take(&guard);
                    any = true;
                }
                drop(batch);
                if any {
                    Ok(())
                } else {
                    rx.recv_timeout(Duration::from_secs(60)).map(|guard| take(&guard))
                }
            }
        };
        match outcome {
            Ok(()) => {}
            Err(RecvError::Disconnected) => break,
            Err(e) => panic!("consumer: {e:?}"),
        }
    }
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Disconnected);
    got
}

/// Four producer and four consumer threads, each with its own handle on one named
/// channel, pass 400k messages through a 16-slot ring: each arrives exactly once, intact,
/// and each consumer sees each producer's messages in order.
#[test]
fn four_producers_and_four_consumers_exchange_every_message_once() {
    let name = unique("threads");
    let _cleanup = Cleanup(name.clone());
    let creator = Sender::create(&name, &mpmc(THREADED_SLOT, 16)).unwrap();
    let senders: Vec<Sender> = (0..PRODUCERS).map(|_| Sender::open(&name).unwrap()).collect();
    let receivers: Vec<Receiver> = (0..CONSUMERS).map(|_| Receiver::open(&name).unwrap()).collect();
    // The consumers are told of the end once every producer's sender has gone.
    drop(creator);

    let started = Instant::now();
    let producers: Vec<_> =
        senders.into_iter().enumerate().map(|(id, tx)| thread::spawn(move || produce(id as u32, tx))).collect();
    let consumers: Vec<_> = receivers.into_iter().map(|rx| thread::spawn(move || consume(rx))).collect();
    // A stuck ring fails the test rather than hang it.
    let deadline = started + THREADED_DEADLINE;
    while !(producers.iter().all(|t| t.is_finished()) && consumers.iter().all(|t| t.is_finished())) {
        assert!(Instant::now() < deadline, "the threads are still running after {THREADED_DEADLINE:?}: a stuck ring");
        thread::sleep(Duration::from_millis(10));
    }
    for p in producers {
        p.join().expect("a producer panicked");
    }
    let lists: Vec<Vec<Vec<u64>>> = consumers.into_iter().map(|c| c.join().expect("a consumer panicked")).collect();
    let elapsed = started.elapsed();

    let mut times = vec![0u8; PRODUCERS * PER_PRODUCER as usize];
    for list in &lists {
        for (id, seqs) in list.iter().enumerate() {
            for &seq in seqs {
                times[id * PER_PRODUCER as usize + seq as usize] += 1;
            }
        }
    }
    let wrong: Vec<(usize, u64, u8)> = times
        .iter()
        .enumerate()
        .filter(|(_, &n)| n != 1)
        .map(|(i, &n)| (i / PER_PRODUCER as usize, i as u64 % PER_PRODUCER, n))
        .take(10)
        .collect();
    assert!(wrong.is_empty(), "(producer, seq, times received), first few: {wrong:?}");
    let per_consumer: Vec<usize> = lists.iter().map(|l| l.iter().map(Vec::len).sum()).collect();
    eprintln!(
        "{} messages through 4 producers and 4 consumers in {elapsed:.2?}; per consumer {per_consumer:?}",
        PRODUCERS as u64 * PER_PRODUCER
    );
}
