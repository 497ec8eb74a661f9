//! The channel behaves as the channels Rust users know (crossbeam-channel's bounded
//! channel, `std::sync::mpsc::sync_channel`): disconnection seen by every call on every
//! transport, errors that work with `?`, start-up in any order with `open_timeout`,
//! `len`/`is_empty`/`is_full`, iterators, and the typed `try_`/`_timeout` forms.
//!
//! Each case is a function taking a [`Kind`]; the `semantics!` macro generates one
//! `#[test]` per (case, transport), named `case::transport`, as `tests/conformance.rs`
//! does. The cases where the peer is killed instead of dropped re-execute this test
//! binary: `child_peer` (a no-op without `PEER_ENV`) plays the other side.

use std::{
    env, fs,
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{self, Child, Command, Stdio},
    sync::atomic::Ordering,
    thread,
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{bell_paths, shm_path, start_watchdog};

/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(30);
/// How soon a departure must be noticed: generous, for a loaded two-core machine.
const NOTICE: Duration = Duration::from_secs(5);
/// Slots of a shared-memory ring.
const CAPACITY: usize = 8;
/// How long the late creator waits before creating the channel.
const LATE: Duration = Duration::from_millis(200);
/// `<mode>:<endpoint>` for `child_peer`.
const PEER_ENV: &str = "FERRY_SEMANTICS_PEER";
/// Printed by `child_peer` once it has done its part and waits to be killed.
const READY: &str = "FERRY-SEMANTICS-READY";

// ---------------------------------------------------------------------------------------
// Transports and places.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ShmSpsc,
    ShmMpmc,
    Unix,
    Fifo,
}

impl Kind {
    fn is_stream(self) -> bool {
        matches!(self, Self::Unix | Self::Fifo)
    }

    fn config(self) -> Config {
        let config = Config::new().slot_size(64).capacity(CAPACITY);
        match self {
            Self::ShmMpmc => config.kind(RingKind::Mpmc),
            _ => config,
        }
    }
}

/// Where a channel lives; removes what is left of it when dropped.
struct Place {
    endpoint: String,
    dir: Option<PathBuf>,
    shm: Option<String>,
}

impl Place {
    fn new(kind: Kind, tag: &str) -> Self {
        #[allow(clippy::disallowed_types, reason = "test-harness counter; loom models the library, not its tests")]
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let unique = format!("sem-{tag}-{}-{}", process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = || {
            let dir = env::temp_dir().join(format!("ferry-{unique}"));
            fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("make the directory private");
            dir
        };
        match kind {
            Kind::ShmSpsc | Kind::ShmMpmc => Self { endpoint: format!("shm:{unique}"), dir: None, shm: Some(unique) },
            Kind::Unix => {
                let dir = dir();
                Self { endpoint: format!("unix:{}", dir.join("sock").display()), dir: Some(dir), shm: None }
            }
            Kind::Fifo => {
                let dir = dir();
                Self { endpoint: format!("fifo:{}", dir.join("fifo").display()), dir: Some(dir), shm: None }
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
        if let Some(name) = &self.shm {
            let _ = fs::remove_file(shm_path(name));
            // A killed creator left its doorbell FIFOs too.
            for bell in bell_paths(name) {
                let _ = fs::remove_file(bell);
            }
        }
    }
}

/// A receiver created on `kind` and a sender opened on it.
fn pair(kind: Kind, tag: &str) -> (Place, Sender, Receiver) {
    let place = Place::new(kind, tag);
    let rx = Receiver::create(&place.endpoint, &kind.config())
        .unwrap_or_else(|e| panic!("create a receiver on {}: {e}", place.endpoint));
    let tx = Sender::open(&place.endpoint).unwrap_or_else(|e| panic!("open a sender on {}: {e}", place.endpoint));
    (place, tx, rx)
}

/// `semantics!(case, ...)` runs `case(kind)` for every transport; `semantics!(case:
/// test => Kind, ...)` lists the transports by hand.
macro_rules! semantics {
    ($($case:ident),+ $(,)?) => {
        $(semantics!($case: shm_spsc => ShmSpsc, shm_mpmc => ShmMpmc, unix => Unix, fifo => Fifo);)+
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

semantics!(
    a_dropped_receiver_fails_every_send_at_once,
    a_dropped_sender_is_seen_after_its_messages_by_every_receive,
    iter_ends_at_disconnect,
    try_iter_takes_what_is_there,
    is_disconnected_asks_without_consuming,
    try_clone_of_a_sender_after_the_receiver_left_is_disconnected,
    open_timeout_waits_for_a_late_creator,
    open_timeout_times_out_naming_the_endpoint,
    typed_try_and_timeout_forms,
);

// Killed peers: whoever sees the death (a blocking call's liveness check, or the rate-
// limited look of the `try_` calls) records it in the role word, so every later call
// reports it.
semantics!(a_killed_receiver_fails_the_sender:
    shm_spsc => ShmSpsc,
    shm_mpmc => ShmMpmc,
    unix => Unix,
    fifo => Fifo,
);
semantics!(a_killed_sender_is_seen_after_its_messages:
    shm_spsc => ShmSpsc,
    shm_mpmc => ShmMpmc,
    unix => Unix,
    fifo => Fifo,
);

semantics!(len_is_empty_is_full: shm_spsc => ShmSpsc, shm_mpmc => ShmMpmc);
semantics!(streams_do_not_count: unix => Unix, fifo => Fifo);

// ---------------------------------------------------------------------------------------
// Disconnection.
// ---------------------------------------------------------------------------------------

/// crossbeam: "If the channel is disconnected, this call will fail, returning the
/// message back". With room in the channel, every send, typed send and loan says so.
fn a_dropped_receiver_fails_every_send_at_once(kind: Kind) {
    let (_place, mut tx, rx) = pair(kind, "rx-gone");
    tx.send(b"before").expect("send while the receiver is there");
    drop(rx);
    let started = Instant::now();
    assert!(matches!(tx.send(b"x"), Err(SendError::Disconnected(()))), "{kind:?}: send");
    assert!(started.elapsed() < NOTICE, "{kind:?}: send took {:?}", started.elapsed());
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Disconnected(()))), "{kind:?}: try_send");
    assert!(matches!(tx.send_timeout(b"x", LONG), Err(SendError::Disconnected(()))), "{kind:?}: send_timeout");
    assert!(matches!(tx.loan(), Err(SendError::Disconnected(()))), "{kind:?}: loan");
    assert!(matches!(tx.try_loan(), Err(SendError::Disconnected(()))), "{kind:?}: try_loan");
    assert!(matches!(tx.batch().try_send(b"x"), Err(SendError::Disconnected(()))), "{kind:?}: batch try_send");
    match tx.send_value(0xfeed_u64) {
        Err(SendError::Disconnected(back)) => assert_eq!(back, 0xfeed, "{kind:?}: the value comes back"),
        other => panic!("{kind:?}: send_value after the receiver left: {other:?}"),
    }
    match tx.try_send_value([1u8, 2, 3]) {
        Err(e) if e.is_disconnected() => assert_eq!(e.into_inner(), [1, 2, 3], "{kind:?}"),
        other => panic!("{kind:?}: try_send_value after the receiver left: {other:?}"),
    }
    let started = Instant::now();
    match tx.send_value_timeout(7u32, LONG) {
        Err(SendError::Disconnected(7)) => {}
        other => panic!("{kind:?}: send_value_timeout after the receiver left: {other:?}"),
    }
    assert!(started.elapsed() < NOTICE, "{kind:?}: send_value_timeout waited {:?}", started.elapsed());
    assert!(tx.is_disconnected(), "{kind:?}: is_disconnected");
}

/// crossbeam: "If the channel is empty and disconnected, this call will fail" — and not
/// before: every message sent before the drop is received first, by every receive call.
fn a_dropped_sender_is_seen_after_its_messages_by_every_receive(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "tx-gone");
    for m in [b"one", b"two", b"six"] {
        tx.send(m).expect("send");
    }
    drop(tx);
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < 3 && started.elapsed() < NOTICE {
        match rx.try_recv() {
            Ok(m) => got.push(m.to_vec()),
            // A socket's or pipe's bytes may still be on their way.
            Err(RecvError::Empty) => thread::yield_now(),
            Err(e) => panic!("{kind:?}: try_recv {} of 3: {e:?}", got.len()),
        }
    }
    assert_eq!(got, [b"one", b"two", b"six"], "{kind:?}: the 3 messages, in order");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: try_recv");
    assert_eq!(rx.try_recv_into(&mut [0; 64]), Err(RecvError::Disconnected), "{kind:?}: try_recv_into");
    assert_eq!(rx.batch().try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: batch");
    assert_eq!(rx.try_recv_value::<u32>(), Err(RecvError::Disconnected), "{kind:?}: try_recv_value");
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: recv_timeout");
    assert_eq!(rx.recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: recv");
    assert!(started.elapsed() < NOTICE, "{kind:?}: took {:?}", started.elapsed());
}

/// crossbeam: `iter` "will block waiting for messages, but never return `None`" until
/// the channel is disconnected.
fn iter_ends_at_disconnect(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "iter");
    let sender = thread::spawn(move || {
        for i in 0..20u8 {
            tx.send(&[i; 3]).expect("send");
            if i % 7 == 0 {
                thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let started = Instant::now();
    let all: Vec<Vec<u8>> = rx.iter().collect();
    sender.join().expect("the sending thread");
    assert_eq!(all, (0..20u8).map(|i| vec![i; 3]).collect::<Vec<_>>(), "{kind:?}");
    assert!(started.elapsed() < NOTICE, "{kind:?}: iter took {:?} to end", started.elapsed());
    assert_eq!(rx.iter().next(), None, "{kind:?}: ended for good");
}

/// crossbeam: `try_iter` "will never block waiting for new messages" and ends when the
/// channel is empty (or disconnected).
fn try_iter_takes_what_is_there(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "try-iter");
    for i in 0..3u8 {
        tx.send(&[i]).expect("send");
    }
    let mut got = Vec::new();
    let started = Instant::now();
    while got.len() < 3 && started.elapsed() < NOTICE {
        got.extend(rx.try_iter());
    }
    assert_eq!(got, [[0], [1], [2]], "{kind:?}");
    let started = Instant::now();
    assert_eq!(rx.try_iter().next(), None, "{kind:?}: empty, the sender still there");
    assert!(started.elapsed() < Duration::from_secs(1), "{kind:?}: try_iter waited");
    tx.send(b"late").expect("send");
    drop(tx);
    let mut rest: Vec<Vec<u8>> = Vec::new();
    while rest.is_empty() && started.elapsed() < NOTICE {
        rest.extend(rx.try_iter());
    }
    assert_eq!(rest, [b"late"], "{kind:?}");
    assert_eq!(rx.try_iter().next(), None, "{kind:?}: disconnected");
}

/// `is_disconnected` on both sides, without consuming a message.
fn is_disconnected_asks_without_consuming(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "is-disc");
    assert!(!tx.is_disconnected() && !rx.is_disconnected(), "{kind:?}: both there");
    tx.send(b"kept").expect("send");
    drop(tx);
    let started = Instant::now();
    while !rx.is_disconnected() {
        assert!(started.elapsed() < NOTICE, "{kind:?}: the sender's drop never showed");
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message is still there"), b"kept", "{kind:?}");
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}");

    let (_place, tx, rx) = pair(kind, "is-disc-rx");
    drop(rx);
    assert!(tx.is_disconnected(), "{kind:?}: the receiver's drop shows at once");
}

/// A sender cannot be cloned onto a channel whose receiver has gone: `Disconnected`,
/// naming the endpoint, on every transport (on `unix:` it was `NotFound`).
fn try_clone_of_a_sender_after_the_receiver_left_is_disconnected(kind: Kind) {
    let (place, tx, rx) = pair(kind, "clone-gone");
    drop(rx);
    match tx.try_clone() {
        Err(e @ AttachError::Disconnected { .. }) => {
            assert!(e.to_string().contains(&place.endpoint), "{kind:?}: {e}");
        }
        other => panic!("{kind:?}: try_clone after the receiver left: {:?}", other.map(|_| ())),
    }
}

// ---------------------------------------------------------------------------------------
// Start-up order.
// ---------------------------------------------------------------------------------------

/// Started first, `open_timeout` waits for the creator that comes `LATE`.
fn open_timeout_waits_for_a_late_creator(kind: Kind) {
    let place = Place::new(kind, "late");
    let endpoint = place.endpoint.clone();
    let creator = thread::spawn(move || {
        thread::sleep(LATE);
        let mut rx = Receiver::create(&endpoint, &kind.config()).expect("the late creator");
        let got = rx.recv_timeout(LONG).expect("a message from the early sender").to_vec();
        (rx, got)
    });
    let started = Instant::now();
    let mut tx = Sender::open_timeout(&place.endpoint, LONG)
        .unwrap_or_else(|e| panic!("{kind:?}: open_timeout with a late creator: {e}"));
    let waited = started.elapsed();
    assert!(waited >= LATE / 2, "{kind:?}: opened after {waited:?}, before the channel was created");
    assert!(waited < NOTICE + LATE, "{kind:?}: open_timeout took {waited:?}");
    tx.send(b"early bird").expect("send");
    let (_rx, got) = creator.join().expect("the creating thread");
    assert_eq!(got, b"early bird", "{kind:?}");
}

/// With nobody creating the channel, `open_timeout` gives up on time with an error that
/// names the endpoint.
fn open_timeout_times_out_naming_the_endpoint(kind: Kind) {
    let place = Place::new(kind, "never");
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = Sender::open_timeout(&place.endpoint, timeout).map(|_| ()).unwrap_err();
    let took = started.elapsed();
    match &err {
        AttachError::Timeout { endpoint, waited, last } => {
            assert_eq!(endpoint, &place.endpoint, "{kind:?}");
            assert!(*waited >= timeout, "{kind:?}: waited {waited:?}");
            assert!(matches!(**last, AttachError::NotFound { .. }), "{kind:?}: last error {last:?}");
        }
        other => panic!("{kind:?}: open_timeout with no creator: {other:?}"),
    }
    assert!(took >= timeout && took < timeout + NOTICE, "{kind:?}: a {timeout:?} open_timeout took {took:?}");
    let text = err.to_string();
    assert!(text.contains(&place.endpoint) && text.contains("did not appear"), "{kind:?}: {text}");
    assert!(std::error::Error::source(&err).is_some(), "{kind:?}: the last error is the source");
}

/// An error that waiting cannot cure returns at once, not at the deadline.
#[test]
fn open_timeout_returns_other_errors_at_once() {
    let started = Instant::now();
    let err = Sender::open_timeout("bogus:endpoint", LONG).map(|_| ()).unwrap_err();
    assert!(matches!(err, AttachError::InvalidEndpoint { .. }), "{err:?}");
    // A file under the name that is not a ferry segment.
    let place = Place::new(Kind::ShmSpsc, "not-ferry");
    let name = place.shm.as_deref().expect("a segment name");
    fs::write(shm_path(name), vec![0x42; 4096]).expect("write a foreign object");
    fs::set_permissions(shm_path(name), fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = Sender::open_timeout(&place.endpoint, LONG).map(|_| ()).unwrap_err();
    assert!(!matches!(err, AttachError::Timeout { .. } | AttachError::NotFound { .. }), "{err:?}");
    assert!(started.elapsed() < NOTICE, "waited {:?} on errors that cannot go away", started.elapsed());
}

/// `Receiver::open_timeout` too (shared memory: the only transport with a second receiver).
#[test]
fn receiver_open_timeout_waits_for_a_late_creator() {
    let place = Place::new(Kind::ShmMpmc, "late-rx");
    let endpoint = place.endpoint.clone();
    let creator = thread::spawn(move || {
        thread::sleep(LATE);
        let mut tx = Sender::create(&endpoint, &Kind::ShmMpmc.config()).expect("the late creator");
        tx.send(b"hello").expect("send");
        tx
    });
    let mut rx = Receiver::open_timeout(&place.endpoint, LONG).expect("open_timeout with a late creator");
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message"), b"hello");
    drop(creator.join().expect("the creating thread"));
    let err = Receiver::open_timeout("shm:sem-nobody-makes-this", Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, AttachError::Timeout { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// len, is_empty, is_full; typed forms.
// ---------------------------------------------------------------------------------------

fn len_is_empty_is_full(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "len");
    assert_eq!((tx.capacity(), rx.capacity()), (CAPACITY, CAPACITY), "{kind:?}");
    assert!(tx.is_empty() && rx.is_empty() && !tx.is_full() && !rx.is_full(), "{kind:?}: new");
    for n in 1..=CAPACITY {
        tx.send(&[n as u8]).expect("send");
        assert_eq!((tx.len(), rx.len()), (n, n), "{kind:?}: after {n} sends");
    }
    assert!(tx.is_full() && rx.is_full() && !rx.is_empty(), "{kind:?}: full");
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Full(()))), "{kind:?}: is_full agrees with try_send");
    drop(rx.recv().expect("recv"));
    assert_eq!((tx.len(), rx.len()), (CAPACITY - 1, CAPACITY - 1), "{kind:?}: after a receive");
    assert!(!tx.is_full() && !rx.is_full(), "{kind:?}");
    while rx.try_recv().is_ok() {}
    assert!(tx.is_empty() && rx.is_empty(), "{kind:?}: drained");
}

/// On sockets and pipes ferry cannot count the kernel's buffer: the documented values.
fn streams_do_not_count(kind: Kind) {
    let (_place, mut tx, rx) = pair(kind, "no-count");
    tx.send(b"x").expect("send");
    assert_eq!((tx.capacity(), tx.len(), tx.is_empty(), tx.is_full()), (0, 0, true, false), "{kind:?}: sender");
    assert_eq!((rx.capacity(), rx.len(), rx.is_empty(), rx.is_full()), (0, 0, true, false), "{kind:?}: receiver");
}

fn typed_try_and_timeout_forms(kind: Kind) {
    let (_place, mut tx, mut rx) = pair(kind, "typed");
    assert_eq!(rx.try_recv_value::<u64>(), Err(RecvError::Empty), "{kind:?}");
    let started = Instant::now();
    assert_eq!(rx.recv_value_timeout::<u64>(Duration::from_millis(100)), Err(RecvError::Timeout), "{kind:?}");
    assert!(started.elapsed() >= Duration::from_millis(100), "{kind:?}: recv_value_timeout returned early");
    tx.try_send_value(1u64).expect("try_send_value");
    tx.send_value_timeout(2u64, LONG).expect("send_value_timeout");
    assert_eq!(rx.recv_value_timeout::<u64>(LONG), Ok(1), "{kind:?}");
    let started = Instant::now();
    let second = loop {
        match rx.try_recv_value::<u64>() {
            Err(RecvError::Empty) if started.elapsed() < NOTICE => thread::yield_now(),
            other => break other,
        }
    };
    assert_eq!(second, Ok(2), "{kind:?}");
    if !kind.is_stream() {
        for i in 0..CAPACITY as u64 {
            tx.try_send_value(i).expect("room");
        }
        match tx.try_send_value(99u64) {
            Err(e) if e.is_full() => assert_eq!(e.into_inner(), 99, "{kind:?}: Full hands the value back"),
            other => panic!("{kind:?}: try_send_value into a full ring: {other:?}"),
        }
        match tx.send_value_timeout(98u64, Duration::from_millis(50)) {
            Err(SendError::Timeout(98)) => {}
            other => panic!("{kind:?}: send_value_timeout into a full ring: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------

#[test]
fn errors_debug_names_their_variant() {
    assert_eq!(format!("{:?}", SendError::Full(())), "Full(..)");
    assert_eq!(format!("{:?}", SendError::Timeout(5u8)), "Timeout(..)");
    assert_eq!(format!("{:?}", SendError::Disconnected(())), "Disconnected(..)");
    let too_large = SendError::TooLarge { message: (), len: 9, max: 8 };
    assert_eq!(format!("{too_large:?}"), "TooLarge { len: 9, max: 8, .. }");
    assert_ne!(format!("{too_large:?}"), too_large.to_string(), "Debug is not Display");
    assert!(format!("{:?}", SendError::Corrupt { message: (), reason: "r" }).starts_with("Corrupt {"));
    assert_eq!(format!("{:?}", RecvError::Disconnected), "Disconnected");
    let err = Sender::open("sem-debug-nobody-makes-this").unwrap_err();
    assert!(format!("{err:?}").starts_with("NotFound {"), "{err:?}");
}

#[test]
fn errors_are_send_sync_static_and_box_with_question_mark() {
    fn boxable<E: std::error::Error + Send + Sync + 'static>() {}
    boxable::<SendError>();
    boxable::<SendError<[u64; 4]>>();
    boxable::<RecvError>();
    boxable::<AttachError>();

    fn produce(tx: &mut Sender, payload: &[u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let owned = payload.to_vec();
        tx.send(&owned)?;
        tx.send_value(7u16)?;
        Ok(())
    }
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().slot_size(4)).expect("channel");
    produce(&mut tx, b"abc").expect("fits");
    let err = produce(&mut tx, b"too long").unwrap_err();
    assert_eq!(err.downcast_ref::<SendError>(), Some(&SendError::TooLarge { message: (), len: 8, max: 4 }));
    assert_eq!(&*rx.recv().expect("recv"), b"abc");
    assert_eq!(rx.recv_value::<u16>(), Ok(7));
}

// ---------------------------------------------------------------------------------------
// The peer killed instead of dropped.
// ---------------------------------------------------------------------------------------

/// `PEER_ENV="receive <endpoint>"` (or `receive-mpmc`): create a receiver there;
/// `"send3 <endpoint>"`: open a sender and send three messages. Then say so and sleep
/// until killed.
#[test]
fn child_peer() {
    let Ok(what) = env::var(PEER_ENV) else { return };
    start_watchdog(LONG * 2);
    let (mode, endpoint) = what.split_once(' ').expect("mode and endpoint");
    let _keep: Box<dyn std::any::Any> = match mode {
        "receive" | "receive-mpmc" => {
            let kind = if mode == "receive-mpmc" { Kind::ShmMpmc } else { Kind::ShmSpsc };
            Box::new(Receiver::create(endpoint, &kind.config()).expect("child: create"))
        }
        "send3" => {
            let mut tx = Sender::open_timeout(endpoint, LONG).expect("child: open");
            for m in [b"one", b"two", b"six"] {
                tx.send(m).expect("child: send");
            }
            Box::new(tx)
        }
        other => panic!("child: unknown mode {other}"),
    };
    println!("{READY}");
    thread::sleep(LONG * 2);
}

/// Runs `child_peer` with `what`, waits until it is ready.
fn spawn_peer(what: String) -> Child {
    let mut child = Command::new(env::current_exe().expect("the test binary"))
        .args(["--exact", "child_peer", "--nocapture", "--test-threads=1"])
        .env(PEER_ENV, what)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the peer");
    let stdout = child.stdout.take().expect("the peer's stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(READY) => break,
            Some(Ok(_)) => {}
            _ => panic!("the peer exited before it was ready: {:?}", child.wait()),
        }
    }
    child
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the peer");
    child.wait().expect("reap the peer");
}

/// The receiver's process is SIGKILLed: the sender is told, by a blocking send at the
/// latest once the ring is full (its liveness check), and by every call after that.
fn a_killed_receiver_fails_the_sender(kind: Kind) {
    let place = Place::new(kind, "rx-killed");
    let mode = if kind == Kind::ShmMpmc { "receive-mpmc" } else { "receive" };
    let child = spawn_peer(format!("{mode} {}", place.endpoint));
    let mut tx = Sender::open(&place.endpoint).expect("open a sender on the child's channel");
    tx.send(b"before").expect("send while the receiver lives");
    kill(child);
    let started = Instant::now();
    let mut accepted = 0;
    loop {
        match tx.send_timeout(b"after", LONG) {
            Ok(()) => accepted += 1,
            Err(SendError::Disconnected(())) => break,
            Err(e) => panic!("{kind:?}: send after the receiver was killed: {e:?}"),
        }
        assert!(accepted <= CAPACITY, "{kind:?}: {accepted} messages sent to a dead receiver");
    }
    assert!(started.elapsed() < NOTICE, "{kind:?}: the death took {:?} to notice", started.elapsed());
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Disconnected(()))), "{kind:?}: try_send, then");
    assert!(tx.is_disconnected(), "{kind:?}: is_disconnected, then");
}

/// The sender's process sends three messages and is SIGKILLed: the receiver gets the
/// three, then `Disconnected` from the blocking and the non-blocking calls.
fn a_killed_sender_is_seen_after_its_messages(kind: Kind) {
    let place = Place::new(kind, "tx-killed");
    let mut rx = Receiver::create(&place.endpoint, &kind.config()).expect("create");
    let child = spawn_peer(format!("send3 {}", place.endpoint));
    kill(child);
    let started = Instant::now();
    for expected in [b"one", b"two", b"six"] {
        assert_eq!(&*rx.recv_timeout(LONG).expect("a message the dead sender sent"), expected, "{kind:?}");
    }
    assert_eq!(rx.recv_timeout(LONG).map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: recv_timeout");
    assert!(started.elapsed() < NOTICE, "{kind:?}: the death took {:?} to notice", started.elapsed());
    assert_eq!(rx.try_recv().map(|m| m.len()), Err(RecvError::Disconnected), "{kind:?}: try_recv, then");
    assert!(rx.is_disconnected(), "{kind:?}: is_disconnected, then");
}
