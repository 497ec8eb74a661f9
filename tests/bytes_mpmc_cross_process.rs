//! The MPMC channel sized in bytes (`RingKind::MpmcBytes`) between real processes.
//!
//! - Three producer processes and three consumer processes exchange messages of mixed
//!   sizes (0 B, 1 B, 64 B, 4 KiB, 1 MiB and the 2 MiB maximum, the large ones rare),
//!   sent through every send path: copies, loans committed whole, loans committed with
//!   fewer bytes than loaned, and loans filled with a perfect copy of the next message
//!   and dropped uncommitted (which must never arrive). Every message arrives whole and
//!   exactly once, and each consumer sees each producer's messages in order.
//! - A producer SIGKILLed inside a large loan, or at a random moment of a stream of copy
//!   sends (some kills land inside its short claiming turn), while another producer and
//!   two consumers go on: nothing torn is delivered, the dead producer's messages that
//!   arrive are exactly those it committed, and the channel never wedges: the surviving
//!   producer's later messages, then a new producer's, arrive.
//! - A consumer SIGKILLed while it holds a guard on a large message: while it holds it,
//!   its bytes are never reused; once it is dead, recovery releases its record and the
//!   producer fills the ring, and the other consumers drain it, many times over.
//!
//! Each test re-executes this binary for its other processes, running one `child_*`
//! test by its exact name with an environment variable naming the channel (without it a
//! `child_*` test returns at once); `support::children` has the parent's side and the
//! markers, and a child kills itself if it runs far too long (`support::start_watchdog`).
//! The kill tests' producers are `support::kill_senders`', shared with the broadcast
//! channel's. The parent's own waits all have timeouts.
//!
//! Messages are those of `support::messages`: one of 8 bytes or more says its producer
//! and sequence number and is compared byte by byte; a 1-byte one says its producer and
//! the low 6 bits of its sequence number; a 0-byte one says nothing: those two are
//! checked by count per producer (1 B) and in all (0 B), and the 1-byte ones also for
//! order (see `Tally::take_tiny`). A record the ring delivered without its producer
//! publishing it would arrive as a 0-byte message (its length is only set by the
//! commit), so the kill tests, whose producers send no such message, refuse any.
//!
//! `FERRY_BYTES_MPMC_MESSAGES` sets the stream test's total number of messages (default
//! 100,000; the figure is 1,000,000); `FERRY_BYTES_MPMC_KILL_RUNS` the runs of
//! each kill test (default 20; `.ci/run` runs 200).

use std::{
    env,
    fs::{self, File},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process, thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, RingKind, SendError, Sender};

mod support;
use support::{
    children::{child, describe_all, parse_role, report, stream_watchdog, wait_all, Running, ATTACHED, DONE},
    count_from_env,
    kill_senders::{self, committed, sent, Kill, KillRun, FEEDER, KILL_CHILD_WATCHDOG, LOANER, NEWCOMER, SURVIVOR},
    messages::{identify, larger_loan, share, tag, write_message},
    mix, shm_path, start_watchdog, Cleanup,
};

/// The largest message.
const MAX: usize = 2 << 20;
/// One of the large sizes of the mix.
const MIB: usize = 1 << 20;
/// The ring: the smallest power of two holding two records of the maximum.
const CAPACITY: usize = 8 << 20;
/// Producer processes in the stream test.
const PRODUCERS: u32 = 3;
/// Consumer processes in the stream test.
const CONSUMERS: u32 = 3;
/// A wait long enough that only a wedged or broken channel runs into it.
const GENEROUS: Duration = Duration::from_secs(20);

/// `<id>:<total messages>:<channel>` for `child_stream_producer`.
const PRODUCER_ENV: &str = "FERRY_BYTES_MPMC_PRODUCER";
/// `<id>:<total messages>:<channel>` for `child_stream_consumer`.
const CONSUMER_ENV: &str = "FERRY_BYTES_MPMC_CONSUMER";
/// The file `child_stream_consumer` writes what it received to.
const RECEIVED_ENV: &str = "FERRY_BYTES_MPMC_RECEIVED";
/// The stream test's children's watchdog, in seconds (it grows with the count).
const WATCHDOG_ENV: &str = "FERRY_BYTES_MPMC_WATCHDOG_S";
/// `loan:<messages committed first>:<channel>` or `stream:<channel>` for
/// `child_victim_producer`.
const VICTIM_PRODUCER_ENV: &str = "FERRY_BYTES_MPMC_VICTIM_PRODUCER";
/// The channel for `child_survivor_producer`.
const SURVIVOR_ENV: &str = "FERRY_BYTES_MPMC_SURVIVOR";
/// The channel for `child_victim_consumer`.
const VICTIM_CONSUMER_ENV: &str = "FERRY_BYTES_MPMC_VICTIM_CONSUMER";

/// Printed by the consumer victim once it holds (and has checked) its message.
const HOLDING: &str = "FERRY-CHILD-HOLDING";

/// Salts, so that the choices of lengths, send and receive paths and kills do not line
/// up.
const LEN_SALT: u64 = 0x6279_6d70_6c65_6e01;
const SEND_SALT: u64 = 0x6279_6d70_7365_6e03;
const RECV_SALT: u64 = 0x6279_6d70_7265_6304;
const KILL_SALT: u64 = 0x6279_6d70_6b69_6c05;

fn config() -> Config {
    Config::new().kind(RingKind::Mpmc).capacity_bytes(CAPACITY).max_message(MAX)
}

fn unique(tag: &str) -> String {
    format!("bm-{tag}-{}", process::id())
}

fn total_messages() -> u64 {
    count_from_env("FERRY_BYTES_MPMC_MESSAGES", 100_000)
}

fn kill_runs() -> u64 {
    count_from_env("FERRY_BYTES_MPMC_KILL_RUNS", 20)
}

/// The length of message `seq` of stream producer `id`: 0 B, 1 B, 64 B, 4 KiB, 1 MiB
/// or the maximum, one in 250 of them large (about 6.5 KB a message on average).
fn stream_len(id: u32, seq: u64) -> usize {
    match mix(tag(id, seq) ^ LEN_SALT) % 1000 {
        0..200 => 0,
        200..400 => 1,
        400..700 => 64,
        700..996 => 4096,
        996..999 => MIB,
        _ => MAX,
    }
}

/// The length of message `seq` of a kill test's producer `id` (none is under 64 bytes).
fn kill_len(id: u32, seq: u64) -> usize {
    match id {
        // The loan victim: only large messages, written slowly.
        LOANER => [MIB, MAX][seq as usize % 2],
        // The consumer victim's message (seq 0) is the maximum; then the feeder fills
        // the ring with large messages, a quarter of them the maximum.
        FEEDER => {
            if seq.is_multiple_of(4) {
                MAX
            } else {
                MIB
            }
        }
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
// Three producer processes, three consumer processes, mixed sizes.
// ---------------------------------------------------------------------------------------

/// Removes a scratch file on drop.
struct RemoveFile(PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn three_producers_and_three_consumers_deliver_mixed_sizes_whole_exactly_once() {
    let total = total_messages();
    let name = unique("stream");
    let _cleanup = Cleanup(name.clone());
    let files: Vec<RemoveFile> =
        (0..CONSUMERS).map(|c| RemoveFile(env::temp_dir().join(format!("ferry-{name}-received-{c}.bin")))).collect();
    // A hang is a failure, but a large count on a slow machine is not one.
    let watchdog = (120 + total / 2_000).to_string();
    // The parent's sender keeps the channel (and its name) until every child has
    // attached; it sends nothing.
    let creator = Sender::create(&name, &config()).expect("create");

    let started = Instant::now();
    let mut children = Vec::new();
    for (c, file) in files.iter().enumerate() {
        let role = format!("{c}:{total}:{name}");
        let path = file.0.to_str().expect("a UTF-8 temporary path");
        let command =
            child("child_stream_consumer", &[(CONSUMER_ENV, &role), (RECEIVED_ENV, path), (WATCHDOG_ENV, &watchdog)]);
        children.push(Running::spawn(&format!("consumer {c}"), command));
    }
    for p in 0..PRODUCERS {
        let role = format!("{p}:{total}:{name}");
        let command = child("child_stream_producer", &[(PRODUCER_ENV, &role), (WATCHDOG_ENV, &watchdog)]);
        children.push(Running::spawn(&format!("producer {p}"), command));
    }
    for running in &mut children {
        running.wait_for(ATTACHED);
    }
    // From here on only the children's senders keep the channel connected: once they
    // have all detached and the ring is drained, the consumers are told so.
    drop(creator);
    assert!(!shm_path(&name).exists(), "dropping the creator should remove the channel's name");
    let finished = wait_all(children, "the stream");
    let elapsed = started.elapsed();

    // Merge what the consumers got.
    let mut times: Vec<Vec<u8>> = (0..PRODUCERS).map(|p| vec![0u8; share(total, PRODUCERS, p) as usize]).collect();
    let (mut tiny_got, mut empty_got) = (vec![0u64; PRODUCERS as usize], 0u64);
    let mut per_consumer = Vec::new();
    for file in &files {
        let got = read_received(&file.0);
        per_consumer
            .push(got.seqs.iter().map(Vec::len).sum::<usize>() as u64 + got.tiny.iter().sum::<u64>() + got.empty);
        for (p, seqs) in got.seqs.iter().enumerate() {
            for &seq in seqs {
                let count = &mut times[p][seq as usize];
                *count = count.saturating_add(1);
            }
        }
        for (sum, n) in tiny_got.iter_mut().zip(&got.tiny) {
            *sum += n;
        }
        empty_got += got.empty;
    }
    // Every message of 8 bytes or more exactly once.
    let (mut missing, mut repeated) = (Vec::new(), Vec::new());
    for (p, counts) in times.iter().enumerate() {
        for (seq, &count) in counts.iter().enumerate() {
            let len = stream_len(p as u32, seq as u64);
            match (len < 8, count) {
                (true, 0) | (false, 1) => {}
                (true, _) => panic!("a {len}-byte message recorded as identified: the tally is wrong"),
                (false, 0) => missing.push((p, seq, len)),
                (false, _) => repeated.push((p, seq, len)),
            }
        }
    }
    assert!(
        missing.is_empty() && repeated.is_empty(),
        "{} messages lost (first (producer, seq, len): {:?}), {} received more than once (first: {:?}); \
         per consumer: {per_consumer:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(8)],
        repeated.len(),
        &repeated[..repeated.len().min(8)],
        describe_all(&finished)
    );
    // And as many 1-byte (per producer) and 0-byte messages as were sent: a lost or
    // repeated one, or an abandoned record delivered (as 0 bytes), changes a count.
    let tiny_sent: Vec<u64> = (0..PRODUCERS)
        .map(|p| (0..share(total, PRODUCERS, p)).filter(|&s| stream_len(p, s) == 1).count() as u64)
        .collect();
    let empty_sent: u64 =
        (0..PRODUCERS).map(|p| (0..share(total, PRODUCERS, p)).filter(|&s| stream_len(p, s) == 0).count() as u64).sum();
    assert_eq!(tiny_got, tiny_sent, "1-byte messages received per producer, and sent\n{}", describe_all(&finished));
    assert_eq!(empty_got, empty_sent, "0-byte messages received, and sent\n{}", describe_all(&finished));
    assert_eq!(per_consumer.iter().sum::<u64>(), total, "every message once");

    eprintln!(
        "{total} messages from {PRODUCERS} to {CONSUMERS} processes in {elapsed:.2?} ({:.0} messages/s, \
         including the children's start); per consumer: {per_consumer:?}",
        total as f64 / elapsed.as_secs_f64()
    );
    for f in &finished {
        eprintln!("  {}:{}", f.label, f.summary());
    }
}

/// What one consumer wrote to its file.
struct Received {
    /// Per producer, the sequence numbers of its messages of 8 bytes or more, in the
    /// order received.
    seqs: Vec<Vec<u32>>,
    /// Per producer, its 1-byte messages.
    tiny: Vec<u64>,
    /// 0-byte messages.
    empty: u64,
}

/// Reads a consumer's file: per producer a count and that many seqs, then per producer
/// the 1-byte messages, then the 0-byte messages, all `u32`.
fn read_received(path: &Path) -> Received {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(bytes.len() % 4, 0, "{} is not a list of u32s", path.display());
    let mut words = bytes.chunks_exact(4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")));
    let seqs = (0..PRODUCERS)
        .map(|_| {
            let count = words.next().expect("a count") as usize;
            words.by_ref().take(count).collect()
        })
        .collect();
    let tiny = (0..PRODUCERS).map(|_| u64::from(words.next().expect("a count"))).collect();
    let empty = u64::from(words.next().expect("a count"));
    assert_eq!(words.next(), None, "{} has words past its lists", path.display());
    Received { seqs, tiny, empty }
}

/// A stream producer: sends its share of the messages through every send path, and now
/// and then first drops uncommitted a loan holding a perfect copy of the next message.
#[test]
fn child_stream_producer() {
    let Some((id, total, name)) = parse_role(PRODUCER_ENV) else { return };
    start_watchdog(stream_watchdog(WATCHDOG_ENV));
    let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((tx.slot_size(), tx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    report(ATTACHED, "");
    let started = Instant::now();
    let count = share(total, PRODUCERS, id);
    let mut scratch = vec![0u8; MAX];
    let (mut abandoned, mut shorter, mut full) = (0u64, 0u64, 0u64);
    let mut seq = 0;
    while seq < count {
        let len = stream_len(id, seq);
        let pick = mix(tag(id, seq) ^ SEND_SALT);
        if pick.is_multiple_of(32) {
            // A loan holding a perfect copy of message `seq`, dropped uncommitted: if a
            // consumer ever saw it, a message would arrive twice (or an extra 0-byte one).
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
                        Err(SendError::Full(())) => {
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
                // Whatever fits now, through a batch; else one blocking send.
                let limit = 1 + (pick >> 24) % 8;
                let start = seq;
                let mut batch = tx.batch();
                while seq - start < limit && seq < count {
                    let len = stream_len(id, seq);
                    write_message(id, seq, &mut scratch[..len]);
                    match batch.try_send(&scratch[..len]) {
                        Ok(()) => seq += 1,
                        Err(SendError::Full(())) => {
                            full += 1;
                            break;
                        }
                        Err(e) => panic!("child: batch try_send {seq}: {e}"),
                    }
                }
                drop(batch);
                if seq == start {
                    write_message(id, seq, &mut scratch[..len]);
                    tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                    seq += 1;
                }
                continue;
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
        seq += 1;
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

/// What one consumer has received, with its checks.
struct Tally {
    id: u32,
    total: u64,
    /// Per producer, the sequence numbers of its messages of 8 bytes or more, in order.
    seqs: Vec<Vec<u32>>,
    /// Per producer, the sequence number its last message had, or the smallest it can
    /// have had (a 1-byte message's, see `take_tiny`).
    last: Vec<Option<u64>>,
    tiny: Vec<u64>,
    empty: u64,
}

impl Tally {
    fn new(id: u32, total: u64) -> Self {
        let producers = PRODUCERS as usize;
        Self {
            id,
            total,
            seqs: vec![Vec::new(); producers],
            last: vec![None; producers],
            tiny: vec![0; producers],
            empty: 0,
        }
    }

    fn take(&mut self, got: &[u8]) {
        match got.len() {
            0 => self.empty += 1,
            1 => self.take_tiny(got[0]),
            _ => {
                let total = self.total;
                let (p, seq) = identify(got, PRODUCERS, |p| share(total, PRODUCERS, p), stream_len)
                    .unwrap_or_else(|e| panic!("child: consumer {}: {e}", self.id));
                if let Some(last) = self.last[p as usize] {
                    assert!(
                        last < seq,
                        "child: consumer {} got message {seq} of producer {p} after {last}: out of order or repeated",
                        self.id
                    );
                }
                self.last[p as usize] = Some(seq);
                self.seqs[p as usize].push(seq as u32);
            }
        }
    }

    /// A 1-byte message says its producer and the low bits of its sequence number: it
    /// must be a 1-byte message of that producer with those bits, after the last one
    /// this consumer got from it. The earliest such is taken as its number: no later
    /// message can then be wrongly refused (the true number is at least as large), and
    /// a message out of order or repeated is found whenever no number fits.
    fn take_tiny(&mut self, byte: u8) {
        let (p, low) = (u32::from(byte >> 6), u64::from(byte & 63));
        assert!(p < PRODUCERS, "child: consumer {}: a 1-byte message from producer {p}", self.id);
        let from = self.last[p as usize].map_or(0, |last| last + 1);
        let seq = (from..share(self.total, PRODUCERS, p))
            .find(|&s| s & 63 == low && stream_len(p, s) == 1)
            .unwrap_or_else(|| {
                panic!(
                "child: consumer {}: a 1-byte message of producer {p} (low bits {low}) fits no message after {from}: \
                 out of order, repeated or never sent",
                self.id
            )
            });
        self.last[p as usize] = Some(seq);
        self.tiny[p as usize] += 1;
    }

    fn write_to(&self, path: &str) {
        let mut out = BufWriter::new(File::create(path).unwrap_or_else(|e| panic!("child: create {path}: {e}")));
        let mut put = |word: u64| {
            let word = u32::try_from(word).expect("child: a count or seq fits 32 bits");
            out.write_all(&word.to_le_bytes()).expect("child: write");
        };
        for seqs in &self.seqs {
            put(seqs.len() as u64);
            seqs.iter().for_each(|&s| put(u64::from(s)));
        }
        self.tiny.iter().for_each(|&n| put(n));
        put(self.empty);
        out.into_inner().expect("child: flush").sync_all().expect("child: sync");
    }

    fn count(&self) -> u64 {
        self.seqs.iter().map(Vec::len).sum::<usize>() as u64 + self.tiny.iter().sum::<u64>() + self.empty
    }
}

/// A stream consumer: receives through every receive path until the producers have all
/// gone, then writes what it received to its file.
#[test]
fn child_stream_consumer() {
    let Some((id, total, name)) = parse_role(CONSUMER_ENV) else { return };
    let path = env::var(RECEIVED_ENV).expect("child: the file to write");
    start_watchdog(stream_watchdog(WATCHDOG_ENV));
    let mut rx = Receiver::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!((rx.slot_size(), rx.capacity_bytes()), (MAX, CAPACITY), "child: the header's geometry");
    report(ATTACHED, "");
    let started = Instant::now();
    let mut tally = Tally::new(id, total);
    let mut buf = vec![0u8; MAX];
    let (mut round, mut too_small) = (0u64, 0u64);
    let failed = |what: &str, e: RecvError| -> ! { panic!("child: consumer {id}: {what}: {e:?}") };
    'receiving: loop {
        round += 1;
        let pick = mix(round ^ RECV_SALT ^ u64::from(id) << 48);
        // Each arm receives one message or more, or breaks out on `Disconnected`.
        match pick % 7 {
            0 => match rx.recv() {
                Ok(guard) => tally.take(&guard),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv", e),
            },
            1 => match rx.recv_timeout(GENEROUS * 3) {
                Ok(guard) => tally.take(&guard),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_timeout", e),
            },
            2 => match rx.recv_into(&mut buf) {
                Ok(n) => tally.take(&buf[..n]),
                Err(RecvError::Disconnected) => break,
                Err(e) => failed("recv_into", e),
            },
            3 => match rx.recv_into_timeout(&mut buf, GENEROUS * 3) {
                Ok(n) => tally.take(&buf[..n]),
                Err(RecvError::Disconnected) => break,
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
                        Err(RecvError::Empty) => thread::yield_now(),
                        Err(RecvError::Disconnected) => break 'receiving,
                        Err(e) => failed("try_recv", e),
                    }
                }
                match rx.recv() {
                    Ok(guard) => tally.take(&guard),
                    Err(RecvError::Disconnected) => break,
                    Err(e) => failed("recv after try_recv", e),
                }
            }
            5 => {
                // Too small a buffer: a longer message is refused with its length and
                // stays (for this consumer or another).
                let room = (pick >> 8) as usize % 64;
                match rx.recv_into(&mut buf[..room]) {
                    Ok(n) => tally.take(&buf[..n]),
                    Err(RecvError::BufferTooSmall { needed })
                        if needed > room && [1, 64, 4096, MIB, MAX].contains(&needed) =>
                    {
                        too_small += 1;
                    }
                    Err(RecvError::Disconnected) => break,
                    other => panic!("child: consumer {id}: recv_into {room} bytes gave {other:?}"),
                }
            }
            _ => {
                // Whatever is waiting, up to a few, through a batch; else one blocking
                // receive.
                let limit = 1 + (pick >> 8) % 8;
                let mut got = 0;
                let mut batch = rx.batch();
                while got < limit {
                    match batch.try_recv() {
                        Ok(guard) => {
                            tally.take(&guard);
                            got += 1;
                        }
                        // Disconnected: the blocking receive below says so too.
                        Err(RecvError::Empty | RecvError::Disconnected) => break,
                        Err(e) => failed("batch try_recv", e),
                    }
                }
                drop(batch);
                if got == 0 {
                    match rx.recv() {
                        Ok(guard) => tally.take(&guard),
                        Err(RecvError::Disconnected) => break,
                        Err(e) => failed("recv after an empty batch", e),
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();
    // Disconnected means drained: nothing is left, and nothing more comes.
    assert_eq!(
        rx.try_recv().unwrap_err(),
        RecvError::Disconnected,
        "child: consumer {id}: a message after Disconnected"
    );
    drop(rx);
    tally.write_to(&path);
    report(
        DONE,
        &format!(
            " received {} (per producer {:?} of 8 bytes or more, {:?} of 1 byte, {} of 0 bytes) in {elapsed:.2?}, \
             {too_small} refused for a small buffer",
            tally.count(),
            tally.seqs.iter().map(Vec::len).collect::<Vec<_>>(),
            tally.tiny,
            tally.empty
        ),
    );
}

// ---------------------------------------------------------------------------------------
// A producer killed mid-message.
// ---------------------------------------------------------------------------------------

#[test]
fn producer_killed_inside_a_large_loan_never_delivers_it_and_never_wedges() {
    producer_killed(Kill::InsideLoan);
}

#[test]
fn producer_killed_at_random_moments_of_copy_sends_never_tears_or_wedges() {
    producer_killed(Kill::RandomSend);
}

/// What the parent's consumers took: each message's producer and sequence number, in
/// the order each consumer received them.
type Taken = Vec<(u32, u64)>;

/// Receives until the producers have all gone, checking each message whole, from a
/// producer below `producers`, and in order per producer; pausing `pause` after each.
fn drain(rx: &mut Receiver, label: &str, producers: u32, pause: Duration) -> Result<Taken, String> {
    let mut taken = Vec::new();
    let mut last = vec![None; producers as usize];
    loop {
        match rx.recv_timeout(GENEROUS) {
            Ok(guard) => {
                let (p, seq) =
                    identify(&guard, producers, |_| 1 << 40, kill_len).map_err(|e| format!("{label}: {e}"))?;
                if last[p as usize].is_some_and(|l| l >= seq) {
                    return Err(format!("{label}: message {seq} of producer {p} after {:?}", last[p as usize]));
                }
                last[p as usize] = Some(seq);
                taken.push((p, seq));
                if !pause.is_zero() {
                    thread::sleep(pause);
                }
            }
            Err(RecvError::Disconnected) => return Ok(taken),
            Err(e) => return Err(format!("{label}: after {} messages: {e} (wedged?)", taken.len())),
        }
    }
}

/// Producer `id`'s sequence numbers across `taken`, sorted.
fn seqs_of(taken: &[&Taken], id: u32) -> Vec<u64> {
    let mut seqs: Vec<u64> = taken.iter().flat_map(|t| t.iter()).filter(|(p, _)| *p == id).map(|(_, s)| *s).collect();
    seqs.sort_unstable();
    seqs
}

fn producer_killed(how: Kill) {
    let runs = kill_runs();
    let started = Instant::now();
    let mut victim_sent = 0;
    for run in 0..runs {
        let name = unique(&format!("pkill-{how:?}-{run}"));
        let _cleanup = Cleanup(name.clone());
        let mut rx = Receiver::create(&name, &config()).expect("create");
        let mut rx2 = rx.try_clone().expect("a second consumer");
        let pick = mix(run ^ KILL_SALT);
        // Every other run of the stream victim the consumers are slow: the ring stays
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
            ["child_survivor_producer", SURVIVOR_ENV],
            ["child_victim_producer", VICTIM_PRODUCER_ENV],
        );

        let (taken, survivor, victim) = thread::scope(|s| {
            let first = s.spawn(|| drain(&mut rx, "consumer 1", NEWCOMER, pause));
            let second = s.spawn(|| drain(&mut rx2, "consumer 2", NEWCOMER, pause));
            let (survivor, victim) = children.kill(|| {
                if !pause.is_zero() {
                    wait_until_nearly_full(&name);
                }
            });
            let taken = [first.join(), second.join()].map(|t| t.expect("a consumer thread"));
            (taken, survivor, victim)
        });
        let context = || format!("run {run} ({how:?})\n{}\n{}", survivor.describe(), victim.describe());
        let taken: Vec<Taken> = taken.into_iter().map(|t| t.unwrap_or_else(|e| panic!("{e}: {}", context()))).collect();
        assert!(survivor.ok(), "the survivor failed: {}", context());
        let taken: Vec<&Taken> = taken.iter().collect();

        // The survivor's messages, all of them, once each.
        let sent = sent(&survivor);
        assert!(
            seqs_of(&taken, SURVIVOR).into_iter().eq(0..sent),
            "the survivor sent {sent}: not each received exactly once: {}",
            context()
        );
        // The victim's: exactly those it finished, once each; never the one it died in.
        let victim_seqs = seqs_of(&taken, victim_id);
        let delivered = victim_seqs.len() as u64;
        assert!(
            victim_seqs.into_iter().eq(0..delivered),
            "the victim's messages are not a prefix received once each: {}",
            context()
        );
        if let Kill::InsideLoan = how {
            assert_eq!(
                delivered,
                committed(pick),
                "the victim committed {} messages before the torn one: {}",
                committed(pick),
                context()
            );
        }
        victim_sent += delivered;

        // A new producer's message of the maximum finds room and arrives.
        let mut tx = Sender::open(&name).unwrap_or_else(|e| panic!("run {run}: a new producer: {e}"));
        let mut loan = tx.loan_bytes_timeout(MAX, GENEROUS).unwrap_or_else(|e| panic!("run {run}: {e} (wedged?)"));
        write_message(NEWCOMER, 0, &mut loan);
        loan.commit(MAX);
        let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("run {run}: the new producer's message: {e}"));
        assert_eq!(identify(&guard, NEWCOMER + 1, |_| 1, kill_len), Ok((NEWCOMER, 0)), "run {run}");
    }
    eprintln!(
        "{runs} runs ({how:?}) in {:.2?}; {victim_sent} of the victims' messages delivered before their deaths",
        started.elapsed()
    );
}

/// Waits, at most a second, until the producers have filled all but the last 64 KiB of
/// channel `name` (where they stay while the consumers are slow).
fn wait_until_nearly_full(name: &str) {
    let mut probe = Sender::open(name).expect("a probe");
    let deadline = Instant::now() + Duration::from_secs(1);
    while probe.in_flight().expect("in flight") < CAPACITY - (64 << 10) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// The victim producer (`kill_senders::victim`), killed inside a loan or at a random send.
#[test]
fn child_victim_producer() {
    let Ok(role) = env::var(VICTIM_PRODUCER_ENV) else { return };
    kill_senders::victim::<Sender>(&role, kill_len, MAX);
}

/// The surviving producer (`kill_senders::survivor`): sends until told the victim is dead,
/// then `AFTER_KILL` more.
#[test]
fn child_survivor_producer() {
    let Ok(name) = env::var(SURVIVOR_ENV) else { return };
    kill_senders::survivor::<Sender>(&name, kill_len, MAX, GENEROUS);
}

// ---------------------------------------------------------------------------------------
// A consumer killed while it holds a large message.
// ---------------------------------------------------------------------------------------

#[test]
fn consumer_killed_holding_a_large_message_does_not_wedge_the_ring() {
    let runs = kill_runs();
    let started = Instant::now();
    let mut beside_max = 0;
    for run in 0..runs {
        let name = unique(&format!("ckill-{run}"));
        let _cleanup = Cleanup(name.clone());
        let mut tx = Sender::create(&name, &config()).expect("create");
        let mut victim = Running::spawn("victim", child("child_victim_consumer", &[(VICTIM_CONSUMER_ENV, &name)]));
        victim.wait_for(ATTACHED);
        // The only consumer yet takes the first message, of the maximum, and holds it.
        let mut scratch = vec![0u8; MAX];
        let mut seq = 0;
        write_message(FEEDER, seq, &mut scratch[..kill_len(FEEDER, seq)]);
        tx.send(&scratch[..kill_len(FEEDER, seq)]).expect("the victim's message");
        seq += 1;
        victim.wait_for(HOLDING);

        let mut rx = Receiver::open(&name).expect("a consumer");
        let mut rx2 = rx.try_clone().expect("a second consumer");
        let (taken, beside, victim) = thread::scope(|s| {
            let first = s.spawn(|| drain(&mut rx, "consumer 1", FEEDER + 1, Duration::ZERO));
            let second = s.spawn(|| drain(&mut rx2, "consumer 2", FEEDER + 1, Duration::ZERO));
            // While the guard is held its record's bytes stay out of reach: the others
            // take the messages sent beside it, but no more than the rest of the ring
            // holds goes in. (A send that finds no room for a while ends this phase.)
            let mut beside = 0;
            loop {
                let len = kill_len(FEEDER, seq);
                write_message(FEEDER, seq, &mut scratch[..len]);
                match tx.send_timeout(&scratch[..len], Duration::from_millis(100)) {
                    Ok(()) => {
                        beside += len;
                        seq += 1;
                    }
                    Err(SendError::Timeout(())) => break,
                    Err(e) => panic!("run {run}: send {seq} beside the held message: {e}"),
                }
                assert!(
                    beside <= CAPACITY - MAX,
                    "run {run}: {beside} bytes went in beside a held message of {MAX} in a ring of {CAPACITY}: \
                     the held record was reused"
                );
            }
            let victim = victim.kill();
            // Once it is dead its record is released: the ring fills and drains again,
            // several times over.
            let target = seq + 3 * (CAPACITY / MIB) as u64;
            while seq < target {
                let len = kill_len(FEEDER, seq);
                write_message(FEEDER, seq, &mut scratch[..len]);
                if let Err(e) = tx.send_timeout(&scratch[..len], GENEROUS) {
                    panic!("run {run}: send {seq} after the consumer's death: {e} (wedged?)\n{}", victim.describe());
                }
                seq += 1;
            }
            drop(tx);
            let taken = [first.join(), second.join()].map(|t| t.expect("a consumer thread"));
            (taken, beside, victim)
        });
        let taken: Vec<Taken> =
            taken.into_iter().map(|t| t.unwrap_or_else(|e| panic!("run {run}: {e}\n{}", victim.describe()))).collect();
        let taken: Vec<&Taken> = taken.iter().collect();
        // Every message but the victim's, once each: the dead consumer's message is
        // released, not delivered again.
        let seqs = seqs_of(&taken, FEEDER);
        assert!(
            seqs.iter().copied().eq(1..seq),
            "run {run}: messages 1..{seq} not each received once by the live consumers ({} received, first {:?})",
            seqs.len(),
            &seqs[..seqs.len().min(4)]
        );
        beside_max = beside_max.max(beside);
    }
    eprintln!("{runs} runs in {:.2?}; at most {beside_max} bytes went in beside a held message", started.elapsed());
}

/// Takes the first message, checks it, reports `HOLDING` and holds it until killed.
#[test]
fn child_victim_consumer() {
    let Ok(name) = env::var(VICTIM_CONSUMER_ENV) else { return };
    start_watchdog(KILL_CHILD_WATCHDOG);
    let mut rx = Receiver::open(&name).unwrap_or_else(|e| panic!("child: {e}"));
    report(ATTACHED, "");
    let guard = rx.recv_timeout(GENEROUS).unwrap_or_else(|e| panic!("child: recv: {e}"));
    let got = identify(&guard, FEEDER + 1, |_| 1, kill_len).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!(got, (FEEDER, 0), "child: the first message");
    report(HOLDING, "");
    thread::sleep(KILL_CHILD_WATCHDOG);
    drop(guard);
}
