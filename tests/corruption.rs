//! A hostile peer scribbling on a live ring: property tests that write random values
//! into the header, the positions, the sequence and length words and the signal words
//! of a mapped segment while a sender and a receiver are attached to it, then call every
//! send and receive variant.
//!
//! The scribbles go through the segment's file, `/dev/shm/ferry.NAME`, following layout
//! v6 (`src/segment.rs`, `src/ring/mod.rs`). Heap-backed rings (`ferry::in_memory`) run
//! the same code but cannot be reached from outside the crate, so only mapped segments
//! are scribbled on here.
//!
//! What must hold depends on what was hit:
//!
//! - The header, the signal words and the MPMC seats are read by live endpoints only
//!   for liveness and wake-ups (and, for a seat, to resolve a dead handle's claim, which
//!   needs a slot claimed and unfinished, which these tests never leave between calls):
//!   after such scribbles every call must give exactly what a `VecDeque` model of the
//!   channel predicts (a scribbled role word, or an MPMC seat, may say the peer has gone:
//!   then a send, or a receive that finds the ring empty or waits in vain, may report
//!   `Disconnected`).
//! - The positions, the sequence words and the length words steer the ring: after such
//!   scribbles each call must still finish within a second without panicking, and return either an error it is documented to return (`Corrupt`
//!   among them) or a message that lies within a slot and is one the test sent,
//!   byte for byte. (A length word scribbled to a value within the slot cannot be told
//!   from a real one: then every byte of the message must be a byte some message put at
//!   that position of a slot, or a zero of a never-written slot.)
//!
//! Re-opening a segment whose header was scribbled on must fail with a header error
//! (`BadMagic`, `VersionMismatch`, `CorruptHeader`, `SizeMismatch`), unless the test
//! also rewrote the checksum to match, in which case anything but a panic goes.
//!
//! The waiter count of a semaphore-signalled ring is not scribbled on here: a wake-up
//! posts the semaphore that many times (see the ignored
//! `a_scribbled_semaphore_waiter_count_does_not_hang_the_sender`).
//!
//! Each test counts the calls that returned `Corrupt`, and fails if none did: the
//! scribbles must reach the checks. `FERRY_CORRUPTION_CASES` sets the number of cases.

use std::{
    cell::Cell,
    collections::VecDeque,
    fs::{File, OpenOptions},
    os::unix::fs::FileExt,
    process,
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Receiver, RecvError, RingKind, SendError, Sender, Signaling};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config as RunnerConfig, TestCaseError, TestRunner},
};

mod support;
use support::{mix, shm_path, Cleanup};

/// ferry's magic number.
const MAGIC: u64 = u64::from_le_bytes(*b"FERRYSHM");
/// Bytes of the header covered by the checksum, with the magic: magic to signaling.
const CHECKED_LEN: usize = 52;
/// Byte offsets: the header's checksum in the segment; the ring's positions and signals
/// and its first slot, from the start of the ring (see `ring_at`); within a slot, the
/// sequence and length words.
const AT_CHECKSUM: u64 = 40;
const AT_TAIL: u64 = 0;
const AT_HEAD: u64 = 128;
const AT_NOT_EMPTY: u64 = 256;
const AT_NOT_FULL: u64 = 384;
const AT_SLOTS: u64 = 512;
const SLOT_META: u64 = 16;
/// The header's size, and the MPMC seats that follow it: 128 of 64 bytes, each holding
/// its owner, role and claim words.
const HEADER: u64 = 128;
const SEATS: u64 = 128;
const SEAT: u64 = 64;

/// Where the ring starts in a segment of `kind`: after the header and, on MPMC, the seats.
fn ring_at(kind: RingKind) -> u64 {
    match kind {
        RingKind::Spsc => HEADER,
        RingKind::Mpmc => HEADER + SEATS * SEAT,
    }
}
const AT_SEQ: u64 = 0;
const AT_LEN: u64 = 8;
/// The wait of the `*_timeout` calls.
const WAIT: Duration = Duration::from_millis(1);
/// The longest any call may take, however corrupt the ring.
const BOUND: Duration = Duration::from_secs(1);
/// Cases per test unless `FERRY_CORRUPTION_CASES` says otherwise.
const DEFAULT_CASES: u32 = 256;

/// Salt of the message bytes.
const FILL_SALT: u64 = 0x636f_7272_7570_7401;

/// The full-slot pattern of message `id`: a message of length `len` is its first `len`
/// bytes. Loans write the whole pattern, then commit fewer bytes.
fn pattern(id: u64, slot: usize) -> Vec<u8> {
    (0..slot).map(|i| mix(id ^ FILL_SALT ^ ((i as u64) << 40)) as u8).collect()
}

// ---------------------------------------------------------------------------------------
// What a case does.
// ---------------------------------------------------------------------------------------

/// A header field: its offset and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Magic,
    Version,
    Kind,
    SlotSize,
    Capacity,
    Total,
    Checksum,
    Signaling,
    SenderRole,
    ReceiverRole,
    Creator,
}

impl Field {
    const ALL: [Field; 11] = [
        Field::Magic,
        Field::Version,
        Field::Kind,
        Field::SlotSize,
        Field::Capacity,
        Field::Total,
        Field::Checksum,
        Field::Signaling,
        Field::SenderRole,
        Field::ReceiverRole,
        Field::Creator,
    ];

    fn at(self) -> (u64, usize) {
        match self {
            Field::Magic => (0, 8),
            Field::Version => (8, 4),
            Field::Kind => (12, 4),
            Field::SlotSize => (16, 8),
            Field::Capacity => (24, 8),
            Field::Total => (32, 8),
            Field::Checksum => (40, 8),
            Field::Signaling => (48, 4),
            Field::SenderRole => (56, 8),
            Field::ReceiverRole => (64, 8),
            Field::Creator => (72, 8),
        }
    }
}

/// Where a scribble lands.
#[derive(Debug, Clone, Copy)]
enum Target {
    Header(Field),
    Tail,
    Head,
    /// The sequence word of slot `index % capacity`.
    Seq(u8),
    /// The length word of slot `index % capacity`.
    Len(u8),
    /// A signal's futex word or waiter count (`not_full`, `waiters`).
    Signal(bool, bool),
    /// MPMC: word `word % 3` (owner, role, claim) of seat `index % 4` (the test's own
    /// handles hold the first seats). Nothing on SPSC, which has no seats.
    Seat(u8, u8),
}

/// What a scribble writes.
#[derive(Debug, Clone, Copy)]
enum Value {
    Absolute(u64),
    /// The current value plus this (wrapping): near misses.
    Relative(i16),
}

/// One call on the channel. Lengths and buffer sizes are taken modulo `slot + 1`.
#[derive(Debug, Clone, Copy)]
enum Op {
    TrySend(u16),
    SendTimeout(u16),
    TryLoan { len: u16, commit: bool },
    LoanTimeout { len: u16, commit: bool },
    BatchSend(u8),
    BatchLoan(u8),
    TryRecv,
    RecvTimeout,
    TryRecvInto(u16),
    RecvIntoTimeout(u16),
    RecvBatch(u8),
    RecvKeep,
    InFlight,
}

#[derive(Debug, Clone)]
struct Case {
    signaling: Signaling,
    slot: usize,
    capacity: usize,
    before: Vec<Op>,
    scribbles: Vec<(Target, Value)>,
    /// Rewrite the header's checksum to match its (scribbled) fields afterwards.
    reseal: bool,
    after: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u16>().prop_map(Op::TrySend),
        2 => any::<u16>().prop_map(Op::SendTimeout),
        2 => (any::<u16>(), any::<bool>()).prop_map(|(len, commit)| Op::TryLoan { len, commit }),
        1 => (any::<u16>(), any::<bool>()).prop_map(|(len, commit)| Op::LoanTimeout { len, commit }),
        1 => (1u8..12).prop_map(Op::BatchSend),
        1 => (1u8..12).prop_map(Op::BatchLoan),
        3 => Just(Op::TryRecv),
        2 => Just(Op::RecvTimeout),
        2 => any::<u16>().prop_map(Op::TryRecvInto),
        1 => any::<u16>().prop_map(Op::RecvIntoTimeout),
        1 => (1u8..12).prop_map(Op::RecvBatch),
        1 => Just(Op::RecvKeep),
        1 => Just(Op::InFlight),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (0..Field::ALL.len()).prop_map(|i| Target::Header(Field::ALL[i])),
        2 => Just(Target::Tail),
        2 => Just(Target::Head),
        3 => any::<u8>().prop_map(Target::Seq),
        3 => any::<u8>().prop_map(Target::Len),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(full, waiters)| Target::Signal(full, waiters)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(index, word)| Target::Seat(index, word)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => any::<u64>().prop_map(Value::Absolute),
        2 => (0u64..300).prop_map(Value::Absolute),
        1 => prop_oneof![
            Just(0),
            Just(u64::MAX),
            Just(u64::MAX - 1),
            Just(1 << 63),
            Just(u64::from(u32::MAX)),
            Just(MAGIC),
        ]
        .prop_map(Value::Absolute),
        3 => (-40i16..=40).prop_map(Value::Relative),
    ]
}

fn case(kind: RingKind) -> impl Strategy<Value = Case> {
    let smallest = if kind == RingKind::Mpmc { 1u32 } else { 0 };
    (
        prop_oneof![Just(Signaling::Futex), Just(Signaling::Semaphore)],
        1usize..=100,
        smallest..=4u32,
        (vec(any::<u16>(), 1..=4), vec(op(), 0..24)),
        vec((target(), value()), 1..4),
        any::<bool>(),
        vec(op(), 4..24),
    )
        .prop_map(|(signaling, slot, log_capacity, (primed, ops), mut scribbles, reseal, after)| {
            // A few messages in the ring first, then anything.
            let before = primed.into_iter().map(Op::TrySend).chain(ops).collect();
            if signaling == Signaling::Semaphore {
                // A scribbled waiter count makes every semaphore wake-up post that many
                // times: see `a_scribbled_semaphore_waiter_count_does_not_hang_the_sender`.
                for (target, _) in &mut scribbles {
                    if let Target::Signal(not_full, true) = *target {
                        *target = Target::Signal(not_full, false);
                    }
                }
            }
            Case { signaling, slot, capacity: 1 << log_capacity, before, scribbles, reseal, after }
        })
}

// ---------------------------------------------------------------------------------------
// Running a case.
// ---------------------------------------------------------------------------------------

/// What the calls may return, given what was scribbled on.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Nothing that steers the ring was hit: the model's answer, exactly. With
    /// `roles`, a role word or a seat was hit, so the peer may look gone: a send, or a
    /// receive that would find nothing, may report `Disconnected`.
    Exact { roles: bool },
    /// The ring's positions, lengths or sequences were hit: a valid message or a
    /// documented error. With `lengths`, a length word was hit; with `roles`, as above.
    Hostile { lengths: bool, roles: bool },
}

/// A message slot the model expects: a message, or (MPMC) a cancelled loan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Message { id: u64, len: usize },
    Cancelled,
}

/// Results, reduced to what the checks compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Sent,
    Got(Vec<u8>),
    Full,
    Empty,
    Timeout,
    Disconnected,
    Corrupt,
    BufferTooSmall(usize),
    /// Anything else, in words.
    Other(String),
}

fn send_outcome<T>(result: Result<(), SendError<T>>) -> Outcome {
    match result {
        Ok(()) => Outcome::Sent,
        Err(SendError::Full(_)) => Outcome::Full,
        Err(SendError::Timeout(_)) => Outcome::Timeout,
        Err(SendError::Disconnected(_)) => Outcome::Disconnected,
        Err(SendError::Corrupt { .. }) => Outcome::Corrupt,
        Err(e) => Outcome::Other(e.to_string()),
    }
}

fn recv_outcome(result: Result<Vec<u8>, RecvError>) -> Outcome {
    match result {
        Ok(bytes) => Outcome::Got(bytes),
        Err(RecvError::Empty) => Outcome::Empty,
        Err(RecvError::Timeout) => Outcome::Timeout,
        Err(RecvError::Disconnected) => Outcome::Disconnected,
        Err(RecvError::Corrupt { .. }) => Outcome::Corrupt,
        Err(RecvError::BufferTooSmall { needed }) => Outcome::BufferTooSmall(needed),
        Err(e) => Outcome::Other(format!("{e:?}")),
    }
}

/// Counts over all the cases of one test.
#[derive(Default)]
struct Tally {
    cases: Cell<u64>,
    exact: Cell<u64>,
    hostile: Cell<u64>,
    calls: Cell<u64>,
    corrupt: Cell<u64>,
    header_errors: Cell<u64>,
    reopened: Cell<u64>,
}

impl Tally {
    fn bump(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }
}

/// The messages sent and the model of what the ring holds.
struct Book {
    kind: RingKind,
    slot: usize,
    capacity: usize,
    next_id: u64,
    /// Every message the test wrote into a slot (or tried to): its id and length.
    written: Vec<(u64, usize)>,
    /// The full-slot patterns of `written`, in the same order.
    patterns: Vec<Vec<u8>>,
    /// What the ring holds, oldest first (exact mode only).
    model: VecDeque<Entry>,
}

impl Book {
    /// A new message of length `len % (slot + 1)`; returns its id and length.
    fn fresh(&mut self, len: u16) -> (u64, usize) {
        self.next_id += 1;
        let (id, len) = (self.next_id, usize::from(len) % (self.slot + 1));
        self.written.push((id, len));
        self.patterns.push(pattern(id, self.slot));
        (id, len)
    }

    fn bytes(&self, id: u64, len: usize) -> Vec<u8> {
        pattern(id, self.slot)[..len].to_vec()
    }

    /// Checks the outcome of a send that would have added `entry`.
    fn sent(
        &mut self,
        what: &str,
        got: Outcome,
        blocking: bool,
        entry: Option<Entry>,
        mode: Mode,
    ) -> Result<(), String> {
        match mode {
            Mode::Exact { roles } => {
                let full = self.model.len() >= self.capacity;
                let expected = match (full, blocking) {
                    (false, _) => Outcome::Sent,
                    (true, false) => Outcome::Full,
                    (true, true) => Outcome::Timeout,
                };
                let excused = roles && got == Outcome::Disconnected;
                if got != expected && !excused {
                    return Err(format!(
                        "{what}: {got:?}, but the model expects {expected:?} ({} of {} slots in use)",
                        self.model.len(),
                        self.capacity
                    ));
                }
                if got == Outcome::Sent {
                    self.model.extend(entry);
                }
                Ok(())
            }
            Mode::Hostile { roles, .. } => {
                let allowed = match got {
                    Outcome::Sent | Outcome::Corrupt => true,
                    Outcome::Full => !blocking,
                    Outcome::Disconnected => blocking || roles,
                    Outcome::Timeout => blocking,
                    _ => false,
                };
                if allowed {
                    Ok(())
                } else {
                    Err(format!("{what} on a scribbled ring: {got:?}"))
                }
            }
        }
    }

    /// Checks the outcome of a receive into `room` bytes (`None`: in place); `kept`: the
    /// message was handed back (SPSC `keep`).
    fn received(
        &mut self,
        what: &str,
        got: Outcome,
        blocking: bool,
        room: Option<usize>,
        kept: bool,
        mode: Mode,
    ) -> Result<(), String> {
        match mode {
            Mode::Exact { roles } => {
                // Cancelled loans ahead of the next message are skipped, whatever comes of it.
                while self.model.front() == Some(&Entry::Cancelled) {
                    self.model.pop_front();
                }
                let expected = match self.model.front() {
                    None if blocking => Outcome::Timeout,
                    None => Outcome::Empty,
                    Some(&Entry::Message { len, .. }) if room.is_some_and(|room| len > room) => {
                        Outcome::BufferTooSmall(len)
                    }
                    Some(&Entry::Message { id, len }) => Outcome::Got(self.bytes(id, len)),
                    Some(Entry::Cancelled) => unreachable!("skipped above"),
                };
                let nothing = matches!(expected, Outcome::Timeout | Outcome::Empty);
                let excused = roles && nothing && got == Outcome::Disconnected;
                if got != expected && !excused {
                    return Err(format!("{what}: {got:?}, but the model expects {expected:?}"));
                }
                if matches!(got, Outcome::Got(_)) && !kept {
                    self.model.pop_front();
                }
                Ok(())
            }
            Mode::Hostile { lengths, roles } => {
                let allowed = match &got {
                    Outcome::Got(bytes) => {
                        if room.is_some_and(|room| bytes.len() > room) {
                            return Err(format!("{what}: {} bytes into a buffer of {room:?}", bytes.len()));
                        }
                        if !self.valid(bytes, lengths) {
                            return Err(format!(
                                "{what}: a message of {} bytes that was never sent: {bytes:02x?}",
                                bytes.len()
                            ));
                        }
                        true
                    }
                    Outcome::Corrupt => true,
                    Outcome::Empty => !blocking,
                    Outcome::Disconnected => blocking || roles,
                    Outcome::Timeout => blocking,
                    &Outcome::BufferTooSmall(needed) => room.is_some_and(|room| needed > room) && needed <= self.slot,
                    _ => false,
                };
                if allowed {
                    Ok(())
                } else {
                    Err(format!("{what} on a scribbled ring: {got:?}"))
                }
            }
        }
    }

    /// Whether `got` can have come out of a slot of this ring.
    fn valid(&self, got: &[u8], lengths: bool) -> bool {
        if got.len() > self.slot {
            return false;
        }
        let sent = |&(id, len): &(u64, usize)| len == got.len() && self.bytes(id, len) == got;
        if got.is_empty() || self.written.iter().any(sent) {
            return true;
        }
        // A length scribbled within the slot: the bytes are whatever the slot holds.
        lengths && got.iter().enumerate().all(|(i, &b)| b == 0 || self.patterns.iter().any(|p| p[i] == b))
    }
}

/// A live channel, both ends attached in this process, and a handle on its file.
struct Harness {
    name: String,
    file: File,
    tx: Sender,
    rx: Receiver,
    book: Book,
}

/// Fails unless the call that started at `started` is within `BOUND`.
fn bounded(started: Instant, what: &str) -> Result<(), String> {
    let took = started.elapsed();
    if took > BOUND {
        return Err(format!("{what} took {took:?}"));
    }
    Ok(())
}

impl Harness {
    fn new(kind: RingKind, case: &Case) -> Result<Self, String> {
        #[allow(clippy::disallowed_types, reason = "test-harness counter; loom models the library, not its tests")]
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("corrupt-{}-{}", process::id(), NEXT.fetch_add(1, Relaxed));
        let config = Config::new().kind(kind).signaling(case.signaling).slot_size(case.slot).capacity(case.capacity);
        let rx = Receiver::create(&name, &config).map_err(|e| format!("create: {e}"))?;
        let tx = Sender::open(&name).map_err(|e| format!("open: {e}"))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(shm_path(&name))
            .map_err(|e| format!("open the segment's file: {e}"))?;
        let book = Book {
            kind,
            slot: case.slot,
            capacity: case.capacity,
            next_id: 0,
            written: Vec::new(),
            patterns: Vec::new(),
            model: VecDeque::new(),
        };
        Ok(Self { name, file, tx, rx, book })
    }

    fn read(&self, at: u64, width: usize) -> u64 {
        let mut bytes = [0u8; 8];
        self.file.read_exact_at(&mut bytes[..width], at).expect("read the segment");
        u64::from_le_bytes(bytes)
    }

    fn write(&self, at: u64, width: usize, value: u64) {
        self.file.write_all_at(&value.to_le_bytes()[..width], at).expect("write the segment");
    }

    fn header(&self) -> [u8; CHECKED_LEN] {
        let mut bytes = [0u8; CHECKED_LEN];
        self.file.read_exact_at(&mut bytes, 0).expect("read the header");
        bytes
    }

    /// Writes `value` at `target`.
    fn scribble(&self, target: Target, value: Value) {
        let stride = (SLOT_META + self.book.slot as u64).next_multiple_of(64);
        let ring = ring_at(self.book.kind);
        let slot = |index: u8| ring + AT_SLOTS + u64::from(index) % self.book.capacity as u64 * stride;
        let (at, width) = match target {
            Target::Header(field) => field.at(),
            Target::Tail => (ring + AT_TAIL, 8),
            Target::Head => (ring + AT_HEAD, 8),
            Target::Seq(index) => (slot(index) + AT_SEQ, 8),
            Target::Len(index) => (slot(index) + AT_LEN, 8),
            Target::Signal(not_full, waiters) => {
                (ring + if not_full { AT_NOT_FULL } else { AT_NOT_EMPTY } + if waiters { 4 } else { 0 }, 4)
            }
            Target::Seat(_, _) if self.book.kind == RingKind::Spsc => return,
            Target::Seat(index, word) => (HEADER + u64::from(index % 4) * SEAT + u64::from(word % 3) * 8, 8),
        };
        let new = match value {
            Value::Absolute(v) => v,
            Value::Relative(delta) => self.read(at, width).wrapping_add(delta as i64 as u64),
        };
        self.write(at, width, new);
    }

    /// Rewrites the header checksum to match the fields as they are now.
    fn reseal(&self) {
        let words = [
            MAGIC,
            self.read(8, 4),
            self.read(12, 4),
            self.read(16, 8),
            self.read(24, 8),
            self.read(32, 8),
            self.read(48, 4),
        ];
        let sum = words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        self.write(AT_CHECKSUM, 8, sum);
    }

    /// Runs `op` and checks what it returned.
    fn apply(&mut self, op: Op, mode: Mode, tally: &Tally) -> Result<(), String> {
        if let Op::InFlight = op {
            let started = Instant::now();
            let result = self.tx.in_flight();
            bounded(started, "in_flight")?;
            Tally::bump(&tally.calls);
            let expected = self.book.model.len();
            return match (result, mode) {
                (Ok(n), Mode::Exact { .. }) if n == expected => Ok(()),
                (Ok(n), Mode::Hostile { .. }) if n <= self.book.capacity => Ok(()),
                (Err(RecvError::Corrupt { .. }), Mode::Hostile { .. }) => {
                    Tally::bump(&tally.corrupt);
                    Ok(())
                }
                (other, _) => Err(format!(
                    "in_flight: {other:?} ({mode:?}; the model holds {expected} of {})",
                    self.book.capacity
                )),
            };
        }
        for call in self.call(op)? {
            Tally::bump(&tally.calls);
            if call.outcome == Outcome::Corrupt {
                Tally::bump(&tally.corrupt);
            }
            let what = format!("{op:?}: {}", call.what);
            match call.side {
                Side::Send(entry) => self.book.sent(&what, call.outcome, call.blocking, entry, mode)?,
                Side::Recv { room, kept } => {
                    self.book.received(&what, call.outcome, call.blocking, room, kept, mode)?
                }
            }
        }
        Ok(())
    }

    /// Makes the calls of `op` (all but `InFlight`) and returns what each gave.
    fn call(&mut self, op: Op) -> Result<Vec<Call>, String> {
        let Self { tx, rx, book, .. } = self;
        let cancelled = (book.kind == RingKind::Mpmc).then_some(Entry::Cancelled);
        let mut calls = Vec::new();
        let started = Instant::now();
        match op {
            Op::TrySend(len) | Op::SendTimeout(len) => {
                let (id, len) = book.fresh(len);
                let message = book.bytes(id, len);
                let blocking = matches!(op, Op::SendTimeout(_));
                let result = if blocking { tx.send_timeout(&message, WAIT) } else { tx.try_send(&message) };
                bounded(started, "send")?;
                let side = Side::Send(Some(Entry::Message { id, len }));
                calls.push(Call { what: "send", outcome: send_outcome(result), blocking, side });
            }
            Op::TryLoan { len, commit } | Op::LoanTimeout { len, commit } => {
                let blocking = matches!(op, Op::LoanTimeout { .. });
                let loan = if blocking { tx.loan_timeout(WAIT) } else { tx.try_loan() };
                bounded(started, "loan")?;
                let (outcome, entry) = match loan {
                    Ok(mut loan) if commit => {
                        if loan.len() != book.slot {
                            return Err(format!("a loan of {} bytes from slots of {}", loan.len(), book.slot));
                        }
                        let (id, len) = book.fresh(len);
                        loan.copy_from_slice(&pattern(id, book.slot));
                        loan.commit(len);
                        (Outcome::Sent, Some(Entry::Message { id, len }))
                    }
                    // Dropped untouched: sends nothing (on MPMC, a cancelled slot).
                    Ok(loan) => {
                        drop(loan);
                        (Outcome::Sent, cancelled)
                    }
                    Err(e) => (send_outcome(Err(e)), None),
                };
                calls.push(Call { what: "loan", outcome, blocking, side: Side::Send(entry) });
            }
            Op::BatchSend(n) | Op::BatchLoan(n) => {
                let mut batch = tx.batch();
                for _ in 0..n {
                    let started = Instant::now();
                    let (id, len) = book.fresh(mix(book.next_id) as u16);
                    let outcome = if matches!(op, Op::BatchSend(_)) {
                        send_outcome(batch.try_send(&book.bytes(id, len)))
                    } else {
                        match batch.try_loan() {
                            Ok(mut loan) => {
                                loan.copy_from_slice(&pattern(id, book.slot));
                                loan.commit(len);
                                Outcome::Sent
                            }
                            Err(e) => send_outcome(Err(e)),
                        }
                    };
                    bounded(started, "batch send")?;
                    let stop = outcome != Outcome::Sent;
                    let side = Side::Send(Some(Entry::Message { id, len }));
                    calls.push(Call { what: "batch send", outcome, blocking: false, side });
                    if stop {
                        break;
                    }
                }
                drop(batch);
            }
            Op::TryRecv | Op::RecvTimeout => {
                let blocking = matches!(op, Op::RecvTimeout);
                let result = if blocking { rx.recv_timeout(WAIT) } else { rx.try_recv() };
                let result = result.map(|guard| guard.to_vec());
                bounded(started, "recv")?;
                let side = Side::Recv { room: None, kept: false };
                calls.push(Call { what: "recv", outcome: recv_outcome(result), blocking, side });
            }
            Op::TryRecvInto(room) | Op::RecvIntoTimeout(room) => {
                let blocking = matches!(op, Op::RecvIntoTimeout(_));
                let mut buf = vec![0u8; usize::from(room) % (book.slot + 1)];
                let result = if blocking { rx.recv_into_timeout(&mut buf, WAIT) } else { rx.try_recv_into(&mut buf) };
                bounded(started, "recv_into")?;
                let result = result.map(|n| buf[..n].to_vec());
                let side = Side::Recv { room: Some(buf.len()), kept: false };
                calls.push(Call { what: "recv_into", outcome: recv_outcome(result), blocking, side });
            }
            Op::RecvBatch(n) => {
                let mut batch = rx.batch();
                for _ in 0..n {
                    let started = Instant::now();
                    let result = batch.try_recv().map(|guard| guard.to_vec());
                    bounded(started, "batch try_recv")?;
                    let stop = result.is_err();
                    let side = Side::Recv { room: None, kept: false };
                    calls.push(Call { what: "batch try_recv", outcome: recv_outcome(result), blocking: false, side });
                    if stop {
                        break;
                    }
                }
                drop(batch);
            }
            Op::RecvKeep => {
                let (result, kept) = match rx.try_recv() {
                    Ok(guard) => {
                        let bytes = guard.to_vec();
                        // SPSC takes the message back; MPMC hands the guard back, and
                        // dropping it consumes the message.
                        let kept = guard.keep().is_ok();
                        if kept != (book.kind == RingKind::Spsc) {
                            return Err(format!("keep() on {:?} gave kept = {kept}", book.kind));
                        }
                        (Ok(bytes), kept)
                    }
                    Err(e) => (Err(e), false),
                };
                bounded(started, "recv and keep")?;
                let side = Side::Recv { room: None, kept };
                calls.push(Call { what: "recv and keep", outcome: recv_outcome(result), blocking: false, side });
            }
            Op::InFlight => unreachable!("apply handles in_flight"),
        }
        Ok(calls)
    }

    /// Re-opens the segment every way: with a scribbled header (and no matching
    /// checksum) that must be a header error; with an intact one it must work as far as
    /// the live endpoints allow. `steered`: the positions may be inconsistent.
    fn reopen(&self, pristine: &[u8; CHECKED_LEN], resealed: bool, steered: bool, tally: &Tally) -> Result<(), String> {
        if self.read(0, 8) == 0 {
            // A zero magic reads as a creator still initialising: an opener waits two
            // seconds for it, then gives `NotInitialised`. Too slow to try every time.
            return Ok(());
        }
        let scribbled = self.header() != *pristine;
        let (kind, slot, capacity) = (self.book.kind, self.book.slot, self.book.capacity);
        let results: [(&str, Result<(), AttachError>); 3] = [
            (
                "inspect",
                ferry::inspect(&self.name).and_then(|info| {
                    if !scribbled && (info.kind, info.slot_size, info.capacity) != (kind, slot, capacity) {
                        return Err(AttachError::InvalidConfig("inspect shows another geometry"));
                    }
                    Ok(())
                }),
            ),
            ("Sender::open", Sender::open(&self.name).map(drop)),
            ("Receiver::open", Receiver::open(&self.name).map(drop)),
        ];
        for (what, result) in results {
            let header_error = matches!(
                result,
                Err(AttachError::BadMagic { .. }
                    | AttachError::VersionMismatch { .. }
                    | AttachError::CorruptHeader { .. }
                    | AttachError::SizeMismatch { .. })
            );
            if header_error {
                Tally::bump(&tally.header_errors);
            }
            if result.is_ok() {
                Tally::bump(&tally.reopened);
            }
            let fine = match (scribbled, resealed) {
                (true, false) => header_error,
                (true, true) => true,
                (false, _) => match &result {
                    Ok(()) => true,
                    Err(AttachError::RoleTaken { .. } | AttachError::InvalidConfig("too many processes attached")) => {
                        what != "inspect"
                    }
                    // The ring's positions, checked on attach.
                    Err(AttachError::CorruptHeader { .. }) => steered && what != "inspect",
                    Err(_) => false,
                },
            };
            if !fine {
                let header = if scribbled { "a scribbled header" } else { "an intact header" };
                return Err(format!("{what} of a segment with {header} (resealed: {resealed}): {result:?}"));
            }
        }
        Ok(())
    }
}

/// One call's result.
struct Call {
    what: &'static str,
    outcome: Outcome,
    /// Whether it was a `*_timeout` call.
    blocking: bool,
    side: Side,
}

enum Side {
    /// A send, and what it adds to the ring if it succeeds.
    Send(Option<Entry>),
    /// A receive into a buffer of `room` bytes (`None`: in place); `kept`: handed back.
    Recv { room: Option<usize>, kept: bool },
}

fn run_case(kind: RingKind, case: &Case, tally: &Tally) -> Result<(), String> {
    let mut harness = Harness::new(kind, case)?;
    let _cleanup = Cleanup(harness.name.clone());
    for &op in &case.before {
        harness.apply(op, Mode::Exact { roles: false }, tally).map_err(|e| format!("before the scribbles: {e}"))?;
    }
    let pristine = harness.header();
    let (mut roles, mut lengths, mut steered) = (false, false, false);
    for &(target, value) in &case.scribbles {
        harness.scribble(target, value);
        match target {
            // A scribbled seat can hide a live handle or name a dead one: like a role word.
            Target::Header(Field::SenderRole | Field::ReceiverRole) | Target::Seat(..) => roles = true,
            Target::Header(_) | Target::Signal(..) => {}
            Target::Len(_) => (lengths, steered) = (true, true),
            Target::Tail | Target::Head | Target::Seq(_) => steered = true,
        }
    }
    if case.reseal {
        harness.reseal();
    }
    let mode = if steered { Mode::Hostile { lengths, roles } } else { Mode::Exact { roles } };
    Tally::bump(if steered { &tally.hostile } else { &tally.exact });
    for &op in &case.after {
        harness.apply(op, mode, tally).map_err(|e| format!("after the scribbles ({mode:?}): {e}"))?;
    }
    harness.reopen(&pristine, case.reseal, steered, tally)?;
    let name = harness.name.clone();
    drop(harness);
    if shm_path(&name).exists() {
        return Err(String::from("the creator's drop left the segment behind"));
    }
    Ok(())
}

/// Runs the property over `kind` rings and checks that the scribbles reached the checks.
fn scribble_on(kind: RingKind) {
    let cases = match std::env::var("FERRY_CORRUPTION_CASES") {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("FERRY_CORRUPTION_CASES={s:?} is not a number")),
        Err(_) => DEFAULT_CASES,
    };
    let mut runner = TestRunner::new(RunnerConfig { cases, failure_persistence: None, ..RunnerConfig::default() });
    let tally = Tally::default();
    let started = Instant::now();
    let result = runner.run(&case(kind), |case| {
        Tally::bump(&tally.cases);
        run_case(kind, &case, &tally).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{kind:?}: {e}");
    }
    let get = Cell::get;
    eprintln!(
        "{kind:?}: {} cases in {:.1?} ({} exact, {} hostile), {} calls, {} returned Corrupt; re-opening: {} header \
         errors, {} opened",
        get(&tally.cases),
        started.elapsed(),
        get(&tally.exact),
        get(&tally.hostile),
        get(&tally.calls),
        get(&tally.corrupt),
        get(&tally.header_errors),
        get(&tally.reopened),
    );
    assert!(get(&tally.exact) > 0 && get(&tally.hostile) > 0, "both kinds of scribble must be exercised");
    assert!(get(&tally.corrupt) > 0, "no call returned Corrupt: the scribbles never reached the ring's checks");
    assert!(get(&tally.header_errors) > 0, "no re-open met a header error");
}

#[test]
fn scribbles_on_a_live_spsc_ring_give_sent_messages_or_documented_errors() {
    scribble_on(RingKind::Spsc);
}

#[test]
fn scribbles_on_a_live_mpmc_ring_give_sent_messages_or_documented_errors() {
    scribble_on(RingKind::Mpmc);
}

/// A hostile waiter count must not turn one wake-up into billions of `sem_post` calls.
#[test]
fn a_scribbled_semaphore_waiter_count_does_not_hang_the_sender() {
    let name = format!("corrupt-{}-waiters", process::id());
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().signaling(Signaling::Semaphore).slot_size(8).capacity(4);
    let rx = Receiver::create(&name, &config).expect("create");
    let mut tx = Sender::open(&name).expect("open");
    let file = OpenOptions::new().write(true).open(shm_path(&name)).expect("open the segment's file");
    // The receivers' waiter count, in the `not_empty` signal.
    file.write_all_at(&u32::MAX.to_le_bytes(), ring_at(RingKind::Spsc) + AT_NOT_EMPTY + 4).expect("scribble");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = tx.try_send(b"hello").map_err(|e| e.to_string());
        let _ = done.send(result);
        // Dropping the sender wakes the receivers too: keep it out of the measurement.
        std::mem::forget(tx);
    });
    match finished.recv_timeout(BOUND) {
        Ok(result) => assert_eq!(result, Ok(())),
        Err(_) => panic!("try_send still running after {BOUND:?}: the wake-up loops on the scribbled count"),
    }
    std::mem::forget(rx);
}
