//! The framed fallbacks (`unix:`, `fifo:`) under a hostile writer: a raw socket or a raw
//! write into the FIFO that follows none of ferry's rules, and a receiver out of file
//! descriptors.
//!
//! - Bare length prefixes on many connections must not make the receiver commit a
//!   slot-sized buffer per connection.
//! - A connection that announces a frame beyond the slot size is dropped; the good
//!   senders' messages keep arriving.
//! - An over-long prefix written into a FIFO is reported as `Corrupt` at most once, and a
//!   well-behaved sender's later messages are received.
//! - A receiver that cannot accept for lack of descriptors sleeps inside
//!   `recv_timeout` instead of spinning, and accepts once descriptors are free again.
//!
//! The memory and descriptor tests change process-wide state (the resident set, the
//! descriptor limit), so each runs in a child: this test binary re-executed with
//! `CHILD_ENV` naming the child test to run (without it the child tests return at once).
//! A child prints `CHILD_DONE` when it has checked everything, so a parent never takes a
//! child that ran no test for a success.

use std::{
    env, fs,
    io::Write,
    os::unix::{fs::PermissionsExt, net::UnixStream, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::{self, Command},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, Sender};

mod support;
use support::start_watchdog;

/// Names the child test a child process runs, and its directory.
const CHILD_ENV: &str = "FERRY_HOSTILE_FRAMING_CHILD";
/// Printed by a child once it has checked everything.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";
/// A child that runs longer than this exits with status 3: a hang.
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);
/// A wait long enough that only a broken transport runs into it.
const LONG: Duration = Duration::from_secs(10);

/// A private directory for an endpoint, removed with what is left in it when dropped.
struct Place {
    dir: PathBuf,
}

impl Place {
    /// `tag` must differ between the tests of this binary.
    fn new(tag: &str) -> Self {
        let dir = env::temp_dir().join(format!("ferry-hostile-{tag}-{}", process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("make the directory private");
        Self { dir }
    }

    fn path(&self, transport: &str) -> PathBuf {
        self.dir.join(transport)
    }

    fn endpoint(&self, transport: &str) -> String {
        format!("{transport}:{}", self.path(transport).display())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A frame's length prefix, as ferry writes it.
fn prefix(len: usize) -> [u8; 4] {
    u32::try_from(len).expect("a length that fits").to_le_bytes()
}

/// Message `i` of a well-behaved sender.
fn message(i: u32) -> Vec<u8> {
    format!("message {i} from the good sender").into_bytes()
}

/// Runs child test `name` in a re-executed test binary and checks that it finished.
fn run_child(name: &str) -> String {
    let output = Command::new(env::current_exe().expect("the test binary's path"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = format!("child stdout:\n{stdout}\nchild stderr:\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.signal(), None, "the child was killed by a signal\n{report}");
    assert_eq!(output.status.code(), Some(0), "the child failed (3: it hung)\n{report}");
    assert!(stdout.contains(CHILD_DONE), "the child ran no test\n{report}");
    println!("{stdout}");
    stdout
}

/// Whether this process is the child that runs `name`.
fn is_child(name: &str) -> bool {
    if env::var(CHILD_ENV).as_deref() == Ok(name) {
        start_watchdog(CHILD_WATCHDOG);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------
// Memory: bare prefixes on many connections.
// ---------------------------------------------------------------------------------------

/// Connections that each send a bare prefix.
const CONNECTIONS: usize = 40;
/// The slot size they announce.
const BIG_SLOT: usize = 16 << 20;

/// This process's resident set, in bytes.
fn resident_bytes() -> usize {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a VmRSS value");
    kib * 1024
}

#[test]
fn bare_prefixes_on_many_connections_commit_no_slot_sized_buffers() {
    let stdout = run_child("child_bare_prefixes");
    assert!(stdout.contains("resident set grew by"), "the child reported no measurement");
}

#[test]
fn child_bare_prefixes() {
    if !is_child("child_bare_prefixes") {
        return;
    }
    let place = Place::new("rss");
    let mut rx = Receiver::create(&place.endpoint("unix"), &Config::new().slot_size(BIG_SLOT).capacity(4))
        .expect("create the receiver");
    let mut raw: Vec<UnixStream> =
        (0..CONNECTIONS).map(|_| UnixStream::connect(place.path("unix")).expect("connect a raw writer")).collect();
    // The receiver meets each connection empty first, so only the prefix differs.
    assert!(matches!(rx.try_recv(), Err(RecvError::Empty)));
    let before = resident_bytes();
    for stream in &mut raw {
        stream.write_all(&prefix(BIG_SLOT)).expect("write a bare prefix");
    }
    // Each call reads from every connection.
    for _ in 0..3 {
        assert!(matches!(rx.try_recv(), Err(RecvError::Empty)), "a bare prefix is no message");
    }
    let grown = resident_bytes().saturating_sub(before);
    let announced = CONNECTIONS * BIG_SLOT;
    println!("resident set grew by {} KiB for {CONNECTIONS} bare prefixes of {} MiB", grown >> 10, BIG_SLOT >> 20);
    assert!(
        grown < announced / 16,
        "the receiver's resident set grew by {} MiB for {CONNECTIONS} bare prefixes announcing {} MiB in all: it \
         commits memory for bytes that never arrived",
        grown >> 20,
        announced >> 20
    );
    // The connections still work: the payload a prefix announced, once it arrives, is a
    // message (the buffer grows to it as the bytes come).
    let mut writer = raw.swap_remove(0);
    let feeder = thread::spawn(move || writer.write_all(&vec![7u8; BIG_SLOT]).map(|()| writer));
    let got = rx.recv_timeout(LONG).expect("the whole frame").to_vec();
    assert!(got.len() == BIG_SLOT && got.iter().all(|&b| b == 7), "the frame arrives whole");
    drop(feeder.join().expect("the feeder").expect("write the payload"));
    println!("{CHILD_DONE}");
}

// ---------------------------------------------------------------------------------------
// A bad connection on a Unix socket.
// ---------------------------------------------------------------------------------------

#[test]
fn a_bad_unix_connection_is_dropped_and_a_good_sender_goes_on() {
    const SLOT: usize = 256;
    let place = Place::new("unix-bad");
    let endpoint = place.endpoint("unix");
    let mut rx = Receiver::create(&endpoint, &Config::new().slot_size(SLOT).capacity(4)).expect("create");
    let mut tx = Sender::open(&endpoint).expect("open the good sender");
    tx.send(&message(0)).expect("send before the attack");
    let mut raw = UnixStream::connect(place.path("unix")).expect("connect a raw writer");
    raw.write_all(&prefix(SLOT + 1)).expect("write an over-long prefix");
    raw.write_all(&[0xa5; 100]).expect("write what follows it");
    for i in 1..20 {
        tx.send(&message(i)).expect("send after the attack");
    }
    let (mut got, mut corrupt) = (Vec::new(), 0);
    let deadline = Instant::now() + LONG;
    while got.len() < 20 && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => got.push(m.to_vec()),
            Err(RecvError::Corrupt { .. }) => corrupt += 1,
            Err(RecvError::Timeout) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    assert!(corrupt <= 1, "the bad connection was reported {corrupt} times");
    assert_eq!(got, (0..20).map(message).collect::<Vec<_>>(), "the good sender's messages, in order");
    // The bad connection was closed: its peer sees the end of the stream.
    raw.set_read_timeout(Some(LONG)).expect("a read timeout");
    let mut byte = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut raw, &mut byte).expect("read"), 0, "the receiver closed the connection");
    // And later senders are heard too.
    let mut late = Sender::open(&endpoint).expect("open a late sender");
    late.send(b"late").expect("send late");
    assert_eq!(&*rx.recv_timeout(LONG).expect("the late sender's message"), b"late");
}

// ---------------------------------------------------------------------------------------
// A bad frame in a FIFO.
// ---------------------------------------------------------------------------------------

/// Receives until `count` messages arrived or `within` passed; returns them and how many
/// calls returned `Corrupt`.
fn collect(rx: &mut Receiver, count: usize, within: Duration) -> (Vec<Vec<u8>>, usize) {
    let (mut got, mut corrupt) = (Vec::new(), 0);
    let deadline = Instant::now() + within;
    while got.len() < count && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => got.push(m.to_vec()),
            Err(RecvError::Corrupt { .. }) => corrupt += 1,
            Err(RecvError::Timeout) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    (got, corrupt)
}

/// Writes `bytes` into the FIFO at `path` as a raw writer, then closes it.
fn raw_write(path: &Path, bytes: &[u8]) {
    let mut fifo = fs::OpenOptions::new().write(true).open(path).expect("open the FIFO as a raw writer");
    fifo.write_all(bytes).expect("write into the FIFO");
}

#[test]
fn an_over_long_prefix_before_the_sender_opens_does_not_wedge_a_fifo() {
    const SLOT: usize = 256;
    let place = Place::new("fifo-before");
    let endpoint = place.endpoint("fifo");
    let mut rx = Receiver::create(&endpoint, &Config::new().slot_size(SLOT).capacity(4)).expect("create");
    let mut junk = prefix(SLOT + 1).to_vec();
    junk.extend_from_slice(&[0x5a; 300]);
    raw_write(&place.path("fifo"), &junk);
    let corrupt = match rx.try_recv() {
        Err(RecvError::Corrupt { .. }) => 1,
        Err(RecvError::Empty) => 0,
        other => panic!("the bad frame gave {:?}", other.map(|m| m.to_vec())),
    };
    let mut tx = Sender::open(&endpoint).expect("open the good sender");
    for i in 0..10 {
        tx.send(&message(i)).expect("send");
    }
    let (got, later) = collect(&mut rx, 10, LONG);
    assert!(corrupt + later <= 1, "the bad frame was reported {} times", corrupt + later);
    assert_eq!(got, (0..10).map(message).collect::<Vec<_>>(), "the good sender's messages, in order");
}

#[test]
fn an_over_long_prefix_between_messages_is_reported_once_on_a_fifo() {
    const SLOT: usize = 256;
    let place = Place::new("fifo-between");
    let endpoint = place.endpoint("fifo");
    let mut rx = Receiver::create(&endpoint, &Config::new().slot_size(SLOT).capacity(4)).expect("create");
    let mut tx = Sender::open(&endpoint).expect("open the good sender");
    tx.send(&message(0)).expect("send before the attack");
    assert_eq!(&*rx.recv_timeout(LONG).expect("the first message"), &message(0)[..]);
    // Far beyond the slot size. (The two largest prefixes are no lengths: a sender's
    // hello and goodbye.)
    raw_write(&place.path("fifo"), &prefix(u32::MAX as usize - 2));
    // Several calls: the first meets the bad frame, the others must find nothing.
    let (got, corrupt) = collect(&mut rx, 1, Duration::from_millis(500));
    assert!(got.is_empty(), "nothing but the bad frame was sent: got {got:?}");
    assert_eq!(corrupt, 1, "the bad frame must be reported once");
    for i in 1..10 {
        tx.send(&message(i)).expect("send after the attack");
    }
    let (got, corrupt) = collect(&mut rx, 9, LONG);
    assert_eq!(corrupt, 0, "the bad frame was reported again");
    assert_eq!(got, (1..10).map(message).collect::<Vec<_>>(), "the good sender's later messages, in order");
    // The stream is as good as new: a message at the slot size, and the sender's leaving.
    tx.send(&[9u8; SLOT]).expect("a full slot");
    assert_eq!(rx.recv_timeout(LONG).expect("a full slot").len(), SLOT);
    drop(tx);
    assert!(matches!(rx.recv_timeout(LONG), Err(RecvError::Disconnected)), "the sender's leaving is seen");
}

// ---------------------------------------------------------------------------------------
// Out of file descriptors.
// ---------------------------------------------------------------------------------------

/// CPU time this process has used (user and system), from `getrusage`.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid out-pointer for one rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage");
    // SAFETY: getrusage succeeded and filled it in.
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

#[test]
fn a_unix_receiver_out_of_descriptors_sleeps_instead_of_spinning() {
    let stdout = run_child("child_out_of_descriptors");
    assert!(stdout.contains("CPU time"), "the child reported no measurement");
}

#[test]
fn child_out_of_descriptors() {
    if !is_child("child_out_of_descriptors") {
        return;
    }
    let place = Place::new("emfile");
    let endpoint = place.endpoint("unix");
    let mut rx = Receiver::create(&endpoint, &Config::new().slot_size(64).capacity(4)).expect("create");
    // A sender connected (a connection waiting to be accepted) with a message queued.
    let mut tx = Sender::open(&endpoint).expect("open the sender");
    tx.send(b"waiting").expect("send");
    // A low limit, then every descriptor taken: the receiver cannot accept.
    let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid pointer to an rlimit struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) }, 0, "getrlimit");
    let limit = libc::rlimit { rlim_cur: current.rlim_max.min(128), rlim_max: current.rlim_max };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0, "setrlimit");
    let mut filler = Vec::new();
    loop {
        match fs::File::open("/dev/null") {
            Ok(file) => filler.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("open /dev/null: {e}"),
        }
        assert!(filler.len() < 10_000, "the descriptor limit did not take");
    }
    let wait = Duration::from_secs(1);
    let (cpu, wall) = (cpu_time(), Instant::now());
    let result = rx.recv_timeout(wait).map(|m| m.to_vec());
    let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
    println!("recv_timeout({wait:?}) out of descriptors: {result:?} after {wall:?}, CPU time {cpu:?}");
    assert!(matches!(result, Err(RecvError::Timeout)), "nothing can be accepted: {result:?}");
    assert!(wall >= wait, "the call returned early");
    assert!(
        cpu < wall / 4,
        "the receiver used {cpu:?} of CPU in {wall:?} while out of descriptors: it spins instead of sleeping"
    );
    // Descriptors free again: the waiting connection is accepted and its message read.
    drop(filler);
    assert_eq!(&*rx.recv_timeout(LONG).expect("the message, once a descriptor is free"), b"waiting");
    thread::sleep(Duration::from_millis(10));
    println!("{CHILD_DONE}");
}
