//! The child processes of a cross-process test: the test binary re-executed to run one
//! `child_*` test by its exact name, the markers a child prints, and the parent's handle
//! on a running child.
//!
//! A child prints [`ATTACHED`] once it holds its end of the channel, and [`DONE`] (with a
//! summary) once it has done its work, so that a child that ran no test (a wrong name
//! runs zero tests and exits 0) is never taken for a success. A child also starts
//! `support::start_watchdog`, so that a hang fails the parent instead of stalling it.
//! A stream test's child reads its role from an environment variable ([`parse_role`])
//! and its watchdog from another ([`stream_watchdog`]).

use std::{
    env,
    io::{BufRead, BufReader, Read, Write},
    os::unix::process::ExitStatusExt,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Printed by a child once it holds its end of the channel.
pub const ATTACHED: &str = "FERRY-CHILD-ATTACHED";
/// Printed by a child once it has done everything it was asked, with a summary.
pub const DONE: &str = "FERRY-CHILD-DONE";
/// How long the parent waits for a child's marker.
const MARKER_DEADLINE: Duration = Duration::from_secs(60);

/// This test binary, to run the child test `test` (by its exact name, alone) with `vars`
/// set; its stdin is empty unless the caller pipes it.
pub fn child(test: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env::current_exe().expect("the test binary's path"));
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).stdin(Stdio::null());
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

/// In a child: `<id>:<total>:<channel>` from `var`, or `None` where it is not set (the
/// child test was not asked for).
pub fn parse_role(var: &str) -> Option<(u32, u64, String)> {
    let value = env::var(var).ok()?;
    let mut parts = value.splitn(3, ':');
    let mut next = || parts.next().expect("child: <id>:<total>:<channel>");
    let id = next().parse().expect("child: a numeric id");
    let total = next().parse().expect("child: a numeric total");
    Some((id, total, next().to_owned()))
}

/// In a child: how long a stream child may run, in seconds from `var` (the parent sets
/// it to grow with the count), else two minutes.
pub fn stream_watchdog(var: &str) -> Duration {
    Duration::from_secs(env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(120))
}

/// In a child: prints `marker` (and `rest`) on a line of its own, flushed at once.
pub fn report(marker: &str, rest: &str) {
    println!("{marker}{rest}");
    std::io::stdout().flush().expect("child: flush stdout");
}

/// A running child whose stdout and stderr are drained by two threads; each line of its
/// stdout is also passed on to `lines`. Killed and reaped on drop, so that a failing
/// parent never leaves it behind.
pub struct Running {
    label: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished child did.
pub struct Finished {
    pub label: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// Spawns `command` (from [`child`]) with its stdout and stderr piped.
    pub fn spawn(label: &str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let (forward, lines) = mpsc::channel();
        let stdout = thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = forward.send(line);
            }
            all
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        Self { label: label.to_owned(), child, lines, stdout: Some(stdout), stderr: Some(stderr) }
    }

    /// The child's stdin, for a command spawned with `stdin(Stdio::piped())`.
    pub fn stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().unwrap_or_else(|| panic!("{}: stdin not piped, or taken already", self.label))
    }

    /// Waits for a line of its stdout holding `marker` and returns the rest of the line
    /// after it; on a timeout, or if the child ends first, kills it and panics with its
    /// output.
    pub fn wait_for(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + MARKER_DEADLINE;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(at) = line.find(marker) {
                        return line[at + marker.len()..].to_owned();
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    let label = self.label.clone();
                    let finished = self.finish_now();
                    panic!("{label} printed no {marker} ({e:?})\n{}", finished.describe());
                }
            }
        }
    }

    /// SIGKILLs the child and checks that the signal is what ended it.
    pub fn kill(mut self) -> Finished {
        self.child.kill().unwrap_or_else(|e| panic!("kill {}: {e}", self.label));
        let finished = self.finish_now();
        assert_eq!(finished.status.signal(), Some(9), "not ended by SIGKILL\n{}", finished.describe());
        finished
    }

    /// Waits for the child to exit (its watchdog bounds the wait) and collects its output.
    pub fn finish(mut self) -> Finished {
        self.finish_now()
    }

    fn finish_now(&mut self) -> Finished {
        let status = self.child.wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.label));
        let stdout = self.stdout.take().map(|t| t.join().expect("the stdout thread")).unwrap_or_default();
        let stderr = self.stderr.take().map(|t| t.join().expect("the stderr thread")).unwrap_or_default();
        Finished { label: self.label.clone(), status, stdout, stderr }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Finished {
    /// Its label, exit status and output, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "{} exited with {}\n--- {0} stdout ---\n{}\n--- {0} stderr ---\n{}",
            self.label, self.status, self.stdout, self.stderr
        )
    }

    /// Whether it exited successfully after printing [`DONE`].
    pub fn ok(&self) -> bool {
        self.status.success() && self.stdout.contains(DONE)
    }

    /// The rest of the line that carries [`DONE`].
    pub fn summary(&self) -> &str {
        self.stdout.lines().find_map(|line| line.find(DONE).map(|at| &line[at + DONE.len()..])).unwrap_or("")
    }
}

/// Every child's [`Finished::describe`].
pub fn describe_all(finished: &[Finished]) -> String {
    finished.iter().map(Finished::describe).collect::<Vec<_>>().join("\n")
}

/// Waits for every child and asserts that each succeeded and did its work; on any
/// failure, panics with `what` and every child's output (one child's failure is often
/// another's cause).
pub fn wait_all(children: Vec<Running>, what: &str) -> Vec<Finished> {
    let finished: Vec<Finished> = children.into_iter().map(Running::finish).collect();
    if let Some(bad) = finished.iter().find(|f| !f.ok()) {
        let why = if bad.status.success() { "did not run its test" } else { "failed" };
        panic!("{what}: {} {why}\n{}", bad.label, describe_all(&finished));
    }
    finished
}
