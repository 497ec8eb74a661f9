//! The sending children of the kill tests of the channels sized in bytes, the MPMC
//! channel's (`Sender`) and the broadcast channel's (`Publisher`): a victim killed inside
//! a large loan it never commits, or at a random moment of a stream of copy sends
//! ([`Kill`]), and a survivor that sends from before the victim's death until after it;
//! and the parent's side of one such run ([`KillRun`]).
//!
//! Both ends send alike (a producer's or a publisher's message is claimed, written and
//! committed the same way), so each test's `child_victim_*` and `child_survivor_*` run
//! [`victim`] and [`survivor`] with its own end, through [`ByteSender`]. What the
//! receivers must have got differs (each message at one consumer, or at every
//! subscriber), and is checked in the tests.

use std::{
    fmt,
    io::Write,
    process::{ChildStdin, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use ferry::{AttachError, PublishError, Publisher, SendError, Sender};

use super::{
    children::{child, report, Finished, Running, ATTACHED, DONE},
    messages::{write_message, Pattern},
    start_watchdog,
};

/// The kill tests' senders (a sender id is a message's top byte).
pub const LOANER: u32 = 0;
pub const SURVIVOR: u32 = 1;
pub const STREAMER: u32 = 2;
pub const NEWCOMER: u32 = 3;
pub const FEEDER: u32 = 4;
/// Messages the survivor sends after it is told the victim is dead.
pub const AFTER_KILL: u64 = 8;
/// Printed by the loan victim once it is writing the loan it never commits.
pub const INSIDE: &str = "FERRY-CHILD-INSIDE";
/// A kill test's child that runs longer than this kills itself.
pub const KILL_CHILD_WATCHDOG: Duration = Duration::from_secs(60);

/// Where a kill test's victim is killed.
#[derive(Clone, Copy, Debug)]
pub enum Kill {
    /// Inside a large loan it writes slowly and never commits, after 0 to 3 whole ones.
    InsideLoan,
    /// At a random moment of a stream of copy sends.
    RandomSend,
}

impl Kill {
    /// The victim's sender id.
    pub fn victim(self) -> u32 {
        match self {
            Kill::InsideLoan => LOANER,
            Kill::RandomSend => STREAMER,
        }
    }
}

/// How many whole messages the loan victim of a run that drew `pick` commits before the
/// one it dies in.
pub fn committed(pick: u64) -> u64 {
    pick % 4
}

/// How many messages a finished survivor says it sent.
pub fn sent(survivor: &Finished) -> u64 {
    survivor.summary().trim().strip_prefix("sent ").and_then(|n| n.parse().ok()).expect("a count")
}

/// The two sending children of one kill run, in the parent.
pub struct KillRun {
    how: Kill,
    pick: u64,
    survivor: Running,
    /// The survivor's stdin: a line on it says the victim is dead.
    stop: ChildStdin,
    victim: Running,
}

impl KillRun {
    /// Spawns the survivor and the victim on channel `name`: each a `[child test, the
    /// environment variable of its role]`. The victim is killed `how`; `pick` chooses
    /// when, and how many messages the loan victim commits first ([`committed`]).
    pub fn spawn(how: Kill, pick: u64, name: &str, survivor: [&str; 2], victim: [&str; 2]) -> Self {
        let mut survivor = Running::spawn("survivor", {
            let mut command = child(survivor[0], &[(survivor[1], name)]);
            command.stdin(Stdio::piped());
            command
        });
        let stop = survivor.stdin();
        let role = match how {
            Kill::InsideLoan => format!("loan:{}:{name}", committed(pick)),
            Kill::RandomSend => format!("stream:{name}"),
        };
        let victim = Running::spawn("victim", child(victim[0], &[(victim[1], &role)]));
        Self { how, pick, survivor, stop, victim }
    }

    /// Once the survivor has attached, waits for the victim's moment and SIGKILLs it:
    /// at some point of writing its last loan, or anywhere in its stream of sends (after
    /// `fill`, which may wait for the ring to fill). Only then is the survivor told to
    /// finish: its last messages are claimed after the death, behind whatever the victim
    /// left. Returns the survivor and the victim, finished.
    pub fn kill(mut self, fill: impl FnOnce()) -> (Finished, Finished) {
        self.survivor.wait_for(ATTACHED);
        let delay = match self.how {
            Kill::InsideLoan => {
                self.victim.wait_for(INSIDE);
                Duration::from_micros(self.pick % 8_000)
            }
            Kill::RandomSend => {
                self.victim.wait_for(ATTACHED);
                fill();
                Duration::from_micros(self.pick % 20_000)
            }
        };
        thread::sleep(delay);
        let victim = self.victim.kill();
        writeln!(self.stop, "stop").expect("tell the survivor to finish");
        (self.survivor.finish(), victim)
    }
}

/// The sending end of a channel sized in bytes, as the kill tests' senders use it.
pub trait ByteSender: Sized {
    type Error: fmt::Display;

    fn open(name: &str) -> Result<Self, AttachError>;
    fn send(&mut self, message: &[u8]) -> Result<(), Self::Error>;
    fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), Self::Error>;
    fn try_send(&mut self, message: &[u8]) -> Result<(), Self::Error>;
    /// Whether `error` says only that the ring is full.
    fn is_full(error: &Self::Error) -> bool;
    /// Loans `len` bytes (waiting at most `timeout`, or for as long as it takes), lets
    /// `fill` write them, and commits them all once it returns.
    fn loan(&mut self, len: usize, timeout: Option<Duration>, fill: impl FnOnce(&mut [u8])) -> Result<(), Self::Error>;
}

/// Implements [`ByteSender`] for `$end`, whose errors are `$error` and say the ring is
/// full with `$full`.
macro_rules! byte_sender {
    ($end:ident, $error:ident, $full:pat) => {
        impl ByteSender for $end {
            type Error = $error;

            fn open(name: &str) -> Result<Self, AttachError> {
                $end::open(name)
            }

            fn send(&mut self, message: &[u8]) -> Result<(), $error> {
                $end::send(self, message)
            }

            fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), $error> {
                $end::send_timeout(self, message, timeout)
            }

            fn try_send(&mut self, message: &[u8]) -> Result<(), $error> {
                $end::try_send(self, message)
            }

            fn is_full(error: &$error) -> bool {
                matches!(error, $full)
            }

            fn loan(
                &mut self,
                len: usize,
                timeout: Option<Duration>,
                fill: impl FnOnce(&mut [u8]),
            ) -> Result<(), $error> {
                let mut loan = match timeout {
                    Some(timeout) => self.loan_bytes_timeout(len, timeout)?,
                    None => self.loan_bytes(len)?,
                };
                fill(&mut loan);
                loan.commit(len);
                Ok(())
            }
        }
    };
}

byte_sender!(Sender, SendError, SendError::Full(()));
byte_sender!(Publisher, PublishError, PublishError::Full);

/// The victim, in a child. `loan:<n>:<channel>`: commits `n` large messages written
/// through loans, then takes the next loan, reports [`INSIDE`], writes it slowly and
/// never commits it. `stream:<channel>`: copy sends, as fast as it can (half of them
/// `try_send` retried without a pause), until killed. Message `seq` of sender `id` is
/// `len_of(id, seq)` bytes long, none longer than `max`.
pub fn victim<S: ByteSender>(role: &str, len_of: fn(u32, u64) -> usize, max: usize) {
    start_watchdog(KILL_CHILD_WATCHDOG);
    let (how, rest) = role.split_once(':').expect("child: <how>:...");
    if how == "stream" {
        let mut tx = S::open(rest).unwrap_or_else(|e| panic!("child: {e}"));
        report(ATTACHED, "");
        let mut scratch = vec![0u8; max];
        for seq in 0.. {
            let len = len_of(STREAMER, seq);
            write_message(STREAMER, seq, &mut scratch[..len]);
            if seq.is_multiple_of(2) {
                tx.send(&scratch[..len]).unwrap_or_else(|e| panic!("child: send {seq}: {e}"));
                continue;
            }
            // `try_send` without a pause while the ring is full: each try takes the
            // claiming turn, so a kill often lands inside one.
            loop {
                match tx.try_send(&scratch[..len]) {
                    Ok(()) => break,
                    Err(e) if S::is_full(&e) => std::hint::spin_loop(),
                    Err(e) => panic!("child: try_send {seq}: {e}"),
                }
            }
        }
        return;
    }
    let (committed, name) = rest.split_once(':').expect("child: loan:<n>:<channel>");
    let committed: u64 = committed.parse().expect("child: a number");
    let mut tx = S::open(name).unwrap_or_else(|e| panic!("child: {e}"));
    report(ATTACHED, "");
    for seq in 0.. {
        let len = len_of(LOANER, seq);
        let pattern = Pattern::new(LOANER, seq);
        let last = seq == committed;
        tx.loan(len, None, |loan| {
            if last {
                report(INSIDE, &format!(" {seq}"));
            }
            for (k, chunk) in loan.chunks_mut(64 << 10).enumerate() {
                pattern.write(k * (64 << 10), chunk);
                if last {
                    thread::sleep(Duration::from_micros(250));
                } else {
                    thread::yield_now();
                }
            }
            if last {
                // Killed here, or while writing above.
                thread::sleep(KILL_CHILD_WATCHDOG);
            }
        })
        .unwrap_or_else(|e| panic!("child: loan {seq}: {e}"));
    }
}

/// The survivor, in a child: sends a stream of messages (copies and loans, each waiting
/// at most `generous`) to channel `name`, from before the victim dies until a line on
/// stdin says it is dead; then [`AFTER_KILL`] more, and reports how many (`sent <n>`).
pub fn survivor<S: ByteSender>(name: &str, len_of: fn(u32, u64) -> usize, max: usize, generous: Duration) {
    start_watchdog(KILL_CHILD_WATCHDOG);
    let mut tx = S::open(name).unwrap_or_else(|e| panic!("child: {e}"));
    let (told, stop) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = told.send(());
    });
    report(ATTACHED, "");
    let mut scratch = vec![0u8; max];
    let mut seq = 0;
    let mut end = u64::MAX;
    while seq < end {
        if end == u64::MAX && stop.try_recv().is_ok() {
            end = seq + AFTER_KILL;
        }
        let len = len_of(SURVIVOR, seq);
        if seq.is_multiple_of(2) {
            write_message(SURVIVOR, seq, &mut scratch[..len]);
            tx.send_timeout(&scratch[..len], generous).unwrap_or_else(|e| panic!("child: send {seq}: {e} (wedged?)"));
        } else {
            tx.loan(len, Some(generous), |loan| write_message(SURVIVOR, seq, loan))
                .unwrap_or_else(|e| panic!("child: loan {seq}: {e} (wedged?)"));
        }
        seq += 1;
    }
    drop(tx);
    report(DONE, &format!(" sent {seq}"));
}
