//! Several processes creating over one stale name at once: exactly one wins, and the
//! name leads to the winner's segment (a sender that opens it reaches the winner).
//!
//! A child of this test binary makes one stale channel per round (it creates them and
//! exits without dropping them, so their creator is dead). Then `RACERS` children race
//! every round: the parent starts a round by writing to each racer's stdin the instant
//! it starts (a few milliseconds ahead, on the shared clock); each racer waits for that
//! instant, calls `Receiver::create` on the round's name and answers `ok` or `err ...`; the
//! parent checks that exactly one said `ok`, opens a sender on the name and sends the
//! round number, and the winner answers with what it received.
//!
//! `FERRY_STALE_RACE_ROUNDS` raises the number of rounds (default 500).

use std::{
    env,
    io::{BufRead, BufReader, Write},
    process::{self, Child, ChildStdin, ChildStdout, Command, Stdio},
    time::Duration,
};

use ferry::{Config, Receiver, Sender};

mod support;
use support::{start_watchdog, Cleanup};

/// Processes racing each round.
const RACERS: usize = 6;
/// Rounds unless `FERRY_STALE_RACE_ROUNDS` says otherwise.
const ROUNDS: usize = 500;
/// `<prefix>:<rounds>` for the children.
const MAKER_ENV: &str = "FERRY_STALE_RACE_MAKER";
const RACER_ENV: &str = "FERRY_STALE_RACE_RACER";
/// A child running longer than this kills itself.
const CHILD_WATCHDOG: Duration = Duration::from_secs(120);

/// How long after the parent tells the racers a round starts.
const START_DELAY: Duration = Duration::from_millis(3);

/// Nanoseconds since the Unix epoch: a clock every racer shares.
fn since_epoch() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos()
}

fn config() -> Config {
    Config::new().slot_size(16).capacity(2)
}

fn round_name(prefix: &str, round: usize) -> String {
    format!("{prefix}-{round}")
}

fn rounds() -> usize {
    env::var("FERRY_STALE_RACE_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(ROUNDS)
}

fn child(test: &str, var: &str, value: &str) -> Command {
    let mut command = Command::new(env::current_exe().expect("this test binary"));
    command.args([test, "--exact", "--nocapture", "--test-threads=1"]).env(var, value);
    command
}

struct Racer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Racer {
    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to a racer");
        self.stdin.flush().expect("flush");
    }

    /// The racer's next answer (lines from the test harness are skipped).
    fn hear(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.stdout.read_line(&mut line).expect("read from a racer");
            assert!(read > 0, "a racer exited early");
            // The harness may print `test child_racer ... ` in front of the first answer.
            if let Some((_, answer)) = line.trim_end().split_once("RACER ") {
                return answer.to_owned();
            }
        }
    }
}

#[test]
fn racing_creators_over_a_stale_name_have_exactly_one_winner() {
    let prefix = format!("sr-{}", process::id());
    let rounds = rounds();
    let _cleanup: Vec<Cleanup> = (0..rounds).map(|r| Cleanup(round_name(&prefix, r))).collect();

    let made = child("child_make_stale", MAKER_ENV, &format!("{prefix}:{rounds}")).output().expect("run the maker");
    assert!(made.status.success(), "the maker failed: {}", String::from_utf8_lossy(&made.stderr));
    for round in 0..rounds {
        let info = ferry::inspect(&round_name(&prefix, round)).expect("inspect a stale channel");
        assert!(info.stale, "round {round}'s channel is not stale: {info:?}");
    }

    let mut racers: Vec<Racer> = (0..RACERS)
        .map(|_| {
            let mut child = child("child_racer", RACER_ENV, &prefix)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a racer");
            let stdin = child.stdin.take().expect("stdin");
            let stdout = BufReader::new(child.stdout.take().expect("stdout"));
            Racer { child, stdin, stdout }
        })
        .collect();
    for racer in &mut racers {
        assert_eq!(racer.hear(), "ready");
    }

    for round in 0..rounds {
        // All start at one instant, a little after the last of them has been told.
        let start = since_epoch() + START_DELAY.as_nanos();
        for racer in &mut racers {
            racer.say(&format!("create {round} {start}"));
        }
        let answers: Vec<String> = racers.iter_mut().map(Racer::hear).collect();
        let winners: Vec<usize> = (0..RACERS).filter(|&i| answers[i] == "ok").collect();
        assert_eq!(winners.len(), 1, "round {round}: {} creators won: {answers:?}", winners.len());
        let winner = winners[0];
        // The name leads to the winner's segment.
        let mut tx = Sender::open(&round_name(&prefix, round)).expect("open the winner's channel");
        tx.send(&(round as u64).to_le_bytes()).expect("send the round number");
        racers[winner].say("receive");
        assert_eq!(racers[winner].hear(), format!("got {round}"), "round {round}: the winner did not receive");
        drop(tx);
        racers[winner].say("drop");
        assert_eq!(racers[winner].hear(), "dropped");
    }
    for racer in &mut racers {
        racer.say("exit");
    }
    for mut racer in racers {
        assert!(racer.child.wait().expect("wait for a racer").success(), "a racer failed");
    }
}

/// Creates `<prefix>-0` .. `<prefix>-<rounds - 1>` and exits without dropping them: their
/// creator is dead, so they are stale.
#[test]
fn child_make_stale() {
    let Ok(var) = env::var(MAKER_ENV) else { return };
    let (prefix, rounds) = var.split_once(':').expect("<prefix>:<rounds>");
    for round in 0..rounds.parse().expect("rounds") {
        let rx = Receiver::create(&round_name(prefix, round), &config()).expect("create a channel to leave behind");
        std::mem::forget(rx);
    }
    process::exit(0);
}

/// Races: `create N START` creates round N's channel at START (ns since the epoch) (answers `ok` or `err ...`), `receive`
/// receives on the one it won (`got N`), `drop` drops it, `exit` ends.
#[test]
fn child_racer() {
    let Ok(prefix) = env::var(RACER_ENV) else { return };
    start_watchdog(CHILD_WATCHDOG);
    let mut won: Option<Receiver> = None;
    let answer = |text: &str| {
        println!("RACER {text}");
        std::io::stdout().flush().expect("flush");
    };
    answer("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("read a command");
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("create"), Some(round)) => {
                let start: u128 = words.next().and_then(|s| s.parse().ok()).expect("create N START");
                while since_epoch() < start {
                    std::hint::spin_loop();
                }
                match Receiver::create(&round_name(&prefix, round.parse().expect("round")), &config()) {
                    Ok(rx) => {
                        won = Some(rx);
                        answer("ok");
                    }
                    Err(e) => answer(&format!("err {e}")),
                }
            }
            (Some("receive"), _) => {
                let rx = won.as_mut().expect("receive without a won channel");
                let round = match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(guard) => u64::from_le_bytes(guard[..8].try_into().expect("8 bytes")).to_string(),
                    Err(e) => format!("nothing: {e}"),
                };
                answer(&format!("got {round}"));
            }
            (Some("drop"), _) => {
                won = None;
                answer("dropped");
            }
            _ => break,
        }
    }
    drop(won);
    process::exit(0);
}
