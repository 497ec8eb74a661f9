//! A hostile process scribbling anywhere in a live channel's segment, on every ring
//! kind: the header, the seats, the positions, the signals, the records and slots.
//!
//! `corruption.rs` aims its scribbles at the words that steer the slot queues and checks
//! each result against a model; this test covers the rings sized in bytes and the
//! broadcast rings too, and aims nowhere: each case makes a channel in shared memory,
//! attaches its two ends, and runs a random mix of sends, loans, receives (copying, in
//! place, batched, with and without a short timeout), attaches of another end, `ferry
//! ls`'s inspection and drops, with random 8-byte writes at random places of the
//! segment's file in between. Until the first write (or an overwriting broadcast
//! channel's first lag), every message must arrive as sent, in order, and a channel that
//! blocks never lags. After the first write, what must hold is what a process can ask of
//! a neighbour it cannot trust: no call panics, none takes longer than a second (an
//! attach, which waits up to 2 s for a creator to finish the header, 4 s), and a
//! message handed out lies within the channel's largest message size (every byte of it
//! is read, so one that ran past the mapping would crash the test). Each kind but the
//! MPMC slot ring must see at least one `Corrupt`, so the writes do reach the checks.
//!
//! `FERRY_HOSTILE_CASES` sets the number of cases per ring kind (default 64).

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    os::unix::fs::FileExt,
    process,
    time::{Duration, Instant},
};

use ferry::{Config, Policy, Publisher, Receiver, RecvError, RingKind, Sender, Start, Subscriber, SubscriberError};

mod support;
use support::{count_from_env, mix, shm_path, Cleanup, Rng};

/// The wait of the `_timeout` calls.
const WAIT: Duration = Duration::from_millis(1);
/// The longest any call may take, however the segment was scribbled on.
const BOUND: Duration = Duration::from_secs(1);
/// The longest an attach or an inspection may take: an opener waits up to 2 s for the
/// creator to finish the header, which a scribble may seem to have undone.
const ATTACH_BOUND: Duration = Duration::from_secs(4);
/// Calls per case.
const STEPS: u64 = 160;

/// The bytes of message `id`, `len` long.
fn message(id: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| mix(id ^ ((i as u64) << 32)) as u8).collect()
}

/// The two ends of the channel under attack.
enum Ends {
    Queue(Sender, Receiver),
    Broadcast(Publisher, Subscriber),
}

/// What a receive found, or why not.
enum Got {
    Message(Vec<u8>),
    Nothing,
    /// A subscriber in overwrite mode fell behind.
    Lagged,
    Corrupt,
}

struct Case {
    name: String,
    max: usize,
    file: File,
    ends: Ends,
    /// Messages sent and not yet received, while the segment is untouched.
    model: VecDeque<Vec<u8>>,
    scribbled: bool,
    /// Whether every message is checked against the model: until the first scribble or
    /// lag.
    exact: bool,
    /// An overwriting broadcast channel.
    overwrite: bool,
    next_id: u64,
    corrupt: u64,
    rng: Rng,
}

fn config(kind: RingKind, rng: &mut Rng) -> (Config, usize) {
    let bytes = matches!(kind, RingKind::SpscBytes | RingKind::MpmcBytes | RingKind::BroadcastBytes);
    let base = match kind {
        RingKind::SpscBytes | RingKind::Spsc => RingKind::Spsc,
        RingKind::MpmcBytes | RingKind::Mpmc => RingKind::Mpmc,
        _ => RingKind::Broadcast,
    };
    let config = Config::new().kind(base).subscribers(4);
    if bytes {
        let max = [0usize, 1, 40, 100, 300][rng.below(5) as usize];
        // At least two of the largest records (a 16-byte header each), a power of two.
        let least = (2 * (16 + max.next_multiple_of(16))).next_power_of_two();
        let capacity = [512usize, 1024, 4096][rng.below(3) as usize].max(least);
        (config.capacity_bytes(capacity).max_message(max), max)
    } else {
        let slot = [1usize, 8, 40, 100][rng.below(4) as usize];
        // A queue's capacity need not be a power of two (its ring has more slots).
        let capacity = if base == RingKind::Broadcast {
            [2usize, 4, 8][rng.below(3) as usize]
        } else {
            [1usize, 2, 3, 4, 5, 8][rng.below(6) as usize]
        };
        let config = config.slot_size(slot).capacity(capacity);
        let config = if base == RingKind::Broadcast && rng.below(2) == 0 {
            config.policy(Policy::Overwrite).history(capacity / 2)
        } else {
            config
        };
        (config, slot)
    }
}

/// Runs `call`, failing if it took longer than [`BOUND`].
fn timed<R>(what: &str, call: impl FnOnce() -> R) -> R {
    timed_within(BOUND, what, call)
}

/// Runs `call`, failing if it took longer than `bound`.
fn timed_within<R>(bound: Duration, what: &str, call: impl FnOnce() -> R) -> R {
    let started = Instant::now();
    let r = call();
    let took = started.elapsed();
    assert!(took <= bound, "{what} took {took:?}");
    r
}

impl Case {
    fn new(kind: RingKind, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let name = format!("hostile-{}-{kind:?}-{seed}", process::id());
        let (config, max) = config(kind, &mut rng);
        let overwrite = config.get_policy() == Policy::Overwrite;
        let ends = if matches!(kind, RingKind::Broadcast | RingKind::BroadcastBytes) {
            let tx = Publisher::create(&name, &config).expect("create the broadcast channel");
            let rx = Subscriber::open(&name, Start::Live).expect("subscribe");
            Ends::Broadcast(tx, rx)
        } else {
            let rx = Receiver::create(&name, &config).expect("create the channel");
            let tx = Sender::open(&name).expect("open a sender");
            Ends::Queue(tx, rx)
        };
        let file = OpenOptions::new().read(true).write(true).open(shm_path(&name)).expect("the segment's file");
        Self {
            name,
            max,
            file,
            ends,
            model: VecDeque::new(),
            scribbled: false,
            exact: true,
            overwrite,
            next_id: 0,
            corrupt: 0,
            rng,
        }
    }

    /// A length to send: mostly within the largest message, sometimes it, sometimes over.
    fn length(&mut self) -> usize {
        match self.rng.below(8) {
            0 => self.max,
            1 => self.max + 1 + self.rng.below(64) as usize,
            2 => 0,
            _ => self.rng.below(self.max as u64 + 1) as usize,
        }
    }

    fn sent(&mut self, bytes: Vec<u8>) {
        if self.exact {
            self.model.push_back(bytes);
        }
    }

    /// Checks a message handed out: whole and in order while the segment is untouched,
    /// within the largest size after.
    fn received(&mut self, what: &str, bytes: &[u8]) {
        assert!(bytes.len() <= self.max, "{what}: a message of {} bytes, larger than {}", bytes.len(), self.max);
        // Every byte is read: a message reaching past the mapping would fault here.
        let sum = bytes.iter().fold(0u64, |sum, &b| sum.wrapping_mul(31).wrapping_add(u64::from(b)));
        std::hint::black_box(sum);
        if self.exact {
            let expected = self.model.pop_front().unwrap_or_else(|| panic!("{what}: a message nobody sent"));
            assert_eq!(bytes, &expected[..], "{what}: not the message sent next");
        }
    }

    fn got(&mut self, what: &str, got: Got) {
        match got {
            Got::Message(bytes) => self.received(what, &bytes),
            Got::Nothing => {}
            Got::Lagged => {
                // Only an overwriting channel lags. Which messages it lost is not
                // checked: empty and one-byte messages look alike, so a message after a
                // lag cannot always be told from an earlier one.
                assert!(self.scribbled || self.overwrite, "{what}: a lag on a channel that blocks");
                self.exact = false;
            }
            Got::Corrupt => {
                assert!(self.scribbled, "{what}: Corrupt on a segment nobody touched");
                self.corrupt += 1;
            }
        }
    }

    /// Writes a random 8-byte value at a random 8-byte-aligned place of the segment.
    fn scribble(&mut self) {
        let len = self.file.metadata().expect("the segment's size").len();
        // Half anywhere, half in the ring, which ends the segment.
        let span = if self.rng.below(2) == 0 { len } else { len.min(4096) };
        let at = len - span + self.rng.below(span / 8) * 8;
        let mut old = [0u8; 8];
        self.file.read_exact_at(&mut old, at).expect("read the segment");
        let old = u64::from_le_bytes(old);
        let value = match self.rng.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => self.rng.below(4096),
            3 => old.wrapping_add(self.rng.below(64)).wrapping_sub(32),
            4 => old ^ (1 << self.rng.below(64)),
            _ => self.rng.next(),
        };
        self.file.write_all_at(&value.to_le_bytes(), at).expect("write the segment");
        self.scribbled = true;
        self.exact = false;
    }

    fn step(&mut self) {
        let op = self.rng.below(16);
        let id = self.next_id;
        self.next_id += 1;
        let send = match op {
            0..=2 => Some(Send::Try),
            3 => Some(Send::Timeout),
            // A loan of exactly the message's length, written in place.
            4 => Some(Send::Loan),
            _ => None,
        };
        if let Some(how) = send {
            let bytes = message(id, self.length());
            if timed(how.name(), || self.ends.send(how, &bytes)) {
                self.sent(bytes);
            }
            return;
        }
        let recv = match op {
            6..=7 => Some(Recv::Try),
            8 => Some(Recv::Timeout),
            9 => Some(Recv::Into(self.rng.below(self.max as u64 + 2) as usize)),
            _ => None,
        };
        if let Some(how) = recv {
            let got = timed(how.name(), || self.ends.recv(how));
            self.got(how.name(), got);
            return;
        }
        match op {
            5 => {
                // A loan dropped without a commit sends nothing.
                timed("try_loan + drop", || match &mut self.ends {
                    Ends::Queue(tx, _) => drop(tx.try_loan()),
                    Ends::Broadcast(tx, _) => drop(tx.try_loan()),
                });
            }
            10 => {
                let mut got = Vec::new();
                timed("a batch of try_recv", || {
                    if let Ends::Queue(_, rx) = &mut self.ends {
                        let mut batch = rx.batch();
                        for _ in 0..4 {
                            match batch.try_recv() {
                                Ok(m) => got.push(Got::Message(m.to_vec())),
                                Err(e) => {
                                    got.push(queue(Err(e)));
                                    break;
                                }
                            }
                        }
                    }
                });
                for got in got {
                    self.got("batch try_recv", got);
                }
            }
            11 => {
                // Another end attaches (and leaves): the attach reads the header and seats.
                // An opener waits up to 2 s for a creator to finish the header (its magic).
                let name = &self.name;
                timed_within(ATTACH_BOUND, "attach another end", || match &self.ends {
                    Ends::Queue(..) => drop(Sender::open(name)),
                    Ends::Broadcast(..) => drop(Subscriber::open(name, Start::Live)),
                });
            }
            12 => {
                timed_within(ATTACH_BOUND, "inspect (ferry ls)", || {
                    let _ = ferry::inspect(&self.name);
                    let _ = ferry::inspect_broadcast(&self.name);
                });
            }
            13 => {
                timed("len and is_disconnected", || {
                    if let Ends::Queue(tx, rx) = &mut self.ends {
                        std::hint::black_box((tx.len(), rx.len(), tx.is_disconnected(), rx.is_disconnected()));
                    }
                });
            }
            _ => self.scribble(),
        }
    }
}

/// How a step sends.
#[derive(Clone, Copy)]
enum Send {
    Try,
    Timeout,
    Loan,
}

impl Send {
    fn name(self) -> &'static str {
        match self {
            Self::Try => "try_send",
            Self::Timeout => "send_timeout",
            Self::Loan => "try_loan_bytes + commit",
        }
    }
}

/// How a step receives (`Into`: copied into a buffer of that many bytes).
#[derive(Clone, Copy)]
enum Recv {
    Try,
    Timeout,
    Into(usize),
}

impl Recv {
    fn name(self) -> &'static str {
        match self {
            Self::Try => "try_recv",
            Self::Timeout => "recv_timeout",
            Self::Into(_) => "try_recv_into",
        }
    }
}

impl Ends {
    /// Sends `bytes` as `how` says; whether it was sent.
    fn send(&mut self, how: Send, bytes: &[u8]) -> bool {
        let n = bytes.len();
        match (self, how) {
            (Self::Queue(tx, _), Send::Try) => tx.try_send(bytes).is_ok(),
            (Self::Broadcast(tx, _), Send::Try) => tx.try_send(bytes).is_ok(),
            (Self::Queue(tx, _), Send::Timeout) => tx.send_timeout(bytes, WAIT).is_ok(),
            (Self::Broadcast(tx, _), Send::Timeout) => tx.send_timeout(bytes, WAIT).is_ok(),
            (Self::Queue(tx, _), Send::Loan) => tx
                .try_loan_bytes(n)
                .map(|mut loan| {
                    loan[..n].copy_from_slice(bytes);
                    loan.commit(n);
                })
                .is_ok(),
            (Self::Broadcast(tx, _), Send::Loan) => tx
                .try_loan_bytes(n)
                .map(|mut loan| {
                    loan[..n].copy_from_slice(bytes);
                    loan.commit(n);
                })
                .is_ok(),
        }
    }

    /// Receives one message as `how` says.
    fn recv(&mut self, how: Recv) -> Got {
        match (self, how) {
            (Self::Queue(_, rx), Recv::Try) => queue(rx.try_recv().map(|m| m.to_vec())),
            (Self::Broadcast(_, rx), Recv::Try) => broadcast(rx.try_recv().map(|m| m.to_vec())),
            (Self::Queue(_, rx), Recv::Timeout) => queue(rx.recv_timeout(WAIT).map(|m| m.to_vec())),
            (Self::Broadcast(_, rx), Recv::Timeout) => broadcast(rx.recv_timeout(WAIT).map(|m| m.to_vec())),
            (Self::Queue(_, rx), Recv::Into(room)) => {
                let mut buf = vec![0u8; room];
                queue(rx.try_recv_into(&mut buf).map(|n| buf[..n].to_vec()))
            }
            (Self::Broadcast(_, rx), Recv::Into(room)) => {
                let mut buf = vec![0u8; room];
                broadcast(rx.try_recv_into(&mut buf).map(|n| buf[..n].to_vec()))
            }
        }
    }
}

fn queue(result: Result<Vec<u8>, RecvError>) -> Got {
    match result {
        Ok(bytes) => Got::Message(bytes),
        Err(RecvError::Corrupt { .. }) => Got::Corrupt,
        Err(_) => Got::Nothing,
    }
}

fn broadcast(result: Result<Vec<u8>, SubscriberError>) -> Got {
    match result {
        Ok(bytes) => Got::Message(bytes),
        Err(SubscriberError::Corrupt { .. }) => Got::Corrupt,
        Err(SubscriberError::Lagged(_)) => Got::Lagged,
        Err(_) => Got::Nothing,
    }
}

fn scribbles_on(kind: RingKind) {
    let cases = count_from_env("FERRY_HOSTILE_CASES", 64);
    let mut corrupt = 0;
    for seed in 0..cases {
        let seed = mix(seed ^ (kind as u64) << 48);
        let mut case = Case::new(kind, seed);
        let _cleanup = Cleanup(case.name.clone());
        for _ in 0..STEPS {
            case.step();
        }
        corrupt += case.corrupt;
        let Case { ends, .. } = case;
        timed("dropping the ends", || drop(ends));
    }
    println!("{kind:?}: {corrupt} calls reported Corrupt in {cases} cases");
    // An MPMC slot's length is read only between its publication and its claim, which a
    // scribble rarely falls into here (`corruption.rs` aims at it).
    if kind != RingKind::Mpmc {
        assert!(
            corrupt > 0,
            "{kind:?}: no call reported Corrupt in {cases} cases: the scribbles never reached a check"
        );
    }
}

#[test]
fn scribbles_on_an_spsc_byte_ring_never_panic_hang_or_overrun() {
    scribbles_on(RingKind::SpscBytes);
}

#[test]
fn scribbles_on_an_mpmc_byte_ring_never_panic_hang_or_overrun() {
    scribbles_on(RingKind::MpmcBytes);
}

#[test]
fn scribbles_on_a_broadcast_byte_ring_never_panic_hang_or_overrun() {
    scribbles_on(RingKind::BroadcastBytes);
}

#[test]
fn scribbles_on_a_broadcast_slot_ring_never_panic_hang_or_overrun() {
    scribbles_on(RingKind::Broadcast);
}

#[test]
fn scribbles_on_an_spsc_slot_ring_never_panic_hang_or_overrun() {
    scribbles_on(RingKind::Spsc);
}

#[test]
fn scribbles_on_an_mpmc_slot_ring_never_panic_hang_or_overrun() {
    scribbles_on(RingKind::Mpmc);
}
