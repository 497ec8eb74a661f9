//! Looking at channels from outside: what `ferry ls`, `ferry rm` and `ferry gc` show and
//! do.

use crate::{
    error::AttachError,
    liveness::{self, Holder},
    owner::Owners,
    ring::{broadcast::Policy, mpmc, RingKind},
    segment::Segment,
    signal::Signaling,
    sync::Ordering::Relaxed,
};

/// Where POSIX shared-memory objects live on Linux.
const SHM_DIR: &str = "/dev/shm";

/// What a shared-memory channel holds and who holds it, as seen by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel name.
    pub name: String,
    /// SPSC or MPMC.
    pub kind: RingKind,
    /// How its blocked sides sleep.
    pub signaling: Signaling,
    /// The largest message in bytes.
    pub slot_size: usize,
    /// The number of slots.
    pub capacity: usize,
    /// Messages published and not yet released.
    pub in_flight: usize,
    /// The process that created the channel.
    pub creator: Process,
    /// Who holds the sender role.
    pub senders: Holders,
    /// Who holds the receiver role.
    pub receivers: Holders,
    /// Nobody can be using the channel: its creator is dead and no live process holds a
    /// role. `ferry gc` removes such channels, and creating the name again reclaims it.
    pub stale: bool,
}

/// A process, by pid, and whether it is still running (pid reuse does not fool it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Whether it is still running.
    pub alive: bool,
}

/// Who holds one role of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holders {
    /// Nobody has held it yet.
    Never,
    /// It was held, and nobody holds it now.
    Left,
    /// An SPSC role, held by this process (which may have died).
    Process(Process),
    /// An MPMC role, held by these processes, each once (some may have died: their seats
    /// are freed by the next live handle that waits on the channel).
    Processes(Vec<Process>),
}

/// The names of the shared-memory channels on this machine, sorted.
pub fn list() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(SHM_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.strip_prefix("ferry.").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Opens the channel `name` read-only in spirit (it attaches to no role) and reports
/// what it holds.
///
/// # Errors
///
/// As for opening a channel: [`AttachError::NotFound`], the header errors, and so on.
pub fn inspect(name: &str) -> Result<ChannelInfo, AttachError> {
    let segment = Segment::open(name, None, &Owners::any())?;
    let geometry = *segment.geometry();
    let ring = segment.ring();
    let in_flight = match geometry.kind {
        RingKind::Spsc => {
            // SYNC: Relaxed; a snapshot for information, nothing is read through it.
            let (head, tail) = (ring.control().head.load(Relaxed), ring.control().tail.load(Relaxed));
            tail.saturating_sub(head).min(ring.capacity())
        }
        RingKind::Mpmc => mpmc::in_flight(&ring),
        // Every slot holds a message some subscriber may read: the fill level is the
        // ring's, and each subscriber's lag is in `subscribers`.
        RingKind::Broadcast => {
            // SYNC: Relaxed; a snapshot for information.
            ring.control().tail.load(Relaxed).min(ring.capacity())
        }
    } as usize;
    let holders = liveness::holders(&segment);
    let role = |holder: &Holder| match holder {
        Holder::Never => Holders::Never,
        Holder::Left => Holders::Left,
        &Holder::Process { pid, alive } => Holders::Process(Process { pid, alive }),
        Holder::Processes(all) => Holders::Processes(all.iter().map(|&(pid, alive)| Process { pid, alive }).collect()),
    };
    Ok(ChannelInfo {
        name: name.to_owned(),
        kind: geometry.kind,
        signaling: geometry.signaling,
        slot_size: geometry.slot_size,
        capacity: geometry.capacity,
        in_flight,
        creator: Process { pid: holders.creator_pid, alive: holders.creator_alive },
        senders: role(&holders.sender),
        receivers: role(&holders.receiver),
        stale: holders.stale(),
    })
}

/// Removes every stale channel (see [`ChannelInfo::stale`]); returns their names.
pub fn remove_stale() -> Vec<String> {
    list().into_iter().filter(|name| liveness::reclaim_if_stale(name)).collect()
}

/// A broadcast channel's subscribers and where each is, as seen by [`inspect_broadcast`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastInfo {
    /// What a publisher does about a subscriber a whole ring behind.
    pub policy: Policy,
    /// How many of the latest messages the channel keeps for late joiners.
    pub history: usize,
    /// How many subscribers the channel has seats for.
    pub seats: usize,
    /// Positions claimed by publishers so far: the stream's length.
    pub tail: u64,
    /// Each attached subscriber, alive or dead (a dead one's seat is freed by the next
    /// handle that waits on the channel).
    pub subscribers: Vec<SubscriberInfo>,
}

/// One subscriber of a broadcast channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Its process.
    pub process: Process,
    /// The next position it reads (`None` while it is joining).
    pub cursor: Option<u64>,
    /// Messages published that it has not read yet: `tail - cursor` (in overwrite mode
    /// it may exceed the capacity: it will be told it lagged).
    pub lag: u64,
}

/// Opens the channel `name` without attaching and, if it is a broadcast channel, reports
/// its subscribers and their lag (`None` for a queue).
///
/// # Errors
///
/// As for [`inspect`].
pub fn inspect_broadcast(name: &str) -> Result<Option<BroadcastInfo>, AttachError> {
    let segment = Segment::open(name, None, &Owners::any())?;
    let geometry = *segment.geometry();
    if geometry.kind != RingKind::Broadcast {
        return Ok(None);
    }
    // SYNC: Relaxed; a snapshot for information, nothing is read through it.
    let tail = segment.ring().control().tail.load(Relaxed);
    let subscribers = liveness::subscribers::occupants(&segment)
        .into_iter()
        .map(|(owner, cursor)| SubscriberInfo {
            process: Process { pid: liveness::pid_of(owner), alive: liveness::alive(owner) },
            cursor,
            lag: cursor.map_or(0, |c| tail.saturating_sub(c)),
        })
        .collect();
    Ok(Some(BroadcastInfo {
        policy: geometry.fanout.policy,
        history: geometry.fanout.history,
        seats: geometry.fanout.subscribers,
        tail,
        subscribers,
    }))
}
