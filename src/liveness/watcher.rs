//! Dead peers found when they die, not by polling: one thread per process waits on a
//! pidfd for every process that holds a segment this process uses, and runs the
//! segment's recovery when one of them exits.
//!
//! Without it, a handle finds a dead peer by reading `/proc` (`process::alive`): the
//! `try_` calls and the wait loop do so every 20 ms (`recovery::recover_if_due`), which
//! puts system calls inside a caller's busy-poll loop and makes death detection take up
//! to 20 ms. With it, those calls only make sure that every identity in the segment's
//! role words and seats is watched ([`watch`]): loads from shared memory and a look-up,
//! no system call except for an identity seen for the first time. When a watched
//! process exits, its pidfd turns readable, and the watcher thread runs the recovery
//! (`recovery::recover_dead`) on each segment the process was seen in: the dead holder
//! is marked gone and the parked side woken, well within a millisecond of the exit.
//!
//! Soundness, against a peer that lies or a pid that is reused:
//! - An identity is a pid and a start time (`process`). The pidfd is opened first, and
//!   the identity checked against `/proc` after: if the check passes, the pidfd names that
//!   process or one that held the pid before it (and has exited, so its pidfd is readable
//!   at once: the recovery then finds nobody dead, and the identity is watched again by
//!   the next [`watch`]). An identity whose process is already gone is reported to the
//!   caller, which recovers at once.
//! - The watcher only ever triggers the recovery the polling would have run; that
//!   recovery judges every holder by `/proc` itself, so a spurious event costs a scan and
//!   frees nothing that is alive.
//! - Identities come from shared memory, which a hostile peer can fill: at most
//!   [`MAX_WATCHED`] processes are watched (one file descriptor each); a segment with more
//!   falls back to polling.
//! - The watcher holds segments by a tether (`segment::Tether`), never by a share that
//!   would delay their drop.
//! - A child made by `fork` has no watcher thread: it polls (the watcher remembers the
//!   process that started it). Where pidfds are not available (Linux before 5.3, or a
//!   sandbox that forbids them), everyone polls.

use std::{
    collections::HashMap,
    os::fd::OwnedFd,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
};

use rustix::{
    event::epoll,
    io::Errno,
    process::{pidfd_open, PidfdFlags},
};

use crate::{
    liveness::{
        process::{alive, kernel_pid, me, pid_of},
        recovery::recover_dead,
        roles::{Role, DETACHED},
        seats::occupant,
    },
    segment::{Segment, Shared, Tether},
    sync::{AtomicU32, Ordering::Relaxed},
};

/// Most processes one process watches at once.
const MAX_WATCHED: usize = 256;

/// The one watcher of this process, once started (`None`: pidfds cannot be used here).
static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

struct Watcher {
    /// The process that started the thread (a forked child has none), which is never
    /// watched.
    me: u64,
    epoll: OwnedFd,
    /// Watched processes by identity.
    watched: Mutex<HashMap<u64, Watched>>,
    /// Set if the thread stopped on an error: from then on everyone polls.
    stopped: AtomicU32,
}

/// A watched process: its pidfd (registered with the epoll under its identity) and the
/// segments it was seen in.
struct Watched {
    _pidfd: OwnedFd,
    segments: Vec<Tether>,
}

/// Makes sure that every other process named in `segment`'s role words and seats is
/// watched, so that its death triggers the segment's recovery. `false` if one is not:
/// it is dead already, or it cannot be watched (no watcher here, or too many watched);
/// the caller then recovers by polling.
pub(crate) fn watch(segment: &Shared) -> bool {
    let Some(watcher) = watcher() else { return false };
    let mut all = true;
    let mut watched = watcher.lock();
    for_each_holder(segment, |identity| {
        if all && identity != watcher.me {
            all = watcher.add(&mut watched, identity, segment);
        }
    });
    all
}

fn watcher() -> Option<&'static Watcher> {
    let watcher = WATCHER.get_or_init(Watcher::start).as_ref()?;
    // SYNC: Relaxed; the flag is a hint that sends callers back to polling, nothing is
    // read through it.
    (pid_of(watcher.me) == std::process::id() && watcher.stopped.load(Relaxed) == 0).then_some(watcher)
}

/// Calls `f` with every process identity that holds a role in `segment`: the SPSC role
/// words, the MPMC and publisher seats, the subscriber seats.
fn for_each_holder(segment: &Segment, mut f: impl FnMut(u64)) {
    if segment.geometry().kind.is_spsc() {
        for role in [Role::Sender, Role::Receiver] {
            // SYNC: Relaxed; a hint of whom to watch: the recovery reads the word again.
            let word = role.word(segment).load(Relaxed);
            if word != 0 && word != DETACHED {
                f(word);
            }
        }
        return;
    }
    for (owner, _, _) in segment.seats().iter().filter_map(occupant) {
        f(owner);
    }
    for seat in segment.subscriber_seats() {
        // SYNC: Relaxed; as above.
        let owner = seat.owner.load(Relaxed);
        if owner != 0 {
            f(owner);
        }
    }
}

impl Watcher {
    /// Starts the thread, if pidfds work here.
    fn start() -> Option<Self> {
        let me = me();
        // A pidfd of this very process says whether the kernel and the sandbox allow them.
        pidfd_open(kernel_pid(pid_of(me))?, PidfdFlags::empty()).ok()?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).ok()?;
        let watcher = Self { me, epoll, watched: Mutex::new(HashMap::new()), stopped: AtomicU32::new(0) };
        std::thread::Builder::new()
            .name("ferry-liveness".into())
            .spawn(|| {
                // The thread starts once the watcher is in place (`get_or_init` returned).
                if let Some(watcher) = WATCHER.wait() {
                    watcher.run();
                }
            })
            .ok()?;
        Some(watcher)
    }

    /// Watches `identity` for `segment` (`watched`: the map, locked); `false` if it
    /// cannot, or the process is gone.
    fn add(&self, watched: &mut HashMap<u64, Watched>, identity: u64, segment: &Shared) -> bool {
        if let Some(entry) = watched.get_mut(&identity) {
            if !entry.segments.iter().any(|known| known.holds(segment)) {
                // Channels come and go between two long-lived processes: forget the
                // gone ones as new ones come.
                entry.segments.retain(|known| !known.is_cut());
                entry.segments.push(segment.tether());
            }
            return true;
        }
        if watched.len() >= MAX_WATCHED {
            // Forget the processes seen only in segments that are gone, then look again.
            watched.retain(|_, entry| {
                entry.segments.retain(|segment| !segment.is_cut());
                !entry.segments.is_empty()
            });
            if watched.len() >= MAX_WATCHED {
                return false;
            }
        }
        let Some(pid) = kernel_pid(pid_of(identity)) else {
            return false;
        };
        // First the pidfd, then the check that the pid is still this process (see the
        // module doc).
        let Ok(pidfd) = pidfd_open(pid, PidfdFlags::empty()) else { return false };
        if !alive(identity) {
            return false;
        }
        let data = epoll::EventData::new_u64(identity);
        if epoll::add(&self.epoll, &pidfd, data, epoll::EventFlags::IN).is_err() {
            return false;
        }
        watched.insert(identity, Watched { _pidfd: pidfd, segments: vec![segment.tether()] });
        true
    }

    /// The thread: waits for watched processes to exit, and recovers the segments each
    /// was seen in.
    fn run(&self) {
        let mut events = Vec::with_capacity(16);
        loop {
            events.clear();
            match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut events), None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(_) => {
                    // SYNC: Relaxed; see `watcher`.
                    self.stopped.store(1, Relaxed);
                    return;
                }
            }
            for event in &events {
                // Unwatched (its pidfd closed) before its segments are recovered: a later
                // `watch` of a holder that still lives watches it again.
                let entry = self.lock().remove(&event.data.u64());
                for segment in entry.iter().flat_map(|entry| &entry.segments) {
                    segment.with(recover_dead);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Watched>> {
        // Every change to the map is a single insert, remove or retain: a panic cannot
        // leave it half changed.
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        process::Command,
        thread,
        time::{Duration, Instant},
    };

    use super::*;
    use crate::{config::Config, liveness::process::identity_of, sync::Ordering::SeqCst};

    /// An SPSC segment in heap memory whose sender word names `sender`.
    fn held_by(sender: u64) -> Shared {
        let segment = Segment::heap(Config::new().capacity(8).slot_size(8).geometry(), me()).expect("a segment");
        Role::Sender.word(&segment).store(sender, SeqCst);
        Shared::new(segment)
    }

    #[test]
    fn a_watched_holder_that_dies_is_marked_gone_without_anyone_polling() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let identity = identity_of(child.id()).expect("the child's identity");
        let segment = held_by(identity);
        if !watch(&segment) {
            // Only where pidfds cannot be used (old kernels, some sandboxes).
            assert!(watcher().is_none(), "a live holder could not be watched");
            eprintln!("SKIPPED: no pidfds here; handles poll for dead peers");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        assert_eq!(Role::Sender.word(&segment).load(SeqCst), identity);
        child.kill().expect("kill the child");
        // Not reaped: a zombie, which the watcher's recovery counts as dead.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Role::Sender.word(&segment).load(SeqCst) != DETACHED {
            assert!(Instant::now() < deadline, "the watcher never marked the dead sender");
            thread::sleep(Duration::from_millis(1));
        }
        child.wait().expect("reap the child");
    }

    #[test]
    fn a_dead_or_forged_holder_is_not_watched() {
        // A pid above the kernel's limit, and this process's pid with another start time.
        for identity in [(1 << 32) | 0x3f_ffff, me() ^ (1 << 40)] {
            assert!(!watch(&held_by(identity)), "{identity:#x} was watched");
        }
        // Nobody but this process: nothing to watch.
        assert_eq!(watch(&held_by(me())), watcher().is_some());
    }
}
