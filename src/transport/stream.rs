//! What the two stream transports (Unix sockets and FIFOs) share: the sending end, with
//! the buffer a loan writes into and the error a loan's commit defers, and the small
//! file beside the endpoint that describes it to senders, and how either end sees that
//! the other has gone (`hung_up`).

use std::{
    fs, io,
    os::{
        fd::{AsFd, BorrowedFd},
        unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    time::Duration,
};

use rustix::event::{PollFd, PollFlags};

use crate::{
    error::AttachError,
    forked::MadeBy,
    owner::Owners,
    ring::MAX_SLOT_SIZE,
    segment::object::kind_of,
    signal::wait::Wait,
    transport::{
        framing::{wait_for, FrameWriter, GOODBYE, HELLO},
        pollable::{Pollable, Ready},
        stop::Stop,
    },
};

/// How long a dropped sender waits for the stream to take the rest of its last frame.
const FINISH_FRAME: Duration = Duration::from_secs(1);

/// The sending end of a stream transport (a connected socket, an open FIFO): the
/// stream, how to write to it without blocking (and without SIGPIPE), its frames, and
/// the loan buffer.
#[derive(Debug)]
pub(crate) struct StreamSender<S: AsFd> {
    stream: S,
    write: fn(&S, &[u8]) -> io::Result<usize>,
    writer: FrameWriter,
    /// The endpoint's path, to open another sender on it.
    path: PathBuf,
    /// Whose endpoint this sender accepted, for another sender on it.
    owners: Owners,
    slot_size: usize,
    /// What a loan hands out: `slot_size` bytes in this process, written out by the
    /// loan's commit.
    loan: Vec<u8>,
    /// An error a loan's commit met (it cannot report one), reported by the next call.
    deferred: Option<Stop>,
    /// The stream, readable here when it has room to write (one convention for every
    /// handle's fd).
    pollable: Pollable,
    /// The process that opened the sender: a forked child's copy leaves the stream to it
    /// (`forked.rs`).
    made_by: MadeBy,
}

impl<S: AsFd> StreamSender<S> {
    /// Starts sending on `stream` (non-blocking) by saying hello.
    pub(crate) fn new(
        stream: S,
        write: fn(&S, &[u8]) -> io::Result<usize>,
        path: &Path,
        slot_size: usize,
        owners: &Owners,
    ) -> Result<Self, Stop> {
        let mut writer = FrameWriter::default();
        writer.queue_raw(&HELLO, |b| write(&stream, b))?;
        let pollable = Pollable::watching(stream.as_fd(), Ready::Writable).map_err(|_| Stop::Gone)?;
        Ok(Self {
            stream,
            write,
            writer,
            path: path.to_owned(),
            owners: owners.clone(),
            slot_size,
            loan: vec![0; slot_size],
            deferred: None,
            pollable,
            made_by: MadeBy::this_process(),
        })
    }

    /// Whether the stream takes more bytes now (or has failed: the send reports it).
    #[cfg(feature = "tokio")]
    pub(crate) fn writable_now(&self) -> bool {
        !matches!(wait_for(self.stream.as_fd(), PollFlags::OUT, Wait::Never), Err(Stop::WouldBlock))
    }

    /// One fd, readable when the stream has room for more (or the receiver has gone).
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pollable.fd()
    }

    /// Whose endpoint this sender accepted.
    pub(crate) fn owners(&self) -> &Owners {
        &self.owners
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `payload` as one message, waiting for room as `wait` allows.
    pub(crate) fn send(&mut self, payload: &[u8], wait: Wait) -> Result<(), Stop> {
        self.take_deferred()?;
        let (stream, write) = (&self.stream, self.write);
        self.writer.send(stream.as_fd(), payload, wait, |b| write(stream, b))
    }

    /// Adds `payload` to the batch being gathered, without waiting: written with the
    /// others at `publish`, or at once when the batch has no room left for it. A batch
    /// that starts gathering first looks whether the receiver is there (one `poll`), so
    /// a batch sent to a gone receiver fails at its first message.
    pub(crate) fn send_batched(&mut self, payload: &[u8]) -> Result<(), Stop> {
        self.take_deferred()?;
        let (stream, write) = (&self.stream, self.write);
        if !self.writer.has_pending() && hung_up(stream.as_fd()) {
            return Err(Stop::Gone);
        }
        self.writer.gather(payload, |b| write(stream, b))
    }

    /// Writes the gathered batch without waiting; what the stream does not take goes
    /// out before the next message (or, within a bound, when the sender is dropped). An
    /// error is reported by the next call.
    pub(crate) fn publish(&mut self) {
        let (stream, write) = (&self.stream, self.write);
        if let Err(stop) = self.writer.write_now(|b| write(stream, b)) {
            self.deferred.get_or_insert(stop);
        }
    }

    /// Lends the loan buffer: waits as `wait` allows until the stream takes more, so the
    /// commit can hand it the message (keeping what it does not take at once).
    pub(crate) fn loan(&mut self, wait: Wait) -> Result<(), Stop> {
        self.take_deferred()?;
        let (stream, write) = (&self.stream, self.write);
        self.writer.flush(stream.as_fd(), wait, |b| write(stream, b))?;
        wait_for(stream.as_fd(), PollFlags::OUT, wait)?;
        // A hung-up stream polls writable too: the loan would be lost.
        if hung_up(stream.as_fd()) {
            return Err(Stop::Gone);
        }
        Ok(())
    }

    /// The loan buffer.
    pub(crate) fn loaned(&self) -> &[u8] {
        &self.loan
    }

    /// The loan buffer, for writing.
    pub(crate) fn loaned_mut(&mut self) -> &mut [u8] {
        &mut self.loan
    }

    /// Sends the first `len` bytes of the loan buffer as one message (after `loan`),
    /// finishing it within `wait`; an error is reported by the next call.
    pub(crate) fn commit(&mut self, len: usize, wait: Wait) {
        let (stream, write) = (&self.stream, self.write);
        if let Err(stop) = self.writer.queue(stream.as_fd(), &self.loan[..len], wait, |b| write(stream, b)) {
            self.deferred = Some(stop);
        }
    }

    /// Whether the receiver has gone: a commit met it, or the stream is hung up (a
    /// socket whose peer closed, a FIFO nobody reads). One `poll`, no waiting.
    pub(crate) fn receiver_gone(&self) -> bool {
        matches!(self.deferred, Some(Stop::Gone)) || hung_up(self.stream.as_fd())
    }

    /// The error a commit deferred, if any.
    fn take_deferred(&mut self) -> Result<(), Stop> {
        self.deferred.take().map_or(Ok(()), Err)
    }
}

impl<S: AsFd> Drop for StreamSender<S> {
    fn drop(&mut self) {
        if self.made_by.is_forked_copy() {
            // What it would write (the end of a frame, a goodbye) or shut down belongs
            // to the parent's sender.
            return;
        }
        // The end of a frame a `try_` call left goes out now, within a bound.
        let (stream, write) = (&self.stream, self.write);
        let _ = self.writer.flush(stream.as_fd(), Wait::until(FINISH_FRAME), |b| write(stream, b));
        // A socket is shut down, not only closed: a child this process forks keeps a
        // copy of the descriptor until its `exec`, and the receiver would see this
        // sender leave only when the last copy closed. A FIFO cannot be (ENOTSOCK): its
        // sender says goodbye instead, after whole frames only.
        let shut = rustix::net::shutdown(stream.as_fd(), rustix::net::Shutdown::Write);
        if shut == Err(rustix::io::Errno::NOTSOCK) && !self.writer.has_pending() {
            let _ = self.writer.queue_raw(&GOODBYE, |b| write(stream, b));
            let _ = self.writer.flush(stream.as_fd(), Wait::until(FINISH_FRAME), |b| write(stream, b));
        }
    }
}

/// Whether `fd`'s other end has gone: `poll` reports it hung up or in error (a socket
/// whose peer closed, a FIFO's write end with no reader, a FIFO's read end whose writers
/// all closed). Looks without waiting.
pub(crate) fn hung_up(fd: BorrowedFd<'_>) -> bool {
    let mut polled = [PollFd::new(&fd, PollFlags::empty())];
    let now = rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 };
    loop {
        match rustix::event::poll(&mut polled, Some(&now)) {
            Ok(_) => return polled[0].revents().intersects(PollFlags::HUP | PollFlags::ERR),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return true,
        }
    }
}

/// First word of a stream endpoint's description file, before the slot size.
const DESCRIPTION_MAGIC: &str = "ferry-stream-v1";

/// The file that describes the socket or FIFO at `path`: `PATH.ferry`.
fn description_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ferry");
    PathBuf::from(name)
}

/// Writes the description of the stream endpoint at `path` (its receiver's slot size),
/// which senders read on open, with the endpoint's mode. A description left there is
/// replaced if it can be removed (a link is removed, never followed); one that cannot
/// (another user's, in a sticky directory) makes this fail.
pub(crate) fn describe(path: &Path, slot_size: usize, mode: u32) -> Result<(), AttachError> {
    let description = description_path(path);
    let name = description.display().to_string();
    let io = |e: io::Error| AttachError::Io { op: "describe", name: name.clone(), source: e };
    let _ = fs::remove_file(&description);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&description)
        .map_err(|e| match fs::symlink_metadata(&description) {
            // Still there: not ours to remove.
            Ok(meta) if e.kind() == io::ErrorKind::AlreadyExists => match Owners::default().check(&name, meta.uid()) {
                Err(not_owned) => not_owned,
                Ok(()) => unexpected(&name, "a file that could not be replaced"),
            },
            _ => io(e),
        })?;
    io::Write::write_all(&mut file, format!("{DESCRIPTION_MAGIC} {slot_size}\n").as_bytes()).map_err(io)?;
    file.set_permissions(fs::Permissions::from_mode(mode)).map_err(io)
}

/// The longest description file read: the magic, a space, a slot size, a newline.
const MAX_DESCRIPTION: u64 = 64;

/// Reads the slot size a stream endpoint's receiver described. The description file is
/// opened without following a link and without blocking, and must be a regular file of a
/// uid `owners` accepts.
pub(crate) fn read_description(path: &Path, owners: &Owners) -> Result<usize, AttachError> {
    let description = description_path(path);
    let name = description.display().to_string();
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&description)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => AttachError::NotFound { name: path.display().to_string() },
            io::ErrorKind::PermissionDenied => AttachError::PermissionDenied { name: name.clone() },
            _ if e.raw_os_error() == Some(libc::ELOOP) => unexpected(&name, "a symbolic link"),
            _ => AttachError::Io { op: "read the description of", name: name.clone(), source: e },
        })?;
    let meta = file.metadata().map_err(|e| AttachError::Io { op: "inspect", name: name.clone(), source: e })?;
    if !meta.file_type().is_file() {
        return Err(unexpected(&name, kind_of(meta.mode())));
    }
    owners.check(&name, meta.uid())?;
    let mut text = String::new();
    io::Read::read_to_string(&mut io::Read::take(&file, MAX_DESCRIPTION), &mut text).map_err(|e| AttachError::Io {
        op: "read the description of",
        name: name.clone(),
        source: e,
    })?;
    let corrupt = || AttachError::CorruptHeader { name: name.clone(), reason: "its description file is not ferry's" };
    let (magic, size) = text.trim_end().split_once(' ').ok_or_else(corrupt)?;
    if magic != DESCRIPTION_MAGIC {
        return Err(corrupt());
    }
    size.parse::<usize>().ok().filter(|&s| (1..=MAX_SLOT_SIZE).contains(&s)).ok_or_else(corrupt)
}

/// `path` is not the kind of file ferry makes there.
pub(crate) fn unexpected(name: &str, found: &str) -> AttachError {
    AttachError::Unexpected {
        name: name.to_owned(),
        found: found.to_owned(),
        expected: "what a ferry stream endpoint puts there",
    }
}

/// Removes a stream endpoint's description file.
pub(crate) fn remove_description(path: &Path) {
    let _ = fs::remove_file(description_path(path));
}
