//! The broadcast channel sized in bytes (`RingKind::BroadcastBytes`) between real
//! processes.
//!
//! - Three publisher processes and three subscriber processes exchange messages of mixed
//!   sizes (0 B, 1 B, 64 B, 4 KiB, 1 MiB and the 2 MiB maximum, one in 1,000 large),
//!   published through every path: copies, loans committed whole, loans committed with
//!   fewer bytes than loaned, and loans filled with a perfect copy of the next message
//!   and dropped uncommitted (which must never arrive). The subscribers are all attached
//!   before the first publisher starts (a subscriber joins at the tail and sees only what
//!   is published after it joined). Every subscriber receives every message, whole,
//!   exactly once, and each publisher's in the order it published them.
//! - A publisher SIGKILLed inside a large loan, or at a random moment of a stream of copy
//!   sends (some kills land inside its short claiming turn), while another publisher and
//!   two subscribers go on: nothing torn is delivered, the dead publisher's messages that
//!   arrive are exactly those it committed (the same at both subscribers), and the
//!   channel never wedges: the surviving publisher's later messages, then a new
//!   publisher's, arrive at both subscribers.
//! - A subscriber SIGKILLed while it holds a guard on a message of the maximum: while it
//!   lives its cursor holds the publishers back (the ring takes exactly as much as the
//!   design says, and stays full once the other subscribers have read everything); once
//!   it is dead, recovery clears its cursor, the publishers go on for more than a lap of
//!   the ring, and the other subscribers receive every message.
//!
//! Each test re-executes this binary for its other processes, running one `child_*`
//! test by its exact name with an environment variable naming the channel (without it a
//! `child_*` test returns at once); `support::children` has the parent's side and the
//! markers, and a child kills itself if it runs far too long (`support::start_watchdog`).
//! The kill tests' publishers are `support::kill_senders`', shared with the MPMC
//! channel's. The parent's own waits all have timeouts.
//!
//! Messages are those of `support::messages`: one of 8 bytes or more says its publisher
//! and sequence number and is compared byte by byte; a 1-byte one says its publisher and
//! the low bits of its sequence number; a 0-byte one says nothing. Since a subscriber
//! receives every message of each publisher, in order, it always knows which one comes
//! next from each, and checks that each message received is exactly that one (see
//! `Tally`): a message lost, repeated, reordered, torn or never committed fails it; 0-byte
//! messages, which cannot be placed, are counted. A record a dropped loan or a dead
//! publisher left would arrive as a 0-byte message (its length is only set by the
//! commit), so the kill tests, whose publishers send no such message, refuse any.
//!
//! `FERRY_BYTES_BROADCAST_MESSAGES` sets the stream test's total number of messages
//! (default 100,000; the figure is 1,000,000); `FERRY_BYTES_BROADCAST_KILL_RUNS`
//! the runs of each kill test (default 20; `.ci/run` runs 200).

#![allow(clippy::disallowed_types, reason = "test-harness counters; loom models the library, not its tests")]

use std::{
    env, process,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, PublishError, Publisher, RingKind, Start, Subscriber, SubscriberError};

mod support;
use support::{
    children::{child, describe_all, parse_role, report, stream_watchdog, wait_all, Running, ATTACHED, DONE},
    count_from_env,
    kill_senders::{self, committed, sent, Kill, KillRun, FEEDER, KILL_CHILD_WATCHDOG, LOANER, NEWCOMER, SURVIVOR},
    messages::{identify, larger_loan, share, tag, tiny, write_message},
    mix, shm_path, start_watchdog, Cleanup,
};

/// The largest message.
const MAX: usize = 2 << 20;
/// One of the large sizes of the mix.
const MIB: usize = 1 << 20;
/// The ring: the smallest power of two holding two records of the maximum.
const CAPACITY: usize = 8 << 20;
/// A record's header; a record is the header and the payload rounded up to it.
const HEADER: usize = 16;
/// Publisher processes in the stream test.
const PUBLISHERS: u32 = 3;
/// Subscriber processes in the stream test.
const SUBSCRIBERS: u32 = 3;
/// A wait long enough that only a wedged or broken channel runs into it.
const GENEROUS: Duration = Duration::from_secs(20);

/// `<id>:<total messages>:<channel>` for `child_stream_publisher`.
const PUBLISHER_ENV: &str = "FERRY_BYTES_BROADCAST_PUBLISHER";
/// `<id>:<total messages>:<channel>` for `child_stream_subscriber`.
const SUBSCRIBER_ENV: &str = "FERRY_BYTES_BROADCAST_SUBSCRIBER";
/// The stream test's children's watchdog, in seconds (it grows with the count).
const WATCHDOG_ENV: &str = "FERRY_BYTES_BROADCAST_WATCHDOG_S";
/// `loan:<messages committed first>:<channel>` or `stream:<channel>` for
/// `child_victim_publisher`.
const VICTIM_PUBLISHER_ENV: &str = "FERRY_BYTES_BROADCAST_VICTIM_PUBLISHER";
/// The channel for `child_survivor_publisher`.
const SURVIVOR_ENV: &str = "FERRY_BYTES_BROADCAST_SURVIVOR";
/// The channel for `child_victim_subscriber`.
const VICTIM_SUBSCRIBER_ENV: &str = "FERRY_BYTES_BROADCAST_VICTIM_SUBSCRIBER";

/// Printed by the subscriber victim once it holds (and has checked) its message, with
/// the message's position.
const HOLDING: &str = "FERRY-CHILD-HOLDING";

/// Publishers a kill test's subscriber may hear from.
const KILL_PUBLISHERS: u32 = FEEDER + 1;
/// The feeder's message 5: what the ring has left after messages 0 to 4 (the maximum,
/// three of 1 MiB, the maximum) while message 0 is held: room to its last header.
const EDGE: usize = CAPACITY - 2 * (HEADER + MAX) - 3 * (HEADER + MIB) - 2 * HEADER;

/// Salts, so that the choices of lengths, send and receive paths and kills do not line
/// up.
const LEN_SALT: u64 = 0x6262_6370_6c65_6e01;
const SEND_SALT: u64 = 0x6262_6370_7365_6e03;
const RECV_SALT: u64 = 0x6262_6370_7265_6304;
const KILL_SALT: u64 = 0x6262_6370_6b69_6c05;

fn config() -> Config {
    Config::new().kind(RingKind::Broadcast).capacity_bytes(CAPACITY).max_message(MAX)
}

fn unique(tag: &str) -> String {
    format!("bb-{tag}-{}", process::id())
}

fn total_messages() -> u64 {
    count_from_env("FERRY_BYTES_BROADCAST_MESSAGES", 100_000)
}

fn kill_runs() -> u64 {
    count_from_env("FERRY_BYTES_BROADCAST_KILL_RUNS", 20)
}

/// Bytes a message of `len` bytes takes in the ring (the design's record).
fn record(len: usize) -> usize {
    HEADER + len.next_multiple_of(HEADER)
}

/// The length of message `seq` of stream publisher `id`: 0 B, 1 B, 64 B, 4 KiB, 1 MiB
/// or the maximum, one in 1,000 of them large (about 2.5 KB a message on average: each
/// subscriber checks every byte of every message, so the stream carries fewer large ones
/// than the MPMC test's, whose consumers share the messages).
fn stream_len(id: u32, seq: u64) -> usize {
    match mix(tag(id, seq) ^ LEN_SALT) % 4000 {
        0..800 => 0,
        800..1600 => 1,
        1600..2800 => 64,
        2800..3996 => 4096,
        3996..3999 => MIB,
        _ => MAX,
    }
}

/// The length of message `seq` of a kill test's publisher `id` (none is under 64 bytes).
fn kill_len(id: u32, seq: u64) -> usize {
    match id {
        // The loan victim: only large messages, written slowly.
        LOANER => [MIB, MAX][seq as usize % 2],
        // The subscriber victim's message (seq 0) is the maximum; then the feeder fills
        // the ring with large messages, a quarter of them the maximum, and one of them
        // exactly what is left while message 0 is held.
        FEEDER => match seq {
            5 => EDGE,
            _ if seq.is_multiple_of(4) => MAX,
            _ => MIB,
        },
        NEWCOMER => MAX,
        // The survivor and the stream victim: mostly small, so that a stream victim
        // claims often and is often killed inside a claim.
        _ => match mix(tag(id, seq) ^ LEN_SALT) % 100 {
            0..60 => 64,
            60..98 => 4096,
            98 => MIB,
            _ => MAX,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Three publisher processes, three subscriber processes, mixed sizes.
// ---------------------------------------------------------------------------------------

#[test]
fn three_publishers_and_three_subscribers_deliver_every_message_whole_to_every_subscriber() {
    let total = total_messages();
    let name = unique("stream");
    let _cleanup = Cleanup(name.clone());
    // A hang is a failure, but a large count on a slow machine is not one.
    let watchdog = (120 + total / 2_000).to_string();
    // The parent's publisher keeps the channel (and its name) until every child has
    // attached; it publishes nothing.
    let creator = Publisher::create(&name, &config()).expect("create");

    let started = Instant::now();
    let mut subscribers = Vec::new();
    for s in 0..SUBSCRIBERS {
        let role = format!("{s}:{total}:{name}");
        let command = child("child_stream_subscriber", &[(SUBSCRIBER_ENV, &role), (WATCHDOG_ENV, &watchdog)]);
        subscribers.push(Running::spawn(&format!("subscriber {s}"), command));
    }
    // Every subscriber holds its seat before any publisher starts: each then receives
    // every message from the first.
    for running in &mut subscribers {
        running.wait_for(ATTACHED);
    }
    let mut children = subscribers;
    for p in 0..PUBLISHERS {
        let role = format!("{p}:{total}:{name}");
        let command = child("child_stream_publisher", &[(PUBLISHER_ENV, &role), (WATCHDOG_ENV, &watchdog)]);
        children.push(Running::spawn(&format!("publisher {p}"), command));
    }
    for running in &mut children[SUBSCRIBERS as usize..] {
        running.wait_for(ATTACHED);
    }
    // From here on only the children's publishers keep the stream going: once they have
    // all detached and a subscriber has read everything, it is told so.
    drop(creator);
    assert!(!shm_path(&name).exists(), "dropping the creator should remove the channel's name");
    let finished = wait_all(children, "the stream");
    let elapsed = started.elapsed();

    // Each subscriber checked every message as it came (see `Tally`); here, that each
    // says it received them all.
    for f in &finished[..SUBSCRIBERS as usize] {
        let received: Option<u64> =
            f.summary().trim().strip_prefix("received ").and_then(|rest| rest.split(' ').next()?.parse().ok());
        assert_eq!(
            received,
            Some(total),
            "{} received another number of messages\n{}",
            f.label,
            describe_all(&finished)
        );
    }
    eprintln!(
        "{total} messages from {PUBLISHERS} to {SUBSCRIBERS} processes each in {elapsed:.2?} ({:.0} messages/s \
         published, including the children's start)",
        total as f64 / elapsed.as_secs_f64()
    );
    for f in &finished {
        eprintln!("  {}:{}", f.label, f.summary());
    }
}

/// A stream publisher: publishes its share of the messages through every path, and now
/// and then first drops uncommitted a loan holding a perfect copy of the next message.
#[test]
fn child_stream_publisher() {
    let Some((id, total, name)) = parse_role(PUBLISHER_ENV) else { return };
    start_watchdog(stream_watchdog(WATCHDOG_ENV));
    let mut tx = Publisher::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((tx.slot_size(), tx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    report(ATTACHED, "");
    let started = Instant::now();
    let count = share(total, PUBLISHERS, id);
    let mut scratch = vec![0u8; MAX];
    let (mut abandoned, mut shorter, mut full) = (0u64, 0u64, 0u64);
    for seq in 0..count {
        let len = stream_len(id, seq);
        let pick = mix(tag(id, seq) ^ SEND_SALT);
        if pick.is_multiple_of(32) {
            // A loan holding a perfect copy of message `seq`, dropped uncommitted: if a
            // subscriber ever saw it, a message would arrive twice (or an extra 0-byte one).
            let mut loan = tx.loan_bytes(larger_loan(len, pick, MAX).min(len + 64)).expect("child: loan to abandon");
            write_message(id, seq, &mut loan[..len]);
            drop(loan);
            abandoned += 1;
        }
        match (pick >> 8) % 8 {
            0 => {
                write_message(id, seq, &mut scratch[..len]);
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
            }
            1 => {
                write_message(id, seq, &mut scratch[..len]);
                tx.send_timeout(&scratch[..len], GENEROUS * 3)
                    .unwrap_or_else(|e| panic!("child: send_timeout {seq}: {e}"));
            }
            2 => {
                // `try_send` until it goes in, yielding while the ring is full; then a
                // blocking send, rather than spin for ever.
                write_message(id, seq, &mut scratch[..len]);
                let mut sent = false;
                for _ in 0..64 {
                    match tx.try_send(&scratch[..len]) {
                        Ok(()) => {
                            sent = true;
                            break;
                        }
                        Err(PublishError::Full) => {
                            full += 1;
                            thread::yield_now();
                        }
                        Err(e) => panic!("child: try_send {seq}: {e}"),
                    }
                }
                if !sent {
                    tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                }
            }
            3 => {
                let mut loan = tx.loan_bytes(len).unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                write_message(id, seq, &mut loan);
                loan.commit(len);
            }
            4 => {
                let mut loan =
                    tx.loan_bytes_timeout(len, GENEROUS * 3).unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                write_message(id, seq, &mut loan);
                loan.commit(len);
            }
            5 => {
                // `try_loan_bytes` until it gives room, yielding; then a blocking loan.
                let mut sent = false;
                for _ in 0..64 {
                    match tx.try_loan_bytes(len) {
                        Ok(mut loan) => {
                            write_message(id, seq, &mut loan);
                            loan.commit(len);
                            sent = true;
                            break;
                        }
                        Err(PublishError::Full) => {
                            full += 1;
                            thread::yield_now();
                        }
                        Err(e) => panic!("child: try_loan_bytes {seq}: {e}"),
                    }
                }
                if !sent {
                    let mut loan = tx.loan_bytes(len).unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
                    write_message(id, seq, &mut loan);
                    loan.commit(len);
                }
            }
            _ => {
                // Loan more, commit fewer; the bytes past the message must not arrive.
                let size = larger_loan(len, pick, MAX);
                let mut loan = tx.loan_bytes(size).unwrap_or_else(|e| panic!("child: loan {size} at {seq}: {e}"));
                let slack = (len + 64).min(size);
                loan[len..slack].fill(0xA5);
                write_message(id, seq, &mut loan[..len]);
                loan.commit(len);
                shorter += 1;
            }
        }
    }
    drop(tx);
    report(
        DONE,
        &format!(
            " sent {count} in {:.2?}: {shorter} loans committed short, {abandoned} dropped, {full} times full",
            started.elapsed()
        ),
    );
}

/// What one subscriber has received. A subscriber receives every message of each
/// publisher in order, so it knows which one comes next from each: every message must
/// be exactly that one. 0-byte messages say nothing of where they come from: those
/// passed over are counted, and must be as many as those received.
struct Tally {
    id: u32,
    total: u64,
    /// Per publisher, the sequence number of its next message not yet received (or
    /// passed over as 0 bytes).
    next: Vec<u64>,
    received: u64,
    /// 0-byte messages received.
    empty_received: u64,
    /// 0-byte messages passed over in `next`.
    empty_passed: u64,
    /// Messages of 1 MiB or more received.
    large: u64,
}

impl Tally {
    fn new(id: u32, total: u64) -> Self {
        Self {
            id,
            total,
            next: vec![0; PUBLISHERS as usize],
            received: 0,
            empty_received: 0,
            empty_passed: 0,
            large: 0,
        }
    }

    fn take(&mut self, got: &[u8]) {
        self.received += 1;
        let id = self.id;
        let (p, seq) = match got.len() {
            0 => {
                self.empty_received += 1;
                return;
            }
            1 => {
                let p = u32::from(got[0] >> 6);
                assert!(p < PUBLISHERS, "child: subscriber {id}: a 1-byte message from publisher {p}");
                (p, None)
            }
            _ => {
                let total = self.total;
                let (p, seq) = identify(got, PUBLISHERS, |p| share(total, PUBLISHERS, p), stream_len)
                    .unwrap_or_else(|e| panic!("child: subscriber {id}: {e}"));
                (p, Some(seq))
            }
        };
        let expected = self.pass_empty(p);
        assert!(
            expected < share(self.total, PUBLISHERS, p),
            "child: subscriber {id}: a message of {} bytes from publisher {p} after its last (repeated?)",
            got.len()
        );
        let len = stream_len(p, expected);
        let fits = match seq {
            Some(seq) => seq == expected,
            None => len == 1 && got[0] == tiny(p, expected),
        };
        assert!(
            fits,
            "child: subscriber {id}: message {expected} of publisher {p} ({len} bytes) was next, got a message of {} \
             bytes ({seq:?}): lost, repeated or out of order",
            got.len()
        );
        self.large += u64::from(len >= MIB);
        self.next[p as usize] = expected + 1;
    }

    /// Passes over publisher `p`'s 0-byte messages from its next one, counting them;
    /// returns the sequence number of the first that says something (or its count).
    fn pass_empty(&mut self, p: u32) -> u64 {
        let count = share(self.total, PUBLISHERS, p);
        let next = &mut self.next[p as usize];
        while *next < count && stream_len(p, *next) == 0 {
            *next += 1;
            self.empty_passed += 1;
        }
        *next
    }

    /// At the end of the stream: every publisher's messages were received, and as many
    /// 0-byte messages as were sent.
    fn finish(&mut self) {
        let id = self.id;
        for p in 0..PUBLISHERS {
            let (next, count) = (self.pass_empty(p), share(self.total, PUBLISHERS, p));
            assert_eq!(
                next,
                count,
                "child: subscriber {id}: publisher {p}'s messages from {next} ({} bytes) on never arrived",
                stream_len(p, next)
            );
        }
        assert_eq!(
            self.empty_received, self.empty_passed,
            "child: subscriber {id}: 0-byte messages received, and sent"
        );
        assert_eq!(self.received, self.total, "child: subscriber {id}: messages received, and sent");
    }
}

/// A stream subscriber: receives through every receive path until the publishers have
/// all gone, checking every message as it comes.
#[test]
fn child_stream_subscriber() {
    let Some((id, total, name)) = parse_role(SUBSCRIBER_ENV) else { return };
    start_watchdog(stream_watchdog(WATCHDOG_ENV));
    let mut rx = Subscriber::open(&name, Start::Live).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((rx.slot_size(), rx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    report(ATTACHED, "");
    let started = Instant::now();
    let mut tally = Tally::new(id, total);
    let mut buf = vec![0u8; MAX];
    let (mut round, mut too_small) = (0u64, 0u64);
    let failed = |what: &str, e: SubscriberError| -> ! { panic!("child: subscriber {id}: {what}: {e:?}") };
    'receiving: loop {
        round += 1;
        let pick = mix(round ^ RECV_SALT ^ u64::from(id) << 48);
        // Each arm receives one message, or breaks out on `Disconnected`.
        match pick % 7 {
            0 => match rx.recv() {
                Ok(guard) => tally.take(&guard),
                Err(SubscriberError::Disconnected) => break,
                Err(e) => failed("recv", e),
            },
            1 => match rx.recv_timeout(GENEROUS * 3) {
                Ok(guard) => tally.take(&guard),
                Err(SubscriberError::Disconnected) => break,
                Err(e) => failed("recv_timeout", e),
            },
            2 => match rx.recv_into(&mut buf) {
                Ok(n) => tally.take(&buf[..n]),
                Err(SubscriberError::Disconnected) => break,
                Err(e) => failed("recv_into", e),
            },
            3 => match rx.recv_into_timeout(&mut buf, GENEROUS * 3) {
                Ok(n) => tally.take(&buf[..n]),
                Err(SubscriberError::Disconnected) => break,
                Err(e) => failed("recv_into_timeout", e),
            },
            4 => {
                // `try_recv` and retry, yielding; a blocking receive after a while.
                for _ in 0..64 {
                    match rx.try_recv() {
                        Ok(guard) => {
                            tally.take(&guard);
                            continue 'receiving;
                        }
                        Err(SubscriberError::Empty) => thread::yield_now(),
                        Err(SubscriberError::Disconnected) => break 'receiving,
                        Err(e) => failed("try_recv", e),
                    }
                }
                match rx.recv() {
                    Ok(guard) => tally.take(&guard),
                    Err(SubscriberError::Disconnected) => break,
                    Err(e) => failed("recv after try_recv", e),
                }
            }
            5 => {
                // `try_recv_into` and retry, yielding; a blocking copy after a while.
                for _ in 0..64 {
                    match rx.try_recv_into(&mut buf) {
                        Ok(n) => {
                            tally.take(&buf[..n]);
                            continue 'receiving;
                        }
                        Err(SubscriberError::Empty) => thread::yield_now(),
                        Err(SubscriberError::Disconnected) => break 'receiving,
                        Err(e) => failed("try_recv_into", e),
                    }
                }
                match rx.recv_into(&mut buf) {
                    Ok(n) => tally.take(&buf[..n]),
                    Err(SubscriberError::Disconnected) => break,
                    Err(e) => failed("recv_into after try_recv_into", e),
                }
            }
            _ => {
                // Too small a buffer: a longer message is refused with its length and
                // stays for the next receive.
                let room = (pick >> 8) as usize % 64;
                match rx.recv_into(&mut buf[..room]) {
                    Ok(n) => tally.take(&buf[..n]),
                    Err(SubscriberError::BufferTooSmall { needed })
                        if needed > room && [1, 64, 4096, MIB, MAX].contains(&needed) =>
                    {
                        too_small += 1;
                    }
                    Err(SubscriberError::Disconnected) => break,
                    other => panic!("child: subscriber {id}: recv_into {room} bytes gave {other:?}"),
                }
            }
        }
    }
    let elapsed = started.elapsed();
    // Disconnected means drained: nothing is left, and nothing more comes.
    assert_eq!(
        rx.try_recv().unwrap_err(),
        SubscriberError::Disconnected,
        "child: subscriber {id}: a message after Disconnected"
    );
    drop(rx);
    tally.finish();
    report(
        DONE,
        &format!(
            " received {} ({} of 0 bytes, {} of 1 MiB or more) in {elapsed:.2?}, {too_small} refused for a small buffer",
            tally.received, tally.empty_received, tally.large
        ),
    );
}

// ---------------------------------------------------------------------------------------
// The kill tests' subscribers, in the parent.
// ---------------------------------------------------------------------------------------

/// How far one of the parent's subscriber threads has got, for the parent to look at.
#[derive(Default)]
struct Progress {
    /// Messages received.
    taken: AtomicU64,
    /// Its `Subscriber::pending` after the last one.
    pending: AtomicU64,
}

/// Receives until the publishers have all gone, checking that each message is whole,
/// from a publisher below `KILL_PUBLISHERS`, and the next of that publisher (every one
/// from its first, none skipped); pausing `pause` after each. Returns how many each
/// publisher's were.
fn drain(rx: &mut Subscriber, label: &str, pause: Duration, progress: &Progress) -> Result<Vec<u64>, String> {
    let mut next = vec![0; KILL_PUBLISHERS as usize];
    loop {
        let (p, seq) = match rx.recv_timeout(GENEROUS) {
            Ok(guard) => {
                identify(&guard, KILL_PUBLISHERS, |_| 1 << 40, kill_len).map_err(|e| format!("{label}: {e}"))?
            }
            Err(SubscriberError::Disconnected) => return Ok(next),
            Err(e) => return Err(format!("{label}: after {} messages: {e} (wedged?)", next.iter().sum::<u64>())),
        };
        if seq != next[p as usize] {
            return Err(format!("{label}: message {seq} of publisher {p} where {} was next", next[p as usize]));
        }
        next[p as usize] += 1;
        progress.taken.fetch_add(1, Relaxed);
        progress.pending.store(rx.pending(), Relaxed);
        if !pause.is_zero() {
            thread::sleep(pause);
        }
    }
}

// ---------------------------------------------------------------------------------------
// A publisher killed mid-message.
// ---------------------------------------------------------------------------------------

#[test]
fn publisher_killed_inside_a_large_loan_never_delivers_it_and_never_wedges() {
    publisher_killed(Kill::InsideLoan);
}

#[test]
fn publisher_killed_at_random_moments_of_copy_sends_never_tears_or_wedges() {
    publisher_killed(Kill::RandomSend);
}

fn publisher_killed(how: Kill) {
    let runs = kill_runs();
    let started = Instant::now();
    let mut victim_sent = 0;
    for run in 0..runs {
        // (The two kill tests run at once: each names its channels apart.)
        let name = unique(&format!("pkill-{how:?}-{run}"));
        let _cleanup = Cleanup(name.clone());
        let mut rx = Subscriber::create(&name, &config(), Start::Live).expect("create");
        let mut rx2 = Subscriber::open(&name, Start::Live).expect("a second subscriber");
        let pick = mix(run ^ KILL_SALT);
        // Every other run of the stream victim the subscribers are slow: the ring stays
        // full, and the victim, retrying `try_send`, spends much of its time in its
        // claiming turn.
        let pause = match how {
            Kill::RandomSend if run % 2 == 1 => Duration::from_micros(100),
            _ => Duration::ZERO,
        };
        let victim_id = how.victim();
        let children = KillRun::spawn(
            how,
            pick,
            &name,
            ["child_survivor_publisher", SURVIVOR_ENV],
            ["child_victim_publisher", VICTIM_PUBLISHER_ENV],
        );
        let progress = [Progress::default(), Progress::default()];

        let (counts, survivor, victim) = thread::scope(|s| {
            let first = s.spawn(|| drain(&mut rx, "subscriber 1", pause, &progress[0]));
            let second = s.spawn(|| drain(&mut rx2, "subscriber 2", pause, &progress[1]));
            let (survivor, victim) = children.kill(|| {
                if !pause.is_zero() {
                    wait_until_nearly_full(&progress);
                }
            });
            let counts = [first.join(), second.join()].map(|t| t.expect("a subscriber thread"));
            (counts, survivor, victim)
        });
        let context = || format!("run {run} ({how:?})\n{}\n{}", survivor.describe(), victim.describe());
        let counts = counts.map(|c| c.unwrap_or_else(|e| panic!("{e}: {}", context())));
        assert!(survivor.ok(), "the survivor failed: {}", context());

        // Both subscribers received every message the survivor sent, and the victim's up
        // to one it did not finish (each checked a prefix of its messages, whole): the
        // same ones.
        let sent = sent(&survivor);
        for (s, count) in counts.iter().enumerate() {
            assert_eq!(count[SURVIVOR as usize], sent, "subscriber {}: the survivor's messages: {}", s + 1, context());
        }
        let delivered = counts[0][victim_id as usize];
        assert_eq!(
            counts[1][victim_id as usize],
            delivered,
            "the subscribers received different numbers of the victim's messages: {}",
            context()
        );
        if let Kill::InsideLoan = how {
            assert_eq!(
                delivered,
                committed(pick),
                "the victim committed {} messages before the one it died in: {}",
                committed(pick),
                context()
            );
        }
        victim_sent += delivered;

        // A new publisher's message of the maximum finds room and arrives at both.
        let mut tx = Publisher::open(&name).unwrap_or_else(|e| panic!("run {run}: a new publisher: {e}"));
        let mut loan = tx.loan_bytes_timeout(MAX, GENEROUS).unwrap_or_else(|e| panic!("run {run}: {e} (wedged?)"));
        write_message(NEWCOMER, 0, &mut loan);
        loan.commit(MAX);
        for (s, rx) in [&mut rx, &mut rx2].into_iter().enumerate() {
            let guard = rx
                .recv_timeout(GENEROUS)
                .unwrap_or_else(|e| panic!("run {run}: subscriber {}: the new publisher's message: {e}", s + 1));
            assert_eq!(
                identify(&guard, KILL_PUBLISHERS, |_| 1, kill_len),
                Ok((NEWCOMER, 0)),
                "run {run}: subscriber {}",
                s + 1
            );
        }
    }
    eprintln!(
        "{runs} runs ({how:?}) in {:.2?}; {victim_sent} of the victims' messages delivered before their deaths",
        started.elapsed()
    );
}

/// Waits, at most a second, until a subscriber has all but the last 64 KiB of the ring
/// still to read (where the publishers stay while the subscribers are slow).
fn wait_until_nearly_full(progress: &[Progress]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let behind = || progress.iter().map(|p| p.pending.load(Relaxed)).max().unwrap_or(0);
    while behind() < (CAPACITY - (64 << 10)) as u64 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// The victim publisher (`kill_senders::victim`), killed inside a loan or at a random send.
#[test]
fn child_victim_publisher() {
    let Ok(role) = env::var(VICTIM_PUBLISHER_ENV) else { return };
    kill_senders::victim::<Publisher>(&role, kill_len, MAX);
}

/// The surviving publisher (`kill_senders::survivor`): sends until told the victim is dead,
/// then `AFTER_KILL` more.
#[test]
fn child_survivor_publisher() {
    let Ok(name) = env::var(SURVIVOR_ENV) else { return };
    kill_senders::survivor::<Publisher>(&name, kill_len, MAX, GENEROUS);
}

// ---------------------------------------------------------------------------------------
// A subscriber killed while it holds a large message.
// ---------------------------------------------------------------------------------------

#[test]
fn subscriber_killed_holding_a_large_message_holds_publishers_back_only_while_it_lives() {
    let runs = kill_runs();
    let started = Instant::now();
    let mut delivered = 0;
    for run in 0..runs {
        let name = unique(&format!("skill-{run}"));
        let _cleanup = Cleanup(name.clone());
        // Two publishers (taking turns) and two subscribers here, the victim in a child.
        let mut txs = [Publisher::create(&name, &config()).expect("create"), Publisher::open(&name).expect("open")];
        let mut rx = txs[0].subscribe(Start::Live).expect("a subscriber");
        let mut rx2 = txs[0].subscribe(Start::Live).expect("a second subscriber");
        let mut victim = Running::spawn("victim", child("child_victim_subscriber", &[(VICTIM_SUBSCRIBER_ENV, &name)]));
        victim.wait_for(ATTACHED);
        let progress = [Progress::default(), Progress::default()];

        let (counts, sent, victim) = thread::scope(|s| {
            let first = s.spawn(|| drain(&mut rx, "subscriber 1", Duration::ZERO, &progress[0]));
            let second = s.spawn(|| drain(&mut rx2, "subscriber 2", Duration::ZERO, &progress[1]));
            let mut scratch = vec![0u8; MAX];
            // The first message, of the maximum, at position 0 of the fresh ring: every
            // subscriber receives it, and the victim holds it.
            txs[0].send_timeout(feed(0, &mut scratch), GENEROUS).expect("the first message");
            let at = victim.wait_for(HOLDING);
            assert_eq!(at.trim(), "0", "run {run}: the victim holds the first message, at position 0");
            let mut seq = 1;
            // While the victim lives its cursor (0) is the lowest, so the ring takes
            // exactly the records that fit before position CAPACITY (with a free header
            // after them): no padding, no wrap. One more than that means its record was
            // reused; one fewer, a refusal with room. Message 5 (`EDGE`) fills it to the
            // last header.
            let mut used = record(MAX);
            loop {
                let bytes = feed(seq, &mut scratch);
                let fits = used + record(bytes.len()) + HEADER <= CAPACITY;
                match txs[seq as usize % 2].try_send(bytes) {
                    Ok(()) => {
                        assert!(fits, "run {run}: message {seq} went in past the held record: it was reused");
                        used += record(bytes.len());
                        seq += 1;
                    }
                    Err(PublishError::Full) => {
                        assert!(!fits, "run {run}: message {seq} refused with room for it ({used} bytes used)");
                        break;
                    }
                    Err(e) => panic!("run {run}: send {seq} beside the held message: {e}"),
                }
            }
            assert_eq!((seq, used + HEADER), (6, CAPACITY), "run {run}: the ring filled to its last header");
            // The other subscribers read everything; the victim still holds the
            // publishers back, both of them, even from the smallest message (a header,
            // and the free one after it). (Were it let in, the subscribers would refuse a
            // 0-byte message.)
            let deadline = Instant::now() + GENEROUS;
            while progress.iter().any(|p| p.taken.load(Relaxed) < seq) {
                assert!(Instant::now() < deadline, "run {run}: the live subscribers did not read {seq} messages");
                thread::sleep(Duration::from_millis(1));
            }
            for tx in &mut txs {
                assert_eq!(
                    tx.try_send(&[]),
                    Err(PublishError::Full),
                    "run {run}: room while the victim, alive, holds message 0"
                );
            }
            let victim = victim.kill();
            // Once it is dead, recovery clears its cursor: the publishers go on (the first
            // message already needs the room it held) for more than a lap of the ring,
            // and the others receive every message.
            let target = seq + (CAPACITY / MIB) as u64;
            while seq < target {
                if let Err(e) = txs[seq as usize % 2].send_timeout(feed(seq, &mut scratch), GENEROUS) {
                    panic!("run {run}: send {seq} after the subscriber's death: {e} (wedged?)\n{}", victim.describe());
                }
                seq += 1;
            }
            drop(txs);
            let counts = [first.join(), second.join()].map(|t| t.expect("a subscriber thread"));
            (counts, seq, victim)
        });
        for (s, count) in counts.into_iter().enumerate() {
            let count = count.unwrap_or_else(|e| panic!("run {run}: {e}\n{}", victim.describe()));
            assert_eq!(count[FEEDER as usize], sent, "run {run}: subscriber {}: the feeder's messages", s + 1);
        }
        delivered += sent;
    }
    eprintln!("{runs} runs in {:.2?}; {delivered} messages delivered to each live subscriber", started.elapsed());
}

/// Writes the feeder's message `seq` into `scratch` and returns it.
fn feed(seq: u64, scratch: &mut [u8]) -> &[u8] {
    let len = kill_len(FEEDER, seq);
    write_message(FEEDER, seq, &mut scratch[..len]);
    &scratch[..len]
}

/// Takes the first message, checks it, reports `HOLDING` with its position and holds it
/// until killed.
#[test]
fn child_victim_subscriber() {
    let Ok(name) = env::var(VICTIM_SUBSCRIBER_ENV) else { return };
    start_watchdog(KILL_CHILD_WATCHDOG);
    let mut rx = Subscriber::open(&name, Start::Live).unwrap_or_else(|e| panic!("child: {e}"));
    report(ATTACHED, "");
    let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("child: recv: {e}"));
    let got = identify(&guard, KILL_PUBLISHERS, |_| 1, kill_len).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!(got, (FEEDER, 0), "child: the first message");
    report(HOLDING, &format!(" {}", guard.position()));
    thread::sleep(KILL_CHILD_WATCHDOG);
    drop(guard);
}
