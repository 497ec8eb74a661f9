//! The processes of a measurement: a child started from this binary, and the control
//! lines the coordinating process and its children exchange over the child's standard
//! input and output.
//!
//! ```text
//! child   -> parent   ready            (set up; the measured link is connected)
//! parent  -> child    run N            (take part in N messages or round trips)
//! child   -> parent   go               (about to start; for round trips)
//! child   -> parent   done [COUNT SUM] (finished; receivers say what they received)
//! parent  -> child    quit             (or end of input)
//! child   -> parent   cpu START END    (its CPUs; then it exits with status 0)
//! ```
//!
//! The control lines never travel while a measurement runs, except `go` before round
//! trips start and `done` after a throughput run, whose waking is in its timing.

use std::{
    env, fs,
    io::{self, BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use super::{current_cpu, Cpus, CHILD_ENV};

/// A failure of the measurement itself (not of an I/O call).
pub(crate) fn failure(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// A child process playing `role`, and the two ends of its control lines.
pub(crate) struct Peer {
    part: String,
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts this binary as `role` with `args`, and waits for it to say `ready`.
    pub(crate) fn spawn(part: &str, role: &str, args: &[String]) -> io::Result<Self> {
        let mut child = Command::new(env::current_exe()?)
            .env(CHILD_ENV, role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(failure("the child's control pipes are missing"));
        };
        let mut peer = Self { part: part.to_owned(), child, to, from: BufReader::new(from) };
        peer.expect("ready")?;
        Ok(peer)
    }

    /// Sends one control line.
    pub(crate) fn tell(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.to, "{line}")?;
        self.to.flush()
    }

    /// Reads one control line, which must start with `word`; returns the numbers after it.
    pub(crate) fn expect(&mut self, word: &str) -> io::Result<Vec<i64>> {
        let mut line = String::new();
        if self.from.read_line(&mut line)? == 0 {
            let status = self.child.wait()?;
            return Err(failure(format!("the {} process ended ({status}) before saying `{word}`", self.part)));
        }
        let mut fields = line.split_whitespace();
        if fields.next() != Some(word) {
            return Err(failure(format!("the {} process said `{}`, not `{word}`", self.part, line.trim())));
        }
        fields
            .map(|f| f.parse::<i64>().map_err(|_| failure(format!("the {} process said `{}`", self.part, line.trim()))))
            .collect()
    }

    /// Tells the child to quit, waits for it, and returns where it ran.
    pub(crate) fn finish(mut self) -> io::Result<Cpus> {
        self.tell("quit")?;
        let cpus = self.expect("cpu")?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(failure(format!("the {} process failed: {status}", self.part)));
        }
        match cpus[..] {
            [start, end] => Ok(Cpus { process: self.part.clone(), start: start as i32, end: end as i32 }),
            _ => Err(failure(format!("the {} process did not say where it ran", self.part))),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // A measurement that failed leaves its children waiting: end this one (our own
        // child, by its pid) rather than leave it behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The child's side of the control lines.
pub(crate) struct Control {
    input: io::StdinLock<'static>,
    output: io::Stdout,
    start_cpu: i32,
}

impl Control {
    /// Takes standard input and output for the control lines; samples the CPU.
    pub(crate) fn new() -> Self {
        Self { input: io::stdin().lock(), output: io::stdout(), start_cpu: current_cpu() }
    }

    /// Sends one control line.
    pub(crate) fn say(&mut self, line: &str) -> io::Result<()> {
        let mut out = self.output.lock();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// Waits for the next order: `Some(n)` for `run n`, `None` for `quit` or the end of
    /// the input (the parent has gone).
    pub(crate) fn next(&mut self) -> io::Result<Option<u64>> {
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["quit"] => Ok(None),
            ["run", n] => n.parse().map(Some).map_err(|_| failure(format!("bad order `{}`", line.trim()))),
            _ => Err(failure(format!("bad order `{}`", line.trim()))),
        }
    }

    /// Says where this process ran (the parent's last read before it waits for the exit).
    pub(crate) fn quit(mut self) -> io::Result<()> {
        let line = format!("cpu {} {}", self.start_cpu, current_cpu());
        self.say(&line)
    }
}

/// A name no other measurement of any process uses: `bench-PID-N-TAG`.
pub(crate) fn unique(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // SYNC: Relaxed; a counter that only has to hand out distinct numbers.
    let n = NEXT.fetch_add(1, Relaxed);
    format!("bench-{}-{n}-{tag}", std::process::id())
}

/// A private folder for the sockets and FIFOs of one measurement, removed on drop.
pub(crate) struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub(crate) fn new() -> io::Result<Self> {
        let dir = env::temp_dir().join(format!("ferry-{}", unique("dir")));
        fs::create_dir(&dir)?;
        Ok(Self { dir })
    }

    /// A path in the folder.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
