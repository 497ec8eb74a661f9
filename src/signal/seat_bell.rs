//! A broadcast channel's doorbell file descriptors: a bell per subscriber seat, beside
//! the two bells every channel has (`bell.rs`).
//!
//! A broadcast channel reuses the queue's two FIFOs (`/dev/shm/ferry-bell.NAME.{r,s}`,
//! made by the creator and recorded in the header): `.s` is the publishers' bell, rung by
//! subscribers when they free room (block mode) and waited on by publishers; `.r` is
//! never rung but is held open for writing by every publisher, so that a subscriber
//! reading it sees it hang up when the publishers have all gone (exited, or killed).
//!
//! Every subscriber seat has a bell of its own, `/dev/shm/ferry-bell.NAME.seat-I`, rung
//! by publishers when they find its flag raised (`seat_doorbell.rs`). It is made by the
//! first subscriber to take the seat (0600 or the mode of the channel's `.r` bell, owned
//! by that subscriber's uid), opened without following links and checked to be a FIFO
//! of an accepted owner; its inode number is recorded in the seat, and a publisher opens
//! it only if it is that very file. Later subscribers of the seat reuse it, draining
//! what a departed (or dead) subscriber left in it before they arm: nothing stale is
//! inherited. The seat bells live as long as the segment: removed with it by its creator,
//! `ferry rm` and `ferry gc` ([`remove_seat_files`]), never by a subscriber, so a dead
//! subscriber leaves nothing behind that outlives the channel.
//!
//! A subscriber's pollable fd is an epoll instance over its seat's bell and `.r`:
//! readable when rung, or when the publishers have all gone.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    sync::Mutex,
};

use rustix::{
    event::epoll,
    io::Errno,
    pipe::{pipe_with, PipeFlags},
};

use crate::{
    error::AttachError,
    signal::{
        bell::BellFds,
        doorbell::{Drained, Pipe},
    },
    sync::{
        AtomicU64,
        Ordering::{Acquire, Release},
    },
};

/// Where a broadcast channel's seat bells are.
#[derive(Debug)]
pub(crate) enum SeatBells {
    /// FIFOs beside the named segment, checked against these owners.
    #[cfg(not(ferry_loom))]
    Named {
        /// The channel's name.
        name: String,
        /// Whose FIFOs an open accepts.
        owners: crate::owner::Owners,
    },
    /// Pipes of a channel inside this process, made as seats are first taken: reading
    /// end, writing end.
    Pipes(Mutex<Vec<Option<(OwnedFd, OwnedFd)>>>),
}

/// A publisher's writing ends of the seat bells it has rung, with the inode each was
/// checked against (named bells only).
#[derive(Debug, Default)]
pub(crate) struct SeatRingers {
    open: Vec<Option<(OwnedFd, u64)>>,
}

impl SeatBells {
    /// The seat bells of a channel inside this process, for `seats` seats.
    pub(crate) fn pipes(seats: usize) -> Self {
        Self::Pipes(Mutex::new((0..seats).map(|_| None).collect()))
    }

    /// The reading end of seat `seat`'s bell, for the subscriber that has just taken the
    /// seat, drained of what a previous subscriber left; `mode` for a FIFO it makes.
    /// Records the bell's identity in the seat's `recorded` word.
    pub(crate) fn take(&self, seat: usize, recorded: &AtomicU64, mode: u32) -> Result<OwnedFd, AttachError> {
        let _ = (mode, recorded);
        let fd = match self {
            #[cfg(not(ferry_loom))]
            Self::Named { name, owners } => {
                let (fd, inode) = named::take(name, seat, owners, mode)?;
                // SYNC: Release; pairs with the Acquire load in `ring`: a publisher that
                // reads the identity opens a FIFO that exists. (Only compared with what
                // an open finds, never used as an index.)
                recorded.store(inode, Release);
                fd
            }
            Self::Pipes(table) => {
                let mut table = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(entry) = table.get_mut(seat) else {
                    return Err(AttachError::InvalidConfig("a subscriber seat beyond the channel's seats"));
                };
                if entry.is_none() {
                    let pipe = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).map_err(|e| io("make", e))?;
                    *entry = Some(pipe);
                }
                let (read, _) = entry.as_ref().expect("made above");
                read.try_clone().map_err(|e| AttachError::Io {
                    op: "duplicate the subscriber doorbell of",
                    name: String::from("(in memory)"),
                    source: e,
                })?
            }
        };
        drain_fd(fd.as_fd());
        Ok(fd)
    }

    /// Rings seat `seat`'s bell, opening (and checking) its FIFO first if `ringers` does
    /// not hold it yet, or holds another file than the one the seat records now.
    pub(crate) fn ring(&self, ringers: &mut SeatRingers, seat: usize, recorded: &AtomicU64) {
        let _ = (&ringers, recorded);
        match self {
            #[cfg(not(ferry_loom))]
            Self::Named { name, owners } => {
                // SYNC: Acquire; pairs with the Release store in `take`.
                let inode = recorded.load(Acquire);
                if inode == 0 {
                    return;
                }
                if ringers.open.len() <= seat {
                    ringers.open.resize_with(seat + 1, || None);
                }
                let slot = &mut ringers.open[seat];
                if slot.as_ref().is_none_or(|(_, known)| *known != inode) {
                    *slot = named::open_to_ring(name, seat, owners, inode).map(|fd| (fd, inode));
                }
                if let Some((fd, _)) = slot {
                    ring_fd(fd.as_fd());
                }
            }
            Self::Pipes(table) => {
                let table = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(Some((_, write))) = table.get(seat) {
                    ring_fd(write.as_fd());
                }
            }
        }
    }
}

fn io(op: &'static str, e: Errno) -> AttachError {
    AttachError::Io { op, name: String::from("a subscriber's doorbell"), source: e.into() }
}

/// One byte into a bell (never blocks: a full pipe is rung already).
fn ring_fd(fd: BorrowedFd<'_>) {
    super::bell::count_call();
    let _ = rustix::io::write(fd, &[1]);
}

/// Empties a bell without blocking; says whether it held anything.
fn drain_fd(fd: BorrowedFd<'_>) -> Drained {
    let mut buf = [0u8; 64];
    let mut drained = Drained::Nothing;
    loop {
        super::bell::count_call();
        match rustix::io::read(fd, &mut buf) {
            // Nobody holds a seat bell's writing end for long (publishers ring through
            // theirs): end of file says nothing about the publishers.
            Ok(0) => return drained,
            Ok(n) if n < buf.len() => return Drained::Rung,
            Ok(_) => drained = Drained::Rung,
            Err(Errno::INTR) => {}
            Err(_) => return drained,
        }
    }
}

/// A subscriber's doorbell descriptors: its seat's bell, the channel's two bells, and the
/// epoll instance over the ones it waits on.
#[derive(Debug)]
pub(crate) struct SubscriberFds {
    /// Readable when its seat's bell is rung or `.r` hangs up.
    epoll: OwnedFd,
    /// Reading end of its seat's bell.
    seat: OwnedFd,
    /// `.r` to wait on (the publishers' presence) and `.s` to ring (room for them).
    channel: BellFds,
}

impl SubscriberFds {
    /// A subscriber's descriptors: its seat's bell `seat` (as [`SeatBells::take`] gave
    /// it) and the channel's bells as a receiver holds them.
    pub(crate) fn new(seat: OwnedFd, channel: BellFds) -> std::io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let flags = epoll::EventFlags::IN;
        epoll::add(&epoll, seat.as_fd(), epoll::EventData::new_u64(0), flags)?;
        epoll::add(&epoll, channel.fd(), epoll::EventData::new_u64(1), flags)?;
        Ok(Self { epoll, seat, channel })
    }

    /// The pollable fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// Empties the seat's bell and looks at the publishers' presence: `Closed` if every
    /// publisher has closed `.r` (gone, or died), else whether the seat was rung.
    pub(crate) fn drain(&self) -> Drained {
        let seat = drain_fd(self.seat.as_fd());
        match self.channel.drain() {
            Drained::Closed => Drained::Closed,
            Drained::Rung => Drained::Rung,
            Drained::Nothing => seat,
        }
    }

    /// Rings the publishers' bell (room for them).
    pub(crate) fn ring_publishers(&self) {
        self.channel.ring();
    }
}

/// The path of seat `seat`'s bell for the channel `name`.
#[cfg(not(ferry_loom))]
pub(crate) fn seat_path(name: &str, seat: usize) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}/ferry-bell.{name}.seat-{seat}", super::bell::SHM_DIR))
}

#[cfg(not(ferry_loom))]
pub(crate) use self::named::remove_seat_files;

#[cfg(not(ferry_loom))]
mod named {
    use std::os::fd::OwnedFd;

    use rustix::{
        fs::{FileType, Mode, OFlags, CWD},
        io::Errno,
    };

    use super::seat_path;
    use crate::{error::AttachError, owner::Owners};

    /// Opens (making it first if needed) seat `seat`'s bell for the subscriber taking
    /// it; returns its reading end and inode number.
    pub(super) fn take(name: &str, seat: usize, owners: &Owners, mode: u32) -> Result<(OwnedFd, u64), AttachError> {
        let path = seat_path(name, seat);
        let shown = path.display().to_string();
        let io = |op| {
            let name = shown.clone();
            move |e: Errno| AttachError::Io { op, name, source: e.into() }
        };
        let made = match rustix::fs::mkfifoat(CWD, &path, Mode::from_raw_mode(mode)) {
            Ok(()) => true,
            // Left by an earlier subscriber of the seat: reused if it is an accepted
            // owner's FIFO (checked below).
            Err(Errno::EXIST) => false,
            Err(e) => return Err(io("create the subscriber's doorbell")(e)),
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::open(&path, flags, Mode::empty()).map_err(|e| match e {
            Errno::ACCESS | Errno::PERM | Errno::LOOP => AttachError::PermissionDenied { name: shown.clone() },
            other => io("open the subscriber's doorbell")(other),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(io("inspect the subscriber's doorbell"))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Fifo {
            return Err(AttachError::Unexpected { name: shown, found: String::from("not a FIFO"), expected: "a FIFO" });
        }
        owners.check(&shown, st.st_uid)?;
        if made {
            // The umask may have cleared bits of `mode`.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io("set the mode of the doorbell"))?;
        }
        Ok((fd, st.st_ino))
    }

    /// Opens seat `seat`'s bell for ringing, if it is a FIFO of an accepted owner and the
    /// file whose inode number the seat records (`inode`); `None` otherwise (the ring is
    /// lost, which the subscriber's timed re-checks bound).
    pub(super) fn open_to_ring(name: &str, seat: usize, owners: &Owners, inode: u64) -> Option<OwnedFd> {
        let path = seat_path(name, seat);
        let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::open(&path, flags, Mode::empty()).ok()?;
        let st = rustix::fs::fstat(&fd).ok()?;
        let fifo = FileType::from_raw_mode(st.st_mode) == FileType::Fifo;
        (fifo && st.st_ino == inode && owners.check(&path.display().to_string(), st.st_uid).is_ok()).then_some(fd)
    }

    /// Removes every seat bell of the channel `name` (with its segment); FIFOs only.
    pub(crate) fn remove_seat_files(name: &str) {
        let Ok(entries) = std::fs::read_dir(super::super::bell::SHM_DIR) else { return };
        let prefix = format!("ferry-bell.{name}.seat-");
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            let seat = file.strip_prefix(&prefix);
            if !seat.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
                continue;
            }
            let path = entry.path();
            if rustix::fs::lstat(&path).is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Fifo) {
                let _ = rustix::fs::unlink(&path);
            }
        }
    }
}
