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
//!
//! Where the machine lets this process run on as many CPUs as a measurement has
//! processes, each of them is pinned to a CPU of its own ([`placement`]): the scheduler
//! neither puts the two sides on one CPU nor moves them during a run, which on a 2-CPU
//! machine otherwise decides a figure more than the code does.

use std::{
    env, fs,
    io::{self, BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use super::{current_cpu, Cpus, CHILD_ENV};

/// The environment variable that gives a child the CPU to pin itself to.
pub(crate) const CPU_ENV: &str = "FERRY_BENCH_CPU";

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
    /// Starts this binary as `role` with `args`, pinned to `cpu` if one is given, and
    /// waits for it to say `ready`.
    pub(crate) fn spawn(part: &str, role: &str, args: &[String], cpu: Option<usize>) -> io::Result<Self> {
        let mut command = Command::new(env::current_exe()?);
        command.env(CHILD_ENV, role).args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
        if let Some(cpu) = cpu {
            command.env(CPU_ENV, cpu.to_string());
        }
        let mut child = command.spawn()?;
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

/// The CPUs for the `processes` processes of one measurement, one each: the first of
/// those this process may run on; `None` (nobody pinned) if there are fewer.
pub(crate) fn placement(processes: usize) -> Option<Vec<usize>> {
    let allowed = allowed_cpus().ok()?;
    (allowed.len() >= processes).then(|| allowed[..processes].to_vec())
}

/// The CPUs this process may run on, in increasing order.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = affinity()?;
    // SAFETY: CPU_ISSET reads the set, which holds CPU_SETSIZE bits; every index is below.
    Ok((0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect())
}

/// This process's CPU affinity mask.
fn affinity() -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain bits, valid zeroed; sched_getaffinity writes at most
    // its size into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc == 0 {
        Ok(set)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets this process's (its calling thread's) CPU affinity mask.
fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a whole cpu_set_t of that size; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pins this process (its calling thread) to `cpu`.
pub(crate) fn pin(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(failure(format!("cpu {cpu} is past the largest CPU set")));
    }
    // SAFETY: cpu_set_t is plain bits, valid zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), the set's size in bits.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}

/// This process pinned to one CPU until dropped, when its earlier mask comes back: the
/// coordinating process while it takes part in a measurement.
pub(crate) struct Pinned {
    previous: libc::cpu_set_t,
}

impl Pinned {
    /// Pins this process to `cpu`, if one is given.
    pub(crate) fn to(cpu: Option<usize>) -> io::Result<Option<Self>> {
        let Some(cpu) = cpu else { return Ok(None) };
        let previous = affinity()?;
        pin(cpu)?;
        Ok(Some(Self { previous }))
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = set_affinity(&self.previous);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_process_runs_on_its_cpu_and_gets_its_mask_back() {
        let before = allowed_cpus().unwrap();
        assert_eq!(placement(1).unwrap(), before[..1]);
        assert_eq!(placement(before.len() + 1), None);
        let cpu = *before.last().unwrap();
        {
            let _pinned = Pinned::to(Some(cpu)).unwrap().unwrap();
            assert_eq!(allowed_cpus().unwrap(), [cpu]);
            assert_eq!(current_cpu(), cpu as i32);
        }
        assert_eq!(allowed_cpus().unwrap(), before);
        assert!(Pinned::to(None).unwrap().is_none());
        assert!(pin(libc::CPU_SETSIZE as usize).is_err());
    }
}
