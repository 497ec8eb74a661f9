//! The doorbell's file descriptors: two FIFOs beside a named segment, or two pipes for a
//! channel inside one process.
//!
//! Each channel has two bells: the *receivers'* (rung by senders when they publish,
//! waited on by receivers) and the *senders'* (rung by receivers when they free a slot,
//! waited on by senders). A handle holds the reading end of its own side's bell (its
//! pollable fd) and the writing end of the other side's.
//!
//! Why FIFOs: a FIFO is found by name, so it works between processes that open the
//! channel by name with no process serving it (an eventfd would have to be handed over a
//! socket by a live process); it is created 0600 like the segment, opened with
//! `O_NOFOLLOW`, checked to be a FIFO of an accepted owner, and its identity is checked
//! against the one the segment's creator recorded in the header. And it reports a peer's
//! death for free: a handle holds the *writing* end of the other side's bell from attach
//! to drop, so when every handle of one side has gone (exited, or been killed: the kernel
//! closes its descriptors), the other side's reading end polls as hung up (readable for
//! `poll`/`epoll`), and a read returns end of file ([`Drained::Closed`]). The writers
//! open with `O_RDWR`, which on Linux never blocks and never fails for want of a reader;
//! the readers open read-only, so that they do not count as writers of their own bell.
//!
//! The files are `/dev/shm/ferry-bell.NAME.r` (the receivers' bell) and
//! `/dev/shm/ferry-bell.NAME.s` (the senders'), outside the `ferry.` prefix that names
//! segments. The creator of the segment makes them (replacing stale ones of its own uid)
//! and removes them when its last handle goes, as it unlinks the segment.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::PathBuf,
};

use rustix::{
    io::Errno,
    pipe::{pipe_with, PipeFlags},
};

use crate::{
    forked::MadeBy,
    signal::doorbell::{Drained, Pipe},
};

/// A handle's two doorbell descriptors.
#[derive(Debug)]
pub(crate) struct BellFds {
    /// Reading end of this side's bell: the handle's pollable fd.
    wait: OwnedFd,
    /// Writing end of the other side's bell.
    ring: OwnedFd,
    /// A pipe's reading end kept open beside `ring`, as a FIFO's `O_RDWR` keeps one, so
    /// that a ring never meets a pipe without readers (EPIPE, and SIGPIPE).
    keep: Option<OwnedFd>,
}

/// Which side a handle is on, as the bells see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BellSide {
    /// Waits on the receivers' bell, rings the senders'.
    Receiver,
    /// Waits on the senders' bell, rings the receivers'.
    Sender,
}

impl BellFds {
    /// The bells of a channel inside this process: the sender's fds and the receiver's.
    pub(crate) fn pipes() -> std::io::Result<(Self, Self)> {
        let flags = PipeFlags::CLOEXEC | PipeFlags::NONBLOCK;
        let (receivers_read, receivers_write) = pipe_with(flags)?;
        let (senders_read, senders_write) = pipe_with(flags)?;
        let sender = Self { wait: senders_read, ring: receivers_write, keep: Some(receivers_read.try_clone()?) };
        let receiver = Self { wait: receivers_read, ring: senders_write, keep: Some(sender.wait.try_clone()?) };
        Ok((sender, receiver))
    }

    /// The same bells for another handle of the same side.
    pub(crate) fn try_clone(&self) -> std::io::Result<Self> {
        let keep = self.keep.as_ref().map(OwnedFd::try_clone).transpose()?;
        Ok(Self { wait: self.wait.try_clone()?, ring: self.ring.try_clone()?, keep })
    }

    /// The pollable fd: readable when rung, or when the other side has all gone.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.wait.as_fd()
    }

    /// The permission bits of this side's bell (its creator's mode for the channel).
    pub(crate) fn mode(&self) -> std::io::Result<u32> {
        Ok(rustix::fs::fstat(&self.wait)?.st_mode & 0o777)
    }
}

std::thread_local! {
    /// System calls this thread has made on doorbells: see [`doorbell_calls`].
    static CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many system calls this thread has made on shared-memory doorbells (each ring's
/// `write`, each `read` while draining): the measure behind "a busy stream makes no
/// doorbell system call", for tests and `ferry bench`. Thread-local, so that it counts
/// one side of a channel without a shared counter on the fast path.
#[doc(hidden)]
pub fn doorbell_calls() -> u64 {
    CALLS.with(std::cell::Cell::get)
}

pub(super) fn count_call() {
    CALLS.with(|calls| calls.set(calls.get() + 1));
}

impl Pipe for BellFds {
    fn ring(&self) {
        count_call();
        // EAGAIN: the pipe is full, so it is rung already. EPIPE cannot happen: this
        // handle holds a reading end too (`O_RDWR`, or `keep`).
        let _ = rustix::io::write(&self.ring, &[1]);
    }

    fn drain(&self) -> Drained {
        let mut buf = [0u8; 64];
        let mut drained = Drained::Nothing;
        loop {
            count_call();
            match rustix::io::read(&self.wait, &mut buf) {
                Ok(0) => return Drained::Closed,
                // A short read emptied the pipe (it held fewer bytes than asked for): no
                // second read to hear EAGAIN, one system call per wake-up.
                Ok(n) if n < buf.len() => return Drained::Rung,
                Ok(_) => drained = Drained::Rung,
                Err(Errno::INTR) => {}
                // EAGAIN: empty. Anything else: nothing more to read either.
                Err(_) => return drained,
            }
        }
    }
}

/// Where POSIX shared memory lives on Linux; the bells sit beside the segments.
pub(super) const SHM_DIR: &str = "/dev/shm";

/// The path of the bell of `side`'s waiters for the channel `name`.
pub(crate) fn path(name: &str, side: BellSide) -> PathBuf {
    let suffix = match side {
        BellSide::Receiver => 'r',
        BellSide::Sender => 's',
    };
    PathBuf::from(format!("{SHM_DIR}/ferry-bell.{name}.{suffix}"))
}

/// The creator's hold on the bell files: removes them when dropped (when the
/// creator's last handle goes), if they are still the ones it made.
#[derive(Debug)]
pub(crate) struct BellFiles {
    name: String,
    identities: [(u64, u64); 2],
    /// The creator's process: a forked child's copy leaves the files (`forked.rs`).
    made_by: MadeBy,
}

impl BellFiles {
    /// The inode numbers of the two FIFOs (receivers', senders'), for the creator to
    /// record in the segment's header, where openers check them.
    pub(crate) fn inodes(&self) -> [u64; 2] {
        [self.identities[0].1, self.identities[1].1]
    }

    /// Whether this is a forked child's copy of the creator's files (`forked.rs`).
    pub(crate) fn is_forked_copy(&self) -> bool {
        self.made_by.is_forked_copy()
    }
}

impl Drop for BellFiles {
    fn drop(&mut self) {
        if self.made_by.is_forked_copy() {
            return;
        }
        for (side, identity) in [BellSide::Receiver, BellSide::Sender].into_iter().zip(self.identities) {
            let path = path(&self.name, side);
            if rustix::fs::lstat(&path).is_ok_and(|st| (st.st_dev, st.st_ino) == identity) {
                let _ = rustix::fs::unlink(&path);
            }
        }
    }
}

#[cfg(not(ferry_loom))]
pub(crate) use self::named::{create_files, open_files, remove_files};

#[cfg(not(ferry_loom))]
mod named {
    use rustix::{
        fs::{FileType, Mode, OFlags, CWD},
        io::Errno,
    };

    use super::{path, BellFds, BellFiles, BellSide, MadeBy};
    use crate::{error::AttachError, owner::Owners};

    /// Makes the two bell FIFOs of the segment just created as `name` (mode `mode`),
    /// replacing files of ours left by a dead creator. The caller records their
    /// [`BellFiles::inodes`] in the segment's header.
    pub(crate) fn create_files(name: &str, mode: u32) -> Result<BellFiles, AttachError> {
        let mut identities = [(0, 0); 2];
        for (i, side) in [BellSide::Receiver, BellSide::Sender].into_iter().enumerate() {
            let path = path(name, side);
            let shown = path.display().to_string();
            let io = |op| {
                let name = shown.clone();
                move |e: Errno| AttachError::Io { op, name, source: e.into() }
            };
            match rustix::fs::mkfifoat(CWD, &path, Mode::from_raw_mode(mode)) {
                Err(Errno::EXIST) => {
                    // This process owns the segment's name now: a bell there was left by a
                    // dead creator. Ours to replace only if it is ours (the directory is
                    // sticky: another user's file cannot be removed anyway).
                    let st = rustix::fs::lstat(&path).map_err(io("inspect the doorbell"))?;
                    Owners::default().check(&shown, st.st_uid)?;
                    rustix::fs::unlink(&path).map_err(io("remove the stale doorbell"))?;
                    rustix::fs::mkfifoat(CWD, &path, Mode::from_raw_mode(mode)).map_err(io("create the doorbell"))?;
                }
                other => other.map_err(io("create the doorbell"))?,
            }
            // The umask may have cleared bits of `mode`: set it exactly, on the FIFO
            // itself (opened without following a link, without blocking).
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fifo = rustix::fs::open(&path, flags, Mode::empty()).map_err(io("open the doorbell"))?;
            rustix::fs::fchmod(&fifo, Mode::from_raw_mode(mode)).map_err(io("set the mode of the doorbell"))?;
            let st = rustix::fs::fstat(&fifo).map_err(io("inspect the doorbell"))?;
            identities[i] = (st.st_dev, st.st_ino);
        }
        Ok(BellFiles { name: name.to_owned(), identities, made_by: MadeBy::this_process() })
    }

    /// Opens the bells of the channel `name` for a handle on `side`, and checks that each
    /// is a FIFO of an owner `owners` accepts and the very file whose inode the creator
    /// `recorded` (receivers', senders').
    pub(crate) fn open_files(
        name: &str,
        side: BellSide,
        owners: &Owners,
        recorded: [u64; 2],
    ) -> Result<BellFds, AttachError> {
        let open = |bell: BellSide, write: bool| -> Result<std::os::fd::OwnedFd, AttachError> {
            let path = path(name, bell);
            let shown = path.display().to_string();
            let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
            let flags = access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
            let fd = rustix::fs::open(&path, flags, Mode::empty()).map_err(|e| match e {
                Errno::NOENT => AttachError::NotFound { name: shown.clone() },
                Errno::ACCESS | Errno::PERM | Errno::LOOP => AttachError::PermissionDenied { name: shown.clone() },
                other => AttachError::Io { op: "open the doorbell", name: shown.clone(), source: other.into() },
            })?;
            let st = rustix::fs::fstat(&fd).map_err(|e| AttachError::Io {
                op: "inspect the doorbell",
                name: shown.clone(),
                source: e.into(),
            })?;
            owners.check(&shown, st.st_uid)?;
            let index = usize::from(bell == BellSide::Sender);
            if FileType::from_raw_mode(st.st_mode) != FileType::Fifo || st.st_ino != recorded[index] {
                return Err(AttachError::CorruptHeader {
                    name: name.to_owned(),
                    reason: "its doorbell FIFO is not the one the channel's creator made",
                });
            }
            Ok(fd)
        };
        let other = match side {
            BellSide::Receiver => BellSide::Sender,
            BellSide::Sender => BellSide::Receiver,
        };
        Ok(BellFds { wait: open(side, false)?, ring: open(other, true)?, keep: None })
    }

    /// Removes the bells of the channel `name` (with its segment); missing ones are fine.
    pub(crate) fn remove_files(name: &str) {
        for side in [BellSide::Receiver, BellSide::Sender] {
            let path = path(name, side);
            if rustix::fs::lstat(&path).is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Fifo) {
                let _ = rustix::fs::unlink(&path);
            }
        }
    }
}
