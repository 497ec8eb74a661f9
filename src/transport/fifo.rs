//! The named-pipe transport: a FIFO created by the receiver, written by one sender at a
//! time, carrying length-prefixed frames.
//!
//! A FIFO has no way back to the sender, so the receiver describes its slot size in a
//! small file beside it (`PATH.ferry`), which senders read on open. Frames longer than
//! `PIPE_BUF` are not written atomically, so two senders could interleave: a sender takes
//! an exclusive lock on the FIFO and a second one is refused. A sender says hello when
//! it opens, so the receiver can tell "no sender yet" from "the sender has gone" (end
//! of file), and goodbye when it is dropped, so the receiver sees it gone even while a
//! child its process forked holds a copy of the write end (until that child execs or
//! exits, no end of file comes). Writing to a FIFO whose reader has gone raises
//! SIGPIPE: opening a sender sets SIGPIPE to "ignore" if it was at its default (which
//! kills the process), and the write's EPIPE becomes "peer gone".
//!
//! The lock binds ferry's senders only: any process allowed to open the FIFO can write
//! into it, and all writers share one byte stream. A bad frame (a length beyond the
//! slot size) therefore does not wedge the receiver: the call that meets it returns
//! `Corrupt`, the receiver drops what it has buffered and what the pipe holds at that
//! moment, and takes the next byte to arrive as the start of a frame. There is no
//! resynchronisation marker in the stream (a payload could contain any marker, and a
//! writer in the same pipe can forge frames anyway); resynchronising at "the pipe is
//! empty" works because a ferry sender writes each frame of up to `PIPE_BUF` bytes in
//! one atomic write, so the pipe never holds part of one. The limits: messages in the
//! pipe when the bad frame is met are lost; a larger frame being written at that moment
//! is cut, and its tail is read as further bad frames (each one `Corrupt`, each one
//! resynchronising) or, if a tail happens to start with a plausible length, as a
//! message; a hello in the discarded bytes is not seen; and a hostile writer in the
//! same pipe can always destroy or forge frames, a hello or a goodbye. The FIFO
//! transport trusts whoever can write to it; the Unix socket transport, one connection
//! per sender, does not need to.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read},
    os::{
        fd::AsFd,
        unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
};

use rustix::{
    event::PollFlags,
    fs::{FlockOperation, Mode, CWD},
};

use crate::{
    error::AttachError,
    forked::MadeBy,
    owner::Owners,
    segment::object::kind_of,
    signal::wait::Wait,
    transport::{
        framing::{self, Frame, FrameReader},
        pollable::{Pollable, Ready},
        stop::Stop,
        stream::{describe, hung_up, read_description, remove_description, unexpected, StreamSender},
    },
};

/// The reading end.
#[derive(Debug)]
pub(crate) struct FifoReceiver {
    fifo: File,
    path: PathBuf,
    /// (device, inode) of the FIFO, so drop removes only our own.
    identity: (u64, u64),
    reader: FrameReader,
    slot_size: usize,
    /// The FIFO behind an fd that stays the same when the FIFO is reopened.
    pollable: Pollable,
    /// The creator's process: a forked child's copy leaves the FIFO (`forked.rs`).
    made_by: MadeBy,
}

impl FifoReceiver {
    /// Creates the FIFO at `path` (mode `mode`), replacing one no receiver has open.
    pub(crate) fn create(path: &Path, slot_size: usize, mode: u32) -> Result<Self, AttachError> {
        let name = path.display().to_string();
        let io = |op| move |e: io::Error| io_error(op, path, e);
        match rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(mode)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                // Anything but this user's FIFO is not ours to replace.
                let meta = fs::symlink_metadata(path).map_err(io("inspect"))?;
                if !meta.file_type().is_fifo() {
                    return Err(unexpected(&name, kind_of(meta.mode())));
                }
                Owners::default().check(&name, meta.uid())?;
                // Opening for writing without blocking succeeds only if a reader has it.
                if open_writer(path).is_ok() {
                    return Err(AttachError::AlreadyExists { name });
                }
                fs::remove_file(path).map_err(io("remove the stale FIFO"))?;
                rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(mode))
                    .map_err(|e| io_error("create", path, e.into()))?;
            }
            Err(e) => return Err(io_error("create", path, e.into())),
        }
        let cleanup = |e: AttachError| {
            let _ = fs::remove_file(path);
            e
        };
        // The umask may have cleared bits of `mode`: set it exactly.
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| cleanup(io("set the mode of")(e)))?;
        describe(path, slot_size, mode).map_err(cleanup)?;
        let cleanup = |e: AttachError| {
            remove_description(path);
            cleanup(e)
        };
        let fifo = open_reader(path).map_err(|e| cleanup(io("open")(e)))?;
        let meta = fifo.metadata().map_err(|e| cleanup(io("inspect")(e)))?;
        let pollable = Pollable::watching(fifo.as_fd(), Ready::Readable).map_err(|e| cleanup(io("watch")(e)))?;
        Ok(Self {
            fifo,
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
            reader: FrameReader::new(slot_size),
            slot_size,
            pollable,
            made_by: MadeBy::this_process(),
        })
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Whether a whole message is buffered already (the FIFO may be quiet).
    pub(crate) fn has_buffered(&self) -> bool {
        self.reader.has_frame()
    }

    /// One fd, readable when the FIFO has bytes or its sender has gone.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pollable.fd()
    }

    /// Finds the next whole message whose length `accept`s, waiting as `wait` allows.
    /// Read it with `frame`, then `consume` it.
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<usize, Stop> {
        loop {
            let fifo = &self.fifo;
            let filled = match self.reader.fill(|buf| (&*fifo).read(buf)) {
                Err(Stop::Corrupt(reason)) => {
                    // Reported once; the next call reads what arrives after (module doc).
                    self.reader.resync(|buf| (&*fifo).read(buf));
                    return Err(Stop::Corrupt(reason));
                }
                other => other?,
            };
            match filled {
                Frame::Ready(len) if accept(len) => return Ok(len),
                Frame::Ready(len) => return Err(Stop::Refused(len)),
                // End of file after a hello: the sender has gone, and everything it
                // wrote has been read.
                Frame::Closed if self.reader.greeted() => return Err(Stop::Gone),
                // End of file before any hello: a writer came and went without being a
                // sender. The FIFO would now poll as hung up forever; reopening it makes
                // `poll` wait for the next writer again.
                Frame::Closed => self.reopen().map_err(|_| Stop::Gone)?,
                Frame::Partial => {}
            }
            if wait.is_never() {
                return Err(Stop::WouldBlock);
            }
            framing::wait_for(self.fifo.as_fd(), PollFlags::IN, wait)?;
        }
    }

    /// The payload of the message `recv` found.
    pub(crate) fn frame(&self, len: usize) -> &[u8] {
        self.reader.frame(len)
    }

    /// Whether the sender that said hello has gone (none yet is not "gone"), without
    /// taking a message: reads what it sent (kept for the next receive), then asks
    /// whether the FIFO has no writer left.
    pub(crate) fn sender_gone(&mut self) -> bool {
        let fifo = &self.fifo;
        match self.reader.fill(|buf| (&*fifo).read(buf)) {
            Ok(Frame::Closed) if self.reader.greeted() => true,
            // A writer came and went without a hello: wait for the next one, as `recv` does.
            Ok(Frame::Closed) => {
                let _ = self.reopen();
                false
            }
            _ => self.reader.greeted() && hung_up(self.fifo.as_fd()),
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.fifo = open_reader(&self.path)?;
        self.pollable.watch(self.fifo.as_fd(), Ready::Readable)
    }

    /// Drops the message `recv` found.
    pub(crate) fn consume(&mut self, len: usize) {
        self.reader.consume(len);
    }
}

impl Drop for FifoReceiver {
    fn drop(&mut self) {
        if self.made_by.is_forked_copy() {
            return;
        }
        let ours = fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
            remove_description(&self.path);
        }
    }
}

/// The writing end; one per FIFO at a time.
pub(crate) type FifoSender = StreamSender<File>;

/// Opens the FIFO at `path`, which a receiver must have created and hold open, and says
/// hello. The FIFO and its description file must belong to a uid `owners` accepts, and
/// neither may be a link.
pub(crate) fn open_sender(path: &Path, owners: &Owners) -> Result<FifoSender, AttachError> {
    let name = path.display().to_string();
    let slot_size = read_description(path, owners)?;
    let fifo = open_writer(path).map_err(|e| match e.raw_os_error() {
        // No reader has the FIFO open: nobody would receive.
        Some(libc::ENXIO) | Some(libc::ENOENT) => AttachError::NotFound { name: name.clone() },
        Some(libc::ELOOP) => unexpected(&name, "a symbolic link"),
        _ => io_error("open", path, e),
    })?;
    let stat = rustix::fs::fstat(&fifo).map_err(|e| io_error("inspect", path, e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Fifo {
        return Err(unexpected(&name, kind_of(stat.st_mode)));
    }
    owners.check(&name, stat.st_uid)?;
    rustix::fs::flock(&fifo, FlockOperation::NonBlockingLockExclusive).map_err(|_| AttachError::Unsupported {
        endpoint: format!("fifo:{name}"),
        what: "a second sender on one FIFO",
    })?;
    ignore_sigpipe();
    // Four bytes: atomic in a pipe.
    StreamSender::new(fifo, write, path, slot_size, owners).map_err(|_| AttachError::NotFound { name })
}

/// A non-blocking write; a gone reader is EPIPE (SIGPIPE is ignored, see `open_sender`).
fn write(fifo: &File, bytes: &[u8]) -> io::Result<usize> {
    Ok(rustix::io::write(fifo, bytes)?)
}

/// Opens the FIFO at `path` for writing, without blocking and without following a link
/// (what is opened may still be something else: check it).
fn open_writer(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path)
}

/// Opens the FIFO at `path` for reading, without blocking and without following a link.
fn open_reader(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path)
}

/// Sets SIGPIPE to "ignore" if it is at its default action, which kills the process.
fn ignore_sigpipe() {
    // SAFETY: querying and setting a signal disposition with valid, zeroed structs; a
    // handler the program installed is left alone.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut current) == 0 && current.sa_sigaction == libc::SIG_DFL
        {
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            libc::sigaction(libc::SIGPIPE, &ignore, std::ptr::null_mut());
        }
    }
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> AttachError {
    let name = path.display().to_string();
    match source.kind() {
        io::ErrorKind::PermissionDenied => AttachError::PermissionDenied { name },
        _ => AttachError::Io { op, name, source },
    }
}
