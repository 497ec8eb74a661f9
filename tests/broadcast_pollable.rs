//! The pollable fd of the broadcast handles (`AsFd` on `Subscriber` and `Publisher`):
//! subscribers in separate processes waited on with `epoll`, each receiving every message
//! once; a subscriber asleep on its fd woken by a publication; a killed publisher seen
//! through the fd; a busy stream that rings no doorbell; a seat taken over from a dead
//! subscriber without its stale ring; and the publisher's "has room" fd.
//!
//! Cross-process tests re-execute this test binary, running one `child_*` test by its
//! exact name with an environment variable that says what to do; without it the child
//! tests return at once. A child prints a marker when it is ready and when it has done
//! its work, so a parent never takes a child that ran no test for a success.

use std::{
    env,
    io::{BufRead, BufReader, Lines},
    os::fd::{AsFd, AsRawFd},
    path::PathBuf,
    process::{self, Child, ChildStdout, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Policy, PublishError, Publisher, RingKind, Select, Start, Subscriber, SubscriberError};
use rustix::event::{epoll, Timespec};

mod support;
use support::{start_watchdog, wait_readable, Cleanup};

/// `<channel>:<messages>` for `child_subscribe_epoll`.
const EPOLL_ENV: &str = "FERRY_BCPOLL_CHILD_EPOLL";
/// `<channel>` for `child_publish_then_hang`.
const HANG_ENV: &str = "FERRY_BCPOLL_CHILD_HANG";
/// `<channel>` for `child_arm_then_hang`.
const ARM_ENV: &str = "FERRY_BCPOLL_CHILD_ARM";
const READY: &str = "FERRY-BCPOLL-READY";
const DONE: &str = "FERRY-BCPOLL-DONE";
/// A wait long enough that only a broken doorbell runs into it.
const LONG: Duration = Duration::from_secs(60);

fn unique(tag: &str) -> String {
    format!("bcpoll-{tag}-{}", process::id())
}

fn config() -> Config {
    Config::new().kind(RingKind::Broadcast).slot_size(16).capacity(8).subscribers(8)
}

fn spawn_child(test: &str, var: &str, value: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads the child's output until `marker`.
fn wait_for(lines: &mut Lines<BufReader<ChildStdout>>, marker: &str) {
    for line in lines.by_ref() {
        if line.unwrap().contains(marker) {
            return;
        }
    }
    panic!("the child ended before printing {marker}");
}

/// `try_recv` of a `u64`.
trait TryValue {
    fn try_value(&mut self) -> Result<u64, SubscriberError>;
}

impl TryValue for Subscriber {
    fn try_value(&mut self) -> Result<u64, SubscriberError> {
        let mut buf = [0u8; 8];
        let len = self.try_recv_into(&mut buf)?;
        assert_eq!(len, 8);
        Ok(u64::from_le_bytes(buf))
    }
}

/// The seat bells of channel `name` still in `/dev/shm`.
fn seat_bells(name: &str) -> Vec<PathBuf> {
    let prefix = format!("ferry-bell.{name}.seat-");
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

/// Removes the channel's seat bells on drop, in case a failing test left them.
struct SeatCleanup(String);

impl Drop for SeatCleanup {
    fn drop(&mut self) {
        for bell in seat_bells(&self.0) {
            let _ = std::fs::remove_file(bell);
        }
    }
}

/// Three subscriber processes, two subscribers each, each process waiting on its two
/// subscribers' fds in one epoll set; a block-mode publisher streams through a ring of 8
/// (so it waits for them) and leaves. Every subscriber receives every message once and
/// in order, then `Disconnected`; the seat bells are gone with the channel.
#[test]
fn epoll_over_subscribers_in_separate_processes() {
    const PROCESSES: usize = 3;
    const MESSAGES: u64 = 3000;
    let name = unique("epoll");
    let (_cleanup, _seats) = (Cleanup(name.clone()), SeatCleanup(name.clone()));
    let mut publisher = Publisher::create(&name, &config()).unwrap();
    let children: Vec<(Child, Lines<BufReader<ChildStdout>>)> = (0..PROCESSES)
        .map(|_| {
            let (child, mut lines) = spawn_child("child_subscribe_epoll", EPOLL_ENV, &format!("{name}:{MESSAGES}"));
            wait_for(&mut lines, READY);
            (child, lines)
        })
        .collect();
    assert_eq!(publisher.subscriber_count(), 2 * PROCESSES);
    assert_eq!(seat_bells(&name).len(), 2 * PROCESSES, "one bell per seat taken");
    for seq in 0..MESSAGES {
        publisher.send_value(seq).unwrap();
    }
    drop(publisher);
    for (mut child, mut lines) in children {
        wait_for(&mut lines, DONE);
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(seat_bells(&name), Vec::<PathBuf>::new(), "seat bells left behind by the creator");
}

/// The subscriber process of `epoll_over_subscribers_in_separate_processes`.
#[test]
fn child_subscribe_epoll() {
    let Ok(spec) = env::var(EPOLL_ENV) else { return };
    start_watchdog(Duration::from_secs(120));
    let (name, messages) = spec.split_once(':').unwrap();
    let messages: u64 = messages.parse().unwrap();
    let mut subscribers: Vec<Subscriber> = (0..2).map(|_| Subscriber::open(name, Start::Live).unwrap()).collect();
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        // Drain before the first wait (nothing is there yet), which also arms the fd.
        assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
        epoll::add(&epoll, subscriber.as_fd(), epoll::EventData::new_u64(i as u64), epoll::EventFlags::IN).unwrap();
    }
    println!("{READY}");
    let mut next = [0u64; 2];
    let mut disconnected = [false; 2];
    let mut events = Vec::with_capacity(2);
    let deadline = Instant::now() + LONG;
    while disconnected.iter().any(|d| !d) {
        assert!(Instant::now() < deadline, "stalled: next {next:?}, disconnected {disconnected:?}");
        events.clear();
        let timeout = Timespec::try_from(Duration::from_secs(1)).unwrap();
        match epoll::wait(&epoll, rustix::buffer::spare_capacity(&mut events), Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            other => other.unwrap(),
        };
        for event in &events {
            let i = event.data.u64() as usize;
            loop {
                match subscribers[i].try_value() {
                    Ok(seq) => {
                        assert_eq!(seq, next[i], "subscriber {i}: lost, repeated or reordered");
                        next[i] += 1;
                    }
                    Err(SubscriberError::Empty) => break,
                    Err(SubscriberError::Disconnected) => {
                        assert_eq!(next[i], messages, "subscriber {i} disconnected early");
                        disconnected[i] = true;
                        epoll::delete(&epoll, subscribers[i].as_fd()).unwrap();
                        break;
                    }
                    Err(other) => panic!("subscriber {i}: {other}"),
                }
            }
        }
    }
    println!("{DONE}");
}

/// A subscriber that armed sleeps in `poll` until a publication (from another thread,
/// later) makes its fd readable; a second subscriber that armed too hears it as well.
#[test]
fn an_armed_subscriber_is_woken_by_a_publication() {
    let name = unique("woken");
    let (_cleanup, _seats) = (Cleanup(name.clone()), SeatCleanup(name.clone()));
    let mut publisher = Publisher::create(&name, &config()).unwrap();
    let mut a = Subscriber::open(&name, Start::Live).unwrap();
    let mut b = Subscriber::open(&name, Start::Live).unwrap();
    for subscriber in [&mut a, &mut b] {
        assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
        let _ = subscriber.as_raw_fd(); // arms
    }
    assert_eq!(wait_readable(&[&a, &b], Duration::from_millis(50)), 0, "readable with nothing published");
    let late = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        publisher.send(b"wake up").unwrap();
        publisher
    });
    assert_ne!(wait_readable(&[&a], LONG), 0, "the publication did not ring a");
    assert_ne!(wait_readable(&[&b], LONG), 0, "the publication did not ring b");
    let publisher = late.join().unwrap();
    assert_eq!(&*a.try_recv().unwrap(), b"wake up");
    assert_eq!(&*b.try_recv().unwrap(), b"wake up");
    for subscriber in [&mut a, &mut b] {
        assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
    }
    assert_eq!(wait_readable(&[&a, &b], Duration::ZERO), 0, "still readable once drained");
    // A clean departure of the last publisher rings the armed subscribers.
    drop(publisher);
    assert_eq!(wait_readable(&[&a, &b], LONG), 2, "a departed publisher left the fds quiet");
    assert_eq!(a.try_recv().unwrap_err(), SubscriberError::Disconnected);
    assert_eq!(b.try_recv().unwrap_err(), SubscriberError::Disconnected);
}

/// A publisher process killed with SIGKILL makes the subscriber's fd readable, and the
/// next receive, after the messages it published, reports `Disconnected`.
#[test]
fn killed_publisher_makes_the_fd_readable_then_disconnected() {
    let name = unique("kill");
    let (_cleanup, _seats) = (Cleanup(name.clone()), SeatCleanup(name.clone()));
    let mut subscriber = Subscriber::create(&name, &config(), Start::Live).unwrap();
    let (mut child, mut lines) = spawn_child("child_publish_then_hang", HANG_ENV, &name);
    wait_for(&mut lines, READY);
    for seq in 0..3u64 {
        assert_eq!(subscriber.try_value().unwrap(), seq);
    }
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty, "armed, publisher alive");
    assert_eq!(wait_readable(&[&subscriber], Duration::from_millis(50)), 0, "readable with nothing published");

    let killed = Instant::now();
    child.kill().unwrap();
    assert_eq!(wait_readable(&[&subscriber], LONG), 1, "the fd never turned readable");
    let readable = killed.elapsed();
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Disconnected);
    let detected = killed.elapsed();
    child.wait().unwrap();
    println!("readable {readable:?} and Disconnected {detected:?} after SIGKILL");
    assert!(detected < Duration::from_secs(10), "took {detected:?}");
}

/// The publisher process of `killed_publisher_makes_the_fd_readable_then_disconnected`.
#[test]
fn child_publish_then_hang() {
    let Ok(name) = env::var(HANG_ENV) else { return };
    start_watchdog(Duration::from_secs(60));
    let mut publisher = Publisher::open(&name).unwrap();
    for seq in 0..3u64 {
        publisher.send_value(seq).unwrap();
    }
    println!("{READY}");
    thread::sleep(Duration::from_secs(60));
    drop(publisher);
}

/// A seat whose subscriber died with a ring unread in its bell is taken by a new
/// subscriber whose fd is not readable: the stale ring was drained on take. The next
/// publication rings the new subscriber.
#[test]
fn a_stale_seat_retaken_does_not_inherit_a_readable_fd() {
    let name = unique("stale");
    let (_cleanup, _seats) = (Cleanup(name.clone()), SeatCleanup(name.clone()));
    let one_seat = config().subscribers(1);
    let mut publisher = Publisher::create(&name, &one_seat).unwrap();
    let (mut child, mut lines) = spawn_child("child_arm_then_hang", ARM_ENV, &name);
    wait_for(&mut lines, READY);
    publisher.send(b"rings the child").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(seat_bells(&name).len(), 1);

    // The only seat is the dead child's: the open recovers it.
    let mut subscriber = Subscriber::open(&name, Start::Live).unwrap();
    let _ = subscriber.as_raw_fd(); // arms
    assert_eq!(wait_readable(&[&subscriber], Duration::from_millis(50)), 0, "inherited the dead subscriber's ring");
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
    publisher.send(b"for the new one").unwrap();
    assert_eq!(wait_readable(&[&subscriber], LONG), 1, "the new subscriber was not rung");
    assert_eq!(&*subscriber.try_recv().unwrap(), b"for the new one");
}

/// The subscriber process of `a_stale_seat_retaken_does_not_inherit_a_readable_fd`:
/// arms its fd and never drains it.
#[test]
fn child_arm_then_hang() {
    let Ok(name) = env::var(ARM_ENV) else { return };
    start_watchdog(Duration::from_secs(60));
    let mut subscriber = Subscriber::open(&name, Start::Live).unwrap();
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
    let _ = subscriber.as_raw_fd(); // arms
    println!("{READY}");
    thread::sleep(Duration::from_secs(60));
    drop(subscriber);
}

/// A saturated stream whose subscribers never asked for their fds rings nothing; with
/// one subscriber armed and not draining, a burst rings its bell once.
#[test]
fn a_busy_stream_rings_no_doorbell() {
    let overwrite = Config::new().kind(RingKind::Broadcast).slot_size(8).capacity(64).policy(Policy::Overwrite);
    let mut publisher = Publisher::in_memory(&overwrite).unwrap();
    let mut busy = publisher.subscribe(Start::Live).unwrap();
    let calls = ferry::doorbell_calls();
    let mut received = 0u64;
    for i in 0..10_000u64 {
        publisher.send_value(i).unwrap();
        if i % 7 == 0 {
            while let Ok(value) = busy.try_value() {
                assert!(value <= i);
                received += 1;
            }
        }
    }
    assert_eq!(ferry::doorbell_calls() - calls, 0, "doorbell system calls with no subscriber armed");
    assert!(received > 0);

    // One subscriber arms; the publisher rings its bell once for a whole burst.
    let mut armed = publisher.subscribe(Start::Live).unwrap();
    assert_eq!(armed.try_recv().unwrap_err(), SubscriberError::Empty);
    let _ = armed.as_raw_fd();
    let calls = ferry::doorbell_calls();
    for i in 0..64u64 {
        publisher.send_value(i).unwrap();
    }
    assert_eq!(ferry::doorbell_calls() - calls, 1, "more than one ring for one arming");
    assert_eq!(wait_readable(&[&armed], LONG), 1);
    assert_eq!(armed.try_value().unwrap(), 0);
}

/// Block mode: the publisher's fd turns readable when a full ring gets room, and a
/// `Select` over a publisher and a subscriber reports each when it is ready.
#[test]
fn publisher_fd_and_select() {
    let mut publisher = Publisher::in_memory(&Config::new().slot_size(8).capacity(2)).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    publisher.send(b"a").unwrap();
    publisher.send(b"b").unwrap();
    let _ = publisher.as_raw_fd(); // arms
    assert_eq!(publisher.try_send(b"c").unwrap_err(), PublishError::Full);
    assert_eq!(wait_readable(&[&publisher], Duration::ZERO), 0, "readable while full");
    {
        let mut select = Select::new();
        let p = select.publish(&publisher);
        let s = select.subscribe(&subscriber);
        assert_eq!(select.ready_timeout(Duration::from_secs(5)).unwrap(), vec![s]);
        let _ = p;
    }
    assert_eq!(&*subscriber.try_recv().unwrap(), b"a");
    assert_eq!(wait_readable(&[&publisher], LONG), 1, "the publisher's fd was not rung");
    {
        let mut select = Select::new();
        let p = select.publish(&publisher);
        assert_eq!(select.ready_timeout(Duration::from_secs(5)).unwrap(), vec![p]);
    }
    publisher.try_send(b"c").unwrap();
    assert_eq!(publisher.try_send(b"d").unwrap_err(), PublishError::Full);
}
