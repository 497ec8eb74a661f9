//! Stale channels and who may touch a channel: a creator killed with SIGKILL leaves its
//! segment behind; `ferry::inspect` and `ferry ls` show it dead and the channel stale;
//! creating the name again reclaims it, unless a live process still holds a role;
//! `ferry gc` removes stale channels only, `ferry rm` any; and a process of another uid
//! cannot attach to a 0600 channel.
//!
//! The creators are real processes: this test binary re-executed, running one `child_*`
//! test by its exact name with an environment variable naming the channel (without it
//! a `child_*` test returns at once). A child prints a marker once it has done its part,
//! so a child that ran no test is never taken for one that did, and kills itself if it
//! runs far too long. `ferry gc` removes every stale channel on the machine, so the tests
//! that make stale channels run one at a time.

use std::{
    env,
    fs::{self, Permissions},
    io::{BufRead, BufReader, Read, Write},
    os::unix::{
        fs::PermissionsExt,
        process::{CommandExt, ExitStatusExt},
    },
    path::{Path, PathBuf},
    process::{self, Child, Command, Output, Stdio},
    sync::{Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Holders, Process, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{bell_paths, shm_path, start_watchdog, Cleanup};

/// The geometry the dying creators use.
const OLD_SLOT: usize = 64;
const OLD_CAPACITY: usize = 8;
/// The geometry of the channels that reclaim their names: another one, so that a
/// reclaimed name visibly holds a new segment.
const NEW_SLOT: usize = 32;
const NEW_CAPACITY: usize = 4;
/// uid and gid of `nobody`, for the permission test.
const NOBODY: u32 = 65534;
/// A wait long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(10);
/// A child that runs longer than this kills itself, so a hang becomes a failure.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);

/// `<role>:<channel>` for `child_creator`: create the channel as `sender` or `receiver`.
const CREATOR_ENV: &str = "FERRY_STALE_CREATOR";
/// `<0600 channel>:<0666 channel>` for `child_other_uid`.
const OTHER_UID_ENV: &str = "FERRY_STALE_OTHER_UID";
/// Printed by a creator once its channel exists.
const CHILD_CREATED: &str = "FERRY-CHILD-CREATED";
/// Printed by a child once it has done everything it was asked.
const CHILD_DONE: &str = "FERRY-CHILD-DONE";

/// Serialises the tests: `ferry gc` would remove another test's stale channel while that
/// test still looks at it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unique(tag: &str) -> String {
    format!("st-{}-{tag}", process::id())
}

fn old_config() -> Config {
    Config::new().slot_size(OLD_SLOT).capacity(OLD_CAPACITY)
}

fn new_config() -> Config {
    Config::new().slot_size(NEW_SLOT).capacity(NEW_CAPACITY)
}

/// This process, alive.
fn me() -> Process {
    Process { pid: process::id(), alive: true }
}

/// Asserts that `/dev/shm` holds no segment whose name starts with `name`.
fn assert_no_leftovers(name: &str) {
    let prefix = format!("ferry.{name}");
    let left: Vec<String> = fs::read_dir("/dev/shm")
        .expect("list /dev/shm")
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|file| file.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "segments left behind in /dev/shm: {left:?}");
}

/// This test binary, to run the child test `test` with `var` set to `value`.
fn child(program: &Path, test: &str, var: &str, value: &str) -> Command {
    let mut command = Command::new(program);
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(var, value).stdin(Stdio::null());
    command
}

fn this_binary() -> PathBuf {
    env::current_exe().expect("the test binary's path")
}

fn describe(output: &Output) -> String {
    format!(
        "child exited with {}\n--- child stdout ---\n{}\n--- child stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A child process that created a channel and now waits to be killed.
struct Creator {
    child: Child,
}

impl Creator {
    /// Starts a child that creates `name` as `role` (`sender` or `receiver`) with
    /// `old_config()`, and waits until it has.
    fn spawn(role: &str, name: &str) -> Self {
        let mut child = child(&this_binary(), "child_creator", CREATOR_ENV, &format!("{role}:{name}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the creator");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        if !lines.any(|line| line.is_ok_and(|line| line.contains(CHILD_CREATED))) {
            let _ = child.kill();
            let status = child.wait().expect("wait for the creator");
            let mut stderr = String::new();
            let _ = child.stderr.take().expect("piped stderr").read_to_string(&mut stderr);
            panic!("the creator of {name} did not create it ({status})\n--- creator stderr ---\n{stderr}");
        }
        Self { child }
    }

    /// Kills the creator with SIGKILL and reaps it; returns its pid.
    fn kill(mut self) -> u32 {
        self.child.kill().expect("kill the creator");
        let status = self.child.wait().expect("reap the creator");
        assert_eq!(status.signal(), Some(9), "the creator should have died of SIGKILL, not {status}");
        self.child.id()
    }
}

/// Runs the `ferry` command-line tool.
fn ferry_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry")).args(args).output().expect("run the ferry tool")
}

/// The line `ferry ls` prints for `name`.
fn ls_line(name: &str) -> String {
    let output = ferry_cli(&["ls"]);
    assert!(output.status.success(), "ferry ls failed: {}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{name}: ");
    match stdout.lines().find(|line| line.starts_with(&prefix)) {
        Some(line) => line.to_owned(),
        None => panic!("ferry ls does not list {name}:\n{stdout}"),
    }
}

// ---------------------------------------------------------------------------------------
// A dead creator's channel is stale, shown as such, and reclaimed by creating it again.
// ---------------------------------------------------------------------------------------

#[test]
fn a_killed_receiver_creator_leaves_a_stale_channel_that_create_reclaims() {
    let _serial = serial();
    let name = unique("dead-receiver");
    let _cleanup = Cleanup(name.clone());
    let creator = Creator::spawn("receiver", &name);
    // This process sends a message the creator never reads, then leaves the channel.
    let mut tx = Sender::open(&name).expect("open the creator's channel as its sender");
    tx.send(b"left behind").expect("send");
    drop(tx);
    let pid = creator.kill();

    let dead = Process { pid, alive: false };
    let info = ferry::inspect(&name).expect("inspect the dead creator's channel");
    assert_eq!(info.creator, dead, "{info:?}");
    assert_eq!(info.receivers, Holders::Process(dead), "{info:?}");
    assert_eq!(info.senders, Holders::Left, "{info:?}");
    assert!(info.stale, "creator and receiver dead, sender gone: stale: {info:?}");
    assert_eq!((info.kind, info.slot_size, info.capacity, info.in_flight), (RingKind::Spsc, OLD_SLOT, OLD_CAPACITY, 1));
    assert!(ferry::list().contains(&name), "ferry::list() misses {name}");
    let line = ls_line(&name);
    assert!(line.contains(&format!("creator {pid} (dead)")), "ferry ls: {line}");
    assert!(line.contains(&format!("receiver {pid} (dead)")), "ferry ls: {line}");
    assert!(line.contains("sender left") && line.ends_with("; STALE"), "ferry ls: {line}");

    // Creating the name again reclaims it: a new, empty segment of the new geometry.
    let mut rx = Receiver::create(&name, &new_config()).expect("create over a stale channel");
    let info = ferry::inspect(&name).expect("inspect the reclaimed channel");
    assert_eq!(
        (info.creator, info.receivers.clone(), info.senders.clone()),
        (me(), Holders::Process(me()), Holders::Never)
    );
    assert!(!info.stale, "{info:?}");
    assert_eq!((info.slot_size, info.capacity, info.in_flight), (NEW_SLOT, NEW_CAPACITY, 0));
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the old segment's message came back");
    let mut tx = Sender::open(&name).expect("open the reclaimed channel");
    tx.send(b"fresh").expect("send on the reclaimed channel");
    assert_eq!(&*rx.recv_timeout(LONG).expect("receive on the reclaimed channel"), b"fresh");
    let line = ls_line(&name);
    assert!(line.contains(&format!("creator {} (alive)", me().pid)) && !line.contains("STALE"), "ferry ls: {line}");

    drop((tx, rx));
    assert!(!shm_path(&name).exists(), "the new creator's drop should remove the channel");
    assert_no_leftovers(&name);
}

#[test]
fn a_killed_sender_creator_leaves_a_stale_channel_that_create_reclaims() {
    let _serial = serial();
    let name = unique("dead-sender");
    let _cleanup = Cleanup(name.clone());
    let pid = Creator::spawn("sender", &name).kill();

    let dead = Process { pid, alive: false };
    let info = ferry::inspect(&name).expect("inspect the dead creator's channel");
    assert_eq!(
        (info.creator, info.senders.clone(), info.receivers.clone()),
        (dead, Holders::Process(dead), Holders::Never)
    );
    assert!(info.stale, "creator and sender dead, no receiver ever: stale: {info:?}");
    assert_eq!(info.in_flight, 1, "the creator's last message is still in the ring: {info:?}");
    let line = ls_line(&name);
    assert!(line.contains(&format!("creator {pid} (dead)")), "ferry ls: {line}");
    assert!(line.contains(&format!("sender {pid} (dead)")), "ferry ls: {line}");
    assert!(line.contains("receiver none yet") && line.ends_with("; STALE"), "ferry ls: {line}");

    let mut tx = Sender::create(&name, &new_config()).expect("create over a stale channel");
    let mut rx = Receiver::open(&name).expect("open the reclaimed channel");
    assert_eq!((rx.slot_size(), rx.capacity()), (NEW_SLOT, NEW_CAPACITY), "a new segment, not the old one");
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "the old segment's message came back");
    tx.send(b"fresh").expect("send on the reclaimed channel");
    assert_eq!(&*rx.recv_timeout(LONG).expect("receive on the reclaimed channel"), b"fresh");
    let info = ferry::inspect(&name).expect("inspect the reclaimed channel");
    assert_eq!(
        (info.creator, info.senders, info.receivers, info.stale),
        (me(), Holders::Process(me()), Holders::Process(me()), false)
    );

    drop((rx, tx));
    assert!(!shm_path(&name).exists(), "the new creator's drop should remove the channel");
    assert_no_leftovers(&name);
}

/// An MPMC creator killed while attached: its seat names it, dead.
#[test]
fn a_killed_mpmc_creator_leaves_a_stale_channel_that_create_reclaims() {
    let _serial = serial();
    let name = unique("dead-mpmc");
    let _cleanup = Cleanup(name.clone());
    let pid = Creator::spawn("mpmc-receiver", &name).kill();

    let info = ferry::inspect(&name).expect("inspect the dead creator's channel");
    let dead = Process { pid, alive: false };
    assert_eq!((info.creator, info.receivers.clone()), (dead, Holders::Processes(vec![dead])), "{info:?}");
    assert!(info.stale, "the only process that ever used the channel is dead: {info:?}");
    let rx = Receiver::create(&name, &new_config().kind(RingKind::Mpmc)).expect("create over a stale MPMC channel");
    drop(rx);
    assert_no_leftovers(&name);
}

// ---------------------------------------------------------------------------------------
// A dead creator's channel that a live process still uses is not stale.
// ---------------------------------------------------------------------------------------

#[test]
fn a_dead_creators_channel_with_a_live_receiver_is_not_stale_and_ferry_rm_removes_it() {
    let _serial = serial();
    let name = unique("live-receiver");
    let _cleanup = Cleanup(name.clone());
    let creator = Creator::spawn("sender", &name);
    let mut rx = Receiver::open(&name).expect("open the creator's channel as its receiver");
    let pid = creator.kill();

    let dead = Process { pid, alive: false };
    let info = ferry::inspect(&name).expect("inspect");
    assert_eq!(
        (info.creator, info.senders.clone(), info.receivers.clone()),
        (dead, Holders::Process(dead), Holders::Process(me()))
    );
    assert!(!info.stale, "a live receiver holds the channel: {info:?}");
    assert_already_exists(&name);
    let line = ls_line(&name);
    assert!(line.contains(&format!("receiver {} (alive)", me().pid)) && !line.contains("STALE"), "ferry ls: {line}");

    // `ferry gc` leaves it alone, and the receiver still gets the dead sender's message,
    // then learns that the sender has gone.
    let gc = ferry_cli(&["gc"]);
    assert!(gc.status.success(), "ferry gc: {}", describe(&gc));
    assert!(!String::from_utf8_lossy(&gc.stdout).contains(&name), "ferry gc removed a live channel: {}", describe(&gc));
    assert!(shm_path(&name).exists(), "ferry gc removed a channel a live receiver holds");
    let expected = format!("last words from {pid}");
    assert_eq!(&*rx.recv_timeout(LONG).expect("the dead sender's message"), expected.as_bytes());
    let started = Instant::now();
    assert_eq!(rx.recv_timeout(LONG).unwrap_err(), RecvError::Disconnected);
    assert!(started.elapsed() < LONG, "Disconnected only after {:?}", started.elapsed());

    assert_ferry_rm(&name);
    // The receiver keeps its mapping, and remembers that the sender has gone.
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Disconnected);
    drop(rx);
    assert_no_leftovers(&name);
}

#[test]
fn a_dead_creators_channel_with_a_live_sender_is_not_stale_and_ferry_rm_removes_it() {
    let _serial = serial();
    let name = unique("live-sender");
    let _cleanup = Cleanup(name.clone());
    let creator = Creator::spawn("receiver", &name);
    let mut tx = Sender::open(&name).expect("open the creator's channel as its sender");
    let pid = creator.kill();

    let dead = Process { pid, alive: false };
    let info = ferry::inspect(&name).expect("inspect");
    assert_eq!(
        (info.creator, info.senders.clone(), info.receivers.clone()),
        (dead, Holders::Process(me()), Holders::Process(dead))
    );
    assert!(!info.stale, "a live sender holds the channel: {info:?}");
    assert_already_exists(&name);
    let line = ls_line(&name);
    assert!(line.contains(&format!("sender {} (alive)", me().pid)) && !line.contains("STALE"), "ferry ls: {line}");

    // The sender fills the ring, then learns that the receiver has gone.
    for i in 0..OLD_CAPACITY {
        tx.try_send(&[i as u8; 8]).unwrap_or_else(|e| panic!("message {i} into a ring of {OLD_CAPACITY}: {e}"));
    }
    assert!(matches!(tx.try_send(b"one too many"), Err(SendError::Full(_))));
    let started = Instant::now();
    assert!(matches!(tx.send_timeout(b"nobody reads", LONG), Err(SendError::Disconnected(_))));
    assert!(started.elapsed() < LONG, "Disconnected only after {:?}", started.elapsed());

    assert_ferry_rm(&name);
    drop(tx);
    assert_no_leftovers(&name);
}

/// Creating `name` as either end fails with `AlreadyExists`, and leaves it in place.
fn assert_already_exists(name: &str) {
    for (what, result) in [
        ("Receiver::create", Receiver::create(name, &new_config()).map(drop)),
        ("Sender::create", Sender::create(name, &new_config()).map(drop)),
    ] {
        match result {
            Err(AttachError::AlreadyExists { name: n }) if n == name => {}
            other => panic!("{what} over a channel a live process holds: {other:?}"),
        }
    }
    let info = ferry::inspect(name).expect("inspect after the refused creates");
    assert_eq!((info.slot_size, info.capacity), (OLD_SLOT, OLD_CAPACITY), "a refused create replaced the channel");
}

/// `ferry rm NAME` refuses the channel a live process (this one) holds, naming it;
/// `ferry rm --force NAME` removes it; a second time it fails and says why.
fn assert_ferry_rm(name: &str) {
    let refused = ferry_cli(&["rm", name]);
    assert!(!refused.status.success(), "ferry rm removed a live channel: {}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains(&process::id().to_string()) && said.contains("--force"), "{}", describe(&refused));
    assert!(shm_path(name).exists(), "a refused ferry rm removed the channel");
    let rm = ferry_cli(&["rm", "--force", name]);
    assert!(rm.status.success(), "ferry rm: {}", describe(&rm));
    assert!(String::from_utf8_lossy(&rm.stdout).contains(&format!("removed `{name}`")), "{}", describe(&rm));
    assert!(!shm_path(name).exists(), "ferry rm left the channel in place");
    assert!(matches!(ferry::inspect(name), Err(AttachError::NotFound { .. })));
    let again = ferry_cli(&["rm", name]);
    assert!(!again.status.success(), "ferry rm of a removed channel succeeded: {}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no channel named"), "{}", describe(&again));
}

// ---------------------------------------------------------------------------------------
// `ferry gc` removes the stale channels and nothing else.
// ---------------------------------------------------------------------------------------

#[test]
fn ferry_gc_removes_stale_channels_and_leaves_live_ones() {
    let _serial = serial();
    let stale_receiver = unique("gc-stale-receiver");
    let stale_sender = unique("gc-stale-sender");
    let live = unique("gc-live");
    let held = unique("gc-held");
    let _cleanups: Vec<Cleanup> =
        [&stale_receiver, &stale_sender, &live, &held].iter().map(|n| Cleanup(n.to_string())).collect();

    Creator::spawn("receiver", &stale_receiver).kill();
    Creator::spawn("sender", &stale_sender).kill();
    let mut live_rx = Receiver::create(&live, &new_config()).expect("create the live channel");
    let held_creator = Creator::spawn("sender", &held);
    let mut held_rx = Receiver::open(&held).expect("open the held channel");
    let held_pid = held_creator.kill();
    for name in [&stale_receiver, &stale_sender] {
        assert!(ferry::inspect(name).expect("inspect").stale, "{name} should be stale");
    }
    for name in [&live, &held] {
        assert!(!ferry::inspect(name).expect("inspect").stale, "{name} should not be stale");
    }

    let gc = ferry_cli(&["gc"]);
    assert!(gc.status.success(), "ferry gc: {}", describe(&gc));
    let stdout = String::from_utf8_lossy(&gc.stdout);
    for name in [&stale_receiver, &stale_sender] {
        assert!(stdout.contains(&format!("removed stale channel `{name}`")), "ferry gc: {}", describe(&gc));
        assert!(!shm_path(name).exists(), "ferry gc left the stale {name}");
        for bell in bell_paths(name) {
            assert!(!bell.exists(), "ferry gc left the stale {name}'s doorbell {}", bell.display());
        }
    }
    for name in [&live, &held] {
        assert!(!stdout.contains(name.as_str()), "ferry gc removed {name}: {}", describe(&gc));
        assert!(shm_path(name).exists(), "ferry gc removed {name}");
        for bell in bell_paths(name) {
            assert!(bell.exists(), "ferry gc removed {name}'s doorbell {}", bell.display());
        }
    }

    // What it left still works.
    let mut tx = Sender::open(&live).expect("open the live channel after gc");
    tx.send(b"still here").expect("send after gc");
    assert_eq!(&*live_rx.recv_timeout(LONG).expect("receive after gc"), b"still here");
    let expected = format!("last words from {held_pid}");
    assert_eq!(&*held_rx.recv_timeout(LONG).expect("the held channel's message"), expected.as_bytes());

    // Nothing stale of ours is left for a second run.
    let again = ferry_cli(&["gc"]);
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&unique("gc-")), "{}", describe(&again));

    drop((tx, live_rx));
    ferry::unlink(&held).expect("unlink the held channel");
    assert!(matches!(ferry::unlink(&held), Err(AttachError::NotFound { .. })));
    drop(held_rx);
    assert_no_leftovers(&unique("gc-"));
}

/// The creator: creates `<channel>` as `<role>` (`sender`, `receiver`, or `mpmc-receiver`
/// for an MPMC ring) with `old_config()` (a sender also sends `last words from <pid>`),
/// reports it, and waits to be killed.
#[test]
fn child_creator() {
    let Ok(var) = env::var(CREATOR_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (role, name) = var.split_once(':').expect("child: <role>:<channel>");
    let _end: Box<dyn std::any::Any> = match role {
        "receiver" => Box::new(Receiver::create(name, &old_config()).unwrap_or_else(|e| panic!("child: {e}"))),
        "mpmc-receiver" => Box::new(
            Receiver::create(name, &old_config().kind(RingKind::Mpmc)).unwrap_or_else(|e| panic!("child: {e}")),
        ),
        "sender" => {
            let mut tx = Sender::create(name, &old_config()).unwrap_or_else(|e| panic!("child: {e}"));
            tx.send(format!("last words from {}", process::id()).as_bytes()).expect("child: send");
            Box::new(tx)
        }
        other => panic!("child: unknown role {other:?}"),
    };
    println!("{CHILD_CREATED}");
    std::io::stdout().flush().expect("child: flush stdout");
    // Killed here, holding its end: it never detaches nor removes the channel.
    thread::sleep(CHILD_WATCHDOG);
}

// ---------------------------------------------------------------------------------------
// Permissions.
// ---------------------------------------------------------------------------------------

/// A directory that every user may enter, holding a copy of this test binary that every
/// user may run (the build directory may be closed to other users). Removed on drop.
struct RunnableCopy {
    dir: PathBuf,
    program: PathBuf,
}

impl RunnableCopy {
    fn new() -> std::io::Result<Self> {
        let dir = env::temp_dir().join(format!("ferry-stale-{}", process::id()));
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, Permissions::from_mode(0o755))?;
        let program = dir.join("stale");
        fs::copy(this_binary(), &program)?;
        fs::set_permissions(&program, Permissions::from_mode(0o755))?;
        Ok(Self { dir, program })
    }
}

impl Drop for RunnableCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_process_of_another_uid_cannot_attach_to_a_0600_channel() {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        eprintln!("SKIPPED: switching a child to uid {NOBODY} needs root; this test runs as uid {euid}");
        return;
    }
    let private = unique("perm-0600");
    let shared = unique("perm-0666");
    let _cleanups = (Cleanup(private.clone()), Cleanup(shared.clone()));
    let mut private_rx = Receiver::create(&private, &new_config()).expect("create the 0600 channel");
    let mut shared_rx = Receiver::create(&shared, &new_config().mode(0o666)).expect("create the 0666 channel");
    let mode = |name: &str| fs::metadata(shm_path(name)).expect("the segment's file").permissions().mode() & 0o777;
    assert_eq!((mode(&private), mode(&shared)), (0o600, 0o666));

    let copy = match RunnableCopy::new() {
        Ok(copy) => copy,
        Err(e) => {
            eprintln!("SKIPPED: cannot copy the test binary where uid {NOBODY} could run it: {e}");
            return;
        }
    };
    // ETXTBSY: another test thread forked while our copy's write descriptor was open, and
    // its child holds that descriptor until it execs. It goes away: try again.
    let run = || {
        child(&copy.program, "child_other_uid", OTHER_UID_ENV, &format!("{private}:{shared}"))
            .uid(NOBODY)
            .gid(NOBODY)
            .current_dir("/")
            .output()
    };
    let mut output = run();
    for _ in 0..50 {
        match &output {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                thread::sleep(Duration::from_millis(20));
                output = run();
            }
            _ => break,
        }
    }
    let output = match output {
        Ok(output) => output,
        // EPERM from setuid (no CAP_SETUID here) or EACCES from exec (a noexec temp dir).
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("SKIPPED: cannot run a child as uid {NOBODY} here ({}): {e}", copy.program.display());
            return;
        }
        Err(e) => panic!("spawn the child as uid {NOBODY}: {e}"),
    };
    assert!(output.status.success(), "the child failed:\n{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(CHILD_DONE),
        "the child ran no test:\n{}",
        describe(&output)
    );

    // The child could use the 0666 channel, so it was refused the 0600 one for its mode.
    assert_eq!(
        &*shared_rx.recv_timeout(LONG).expect("the child's message"),
        format!("hello from uid {NOBODY}").as_bytes()
    );
    assert!(shm_path(&private).exists(), "the other uid removed the 0600 channel");
    assert_eq!(ferry::inspect(&private).expect("inspect").senders, Holders::Never, "the other uid attached");
    assert_eq!(private_rx.try_recv().unwrap_err(), RecvError::Empty);

    drop((private_rx, shared_rx));
    assert_no_leftovers(&unique("perm-"));
}

/// Runs as uid `NOBODY`: every way into the 0600 channel is `PermissionDenied` with a
/// message that says so; the 0666 channel is refused for its owner unless that owner is
/// allowed, then opens, and it sends `hello from uid <uid>`.
#[test]
fn child_other_uid() {
    let Ok(var) = env::var(OTHER_UID_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let (private, shared) = var.split_once(':').expect("child: <0600 channel>:<0666 channel>");
    let uid = rustix::process::getuid().as_raw();
    assert_eq!(uid, NOBODY, "child: not running as the other uid");
    let denied = |what: &str, result: Result<(), AttachError>| match result {
        Err(e @ AttachError::PermissionDenied { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("permission denied") && text.contains(private),
                "child: {what}: the message should say permission denied for {private}: {text}"
            );
        }
        other => panic!("child: {what} on a 0600 channel of another uid: expected PermissionDenied, got {other:?}"),
    };
    denied("Sender::open", Sender::open(private).map(drop));
    denied("Receiver::open", Receiver::open(private).map(drop));
    denied("ferry::inspect", ferry::inspect(private).map(drop));
    denied("ferry::unlink", ferry::unlink(private));
    // Creating the name is refused too, and cannot reclaim a channel it cannot inspect.
    match Receiver::create(private, &new_config()) {
        Err(AttachError::AlreadyExists { .. }) => {}
        other => panic!("child: Receiver::create over a 0600 channel of another uid: {other:?}"),
    }
    // A 0666 channel of another uid is refused too unless its owner is allowed: another
    // user's object under a name could be a squatter.
    match Sender::open(shared) {
        Err(AttachError::NotOwned { owner: 0, .. }) => {}
        other => panic!("child: Sender::open of another uid's 0666 channel: expected NotOwned, got {other:?}"),
    }
    let mut tx = ferry::OpenOptions::new()
        .allow_owner(0)
        .open_sender(shared)
        .unwrap_or_else(|e| panic!("child: open the 0666 channel, allowing its owner: {e}"));
    tx.send(format!("hello from uid {uid}").as_bytes()).expect("child: send");
    println!("{CHILD_DONE}");
}
