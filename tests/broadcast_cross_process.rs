//! The broadcast channel between real processes.
//!
//! Each test re-executes this test binary for its other processes, running the one
//! `child_broadcast` test with `FERRY_BC_CHILD` naming what to do; without it that test
//! returns at once. A child prints a marker when it holds its end and when it has done
//! its work (so a child that ran no test is never taken for a success), and kills itself
//! if it runs far too long, so a hang fails the parent instead of stalling it.
//!
//! `FERRY_BC_MESSAGES` scales the stream tests (default 1,000,000 for one publisher and
//! four subscribers).

use std::{
    env,
    io::{BufRead, BufReader},
    process::{self, Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Policy, PublishError, Publisher, RingKind, Start, Subscriber, SubscriberError};

mod support;
use support::{mix, start_watchdog, Cleanup, Rng};

/// Slot size: the largest message.
const SLOT: usize = 64;
/// Shortest message: publisher id (4 bytes), sequence number (8), filler (4 at least),
/// checksum (8).
const MIN_LEN: usize = 24;
const CHECKSUM_LEN: usize = 8;
/// What the child runs.
const CHILD_ENV: &str = "FERRY_BC_CHILD";
const ATTACHED: &str = "FERRY-BC-ATTACHED";
const HOLDING: &str = "FERRY-BC-HOLDING";
const DONE: &str = "FERRY-BC-DONE";
/// A child that runs longer than this kills itself.
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);
/// Long enough that only a broken channel runs into it.
const LONG: Duration = Duration::from_secs(60);

fn unique(tag: &str) -> String {
    format!("bcx-{tag}-{}", process::id())
}

fn messages() -> u64 {
    env::var("FERRY_BC_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn key(id: u32, seq: u64) -> u64 {
    mix(seq ^ (u64::from(id) << 56))
}

fn message_len(id: u32, seq: u64) -> usize {
    MIN_LEN + key(id, seq) as usize % (SLOT - MIN_LEN + 1)
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Writes message `seq` of publisher `id` into `out`, whose length is the message's.
fn write_message(id: u32, seq: u64, out: &mut [u8]) {
    let body = out.len() - CHECKSUM_LEN;
    out[..4].copy_from_slice(&id.to_le_bytes());
    out[4..12].copy_from_slice(&seq.to_le_bytes());
    Rng(key(id, seq)).fill(&mut out[12..body]);
    let sum = checksum(&out[..body]);
    out[body..].copy_from_slice(&sum.to_le_bytes());
}

/// Checks that `got` is an intact message; returns its publisher and sequence number.
fn parse(got: &[u8]) -> Result<(u32, u64), String> {
    if !(MIN_LEN..=SLOT).contains(&got.len()) {
        return Err(format!("a message of {} bytes", got.len()));
    }
    let body = got.len() - CHECKSUM_LEN;
    let id = u32::from_le_bytes(got[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(got[4..12].try_into().unwrap());
    if checksum(&got[..body]) != u64::from_le_bytes(got[body..].try_into().unwrap()) {
        return Err(format!("torn message ({} bytes, claims publisher {id} seq {seq})", got.len()));
    }
    if message_len(id, seq) != got.len() {
        return Err(format!("message {id}/{seq} has the wrong length {}", got.len()));
    }
    Ok((id, seq))
}

fn publish(publisher: &mut Publisher, id: u32, seq: u64) {
    let len = message_len(id, seq);
    if seq.is_multiple_of(2) {
        let mut loan = publisher.loan_timeout(LONG).expect("a slot");
        write_message(id, seq, &mut loan[..len]);
        loan.commit(len);
    } else {
        let mut buf = [0u8; SLOT];
        write_message(id, seq, &mut buf[..len]);
        publisher.send_timeout(&buf[..len], LONG).expect("published");
    }
}

/// A child process of this test binary, with its stdout lines.
struct ChildProc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProc {
    fn spawn(what: &str) -> Self {
        let mut child = Command::new(env::current_exe().unwrap())
            .args(["--exact", "child_broadcast", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, what)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a child");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a line starting with `marker`; returns the rest of it.
    fn expect(&self, marker: &str) -> String {
        let deadline = Instant::now() + LONG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                // libtest may print "test child_broadcast ... " before it on the line.
                Ok(line) if line.contains(marker) => {
                    let at = line.find(marker).unwrap() + marker.len();
                    return line[at..].trim().to_owned();
                }
                Ok(_) => continue,
                Err(e) => panic!("child never printed {marker}: {e}"),
            }
        }
    }

    /// Waits for the child to print `DONE` and exit successfully; returns what it printed
    /// after the marker.
    fn finish(mut self) -> String {
        let report = self.expect(DONE);
        let status = self.child.wait().expect("wait for a child");
        assert!(status.success(), "child failed: {status}");
        report
    }

    fn kill(&mut self) {
        self.child.kill().expect("kill a child");
        self.child.wait().expect("reap a child");
    }
}

/// The child side: does what `FERRY_BC_CHILD` says (`ROLE NAME ARGS...`).
#[test]
fn child_broadcast() {
    let Ok(what) = env::var(CHILD_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let args: Vec<&str> = what.split_whitespace().collect();
    let name = args[1];
    let number = |i: usize| args[i].parse::<u64>().unwrap();
    match args[0] {
        // `subscribe NAME PUBLISHERS MESSAGES HISTORY`: reads until every publisher has
        // gone; every publisher's messages must arrive whole, once, in order, and all of
        // them (block mode), starting at the history asked for.
        "subscribe" => {
            let (publishers, messages, history) = (number(2) as usize, number(3), number(4));
            let start = if history == 0 { Start::Live } else { Start::History(history as usize) };
            let mut subscriber = Subscriber::open(name, start).expect("subscribe");
            println!("{ATTACHED}");
            let mut next: Vec<Option<u64>> = vec![None; publishers];
            let mut first = None;
            let mut received = 0u64;
            let mut buf = [0u8; SLOT];
            loop {
                let (id, seq) = if received.is_multiple_of(3) {
                    match subscriber.recv_into_timeout(&mut buf, LONG) {
                        Ok(len) => parse(&buf[..len]).unwrap(),
                        Err(SubscriberError::Disconnected) => break,
                        Err(e) => panic!("recv_into: {e}"),
                    }
                } else {
                    match subscriber.recv_timeout(LONG) {
                        Ok(guard) => parse(&guard).unwrap(),
                        Err(SubscriberError::Disconnected) => break,
                        Err(e) => panic!("recv: {e}"),
                    }
                };
                first.get_or_insert(seq);
                let expected = next[id as usize].unwrap_or(if history == 0 { 0 } else { seq });
                assert_eq!(seq, expected, "publisher {id}: message {seq} where {expected} was due");
                next[id as usize] = Some(seq + 1);
                received += 1;
            }
            for (id, next) in next.iter().enumerate() {
                assert_eq!(next.unwrap_or(0), messages, "publisher {id}: not every message arrived");
            }
            println!("{DONE} {received} {}", first.unwrap_or(0));
        }
        // `publish NAME ID MESSAGES`: opens the channel as another publisher.
        "publish" => {
            let (id, messages) = (number(2) as u32, number(3));
            let mut publisher = Publisher::open(name).expect("open as a publisher");
            println!("{ATTACHED}");
            for seq in 0..messages {
                publish(&mut publisher, id, seq);
            }
            println!("{DONE}");
        }
        // `hold NAME READ`: reads READ messages, then holds a guard on the next and
        // sleeps (to be killed).
        "hold" => {
            let mut subscriber = Subscriber::open(name, Start::Live).expect("subscribe");
            println!("{ATTACHED}");
            for _ in 0..number(2) {
                parse(&subscriber.recv_timeout(LONG).expect("a message")).unwrap();
            }
            let _guard = subscriber.recv_timeout(LONG).expect("a message to hold");
            println!("{HOLDING}");
            thread::sleep(LONG);
        }
        // `slow NAME MESSAGES`: overwrite mode, reads slowly; what it receives plus
        // what it is told it missed must be every message, and nothing torn.
        "slow" => {
            let messages = number(2);
            let mut subscriber = Subscriber::open(name, Start::Live).expect("subscribe");
            println!("{ATTACHED}");
            let (mut next, mut received, mut lagged, mut invalidated) = (0u64, 0u64, 0u64, 0u64);
            let mut buf = [0u8; SLOT];
            while next < messages {
                if received.is_multiple_of(512) {
                    thread::sleep(Duration::from_micros(200));
                }
                let got = if received % 2 == 0 {
                    subscriber.recv_into_timeout(&mut buf, LONG)
                } else {
                    // In place: copy what is needed, then validate before trusting it.
                    match subscriber.recv_timeout(LONG) {
                        Ok(mut guard) => {
                            let len = guard.len().min(SLOT);
                            buf[..len].copy_from_slice(&guard[..len]);
                            guard.validate().map(|()| len).inspect_err(|_| invalidated += 1)
                        }
                        Err(e) => Err(e),
                    }
                };
                match got {
                    Ok(len) => {
                        let (id, seq) = parse(&buf[..len]).unwrap();
                        assert_eq!((id, seq), (0, next), "message {seq} where {next} was due");
                        next += 1;
                        received += 1;
                    }
                    Err(SubscriberError::Lagged(n)) => {
                        assert!(n > 0);
                        next += n;
                        lagged += n;
                    }
                    Err(e) => panic!("slow subscriber: {e}"),
                }
            }
            assert_eq!(next, messages, "received and missed add up to more than was sent");
            println!("{DONE} {received} {lagged} {invalidated}");
        }
        // `loan-and-die NAME`: loans a slot, writes half a message, and sleeps (to be
        // killed mid-write).
        "loan-and-die" => {
            let mut publisher = Publisher::open(name).expect("open as a publisher");
            let mut loan = publisher.loan_timeout(LONG).expect("a slot");
            loan[..12].copy_from_slice(&[0xee; 12]);
            println!("{HOLDING}");
            thread::sleep(LONG);
            drop(loan);
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn one_publisher_four_subscribers_receive_every_message_in_order() {
    let name = unique("1x4");
    let _cleanup = Cleanup(name.clone());
    let messages = messages();
    let config = Config::new().kind(RingKind::Broadcast).slot_size(SLOT).capacity(1024);
    let mut publisher = Publisher::create(&name, &config).unwrap();
    let subscribers: Vec<ChildProc> =
        (0..4).map(|_| ChildProc::spawn(&format!("subscribe {name} 1 {messages} 0"))).collect();
    for child in &subscribers {
        child.expect(ATTACHED);
    }
    assert_eq!(publisher.subscriber_count(), 4);
    let start = Instant::now();
    for seq in 0..messages {
        publish(&mut publisher, 0, seq);
    }
    drop(publisher);
    for child in subscribers {
        let report = child.finish();
        assert_eq!(report.split_whitespace().next(), Some(messages.to_string().as_str()), "{report}");
    }
    eprintln!("1 publisher x 4 subscribers: {messages} messages in {:?}", start.elapsed());
}

#[test]
fn two_publishers_three_subscribers_keep_each_publishers_order() {
    let name = unique("2x3");
    let _cleanup = Cleanup(name.clone());
    let messages = messages() / 5;
    let config = Config::new().kind(RingKind::Broadcast).slot_size(SLOT).capacity(256);
    // The creator publishes nothing; it keeps the channel's publishers "attached" until
    // the two publisher processes are.
    let creator = Publisher::create(&name, &config).unwrap();
    let subscribers: Vec<ChildProc> =
        (0..3).map(|_| ChildProc::spawn(&format!("subscribe {name} 2 {messages} 0"))).collect();
    for child in &subscribers {
        child.expect(ATTACHED);
    }
    let publishers: Vec<ChildProc> =
        (0..2).map(|id| ChildProc::spawn(&format!("publish {name} {id} {messages}"))).collect();
    for child in &publishers {
        child.expect(ATTACHED);
    }
    drop(creator);
    for child in publishers {
        child.finish();
    }
    for child in subscribers {
        let report = child.finish();
        assert_eq!(report.split_whitespace().next(), Some((2 * messages).to_string().as_str()), "{report}");
    }
}

#[test]
fn block_mode_a_killed_subscriber_stalls_the_others_no_longer_than_detection() {
    let name = unique("kill");
    let _cleanup = Cleanup(name.clone());
    let messages = 20_000u64;
    let config = Config::new().kind(RingKind::Broadcast).slot_size(SLOT).capacity(64);
    let mut publisher = Publisher::create(&name, &config).unwrap();
    let healthy = ChildProc::spawn(&format!("subscribe {name} 1 {messages} 0"));
    let mut victim = ChildProc::spawn(&format!("hold {name} 100"));
    healthy.expect(ATTACHED);
    victim.expect(ATTACHED);
    let mut seq = 0;
    // The victim reads 100 messages and holds the 101st: the publisher may run a ring
    // (64) past it, to 164, and then blocks.
    while seq < 150 {
        publish(&mut publisher, 0, seq);
        seq += 1;
    }
    victim.expect(HOLDING);
    let mut buf = [0u8; SLOT];
    loop {
        let len = message_len(0, seq);
        write_message(0, seq, &mut buf[..len]);
        match publisher.send_timeout(&buf[..len], Duration::from_millis(200)) {
            Ok(()) => seq += 1,
            Err(PublishError::Timeout) => break,
            Err(e) => panic!("publish: {e}"),
        }
        assert!(
            seq <= 100 + 64,
            "the publisher ran more than a ring past a subscriber holding a message: {:?}",
            ferry::inspect_broadcast(&name)
        );
    }
    victim.kill();
    let killed = Instant::now();
    let len = message_len(0, seq);
    write_message(0, seq, &mut buf[..len]);
    publisher.send_timeout(&buf[..len], LONG).expect("the dead subscriber stops gating");
    let stalled = killed.elapsed();
    seq += 1;
    // Detection is a park slice and a recovery interval (20 ms each); allow for a busy
    // machine.
    assert!(stalled < Duration::from_secs(2), "a dead subscriber stalled the publisher for {stalled:?}");
    while seq < messages {
        publish(&mut publisher, 0, seq);
        seq += 1;
    }
    drop(publisher);
    let report = healthy.finish();
    assert_eq!(report.split_whitespace().next(), Some(messages.to_string().as_str()));
    eprintln!("a killed subscriber stalled the publisher for {stalled:?}");
}

#[test]
fn overwrite_mode_a_slow_subscriber_is_told_exactly_what_it_missed() {
    let name = unique("slow");
    let _cleanup = Cleanup(name.clone());
    let messages = 200_000u64;
    let config = Config::new().kind(RingKind::Broadcast).slot_size(SLOT).capacity(64).policy(Policy::Overwrite);
    let mut publisher = Publisher::create(&name, &config).unwrap();
    let slow = ChildProc::spawn(&format!("slow {name} {messages}"));
    slow.expect(ATTACHED);
    for seq in 0..messages {
        // Never waits, whatever the subscriber does.
        let len = message_len(0, seq);
        let mut loan = publisher.try_loan().expect("overwrite mode never waits");
        write_message(0, seq, &mut loan[..len]);
        loan.commit(len);
    }
    let report = slow.finish();
    let numbers: Vec<u64> = report.split_whitespace().map(|n| n.parse().unwrap()).collect();
    let (received, lagged) = (numbers[0], numbers[1]);
    assert_eq!(received + lagged, messages);
    assert!(lagged > 0, "the subscriber was meant to fall behind: {report}");
    eprintln!("slow subscriber: received {received}, missed {lagged}, invalidated in place {}", numbers[2]);
    drop(publisher);
}

#[test]
fn a_late_joiner_gets_the_history_it_asks_for_then_the_live_stream() {
    let name = unique("late");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Broadcast).slot_size(SLOT).capacity(64).history(16);
    let mut publisher = Publisher::create(&name, &config).unwrap();
    for seq in 0..100 {
        publish(&mut publisher, 0, seq);
    }
    let late = ChildProc::spawn(&format!("subscribe {name} 1 150 10"));
    late.expect(ATTACHED);
    for seq in 100..150 {
        publish(&mut publisher, 0, seq);
    }
    drop(publisher);
    let report = late.finish();
    // The last 10 before it joined (90..99), then 100..149.
    assert_eq!(report, "60 90");
}

#[test]
fn a_publisher_killed_mid_write_neither_tears_nor_wedges_the_channel() {
    let name = unique("dying-publisher");
    let _cleanup = Cleanup(name.clone());
    let config = Config::new().kind(RingKind::Broadcast).slot_size(SLOT).capacity(8);
    let mut publisher = Publisher::create(&name, &config).unwrap();
    let mut subscriber = publisher.subscribe(Start::Live).unwrap();
    let mut dying = ChildProc::spawn(&format!("loan-and-die {name}"));
    dying.expect(HOLDING);
    let mut buf = [0u8; SLOT];
    let mut send = |publisher: &mut Publisher, seq: u64, wait: bool| {
        let len = message_len(0, seq);
        write_message(0, seq, &mut buf[..len]);
        if wait {
            publisher.send_timeout(&buf[..len], Duration::from_secs(5)).expect("the dead claim stops nothing");
        } else {
            publisher.try_send(&buf[..len]).expect("room behind the loan");
        }
    };
    // Behind the dying publisher's position: published, but not readable before it.
    for seq in 0..5 {
        send(&mut publisher, seq, false);
    }
    assert_eq!(subscriber.try_recv().unwrap_err(), SubscriberError::Empty);
    dying.kill();
    for seq in 0..40 {
        if seq >= 5 {
            send(&mut publisher, seq, true);
        }
        let got = subscriber.recv_timeout(Duration::from_secs(5)).expect("the dead claim is skipped");
        let (_, got_seq) = parse(&got).expect("never the half-written message");
        assert_eq!(got_seq, seq);
    }
}
