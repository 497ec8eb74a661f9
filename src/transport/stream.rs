//! What the two stream transports (Unix sockets and FIFOs) share: the sending end, with
//! the buffer a loan writes into and the error a loan's commit defers, and the small
//! file beside the endpoint that describes it to senders.

use std::{
    fs, io,
    os::{
        fd::AsFd,
        unix::fs::{OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    time::Duration,
};

use rustix::event::PollFlags;

use crate::{
    error::AttachError,
    owner::Owners,
    ring::MAX_SLOT_SIZE,
    signal::wait::Wait,
    transport::{
        framing::{wait_for, FrameWriter, HELLO},
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

    /// Lends the loan buffer: waits as `wait` allows until the stream takes more, so the
    /// commit can hand it the message (keeping what it does not take at once).
    pub(crate) fn loan(&mut self, wait: Wait) -> Result<(), Stop> {
        self.take_deferred()?;
        let (stream, write) = (&self.stream, self.write);
        self.writer.flush(stream.as_fd(), wait, |b| write(stream, b))?;
        wait_for(stream.as_fd(), PollFlags::OUT, wait)
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

    /// The error a commit deferred, if any.
    fn take_deferred(&mut self) -> Result<(), Stop> {
        self.deferred.take().map_or(Ok(()), Err)
    }
}

impl<S: AsFd> Drop for StreamSender<S> {
    fn drop(&mut self) {
        // The end of a frame a `try_` call left goes out now, within a bound.
        let (stream, write) = (&self.stream, self.write);
        let _ = self.writer.flush(stream.as_fd(), Wait::until(FINISH_FRAME), |b| write(stream, b));
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
/// which senders read on open, with the endpoint's mode.
pub(crate) fn describe(path: &Path, slot_size: usize, mode: u32) -> io::Result<()> {
    let description = description_path(path);
    let _ = fs::remove_file(&description);
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&description)?;
    io::Write::write_all(&mut file, format!("{DESCRIPTION_MAGIC} {slot_size}\n").as_bytes())?;
    fs::set_permissions(&description, fs::Permissions::from_mode(mode))
}

/// Reads the slot size a stream endpoint's receiver described.
pub(crate) fn read_description(path: &Path) -> Result<usize, AttachError> {
    let name = path.display().to_string();
    let text = fs::read_to_string(description_path(path)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => AttachError::NotFound { name: name.clone() },
        io::ErrorKind::PermissionDenied => AttachError::PermissionDenied { name: name.clone() },
        _ => AttachError::Io { op: "read the description of", name: name.clone(), source: e },
    })?;
    let corrupt = || AttachError::CorruptHeader { name: name.clone(), reason: "its description file is not ferry's" };
    let (magic, size) = text.trim_end().split_once(' ').ok_or_else(corrupt)?;
    if magic != DESCRIPTION_MAGIC {
        return Err(corrupt());
    }
    size.parse::<usize>().ok().filter(|&s| (1..=MAX_SLOT_SIZE).contains(&s)).ok_or_else(corrupt)
}

/// Removes a stream endpoint's description file.
pub(crate) fn remove_description(path: &Path) {
    let _ = fs::remove_file(description_path(path));
}
