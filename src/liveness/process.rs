//! Who is alive: process identities that survive pid reuse.
//!
//! A process is identified by its pid and the low 32 bits of its start time (clock ticks
//! since boot, from `/proc/PID/stat`), packed into one 64-bit word so that a reader can
//! never pair one process's pid with another's start time. A pid that now belongs to a
//! process started at another time, a zombie, and a pid that no longer exists are all
//! dead. Where `/proc` cannot be read, a process counts as alive while signal 0 reaches
//! its pid.
//!
//! A process that has begun to exit (the kernel's `PF_EXITING` flag, field 9 of
//! `/proc/PID/stat`) closes its files before it becomes a zombie, so a peer can see its
//! doorbell hang up while `/proc` still shows it running. [`running`] counts such a
//! process as gone; it is asked only after a hang-up, when every thread of the process
//! has passed the point of closing its files and none can run its code again.

/// This process's identity word. Read from `/proc` once per thread and process: a
/// forked child (another pid) reads its own. A word made without `/proc` (it could not
/// be read, say for want of a free descriptor) is not kept: the next call reads again.
pub(crate) fn me() -> u64 {
    thread_local! {
        static ME: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let pid = std::process::id();
    ME.with(|me| {
        let known = me.get();
        if known != 0 && pid_of(known) == pid {
            return known;
        }
        match identity_of(pid) {
            Some(word) => {
                me.set(word);
                word
            }
            None => identity(pid, 0),
        }
    })
}

/// The pid in an identity word.
pub(crate) fn pid_of(identity: u64) -> u32 {
    identity as u32
}

/// Whether the process an identity word names is still running.
pub(crate) fn alive(word: u64) -> bool {
    let pid = pid_of(word);
    match read_stat(pid) {
        Ok(Some(stat)) => !matches!(stat.state, 'Z' | 'X') && identity(pid, stat.start) == word,
        Ok(None) => false,
        // No procfs here: fall back to "signal 0 reaches it".
        Err(()) => signal_reaches(pid),
    }
}

/// Whether the process an identity word names is alive and has not begun to exit (see
/// the module doc: for use once its files are known to be closed).
pub(crate) fn running(word: u64) -> bool {
    let pid = pid_of(word);
    match read_stat(pid) {
        Ok(Some(stat)) => {
            !matches!(stat.state, 'Z' | 'X') && stat.flags & PF_EXITING == 0 && identity(pid, stat.start) == word
        }
        Ok(None) => false,
        Err(()) => signal_reaches(pid),
    }
}

/// The kernel's per-task flag "getting shut down" (`include/linux/sched.h`).
const PF_EXITING: u64 = 0x4;

/// What ferry reads of `/proc/PID/stat`.
struct Stat {
    /// Field 3: `R`, `S`, `Z`...
    state: char,
    /// Field 9: the kernel's task flags.
    flags: u64,
    /// Field 22: start time, in clock ticks since boot.
    start: u64,
}

/// The identity word of the process `pid` is now, if `/proc` shows it.
pub(crate) fn identity_of(pid: u32) -> Option<u64> {
    read_stat(pid).ok().flatten().map(|stat| identity(pid, stat.start))
}

/// `pid` as the kernel takes it, if it can name a process (1 to `i32::MAX`).
pub(crate) fn kernel_pid(pid: u32) -> Option<rustix::process::Pid> {
    i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)
}

fn identity(pid: u32, start: u64) -> u64 {
    ((start & 0xffff_ffff) << 32) | u64::from(pid)
}

/// What `/proc/PID/stat` says of `pid`; `Ok(None)` if there is no such process, `Err` if
/// `/proc` cannot tell. One `read`: the fields up to the 22nd fit in the buffer, whatever
/// the length of the line.
fn read_stat(pid: u32) -> Result<Option<Stat>, ()> {
    use std::io::Read;
    let mut line = [0u8; 1024];
    let read = std::fs::File::open(format!("/proc/{pid}/stat")).and_then(|mut file| file.read(&mut line));
    let len = match read {
        Ok(len) => len,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if std::path::Path::new("/proc/self/stat").exists() { Ok(None) } else { Err(()) };
        }
        // A process that exits between the open and the read.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(_) => return Err(()),
    };
    // The command name is in parentheses and may hold spaces, or bytes that are not
    // UTF-8: parse after the last ')'.
    let after_name = line[..len].iter().rposition(|&b| b == b')').ok_or(())?;
    let rest = std::str::from_utf8(&line[after_name + 1..len]).map_err(|_| ())?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next().and_then(|s| s.chars().next()).ok_or(())?;
    // Fields 9 and 22 of the file; the state is field 3.
    let flags = fields.nth(5).and_then(|s| s.parse().ok()).ok_or(())?;
    let start = fields.nth(12).and_then(|s| s.parse().ok()).ok_or(())?;
    Ok(Some(Stat { state, flags, start }))
}

fn signal_reaches(pid: u32) -> bool {
    let Some(pid) = kernel_pid(pid) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = me();
        assert_eq!(pid_of(me), std::process::id());
        assert!(alive(me));
        assert!(running(me));
        // The same pid with another start time is another process.
        assert!(!alive(me ^ (1 << 40)));
    }

    #[test]
    fn a_reaped_child_and_a_zombie_are_dead() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().expect("spawn sleep");
        let pid = child.id();
        let word = identity_of(pid).expect("the child's identity");
        assert!(alive(word));
        child.kill().expect("kill");
        // Not reaped yet: a zombie, which signal 0 would still reach.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!alive(word), "a zombie counts as dead");
        assert!(!running(word));
        child.wait().expect("reap");
        assert!(!alive(word));
        assert!(!running(word));
    }
}
