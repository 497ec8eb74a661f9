//! One conformance suite, written once and run against every transport: shared memory
//! (SPSC and MPMC rings), a Unix domain socket and a FIFO.
//!
//! Each case is a function taking a [`Kind`]; the `conformance!` macro generates one
//! `#[test]` per (case, transport), named `case::transport`. A case builds its channel
//! pair in this process with [`pair`], under a unique name or a fresh directory, and
//! [`Place`] removes whatever is left when the test ends, pass or fail.
//!
//! After the suite come the checks that are about one transport or about setting a
//! channel up: bad endpoint strings, roles, stale files, hostile length prefixes, file
//! modes and the `auto:` fallback. Those that need another process re-execute this test
//! binary, running one `child_*` test by its exact name with an environment variable
//! saying what to do (the `child_*` tests return at once without it), and never set an
//! environment variable in this process: tests run in parallel threads.

use std::{
    env, fs,
    io::{BufRead, BufReader, Read, Write},
    os::unix::{
        fs::{FileTypeExt, PermissionsExt},
        net::UnixStream,
    },
    path::{Path, PathBuf},
    process::{self, Child, Command, ExitStatus, Stdio},
    sync::{atomic::Ordering, mpsc},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{mix, shm_path, start_watchdog, Rng};

/// Slot size of most cases' channels.
const SLOT: usize = 4096;
/// Slot size for "just under the largest" messages: larger than a socket's or a pipe's
/// kernel buffer, so a message crosses it in several pieces.
const BIG_SLOT: usize = 256 * 1024;
/// Slots of a shared-memory ring (sockets and pipes have their kernel buffer instead).
const CAPACITY: usize = 16;
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(30);
/// How soon a peer's departure must be noticed once everything has been received.
const NOTICE: Duration = Duration::from_secs(5);
/// A short timeout for the calls that are expected to time out.
const SHORT: Duration = Duration::from_millis(200);
/// Upper bound on a call given `SHORT`: generous, for a loaded two-core machine.
const SHORT_BOUND: Duration = Duration::from_secs(5);
/// Most messages sent into a socket or pipe while waiting for it to fill: 4 KiB each,
/// far more than any kernel buffer holds.
const FILL_LIMIT: usize = 20_000;

/// A child process that runs longer than this kills itself, so a hang fails the parent.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);
/// How long a parent waits for a child to say it is ready.
const CHILD_START: Duration = Duration::from_secs(30);
/// Printed by a child once it has done everything it was asked.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";
/// Printed by a child that holds its endpoint and waits to be killed.
const CHILD_READY: &str = "FERRY-CHILD-READY";
/// `<endpoint>` for `child_hold_receiver`: create a receiver there, then wait to be killed.
const HOLD_ENV: &str = "FERRY_CONF_HOLD_RECEIVER";
/// `<dir>` for `child_check_modes`: create sockets and FIFOs there, check their modes.
const MODES_ENV: &str = "FERRY_CONF_MODES_DIR";
/// The umask `child_check_modes` runs under.
const MODES_UMASK_ENV: &str = "FERRY_CONF_MODES_UMASK";
/// `<name>` for `child_auto_fallback`: use `auto:<name>` with shared memory disabled.
const AUTO_ENV: &str = "FERRY_CONF_AUTO_NAME";
/// Where `child_auto_fallback` must find its socket.
const AUTO_SOCKET_ENV: &str = "FERRY_CONF_AUTO_SOCKET";

// ---------------------------------------------------------------------------------------
// The transports and their channel pairs.
// ---------------------------------------------------------------------------------------

/// A transport under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ShmSpsc,
    ShmMpmc,
    Unix,
    Fifo,
}

impl Kind {
    /// Whether this is a byte-stream transport (socket or pipe) rather than a ring.
    fn is_stream(self) -> bool {
        matches!(self, Self::Unix | Self::Fifo)
    }

    /// `config` with this kind's ring (the ring kind only matters to shared memory).
    fn config(self, config: Config) -> Config {
        match self {
            Self::ShmMpmc => config.kind(RingKind::Mpmc),
            _ => config,
        }
    }
}

/// Where a channel lives; removes what is left of it when dropped.
struct Place {
    /// The endpoint string.
    endpoint: String,
    /// A directory holding a socket or FIFO (and its description file).
    dir: Option<PathBuf>,
    /// A shared-memory segment's name.
    shm: Option<String>,
}

impl Place {
    fn new(kind: Kind, tag: &str) -> Self {
        match kind {
            Kind::ShmSpsc | Kind::ShmMpmc => {
                let name = unique(tag);
                Self { endpoint: format!("shm:{name}"), dir: None, shm: Some(name) }
            }
            Kind::Unix => {
                let dir = scratch_dir(tag);
                Self { endpoint: format!("unix:{}", dir.join("sock").display()), dir: Some(dir), shm: None }
            }
            Kind::Fifo => {
                let dir = scratch_dir(tag);
                Self { endpoint: format!("fifo:{}", dir.join("fifo").display()), dir: Some(dir), shm: None }
            }
        }
    }

    /// A directory of its own, for the tests that make their own endpoints.
    fn dir(tag: &str) -> Self {
        Self { endpoint: String::new(), dir: Some(scratch_dir(tag)), shm: None }
    }

    /// The file that the endpoint names: the socket, the FIFO or the segment.
    fn file(&self) -> PathBuf {
        match (&self.shm, self.endpoint.split_once(':')) {
            (Some(name), _) => shm_path(name),
            (None, Some((_, path))) => PathBuf::from(path),
            (None, None) => panic!("a bare directory has no endpoint file"),
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.as_ref().expect("a directory").join(file)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
        if let Some(name) = &self.shm {
            let _ = fs::remove_file(shm_path(name));
        }
    }
}

/// A name no other test (or run) uses.
fn unique(tag: &str) -> String {
    #[allow(clippy::disallowed_types, reason = "test-harness counter; loom models the library, not its tests")]
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("conf-{tag}-{}-{}", process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A fresh, private directory under the system's temporary directory.
fn scratch_dir(tag: &str) -> PathBuf {
    let dir = env::temp_dir().join(format!("ferry-{}", unique(tag)));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("make the directory private");
    dir
}

/// The description file a socket or FIFO receiver writes beside its endpoint.
fn description_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ferry");
    PathBuf::from(name)
}

/// A receiver created on `kind` with `config` (slot size; capacity for rings) and a
/// sender opened on it. Keep the `Place` alive as long as the pair.
fn pair_with(kind: Kind, tag: &str, config: Config) -> (Place, Sender, Receiver) {
    let place = Place::new(kind, tag);
    let rx = Receiver::create(&place.endpoint, &kind.config(config))
        .unwrap_or_else(|e| panic!("create a receiver on {}: {e}", place.endpoint));
    let tx = Sender::open(&place.endpoint).unwrap_or_else(|e| panic!("open a sender on {}: {e}", place.endpoint));
    (place, tx, rx)
}

/// A pair with `SLOT`-byte slots (and `CAPACITY` slots on shared memory).
fn pair(kind: Kind, tag: &str) -> (Place, Sender, Receiver) {
    pair_with(kind, tag, Config::new().slot_size(SLOT).capacity(CAPACITY))
}

// ---------------------------------------------------------------------------------------
// Messages that cannot be mistaken for one another.
// ---------------------------------------------------------------------------------------

/// Length of message `seq` in a stream of messages up to `max` bytes: empty and full an
/// eighth of the time each, shorter than a sequence number an eighth, anything the rest.
fn message_len(seq: u64, max: usize) -> usize {
    let h = mix(seq ^ 0x6c65_6e67_7468_0001);
    match h % 8 {
        0 => 0,
        1 => max,
        2 => (h >> 8) as usize % 8,
        _ => (h >> 8) as usize % (max + 1),
    }
}

/// Writes message `seq` into `out`: the sequence number if there is room, then bytes
/// derived from `seq`, so a lost, repeated, reordered, torn or mixed message differs.
fn fill(seq: u64, out: &mut [u8]) {
    let start = if out.len() >= 8 {
        out[..8].copy_from_slice(&seq.to_le_bytes());
        8
    } else {
        0
    };
    Rng(mix(seq)).fill(&mut out[start..]);
}

/// Message `seq`, `len` bytes long.
fn message(seq: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    fill(seq, &mut out);
    out
}

/// Panics unless `got` is message `seq` of `len` bytes.
#[track_caller]
fn assert_message(seq: u64, len: usize, got: &[u8]) {
    let starts = got.get(..8).map(|head| u64::from_le_bytes(head.try_into().unwrap()));
    assert_eq!(got.len(), len, "message {seq}: wrong length (it starts with sequence number {starts:?})");
    let expected = message(seq, len);
    if let Some(at) = got.iter().zip(&expected).position(|(g, e)| g != e) {
        panic!("message {seq} ({len} bytes) differs at byte {at} (it starts with sequence number {starts:?})");
    }
}

/// Runs `body` with the sender on another thread, handing the sender back at the end.
fn on_thread(mut tx: Sender, body: impl FnOnce(&mut Sender) + Send + 'static) -> JoinHandle<Sender> {
    thread::spawn(move || {
        body(&mut tx);
        tx
    })
}

/// Sends `message` with `try_send` until the channel is full; returns how many went in.
/// Each message is `message(seq, len)` for the next `seq`.
fn fill_until_full(kind: Kind, tx: &mut Sender, len: usize) -> u64 {
    let limit = if kind.is_stream() { FILL_LIMIT } else { CAPACITY + 1 };
    for seq in 0..limit as u64 {
        let m = message(seq, len);
        match tx.try_send(&m) {
            Ok(()) => {}
            Err(SendError::Full(())) => return seq,
            Err(e) => panic!("{kind:?}: try_send of message {seq} into a filling channel: {e}"),
        }
    }
    panic!("{kind:?}: {limit} messages of {len} bytes went in and the channel never became full");
}

/// Checks the number of messages a full channel took: a ring takes exactly its
/// capacity; a kernel buffer takes some, and not more than it could hold.
fn assert_full_at(kind: Kind, sent: u64, len: usize) {
    if kind.is_stream() {
        assert!(sent > 0, "{kind:?}: full before the first message");
        // A socket buffer is a few hundred KiB at most by default, a pipe 64 KiB.
        assert!(sent as usize * len < 64 << 20, "{kind:?}: {sent} messages of {len} bytes in a kernel buffer");
    } else {
        assert_eq!(sent, CAPACITY as u64, "{kind:?}: a ring of {CAPACITY} slots holds {CAPACITY} messages");
    }
}

/// Receives messages `0..count` of `len` bytes, checking each.
fn drain(rx: &mut Receiver, count: u64, len: usize) {
    for seq in 0..count {
        let got = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("message {seq} of {count}: {e:?}"));
        assert_message(seq, len, &got);
    }
}

// ---------------------------------------------------------------------------------------
// The suite: one test per (case, transport).
// ---------------------------------------------------------------------------------------

/// `conformance!(case)` runs `case(kind)` for every transport, as `case::shm_spsc`,
/// `case::shm_mpmc`, `case::unix` and `case::fifo`. `conformance!(case: test => Kind,
/// ...)` lists the transports by hand, with attributes (an `#[ignore]` pinning a bug).
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        $(conformance!($case: shm_spsc => ShmSpsc, shm_mpmc => ShmMpmc, unix => Unix, fifo => Fifo);)+
    };
    ($case:ident: $($(#[$attr:meta])* $test:ident => $kind:ident),+ $(,)?) => {
        mod $case {
            $(
                #[test]
                $(#[$attr])*
                fn $test() {
                    super::$case(super::Kind::$kind);
                }
            )+
        }
    };
}

conformance!(
    reports_its_geometry,
    order_and_exactly_once_across_threads,
    message_boundaries,
    message_boundaries_just_under_the_largest_slot,
    oversized_messages_are_refused_and_handed_back,
    recv_timeout_on_empty_times_out,
    try_recv_on_empty_is_empty,
    try_send_fills_up_then_everything_arrives,
    send_timeout_on_full_times_out_and_hands_back,
    loan_commit_and_in_place_reads,
    dropped_loan_sends_nothing,
    kept_guard_leaves_the_message,
    batches_send_and_receive,
    a_batch_fills_the_channel_and_loses_nothing,
    recv_into_too_small_keeps_the_message,
    typed_values,
    sender_gone_after_n_messages,
    receiver_gone_fails_the_sender,
    dropping_the_receiver_removes_the_endpoint,
);

conformance!(send_value_to_a_gone_receiver_says_disconnected:
    shm_spsc => ShmSpsc,
    shm_mpmc => ShmMpmc,
    unix => Unix,
    fifo => Fifo,
);

conformance!(try_send_on_a_nearly_full_channel_says_full_and_stays_usable:
    shm_spsc => ShmSpsc,
    shm_mpmc => ShmMpmc,
    unix => Unix,
    fifo => Fifo,
);

conformance!(send_timeout_on_a_nearly_full_channel_leaves_it_usable:
    shm_spsc => ShmSpsc,
    shm_mpmc => ShmMpmc,
    unix => Unix,
    fifo => Fifo,
);

/// The slot size, and the capacity a ring has and a stream does not.
fn reports_its_geometry(kind: Kind) {
    let (place, mut tx, rx) = pair_with(kind, "geometry", Config::new().slot_size(1000).capacity(32));
    assert_eq!((tx.slot_size(), rx.slot_size()), (1000, 1000), "{kind:?}: slot sizes");
    let capacity = if kind.is_stream() { 0 } else { 32 };
    assert_eq!((tx.capacity(), rx.capacity()), (capacity, capacity), "{kind:?}: capacities");
    assert_eq!(tx.in_flight().expect("in_flight"), 0);
    tx.send(b"one").expect("send");
    // A ring counts the message; a stream cannot tell and says 0.
    assert_eq!(tx.in_flight().expect("in_flight"), if kind.is_stream() { 0 } else { 1 });
    assert_eq!((tx.fallback_reason(), rx.fallback_reason()), (None, None), "only auto: falls back");
    assert!(place.file().exists(), "{kind:?}: {} should exist while the receiver lives", place.file().display());
    if kind.is_stream() {
        let description = fs::read_to_string(description_path(&place.file())).expect("the description file");
        assert!(description.contains("1000"), "{kind:?}: the description should give the slot size: {description:?}");
    }
}

/// A few thousand messages of mixed sizes from another thread arrive once each, in
/// order, intact; then the sender's departure is reported.
fn order_and_exactly_once_across_threads(kind: Kind) {
    const MESSAGES: u64 = 5_000;
    let (_place, tx, mut rx) = pair(kind, "order");
    let sender = on_thread(tx, |tx| {
        let mut buf = vec![0; SLOT];
        for seq in 0..MESSAGES {
            let len = message_len(seq, SLOT);
            fill(seq, &mut buf[..len]);
            tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send {seq}: {e}"));
        }
    });
    for seq in 0..MESSAGES {
        let got = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("{kind:?}: message {seq}: {e:?}"));
        assert_message(seq, message_len(seq, SLOT), &got);
    }
    drop(sender.join().expect("the sending thread"));
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: after the last");
}

/// Sizes 0, 1, slot - 1 and slot each arrive as one message of exactly that size.
fn message_boundaries(kind: Kind) {
    boundaries(kind, SLOT, 4);
}

/// The same with a 256 KiB slot: on a socket or a pipe the largest messages cross the
/// kernel buffer in pieces.
fn message_boundaries_just_under_the_largest_slot(kind: Kind) {
    boundaries(kind, BIG_SLOT, 2);
}

fn boundaries(kind: Kind, slot: usize, capacity: usize) {
    let sizes = [0, 1, slot - 1, slot, 0, slot, 1, slot - 1, 0, 0, 2];
    let (_place, tx, mut rx) = pair_with(kind, "bounds", Config::new().slot_size(slot).capacity(capacity));
    let sender = on_thread(tx, move |tx| {
        for (seq, &len) in sizes.iter().enumerate() {
            tx.send(&message(seq as u64, len)).unwrap_or_else(|e| panic!("send {seq} ({len} bytes): {e}"));
        }
    });
    for (seq, &len) in sizes.iter().enumerate() {
        let got = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("{kind:?}: message {seq} ({len} bytes): {e:?}"));
        assert_message(seq as u64, len, &got);
    }
    drop(sender.join().expect("the sending thread"));
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: after the last");
}

/// A message one byte longer than a slot is refused by every send call (a typed send
/// hands its value back) and leaves the channel as it was.
fn oversized_messages_are_refused_and_handed_back(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "oversized");
    let big = message(1, SLOT + 1);
    let check = |what: &str, result: Result<(), SendError>| match result {
        Err(e @ SendError::TooLarge { len, max, .. }) => {
            assert_eq!((len, max), (SLOT + 1, SLOT), "{kind:?}: {what}");
            let text = e.to_string();
            assert!(text.contains(&(SLOT + 1).to_string()) && text.contains(&SLOT.to_string()), "{text}");
        }
        other => panic!("{kind:?}: {what} of {} bytes into {SLOT}-byte slots: {other:?}", SLOT + 1),
    };
    check("send", tx.send(&big));
    check("try_send", tx.try_send(&big));
    check("send_timeout", tx.send_timeout(&big, SHORT));
    check("batch try_send", tx.batch().try_send(&big));
    let value = [0x5a5a_5a5a_5a5a_5a5au64; SLOT / 8 + 1];
    match tx.send_value(value) {
        Err(SendError::TooLarge { message, len, max }) => {
            assert_eq!((message, len, max), (value, SLOT + 8, SLOT), "{kind:?}: send_value");
        }
        other => panic!("{kind:?}: send_value of {} bytes: {:?}", SLOT + 8, other.map_err(|e| e.to_string())),
    }
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: nothing was sent");
    // The channel is unharmed: a slot-sized message goes through.
    tx.send(&message(2, SLOT)).expect("send a full slot after the refusals");
    assert_message(2, SLOT, &rx.recv_timeout(LONG).expect("the full slot"));
}

/// Waiting for a message that never comes times out, after the timeout and not much later.
fn recv_timeout_on_empty_times_out(kind: Kind) {
    let (_place, _tx, mut rx) = pair(kind, "timeout");
    let started = Instant::now();
    assert_eq!(rx.recv_timeout(SHORT).map(|m| m.len()), Err(RecvError::Timeout), "{kind:?}: recv_timeout");
    let took = started.elapsed();
    assert!(took >= SHORT, "{kind:?}: timed out after {took:?}, before the {SHORT:?} timeout");
    assert!(took < SHORT_BOUND, "{kind:?}: a {SHORT:?} timeout took {took:?}");

    let mut buf = [0u8; 16];
    let started = Instant::now();
    assert_eq!(rx.recv_into_timeout(&mut buf, SHORT), Err(RecvError::Timeout), "{kind:?}: recv_into_timeout");
    let took = started.elapsed();
    assert!(took >= SHORT && took < SHORT_BOUND, "{kind:?}: recv_into_timeout took {took:?}");
}

/// `try_recv` on an empty channel says so at once, and then finds a message sent after.
fn try_recv_on_empty_is_empty(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "empty");
    let started = Instant::now();
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: try_recv");
    assert_eq!(rx.try_recv_into(&mut [0; 8]), Err(RecvError::Empty), "{kind:?}: try_recv_into");
    assert_eq!(rx.batch().try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: batch try_recv");
    assert!(started.elapsed() < SHORT_BOUND, "{kind:?}: try_recv waited {:?}", started.elapsed());
    tx.send(b"now").expect("send");
    assert_eq!(&*rx.try_recv().expect("a message sent before try_recv"), b"now");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: exactly one message");
}

/// `try_send` fills the channel until it reports `Full`, handing the message back; every
/// message it accepted then arrives intact, and the channel goes on working.
fn try_send_fills_up_then_everything_arrives(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "full");
    // Whole 4 KiB slots: on a socket or a pipe, frames that fill the kernel buffer
    // cleanly between two frames. (Sizes that fill it in the middle of a frame are
    // `try_send_on_a_nearly_full_channel_says_full_and_stays_usable`.)
    let len = SLOT;
    let sent = fill_until_full(kind, &mut tx, len);
    assert_full_at(kind, sent, len);
    // On a socket or pipe, the end of the last accepted frame may still wait in the
    // sender: it goes out with the sender's next call (or its drop).
    let whole = if kind.is_stream() { sent - 1 } else { sent };
    drain(&mut rx, whole, len);
    tx.try_send(b"after").unwrap_or_else(|e| panic!("{kind:?}: try_send into the drained channel: {e}"));
    if kind.is_stream() {
        assert_message(sent - 1, len, &rx.recv_timeout(LONG).expect("the last accepted message"));
    }
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message after"), b"after");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: only what was accepted");
}

/// `send_timeout` on a full channel gives up after its timeout and hands the message
/// back; what was sent before arrives, and the channel goes on working.
fn send_timeout_on_full_times_out_and_hands_back(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "send-timeout");
    // As in `try_send_fills_up_then_everything_arrives`, full between two frames.
    let len = SLOT;
    let sent = fill_until_full(kind, &mut tx, len);
    let late = message(u64::MAX, len);
    let started = Instant::now();
    match tx.send_timeout(&late, SHORT) {
        Err(SendError::Timeout(())) => {}
        other => panic!("{kind:?}: send_timeout on a full channel: {other:?}"),
    }
    let took = started.elapsed();
    assert!(took >= SHORT && took < SHORT_BOUND, "{kind:?}: a {SHORT:?} send_timeout took {took:?}");
    match tx.loan_timeout(SHORT) {
        // On a socket or pipe the loan waits for the kernel buffer to take more.
        Err(SendError::Timeout(())) => {}
        other => panic!("{kind:?}: loan_timeout on a full channel: {other:?}"),
    }
    drain(&mut rx, sent, len);
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: the timed-out message was sent");
    tx.send_timeout(b"after", LONG).unwrap_or_else(|e| panic!("{kind:?}: send into the drained channel: {e}"));
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message after"), b"after");
}

/// A loan is a whole slot to write in place; its commit sends the first `len` bytes,
/// read back in place through a guard. Every loan call does the same.
fn loan_commit_and_in_place_reads(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "loan");
    let lens = [SLOT, 0, 17, SLOT - 1];
    for (seq, &len) in lens.iter().enumerate() {
        let mut loan = match seq {
            0 => tx.loan(),
            1 => tx.try_loan(),
            _ => tx.loan_timeout(LONG),
        }
        .unwrap_or_else(|e| panic!("{kind:?}: loan {seq}: {e}"));
        assert_eq!(loan.len(), SLOT, "{kind:?}: a loan is a whole slot");
        // Bytes past `len` are written too, and must not be sent.
        loan.fill(0xee);
        fill(seq as u64, &mut loan[..len]);
        loan.commit(len);
    }
    for (seq, &len) in lens.iter().enumerate() {
        let guard = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("{kind:?}: message {seq}: {e:?}"));
        assert_eq!(guard.len(), len);
        assert_message(seq as u64, len, &guard);
    }
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: one message per commit");
}

/// A loan dropped without a commit sends nothing, and the next loan works. (On an MPMC
/// ring a dropped loan's position is published as cancelled and holds its slot until a
/// receiver passes over it, so the receiver looks after each one: many more loans than
/// slots are dropped, which also shows the cancelled slots come back.)
fn dropped_loan_sends_nothing(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "abandon");
    for i in 0..CAPACITY * 3 {
        let mut loan = tx.try_loan().unwrap_or_else(|e| panic!("{kind:?}: try_loan {i}: {e}"));
        loan[..5].copy_from_slice(b"ghost");
        drop(loan);
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: dropped loan {i} sent");
    }
    let mut loan = tx.loan().expect("loan");
    loan[..4].copy_from_slice(b"real");
    loan.commit(4);
    assert_eq!(&*rx.recv_timeout(LONG).expect("the committed loan"), b"real");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: only the committed loan");
}

/// A kept guard leaves its message for the next receive, except on an MPMC ring, which
/// has handed it to this receiver alone and says so.
fn kept_guard_leaves_the_message(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "keep");
    tx.send(b"first").expect("send");
    tx.send(b"second").expect("send");
    let guard = rx.recv_timeout(LONG).expect("first");
    assert_eq!(&*guard, b"first");
    let kept = match guard.keep() {
        Ok(()) => true,
        Err(guard) => {
            assert_eq!(&*guard, b"first", "{kind:?}: the refused keep hands the same guard back");
            false
        }
    };
    // Only an MPMC ring refuses; elsewhere the message comes again.
    assert_eq!(kept, kind != Kind::ShmMpmc, "{kind:?}: keep");
    if kept {
        assert_eq!(&*rx.recv_timeout(LONG).expect("first again"), b"first", "{kind:?}: kept");
    }
    assert_eq!(&*rx.recv_timeout(LONG).expect("second"), b"second", "{kind:?}: then the next");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty));
}

/// Batches carry the same messages as single calls, on every transport.
fn batches_send_and_receive(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "batch");
    let count = CAPACITY as u64 / 2;
    {
        let mut batch = tx.batch();
        for seq in 0..count {
            if seq % 2 == 0 {
                batch.try_send(&message(seq, 100)).unwrap_or_else(|e| panic!("{kind:?}: batch try_send {seq}: {e}"));
            } else {
                let mut loan = batch.try_loan().unwrap_or_else(|e| panic!("{kind:?}: batch try_loan {seq}: {e}"));
                fill(seq, &mut loan[..100]);
                loan.commit(100);
            }
            if seq == count / 2 {
                batch.publish();
            }
        }
    }
    let mut batch = rx.batch();
    for seq in 0..count {
        let got = batch.try_recv().unwrap_or_else(|e| panic!("{kind:?}: batch try_recv {seq}: {e:?}"));
        assert_message(seq, 100, &got);
    }
    assert_eq!(batch.try_recv().map(|m| m.len()), Err(RecvError::Empty));
}

/// A batch that fills the channel: `try_send` says `Full` once nothing more fits (on a
/// socket or a pipe, once the frames it gathered cannot be written and the next has no
/// room beside them); every message it took arrives, in order, and none it refused.
fn a_batch_fills_the_channel_and_loses_nothing(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "batch-full");
    let len = 60;
    let limit = if kind.is_stream() { 100 * FILL_LIMIT } else { CAPACITY + 1 };
    let mut taken = 0u64;
    {
        let mut batch = tx.batch();
        loop {
            match batch.try_send(&message(taken, len)) {
                Ok(()) => taken += 1,
                Err(SendError::Full(())) => break,
                Err(e) => panic!("{kind:?}: batch try_send {taken}: {e}"),
            }
            assert!((taken as usize) < limit, "{kind:?}: {taken} messages and the channel never became full");
        }
    }
    assert_full_at(kind, taken, len);
    // What the stream did not take at the publish goes out with the sender's next call.
    let reader = thread::spawn(move || {
        drain(&mut rx, taken, len);
        let after = rx.recv_timeout(LONG).expect("the message after");
        assert_eq!(&*after, b"after");
        drop(after);
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "only what was taken");
    });
    tx.send_timeout(b"after", LONG).unwrap_or_else(|e| panic!("{kind:?}: send after the batch: {e}"));
    reader.join().unwrap_or_else(|_| panic!("{kind:?}: the receiver failed"));
}

/// A buffer one byte too small is refused, by every copying receive; the message stays
/// and arrives whole in a buffer that fits, followed by the next one.
fn recv_into_too_small_keeps_the_message(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "small-buf");
    tx.send(&message(1, 100)).expect("send");
    tx.send(&message(2, 3)).expect("send");
    let mut buf = vec![0u8; SLOT];
    let small = || RecvError::BufferTooSmall { needed: 100 };
    assert_eq!(rx.recv_into(&mut buf[..99]), Err(small()), "{kind:?}: recv_into");
    assert_eq!(rx.try_recv_into(&mut buf[..99]), Err(small()), "{kind:?}: try_recv_into");
    assert_eq!(rx.recv_into_timeout(&mut buf[..0], LONG), Err(small()), "{kind:?}: recv_into_timeout");
    assert_eq!(rx.recv_into(&mut buf[..100]), Ok(100), "{kind:?}: recv_into a buffer that fits");
    assert_message(1, 100, &buf[..100]);
    let n = rx.recv_into(&mut buf).expect("the next message");
    assert_message(2, 3, &buf[..n]);
}

/// `send_value` and `recv_value` carry `Pod` values; a value of the wrong size is
/// refused and stays.
fn typed_values(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "values");
    let a = 0x0123_4567_89ab_cdefu64;
    let b = [7u32, 8, 9];
    let c = -1.5f64;
    tx.send_value(a).expect("send_value u64");
    tx.send_value(b).expect("send_value [u32; 3]");
    tx.send_value(c).expect("send_value f64");
    assert_eq!(rx.recv_value::<u32>(), Err(RecvError::WrongSize { expected: 4, actual: 8 }), "{kind:?}");
    assert_eq!(rx.recv_value::<u64>(), Ok(a), "{kind:?}: the refused value stayed");
    assert_eq!(rx.recv_value::<[u32; 3]>(), Ok(b), "{kind:?}");
    let guard = rx.recv_timeout(LONG).expect("the f64");
    assert_eq!(guard.value::<u32>(), Err(RecvError::WrongSize { expected: 4, actual: 8 }));
    assert_eq!(guard.value::<f64>(), Ok(c));
}

/// A sender that sends N messages and leaves: the receiver gets all N, then learns the
/// sender has gone, promptly, from every receive call.
fn sender_gone_after_n_messages(kind: Kind) {
    const MESSAGES: u64 = 200;
    let (_place, tx, mut rx) = pair(kind, "sender-gone");
    let sender = on_thread(tx, |tx| {
        for seq in 0..MESSAGES {
            tx.send(&message(seq, 64)).unwrap_or_else(|e| panic!("send {seq}: {e}"));
        }
    });
    drain(&mut rx, MESSAGES, 64);
    drop(sender.join().expect("the sending thread"));
    let started = Instant::now();
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: after the last");
    assert!(started.elapsed() < NOTICE, "{kind:?}: the sender's departure took {:?} to notice", started.elapsed());
    // Once gone, the blocking receive keeps saying so at once.
    let started = Instant::now();
    assert_eq!(rx.recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: recv after the sender left");
    assert!(started.elapsed() < NOTICE);
    // The calls that do not wait say so too.
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: try_recv");
    assert_eq!(rx.try_recv_into(&mut [0; 64]), Err(RecvError::Disconnected), "{kind:?}: try_recv_into");
    assert_eq!(rx.batch().try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: batch");
}

/// A receiver that leaves: the sender is told by its very next call, on every transport
/// and whether or not there is room (crossbeam's bounded channel does the same), so no
/// message is accepted only to be lost.
fn receiver_gone_fails_the_sender(kind: Kind) {
    let (_place, mut tx, rx) = pair(kind, "receiver-gone");
    tx.send(b"before").expect("send while the receiver is there");
    drop(rx);
    let started = Instant::now();
    let mut accepted = 0;
    loop {
        let m = message(accepted, 64);
        match tx.send(&m) {
            Ok(()) => accepted += 1,
            Err(SendError::Disconnected(())) => break,
            Err(e) => panic!("{kind:?}: send after the receiver left: {e}"),
        }
        assert!(accepted <= CAPACITY as u64, "{kind:?}: {accepted} messages sent to a receiver that has gone");
    }
    assert_eq!(accepted, 0, "{kind:?}: messages accepted after the receiver left");
    assert!(started.elapsed() < NOTICE, "{kind:?}: the receiver's departure took {:?}", started.elapsed());
    // The send calls say so from now on.
    assert!(matches!(tx.send_timeout(b"x", SHORT), Err(SendError::Disconnected(_))), "{kind:?}: send_timeout");
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Disconnected(()))), "{kind:?}: try_send");
    assert!(tx.is_disconnected(), "{kind:?}: is_disconnected");
    assert!(matches!(tx.loan(), Err(SendError::Disconnected(()))), "{kind:?}: loan");
    assert!(matches!(tx.try_loan(), Err(SendError::Disconnected(()))), "{kind:?}: try_loan");
}

/// `send_value` tells of a receiver that has gone as `send` does, at once, handing the
/// value back.
fn send_value_to_a_gone_receiver_says_disconnected(kind: Kind) {
    let (_place, mut tx, rx) = pair(kind, "value-gone");
    drop(rx);
    let mut accepted = 0u64;
    loop {
        match tx.send_value(accepted) {
            Ok(()) => accepted += 1,
            Err(SendError::Disconnected(back)) => {
                assert_eq!(back, accepted, "{kind:?}: Disconnected must hand this value back");
                break;
            }
            Err(e) => panic!("{kind:?}: send_value after the receiver left: {e}"),
        }
        assert!(accepted <= CAPACITY as u64, "{kind:?}: {accepted} values sent to a receiver that has gone");
    }
    assert_eq!(accepted, 0, "{kind:?}: values accepted (and lost) after the receiver left");
}

/// A frame that only partly fits in a socket's or pipe's kernel buffer: `try_send` must
/// still say `Full` at once (not wait, not time out), every message it accepted must
/// arrive, and the channel must go on working. (On shared memory this is the plain full
/// ring again.)
fn try_send_on_a_nearly_full_channel_says_full_and_stays_usable(kind: Kind) {
    // Sizes that leave the kernel buffer full in the middle of a frame, the 4-byte
    // prefix (written on its own) in and the payload out: 64 KiB payloads on a socket,
    // 1000-byte ones on a pipe (a write that does not fit the room left in the last
    // page needs a page of its own, and there is none).
    let len = match kind {
        Kind::Unix => 64 * 1024,
        _ => 1000,
    };
    let (_place, mut tx, mut rx) = pair_with(kind, "nearly-full", Config::new().slot_size(BIG_SLOT).capacity(CAPACITY));
    let limit = if kind.is_stream() { FILL_LIMIT } else { CAPACITY + 1 };
    let mut sent = 0u64;
    loop {
        let m = message(sent, len);
        let started = Instant::now();
        let result = tx.try_send(&m);
        let took = started.elapsed();
        match result {
            Ok(()) => sent += 1,
            Err(SendError::Full(())) => break,
            Err(e) => panic!("{kind:?}: try_send of message {sent} ({len} bytes) after {took:?}: {e}"),
        }
        assert!(took < Duration::from_millis(500), "{kind:?}: try_send {sent} waited {took:?}");
        assert!((sent as usize) < limit, "{kind:?}: never full");
    }
    assert!(sent > 0, "{kind:?}: full before the first message");
    // On a socket or pipe, the end of the last accepted frame may still wait in the
    // sender: it goes out with the sender's next call (or its drop).
    let whole = if kind.is_stream() { sent - 1 } else { sent };
    drain(&mut rx, whole, len);
    tx.try_send(b"after").unwrap_or_else(|e| panic!("{kind:?}: try_send into the drained channel: {e}"));
    if kind.is_stream() {
        assert_message(sent - 1, len, &rx.recv_timeout(LONG).expect("the last accepted message"));
    }
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message after"), b"after");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: only what was accepted");
}

/// The same with `send_timeout`: a timeout while the buffer is full in the middle of a
/// frame must leave the channel usable.
fn send_timeout_on_a_nearly_full_channel_leaves_it_usable(kind: Kind) {
    let len = match kind {
        Kind::Unix => 64 * 1024,
        _ => 1000,
    };
    let (_place, mut tx, mut rx) =
        pair_with(kind, "nearly-full-t", Config::new().slot_size(BIG_SLOT).capacity(CAPACITY));
    let mut sent = 0u64;
    loop {
        let m = message(sent, len);
        match tx.send_timeout(&m, SHORT) {
            Ok(()) => sent += 1,
            Err(SendError::Timeout(())) => break,
            Err(e) => panic!("{kind:?}: send_timeout of message {sent} ({len} bytes): {e}"),
        }
        assert!((sent as usize) < FILL_LIMIT, "{kind:?}: never full");
    }
    // On a socket or pipe, the end of the last accepted frame may still wait in the
    // sender: it goes out with the sender's next call (or its drop).
    let whole = if kind.is_stream() { sent - 1 } else { sent };
    drain(&mut rx, whole, len);
    tx.send_timeout(b"after", LONG).unwrap_or_else(|e| panic!("{kind:?}: send into the drained channel: {e}"));
    if kind.is_stream() {
        assert_message(sent - 1, len, &rx.recv_timeout(LONG).expect("the last accepted message"));
    }
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message after"), b"after");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "{kind:?}: only what was accepted");
}

/// Dropping the receiver removes its socket, FIFO or segment and the description file.
fn dropping_the_receiver_removes_the_endpoint(kind: Kind) {
    let (place, tx, rx) = pair(kind, "removed");
    let file = place.file();
    assert!(file.exists(), "{kind:?}: {} should exist", file.display());
    if kind.is_stream() {
        assert!(description_path(&file).exists(), "{kind:?}: the description file should exist");
    }
    drop(rx);
    assert!(!file.exists(), "{kind:?}: {} outlived its receiver", file.display());
    assert!(!description_path(&file).exists(), "{kind:?}: the description file outlived its receiver");
    drop(tx);
    // The name is free again.
    let again = Receiver::create(&place.endpoint, &kind.config(Config::new()));
    assert!(again.is_ok(), "{kind:?}: create again after the receiver left: {:?}", again.err());
}

// ---------------------------------------------------------------------------------------
// Endpoint strings.
// ---------------------------------------------------------------------------------------

/// Runs `attach` on `endpoint` and returns its error.
fn attach_error(endpoint: &str, attach: impl FnOnce(&str) -> Result<(), AttachError>) -> AttachError {
    match attach(endpoint) {
        Ok(()) => panic!("attaching to {endpoint:?} succeeded"),
        Err(e) => e,
    }
}

/// A way to attach to an endpoint, reduced to its error.
type Attach = fn(&str) -> Result<(), AttachError>;

/// The four ways to attach, by name.
fn attach_calls() -> [(&'static str, Attach); 4] {
    [
        ("Receiver::create", |e| Receiver::create(e, &Config::new()).map(drop)),
        ("Sender::create", |e| Sender::create(e, &Config::new()).map(drop)),
        ("Receiver::open", |e| Receiver::open(e).map(drop)),
        ("Sender::open", |e| Sender::open(e).map(drop)),
    ]
}

#[test]
fn bad_endpoints_are_refused_saying_what_is_wrong() {
    let cases: [(&str, &str); 6] = [
        ("bogus:x", "unknown transport"),
        ("unix:", "empty"),
        ("fifo:", "empty"),
        ("fifo:/tmp/a\0b", "NUL"),
        ("unix:/tmp/a\0b", "NUL"),
        ("tcp://localhost:1", "unknown transport"),
    ];
    for (endpoint, why) in cases {
        for (call, attach) in attach_calls() {
            match attach_error(endpoint, attach) {
                AttachError::InvalidEndpoint { endpoint: e, reason } => {
                    assert_eq!(e, endpoint, "{call}");
                    assert!(reason.contains(why), "{call}({endpoint:?}): the reason {reason:?} should say {why:?}");
                }
                other => panic!("{call}({endpoint:?}): expected InvalidEndpoint, got {other:?}"),
            }
        }
    }
    let e = attach_error("bogus:x", attach_calls()[0].1);
    let text = e.to_string();
    assert!(text.contains("`bogus:x`") && text.contains("unix:PATH"), "the message should name it and list: {text}");
}

#[test]
fn bad_names_are_refused_saying_what_is_wrong() {
    let cases: [(&str, &str, &str); 5] = [
        ("shm:bad/name", "bad/name", "allowed"),
        ("auto:bad/name", "bad/name", "allowed"),
        ("shm:", "", "empty"),
        ("auto:.hidden", ".hidden", "dot"),
        ("bad name", "bad name", "allowed"),
    ];
    for (endpoint, name, why) in cases {
        for (call, attach) in attach_calls() {
            match attach_error(endpoint, attach) {
                AttachError::InvalidName { name: n, reason } => {
                    assert_eq!(n, name, "{call}({endpoint:?})");
                    assert!(reason.contains(why), "{call}({endpoint:?}): the reason {reason:?} should say {why:?}");
                }
                other => panic!("{call}({endpoint:?}): expected InvalidName, got {other:?}"),
            }
        }
    }
    // Nothing was created on the way.
    assert!(!shm_path("bad/name").exists() && !Path::new("/dev/shm/ferry.bad").exists());
}

#[test]
fn sockets_and_fifos_are_created_by_their_receiver_only() {
    let place = Place::dir("roles");
    for endpoint in [format!("unix:{}", place.path("s").display()), format!("fifo:{}", place.path("f").display())] {
        match Sender::create(&endpoint, &Config::new()) {
            Err(AttachError::Unsupported { endpoint: e, .. }) => assert_eq!(e, endpoint),
            other => panic!("Sender::create({endpoint}): {:?}", other.map(drop)),
        }
        // Nobody is there yet.
        match Sender::open(&endpoint) {
            Err(AttachError::NotFound { .. }) => {}
            other => panic!("Sender::open({endpoint}) with no receiver: {:?}", other.map(drop)),
        }
        let rx = Receiver::create(&endpoint, &Config::new()).expect("create");
        match Receiver::open(&endpoint) {
            Err(AttachError::Unsupported { endpoint: e, .. }) => assert_eq!(e, endpoint),
            other => panic!("Receiver::open({endpoint}): {:?}", other.map(drop)),
        }
        assert!(matches!(rx.try_clone(), Err(AttachError::Unsupported { .. })), "{endpoint}: Receiver::try_clone");
        // A second receiver while the first lives: the name is taken.
        match Receiver::create(&endpoint, &Config::new()) {
            Err(AttachError::AlreadyExists { name }) => assert!(endpoint.ends_with(&name), "{name}"),
            other => panic!("a second Receiver::create({endpoint}): {:?}", other.map(drop)),
        }
        // ... and the first one still works.
        let mut tx = Sender::open(&endpoint).expect("open after the refused second receiver");
        let mut rx = rx;
        tx.send(b"still there").expect("send");
        assert_eq!(&*rx.recv_timeout(LONG).expect("recv"), b"still there");
    }
}

#[test]
fn open_expecting_checks_a_streams_slot_size() {
    for kind in [Kind::Unix, Kind::Fifo] {
        let place = Place::new(kind, "expect");
        let _rx = Receiver::create(&place.endpoint, &Config::new().slot_size(512)).expect("create");
        match Sender::open_expecting(&place.endpoint, &Config::new().slot_size(1024)) {
            Err(AttachError::GeometryMismatch { expected, found, .. }) => {
                assert!(expected.contains("1024") && found.contains("512"), "{expected} / {found}");
            }
            other => panic!("{kind:?}: open_expecting a 1024-byte slot on a 512-byte one: {:?}", other.map(drop)),
        }
        let tx = Sender::open_expecting(&place.endpoint, &Config::new().slot_size(512)).expect("the right slot size");
        assert_eq!(tx.slot_size(), 512);
    }
}

#[test]
fn a_fifo_takes_one_sender_at_a_time() {
    let (place, mut tx, mut rx) = pair(Kind::Fifo, "one-sender");
    match Sender::open(&place.endpoint) {
        Err(AttachError::Unsupported { endpoint, what }) => {
            assert!(endpoint.contains(place.file().to_str().unwrap()), "{endpoint}");
            assert!(what.contains("second sender"), "{what}");
        }
        other => panic!("a second sender on a FIFO: {:?}", other.map(drop)),
    }
    assert!(matches!(tx.try_clone(), Err(AttachError::Unsupported { .. })), "Sender::try_clone on a FIFO");
    // The refused second sender did not disturb the first.
    tx.send(b"first sender").expect("send");
    assert_eq!(&*rx.recv_timeout(LONG).expect("recv"), b"first sender");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty));
}

#[test]
fn a_unix_socket_takes_many_senders() {
    const SENDERS: u64 = 4;
    const EACH: u64 = 500;
    let (place, tx, mut rx) = pair(Kind::Unix, "many");
    let mut senders = vec![tx.try_clone().expect("try_clone")];
    senders.push(tx);
    while senders.len() < SENDERS as usize {
        senders.push(Sender::open(&place.endpoint).expect("another sender"));
    }
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(id, tx)| {
            on_thread(tx, move |tx| {
                for seq in 0..EACH {
                    let mut m = message(seq, 32);
                    m[8] = id as u8;
                    tx.send(&m).unwrap_or_else(|e| panic!("sender {id}: send {seq}: {e}"));
                }
            })
        })
        .collect();
    let mut next = [0u64; SENDERS as usize];
    for _ in 0..SENDERS * EACH {
        let got = rx.recv_timeout(LONG).expect("recv");
        let id = got[8] as usize;
        let mut expected = message(next[id], 32);
        expected[8] = id as u8;
        assert_eq!(&*got, &expected[..], "sender {id}'s message {}", next[id]);
        next[id] += 1;
    }
    assert_eq!(next, [EACH; SENDERS as usize]);
    for t in threads {
        drop(t.join().expect("a sending thread"));
    }
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected));
}

// ---------------------------------------------------------------------------------------
// Stale endpoints, hostile peers.
// ---------------------------------------------------------------------------------------

/// A child process running one `child_*` test, its output collected in the background.
/// Dropped unfinished (a failing test), it is killed and reaped.
struct ChildProcess {
    child: Child,
    ready: mpsc::Receiver<()>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    status: Option<ExitStatus>,
}

impl ChildProcess {
    fn spawn(mut command: Command) -> Self {
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        let out = child.stdout.take().expect("the child's stdout");
        let mut err = child.stderr.take().expect("the child's stderr");
        let (ready_tx, ready) = mpsc::channel();
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains(CHILD_READY) {
                    let _ = ready_tx.send(());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Self { child, ready, stdout: Some(stdout), stderr: Some(stderr), status: None }
    }

    fn wait_ready(&mut self) {
        if self.ready.recv_timeout(CHILD_START).is_err() {
            self.kill();
            panic!("the child did not get ready:\n{}", self.finish());
        }
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = Some(self.child.wait().expect("reap the child"));
        }
    }

    /// Waits for the child to exit; returns a description of how it went.
    fn finish(&mut self) -> String {
        let status = match self.status {
            Some(status) => status,
            None => *self.status.insert(self.child.wait().expect("wait for the child")),
        };
        let join = |h: Option<JoinHandle<String>>| h.map(|h| h.join().expect("an output reader")).unwrap_or_default();
        let (out, err) = (join(self.stdout.take()), join(self.stderr.take()));
        format!("child exited with {status}\n--- child stdout ---\n{out}\n--- child stderr ---\n{err}")
    }

    /// Waits for the child and asserts that it succeeded and did its work.
    fn assert_done(mut self) {
        let report = self.finish();
        let status = self.status.expect("finished");
        assert!(status.success() && report.contains(CHILD_DONE), "the child failed:\n{report}");
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// This test binary, to run the child test `test` with `vars` set.
fn child(test: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env::current_exe().expect("the test binary's path"));
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

/// A receiver killed with SIGKILL leaves its socket or FIFO behind; a new receiver
/// replaces it, and senders reach the new one.
fn stale_endpoint_is_replaced(kind: Kind) {
    let place = Place::new(kind, "stale");
    let file = place.file();
    let mut holder = ChildProcess::spawn(child("child_hold_receiver", &[(HOLD_ENV, &place.endpoint)]));
    holder.wait_ready();
    // While the child lives, its endpoint is taken.
    assert!(
        matches!(Receiver::create(&place.endpoint, &Config::new()), Err(AttachError::AlreadyExists { .. })),
        "{kind:?}: a live receiver's endpoint must be refused"
    );
    holder.kill();
    let meta = fs::symlink_metadata(&file).expect("the killed receiver's file is left behind");
    assert!(if kind == Kind::Unix { meta.file_type().is_socket() } else { meta.file_type().is_fifo() });
    assert!(description_path(&file).exists(), "and its description file");
    // Nobody reads the stale endpoint: a sender cannot reach anyone through it.
    assert!(Sender::open(&place.endpoint).is_err(), "{kind:?}: a sender opened a dead receiver's endpoint");

    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(300))
        .unwrap_or_else(|e| panic!("{kind:?}: create over a stale endpoint: {e}"));
    let mut tx = Sender::open(&place.endpoint).expect("open the new receiver");
    assert_eq!(tx.slot_size(), 300, "{kind:?}: the new receiver's description replaced the old one");
    tx.send(b"to the new receiver").expect("send");
    assert_eq!(&*rx.recv_timeout(LONG).expect("recv"), b"to the new receiver");
    drop((tx, rx));
    assert!(!file.exists() && !description_path(&file).exists(), "{kind:?}: the new receiver cleaned up");
}

conformance!(stale_endpoint_is_replaced: unix => Unix, fifo => Fifo);

/// `HOLD_ENV=<endpoint>`: create a receiver there, say so, and sleep until killed.
#[test]
fn child_hold_receiver() {
    let Ok(endpoint) = env::var(HOLD_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let _rx = Receiver::create(&endpoint, &Config::new()).unwrap_or_else(|e| panic!("child: create: {e}"));
    println!("{CHILD_READY}");
    thread::sleep(CHILD_WATCHDOG);
}

/// A frame as the wire carries it: a little-endian `u32` length, then the payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// Asserts that the next receive fails with `Corrupt`, promptly.
#[track_caller]
fn assert_corrupt_promptly(rx: &mut Receiver, what: &str) {
    let started = Instant::now();
    match rx.recv_timeout(LONG).map(|m| m.len()) {
        Err(RecvError::Corrupt { reason }) => assert!(reason.contains("length"), "{what}: {reason}"),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{what}: Corrupt took {:?}", started.elapsed());
}

#[test]
fn a_hostile_length_prefix_on_a_socket_is_corrupt_and_cut_off() {
    const SMALL: usize = 1000;
    let place = Place::new(Kind::Unix, "hostile");
    let path = place.file();
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(SMALL)).expect("create");
    let mut tx = Sender::open(&place.endpoint).expect("a well-behaved sender");

    // A raw client that speaks the wire format is heard: the checks below are about
    // the length, not about a foreign client.
    let mut raw = UnixStream::connect(&path).expect("connect");
    raw.write_all(&frame(&message(1, SMALL))).expect("write a well-formed frame");
    assert_message(1, SMALL, &rx.recv_timeout(LONG).expect("the raw client's frame"));

    // One byte over the slot size, then lengths that would allocate gigabytes.
    for (i, prefix) in [SMALL as u32 + 1, u32::MAX - 1, 0xFFFF_FFF0, 0x7FFF_FFFF].into_iter().enumerate() {
        let mut raw = UnixStream::connect(&path).expect("connect");
        raw.write_all(&prefix.to_le_bytes()).expect("write the prefix");
        raw.write_all(&[0xA5; 64]).expect("write garbage");
        assert_corrupt_promptly(&mut rx, &format!("prefix {prefix:#x}"));
        // The hostile sender is cut off; the others go on.
        tx.send(&message(i as u64, 10)).expect("the well-behaved sender sends");
        assert_message(i as u64, 10, &rx.recv_timeout(LONG).expect("the well-behaved sender's message"));
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Empty), "nothing from the hostile sender");
        let mut buf = [0u8; 1];
        raw.set_read_timeout(Some(LONG)).expect("set a read timeout");
        assert_eq!(raw.read(&mut buf).expect("read from the cut-off connection"), 0, "the receiver closed it");
    }
    drop(raw);
}

/// A FIFO writer that says hello, then sends a hostile length.
fn hostile_fifo(prefix: u32) {
    const SMALL: usize = 1000;
    let place = Place::new(Kind::Fifo, "hostile");
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(SMALL)).expect("create");
    let mut raw = fs::OpenOptions::new().write(true).open(place.file()).expect("open the FIFO for writing");
    // The hello (a length of u32::MAX) tells the receiver a writer is there.
    raw.write_all(&u32::MAX.to_le_bytes()).expect("hello");
    raw.write_all(&frame(&message(1, SMALL))).expect("write a well-formed frame");
    assert_message(1, SMALL, &rx.recv_timeout(LONG).expect("the raw writer's frame"));
    raw.write_all(&prefix.to_le_bytes()).expect("write the prefix");
    raw.write_all(&[0xA5; 64]).expect("write garbage");
    assert_corrupt_promptly(&mut rx, &format!("prefix {prefix:#x}"));
    // Reported once, the bad frame and its garbage are dropped, never passed off as a
    // message (and the FIFO is not wedged: `tests/hostile_framing.rs`); the writer's
    // leaving is then seen.
    drop(raw);
    let next = rx.recv_timeout(LONG).map(|m| m.len());
    assert_eq!(next, Err(RecvError::Disconnected), "prefix {prefix:#x}: after the bad frame");
}

#[test]
fn a_hostile_length_prefix_on_a_fifo_is_corrupt() {
    hostile_fifo(1001);
    hostile_fifo(0x7FFF_FFFF);
    hostile_fifo(u32::MAX - 1);
}

// ---------------------------------------------------------------------------------------
// Sockets and FIFOs: what a stray or dead peer must not do to a receiver.
// ---------------------------------------------------------------------------------------

/// A second `Receiver::create` on a live endpoint is refused, and the first receiver,
/// still waiting for its first sender, is not told its sender has gone.
fn a_refused_second_receiver_leaves_the_first_waiting(kind: Kind) {
    let place = Place::new(kind, "second-rx");
    let mut rx = Receiver::create(&place.endpoint, &Config::new()).expect("create");
    assert!(matches!(Receiver::create(&place.endpoint, &Config::new()), Err(AttachError::AlreadyExists { .. })));
    assert_eq!(
        rx.recv_timeout(SHORT).map(|m| m.len()),
        Err(RecvError::Timeout),
        "{kind:?}: no sender has come yet, so none has gone"
    );
    let mut tx = Sender::open(&place.endpoint).expect("open");
    tx.send(b"first sender").expect("send");
    assert_eq!(&*rx.recv_timeout(LONG).expect("recv"), b"first sender");
}

conformance!(a_refused_second_receiver_leaves_the_first_waiting:
    unix => Unix,
    fifo => Fifo,
);

/// `Receiver::create` on a path that holds a regular file refuses, saying what is there,
/// and leaves the file.
fn a_receiver_never_replaces_a_regular_file(kind: Kind) {
    let place = Place::new(kind, "regular");
    let file = place.file();
    fs::write(&file, b"precious").expect("write a regular file");
    match Receiver::create(&place.endpoint, &Config::new()) {
        Err(AttachError::Unexpected { found, .. }) if found == "a regular file" => {}
        other => panic!("{kind:?}: create over a regular file: {:?}", other.map(drop)),
    }
    assert_eq!(fs::read(&file).ok().as_deref(), Some(&b"precious"[..]), "{kind:?}: the file was replaced");
}

conformance!(a_receiver_never_replaces_a_regular_file:
    unix => Unix,
    fifo => Fifo,
);

/// A sender that dies in the middle of a frame: its receiver reports it gone, and the
/// next sender's messages arrive intact, never stitched to the dead one's partial frame.
fn a_dead_senders_partial_frame_is_discarded(kind: Kind) {
    let place = Place::new(kind, "torn");
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(1000)).expect("create");
    let partial = {
        let mut bytes = frame(&message(1, 100));
        bytes.truncate(4 + 40);
        bytes
    };
    if kind == Kind::Unix {
        let mut raw = UnixStream::connect(place.file()).expect("connect");
        raw.write_all(&u32::MAX.to_le_bytes()).expect("hello");
        raw.write_all(&partial).expect("write a partial frame");
    } else {
        let mut raw = fs::OpenOptions::new().write(true).open(place.file()).expect("open the FIFO");
        raw.write_all(&u32::MAX.to_le_bytes()).expect("hello");
        raw.write_all(&partial).expect("write a partial frame");
    }
    // The raw writer has closed: gone, with nothing whole to deliver.
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: the dead sender");
    let mut tx = Sender::open(&place.endpoint).expect("a new sender");
    for seq in 10..20 {
        tx.send(&message(seq, 30)).expect("send");
    }
    for seq in 10..20 {
        let got = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("{kind:?}: the new sender's message {seq}: {e:?}"));
        assert_message(seq, 30, &got);
    }
}

conformance!(a_dead_senders_partial_frame_is_discarded:
    unix => Unix,
    fifo => Fifo,
);

/// This thread's CPU time so far.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A FIFO receiver waiting for its first sender sleeps, even after some other process
/// opened the FIFO for writing and closed it without a word (here a refused second
/// receiver's liveness probe; a stray `echo > fifo` does the same).
#[test]
fn a_waiting_fifo_receiver_sleeps_after_a_stray_writer() {
    let place = Place::new(Kind::Fifo, "spin");
    let mut rx = Receiver::create(&place.endpoint, &Config::new()).expect("create");
    drop(fs::OpenOptions::new().write(true).open(place.file()).expect("a stray writer"));
    let wait = Duration::from_secs(1);
    let cpu = thread_cpu_time();
    assert_eq!(rx.recv_timeout(wait).map(|m| m.len()), Err(RecvError::Timeout));
    let spent = thread_cpu_time() - cpu;
    assert!(spent < wait / 10, "waiting {wait:?} for a message used {spent:?} of CPU");
}

/// With several senders on a socket, a kept message is the one the next receive returns.
#[test]
fn keep_with_several_unix_senders_returns_the_kept_message() {
    let (place, mut a, mut rx) = pair(Kind::Unix, "keep-many");
    let mut b = Sender::open(&place.endpoint).expect("a second sender");
    a.send(b"from a").expect("send");
    b.send(b"from b").expect("send");
    let guard = rx.recv_timeout(LONG).expect("the first message");
    let first = guard.to_vec();
    guard.keep().expect("keep on a socket");
    assert_eq!(rx.recv_timeout(LONG).expect("the kept message").to_vec(), first, "keep: the next receive");
}

/// After the sender has left, `try_recv` says `Disconnected` on every transport, as
/// `recv_timeout` does (on shared memory it looks at the senders once the ring is empty).
#[test]
fn try_recv_after_the_sender_left_says_disconnected() {
    for kind in [Kind::ShmSpsc, Kind::ShmMpmc, Kind::Unix, Kind::Fifo] {
        let (_place, tx, mut rx) = pair(kind, "try-gone");
        drop(tx);
        assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected));
        assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Modes.
// ---------------------------------------------------------------------------------------

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

/// Runs `child_check_modes` under `umask`.
fn run_modes_child(umask: &str) {
    run_umask_child("child_check_modes", umask);
}

/// Runs the child test `test` under `umask`, with a directory of its own.
fn run_umask_child(test: &str, umask: &str) {
    let place = Place::dir("modes");
    let dir = place.dir.as_ref().expect("a directory").to_str().expect("a UTF-8 path").to_owned();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env::current_exe().expect("the test binary's path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(MODES_ENV, &dir)
        .env(MODES_UMASK_ENV, umask);
    ChildProcess::spawn(command).assert_done();
    assert_eq!(fs::read_dir(&dir).expect("read the directory").count(), 0, "the child's endpoints outlived it");
}

#[test]
fn socket_and_fifo_files_are_0600_under_umask_000() {
    run_modes_child("000");
}

#[test]
fn socket_and_fifo_modes_are_exact_under_umask_077() {
    run_modes_child("077");
}

/// `MODES_ENV=<dir>`: under the umask `MODES_UMASK_ENV`, the default mode gives 0600
/// and an explicit 0640 gives 0640, on the socket or FIFO and on the description file.
#[test]
fn child_check_modes() {
    let Ok(dir) = env::var(MODES_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let umask = env::var(MODES_UMASK_ENV).expect("child: the umask");
    let status = fs::read_to_string("/proc/self/status").expect("child: /proc/self/status");
    let actual = status.lines().find_map(|l| l.strip_prefix("Umask:")).expect("child: Umask").trim().to_owned();
    // The umask really is the one asked for (else the test proves nothing).
    assert_eq!(u32::from_str_radix(&actual, 8), u32::from_str_radix(&umask, 8), "child: umask");
    for transport in ["unix", "fifo"] {
        for (request, expect) in [(None, 0o600), (Some(0o640), 0o640)] {
            let path = Path::new(&dir).join(format!("{transport}-{expect:o}"));
            let config = request.map_or_else(Config::new, |mode| Config::new().mode(mode));
            let rx = Receiver::create(&format!("{transport}:{}", path.display()), &config)
                .unwrap_or_else(|e| panic!("child: create {transport}: {e}"));
            assert_eq!(mode_of(&path), expect, "child: {transport} under umask {umask}: {:o}", mode_of(&path));
            let description = description_path(&path);
            assert_eq!(mode_of(&description), expect, "child: {transport}'s description: {:o}", mode_of(&description));
            drop(rx);
        }
    }
    println!("{CHILD_DONE}");
}

/// Under umask 000 a socket must never be connectable by others, not even between its
/// creation and the `chmod` that sets its mode.
#[test]
fn a_new_socket_is_never_open_to_others_under_umask_000() {
    run_umask_child("child_watch_socket_mode", "000");
}

/// `MODES_ENV=<dir>`: creates and drops sockets in `<dir>` for up to two seconds while
/// another thread watches the socket file's mode; no mode may give others access.
#[test]
fn child_watch_socket_mode() {
    let Ok(dir) = env::var(MODES_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let path = Path::new(&dir).join("watched");
    #[allow(clippy::disallowed_types, reason = "test-harness flag; loom models the library, not its tests")]
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (path, stop) = (path.clone(), stop.clone());
        thread::spawn(move || {
            let (mut modes, mut looks) = (0u32, 0u64);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(meta) = fs::symlink_metadata(&path) {
                    modes |= meta.permissions().mode() & 0o777;
                    looks += 1;
                    if modes & 0o077 != 0 {
                        break;
                    }
                }
            }
            (modes, looks)
        })
    };
    let started = Instant::now();
    let mut created = 0;
    while started.elapsed() < Duration::from_secs(2) && !watcher.is_finished() {
        drop(Receiver::create(&format!("unix:{}", path.display()), &Config::new()).expect("child: create"));
        created += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (modes, looks) = watcher.join().expect("child: the watcher");
    assert!(looks > 0, "child: the watcher never saw the socket ({created} created)");
    assert_eq!(modes & 0o077, 0, "child: the socket was {modes:o} at some point ({created} created, {looks} looks)");
    println!("{CHILD_DONE}");
}

// ---------------------------------------------------------------------------------------
// auto:
// ---------------------------------------------------------------------------------------

#[test]
fn auto_uses_shared_memory_where_it_can() {
    assert!(env::var_os("FERRY_DISABLE_SHM").is_none(), "this test process must have shared memory enabled");
    let name = unique("auto-shm");
    let place = Place { endpoint: format!("auto:{name}"), dir: None, shm: Some(name.clone()) };
    let mut rx = Receiver::create(&place.endpoint, &Config::new().slot_size(128).capacity(8)).expect("create");
    assert_eq!(rx.fallback_reason(), None);
    assert_eq!(rx.capacity(), 8, "a ring");
    assert!(shm_path(&name).exists(), "the segment should exist");
    let mut tx = Sender::open(&place.endpoint).expect("open");
    assert_eq!((tx.fallback_reason(), tx.capacity()), (None, 8));
    // And the same channel answers to shm:.
    assert!(matches!(Sender::open(&format!("shm:{name}")), Err(AttachError::RoleTaken { .. })));
    tx.send(b"over shm").expect("send");
    assert_eq!(&*rx.recv_timeout(LONG).expect("recv"), b"over shm");
    drop((tx, rx));
    assert!(!shm_path(&name).exists());
}

/// Runs `child_auto_fallback` with shared memory disabled and `runtime_dir` as
/// `XDG_RUNTIME_DIR` (unset if `None`); the socket must be at `socket`.
fn run_auto_child(name: &str, runtime_dir: Option<&Path>, socket: &Path) {
    let socket = socket.to_str().expect("a UTF-8 path");
    let mut command = child("child_auto_fallback", &[(AUTO_ENV, name), (AUTO_SOCKET_ENV, socket)]);
    command.env("FERRY_DISABLE_SHM", "1");
    match runtime_dir {
        Some(dir) => command.env("XDG_RUNTIME_DIR", dir),
        None => command.env_remove("XDG_RUNTIME_DIR"),
    };
    ChildProcess::spawn(command).assert_done();
    assert!(!Path::new(socket).exists(), "the fallback socket outlived its receiver");
    assert!(!shm_path(name).exists(), "a segment was created with shared memory disabled");
}

#[test]
fn auto_falls_back_to_a_socket_in_the_runtime_dir() {
    let place = Place::dir("auto-xdg");
    let name = unique("auto-xdg");
    let dir = place.dir.clone().expect("a directory");
    run_auto_child(&name, Some(&dir), &dir.join(format!("ferry.{name}.sock")));
}

/// Without a runtime directory the socket goes into `/tmp/ferry-UID`, made private (0700).
#[test]
fn auto_falls_back_to_a_socket_in_a_private_tmp_dir_without_a_runtime_dir() {
    let name = unique("auto-tmp");
    let dir = PathBuf::from(format!("/tmp/ferry-{}", rustix::process::geteuid().as_raw()));
    let socket = dir.join(format!("ferry.{name}.sock"));
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
            let _ = fs::remove_file(description_path(&self.0));
        }
    }
    let _remove = Remove(socket.clone());
    run_auto_child(&name, None, &socket);
    let meta = fs::symlink_metadata(&dir).expect("the private directory");
    assert!(meta.file_type().is_dir() && meta.permissions().mode() & 0o777 == 0o700, "{}: {meta:?}", dir.display());
}

/// `AUTO_ENV=<name>`, with `FERRY_DISABLE_SHM=1`: `auto:<name>` falls back to the socket
/// `AUTO_SOCKET_ENV` on both sides, says why, and carries messages.
#[test]
fn child_auto_fallback() {
    let Ok(name) = env::var(AUTO_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let socket = PathBuf::from(env::var(AUTO_SOCKET_ENV).expect("child: the socket path"));
    let endpoint = format!("auto:{name}");
    // Shared memory really is off in here.
    match Receiver::create(&format!("shm:{name}"), &Config::new()) {
        Err(AttachError::Unsupported { what, .. }) => assert!(what.contains("FERRY_DISABLE_SHM"), "child: {what}"),
        other => panic!("child: shm: with FERRY_DISABLE_SHM=1: {:?}", other.map(drop)),
    }

    let mut rx = Receiver::create(&endpoint, &Config::new().slot_size(512).capacity(8))
        .unwrap_or_else(|e| panic!("child: create {endpoint}: {e}"));
    let reason = rx.fallback_reason().expect("child: the receiver should say it fell back");
    assert!(reason.contains("FERRY_DISABLE_SHM"), "child: the receiver's reason: {reason}");
    assert_eq!(rx.capacity(), 0, "child: a socket has no ring");
    let meta = fs::symlink_metadata(&socket).unwrap_or_else(|e| panic!("child: {}: {e}", socket.display()));
    assert!(meta.file_type().is_socket(), "child: {} is not a socket", socket.display());

    let tx = Sender::open(&endpoint).unwrap_or_else(|e| panic!("child: open {endpoint}: {e}"));
    let reason = tx.fallback_reason().expect("child: the sender should say it fell back");
    assert!(reason.contains("FERRY_DISABLE_SHM"), "child: the sender's reason: {reason}");
    assert_eq!((tx.slot_size(), tx.capacity()), (512, 0), "child: the sender's geometry");
    let second = tx.try_clone().expect("child: a second sender on the fallback socket");
    assert!(second.fallback_reason().is_some_and(|r| r.contains("FERRY_DISABLE_SHM")), "child: the clone's reason");
    drop(second);

    let sender = on_thread(tx, |tx| {
        for seq in 0..1000 {
            tx.send(&message(seq, message_len(seq, 512))).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
        }
    });
    for seq in 0..1000 {
        let got = rx.recv_timeout(LONG).unwrap_or_else(|e| panic!("child: message {seq}: {e:?}"));
        assert_message(seq, message_len(seq, 512), &got);
    }
    drop(sender.join().expect("child: the sending thread"));
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "child: after the last");
    drop(rx);
    assert!(!socket.exists(), "child: the socket outlived its receiver");
    println!("{CHILD_DONE}");
}

/// Request and reply with messages larger than a pipe's or socket's buffer: a blocking
/// send must have its whole message out before it returns, or the echo never answers.
#[test]
fn request_reply_with_messages_larger_than_the_kernel_buffer() {
    for kind in [Kind::ShmSpsc, Kind::ShmMpmc, Kind::Unix, Kind::Fifo] {
        let config = Config::new().slot_size(BIG_SLOT).capacity(CAPACITY);
        let (_requests, mut ask, mut serve) = pair_with(kind, "request", config);
        let (_replies, mut answer, mut hear) = pair_with(kind, "reply", config);
        let echo = std::thread::spawn(move || {
            while let Ok(request) = serve.recv_timeout(LONG) {
                answer.send_timeout(&request, LONG).expect("reply");
            }
        });
        for seq in 0..20 {
            let m = message(seq, BIG_SLOT - seq as usize);
            ask.send(&m).unwrap_or_else(|e| panic!("{kind:?}: request {seq}: {e}"));
            let reply = hear.recv_timeout(LONG).unwrap_or_else(|e| panic!("{kind:?}: reply {seq}: {e:?}"));
            assert_message(seq, m.len(), &reply);
        }
        drop(ask);
        echo.join().expect("the echo thread");
    }
}
