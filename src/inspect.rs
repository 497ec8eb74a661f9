//! Looking at channels from outside: what `ferry ls`, `ferry rm` and `ferry gc` show and
//! do.

use std::{ffi::OsString, os::unix::ffi::OsStrExt};

use crate::{
    error::AttachError,
    liveness::{self, Holder},
    ring::{broadcast::Policy, RingKind},
    segment::{name::FILE_PREFIX, object::SHM_DIR, snapshot::Snapshot},
    signal::Signaling,
};

/// What a shared-memory channel holds and who holds it, as seen by [`inspect`].
///
/// # Examples
///
/// ```
/// use ferry::{Config, Holders, Receiver, RingKind, Sender};
///
/// # let name = format!("doc-channel-info-{}", std::process::id());
/// let _rx = Receiver::create(&name, &Config::new().slot_size(128).capacity(8))?;
/// let mut tx = Sender::open(&name)?;
/// tx.send(b"waiting")?;
/// let info = ferry::inspect(&name)?;
/// assert_eq!((info.kind, info.slot_size, info.capacity, info.in_flight), (RingKind::Spsc, 128, 8, 1));
/// assert!(matches!(info.senders, Holders::Process(p) if p.alive));
/// assert!(!info.stale);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// The number of slots; on a channel sized in bytes ([`RingKind::SpscBytes`]), its
    /// bytes.
    pub capacity: usize,
    /// Messages sent and not yet received: the positions senders have claimed and
    /// receivers have not (on MPMC, a claim still being written counts). On a channel
    /// sized in bytes, the bytes they occupy (headers and padding included).
    pub in_flight: usize,
    /// The uid that owns the channel's segment.
    pub owner: u32,
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
///
/// # Examples
///
/// ```
/// # let name = format!("doc-process-{}", std::process::id());
/// let _rx = ferry::Receiver::create(&name, &ferry::Config::new())?;
/// let creator = ferry::inspect(&name)?.creator;
/// assert_eq!(creator, ferry::Process { pid: std::process::id(), alive: true });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Whether it is still running.
    pub alive: bool,
}

/// Who holds one role of a channel.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Holders, Receiver, Sender};
///
/// # let name = format!("doc-holders-{}", std::process::id());
/// let _rx = Receiver::create(&name, &Config::new())?;
/// assert_eq!(ferry::inspect(&name)?.senders, Holders::Never);
/// drop(Sender::open(&name)?);
/// assert_eq!(ferry::inspect(&name)?.senders, Holders::Left);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// The names of the shared-memory channels on this machine, sorted. Objects whose names
/// are not UTF-8 are not channels (ferry's names are ASCII): [`list_non_utf8`] has them.
pub fn list() -> Vec<String> {
    let mut names: Vec<String> = entries().into_iter().filter_map(|name| name.into_string().ok()).collect();
    names.sort();
    names
}

/// The objects in `/dev/shm` named `ferry.` and something that is not UTF-8, without
/// the prefix, sorted: no channel has such a name, so something else put them there.
pub fn list_non_utf8() -> Vec<OsString> {
    let mut names: Vec<OsString> = entries().into_iter().filter(|name| name.to_str().is_none()).collect();
    names.sort();
    names
}

/// Every name in `/dev/shm` after the `ferry.` prefix.
fn entries() -> Vec<OsString> {
    std::fs::read_dir(SHM_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let rest = name.as_bytes().strip_prefix(FILE_PREFIX.as_bytes())?;
            Some(std::ffi::OsStr::from_bytes(rest).to_owned())
        })
        .collect()
}

/// Reports what the channel `name` holds and who holds it, whoever owns it, without
/// attaching to it or mapping it: its header, seats and positions are read from the
/// object (see [`ChannelInfo`]), so the owner truncating it cannot crash the caller, and
/// a segment still being created is reported at once, not waited for. The name is not
/// followed if it is a link, and only a regular file is read.
///
/// # Errors
///
/// As for opening a channel: [`AttachError::NotFound`], [`AttachError::Unexpected`]
/// (a link or another kind of file), [`AttachError::NotInitialised`], the header errors,
/// and so on.
pub fn inspect(name: &str) -> Result<ChannelInfo, AttachError> {
    let snapshot = Snapshot::read(name)?;
    let geometry = snapshot.geometry;
    let in_flight = match geometry.kind {
        // Messages on a queue; bytes on a byte ring (positions count bytes there).
        RingKind::Spsc | RingKind::Mpmc | RingKind::SpscBytes | RingKind::MpmcBytes | RingKind::BroadcastBytes => {
            snapshot.tail.saturating_sub(snapshot.head)
        }
        // Every slot holds a message some subscriber may read: the fill level is the
        // ring's, and each subscriber's lag is in `inspect_broadcast`.
        RingKind::Broadcast => snapshot.tail,
    }
    .min(geometry.capacity as u64) as usize;
    let holders = liveness::holders_in(geometry.kind, snapshot.header(), snapshot.seats(), snapshot.subscriber_seats());
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
        owner: snapshot.owner,
        creator: Process { pid: holders.creator_pid, alive: holders.creator_alive },
        senders: role(&holders.sender),
        receivers: role(&holders.receiver),
        stale: holders.stale(),
    })
}

/// Removes every stale channel (see [`ChannelInfo::stale`]), with its doorbell FIFOs;
/// returns their names.
pub fn remove_stale() -> Vec<String> {
    let removed: Vec<String> = list().into_iter().filter(|name| liveness::reclaim_if_stale(name)).collect();
    for name in &removed {
        crate::signal::bell::remove_files(name);
        crate::signal::seat_bell::remove_seat_files(name);
    }
    removed
}

/// A broadcast channel's subscribers and where each is, as seen by [`inspect_broadcast`].
///
/// # Examples
///
/// ```
/// use ferry::{Config, Publisher, Start, Subscriber};
///
/// # let name = format!("doc-broadcast-info-{}", std::process::id());
/// let mut publisher = Publisher::create(&name, &Config::new().slot_size(16).capacity(8))?;
/// let _subscriber = Subscriber::open(&name, Start::Live)?;
/// publisher.send(b"unread")?;
/// let info = ferry::inspect_broadcast(&name)?.expect("a broadcast channel");
/// assert_eq!((info.seats, info.tail, info.subscribers.len()), (128, 1, 1));
/// assert_eq!(info.subscribers[0].lag, 1);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastInfo {
    /// What a publisher does about a subscriber a whole ring behind.
    pub policy: Policy,
    /// How many of the latest messages the channel keeps for late joiners.
    pub history: usize,
    /// How many subscribers the channel has seats for.
    pub seats: usize,
    /// Positions claimed by publishers so far: the stream's length (in bytes, records'
    /// headers included, on a channel sized in bytes).
    pub tail: u64,
    /// Each attached subscriber, alive or dead (a dead one's seat is freed by the next
    /// handle that waits on the channel).
    pub subscribers: Vec<SubscriberInfo>,
}

/// One subscriber of a broadcast channel.
///
/// # Examples
///
/// ```
/// use ferry::{Config, Publisher, Start, Subscriber};
///
/// # let name = format!("doc-subscriber-info-{}", std::process::id());
/// let mut publisher = Publisher::create(&name, &Config::new().slot_size(16).capacity(8))?;
/// let mut subscriber = Subscriber::open(&name, Start::Live)?;
/// publisher.send(b"read")?;
/// publisher.send(b"unread")?;
/// drop(subscriber.recv()?);
/// let info = ferry::inspect_broadcast(&name)?.expect("a broadcast channel");
/// let me = info.subscribers[0];
/// assert_eq!((me.process.pid, me.cursor, me.lag), (std::process::id(), Some(1), 1));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Its process.
    pub process: Process,
    /// The next position it reads (`None` while it is joining).
    pub cursor: Option<u64>,
    /// Messages published that it has not read yet: `tail - cursor` (in overwrite mode
    /// it may exceed the capacity: it will be told it lagged); bytes on a channel sized
    /// in bytes.
    pub lag: u64,
}

/// Opens the channel `name` without attaching and, if it is a broadcast channel, reports
/// its subscribers and their lag (`None` for a queue).
///
/// # Errors
///
/// As for [`inspect`].
pub fn inspect_broadcast(name: &str) -> Result<Option<BroadcastInfo>, AttachError> {
    let snapshot = Snapshot::read(name)?;
    let geometry = snapshot.geometry;
    if !geometry.kind.is_broadcast() {
        return Ok(None);
    }
    let tail = snapshot.tail;
    let subscribers = liveness::subscribers::occupants_in(snapshot.subscriber_seats())
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
