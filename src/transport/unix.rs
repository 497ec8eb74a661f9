//! The Unix domain socket transport: one receiver listening on a stream socket, any
//! number of senders connected to it, length-prefixed frames on each connection.
//!
//! The receiver describes its slot size in a small file beside the socket
//! (`PATH.ferry`), which senders read on open, so they refuse oversized messages exactly
//! as on shared memory. A socket file left by a receiver that died is recognised (nobody
//! accepts on it) and replaced.

use std::{
    fs,
    io::{self, Read},
    os::{
        fd::AsFd,
        unix::{
            fs::{FileTypeExt, MetadataExt, PermissionsExt},
            net::{UnixListener, UnixStream},
        },
    },
    path::{Path, PathBuf},
};

use rustix::{event::PollFlags, net::SendFlags};

use crate::{
    error::AttachError,
    owner::Owners,
    signal::wait::Wait,
    transport::{
        framing::{self, Frame, FrameReader},
        stop::Stop,
        stream::{describe, hung_up, read_description, remove_description, StreamSender},
    },
};

/// The listening end.
#[derive(Debug)]
pub(crate) struct UnixReceiver {
    listener: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file, so drop removes only our own.
    identity: (u64, u64),
    senders: Vec<Connection>,
    /// Where the next search for a ready frame starts (round robin between senders).
    next: usize,
    /// Whether any sender has connected: after that, no senders means "gone".
    ever_connected: bool,
    slot_size: usize,
}

#[derive(Debug)]
struct Connection {
    stream: UnixStream,
    reader: FrameReader,
}

impl UnixReceiver {
    /// Listens at `path` (mode `mode`), replacing a stale socket file.
    pub(crate) fn create(path: &Path, slot_size: usize, mode: u32) -> Result<Self, AttachError> {
        let name = path.display().to_string();
        let io = |op| move |e: io::Error| io_error(op, path, e);
        let listener = match listen(path, mode) {
            Ok(listener) => listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                // A live receiver accepts connections; a crashed one left only the file.
                // Anything but a socket file is not ours to replace.
                let is_socket = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
                if !is_socket || UnixStream::connect(path).is_ok() {
                    return Err(AttachError::AlreadyExists { name });
                }
                fs::remove_file(path).map_err(io("remove the stale socket"))?;
                listen(path, mode).map_err(io("listen on"))?
            }
            Err(e) => return Err(io_error("listen on", path, e)),
        };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("set the mode of"))?;
        describe(path, slot_size, mode).map_err(io("describe"))?;
        listener.set_nonblocking(true).map_err(io("configure"))?;
        let meta = fs::metadata(path).map_err(io("inspect"))?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
            senders: Vec::new(),
            next: 0,
            ever_connected: false,
            slot_size,
        })
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Finds the next whole message whose length `accept`s, waiting as `wait` allows.
    /// Returns the sender's index and the length; read it with `frame`, then `consume`.
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<(usize, usize), Stop> {
        loop {
            self.accept_senders();
            if let Some(found) = self.ready_frame(&accept)? {
                return Ok(found);
            }
            if self.senders.is_empty() && self.ever_connected {
                return Err(Stop::Gone);
            }
            if wait.is_never() {
                return Err(Stop::WouldBlock);
            }
            let mut fds = vec![self.listener.as_fd()];
            fds.extend(self.senders.iter().map(|c| c.stream.as_fd()));
            framing::wait_any(&fds, PollFlags::IN, wait)?;
        }
    }

    /// The payload of the message `recv` found.
    pub(crate) fn frame(&self, sender: usize, len: usize) -> &[u8] {
        self.senders[sender].reader.frame(len)
    }

    /// Drops the message `recv` found; the next search starts after its sender.
    pub(crate) fn consume(&mut self, sender: usize, len: usize) {
        self.senders[sender].reader.consume(len);
        self.next = sender + 1;
    }

    /// Whether every sender that connected has gone (none yet is not "gone"), without
    /// taking a message: accepts waiting senders, reads what they sent (kept for the
    /// next receive), forgets those that closed with nothing whole left, and asks the
    /// rest whether their sender hung up.
    pub(crate) fn senders_gone(&mut self) -> bool {
        self.accept_senders();
        let mut i = 0;
        while i < self.senders.len() {
            let connection = &mut self.senders[i];
            let stream = &connection.stream;
            let filled = connection.reader.fill(|buf| (&*stream).read(buf));
            self.ever_connected |= connection.reader.greeted();
            if matches!(filled, Ok(Frame::Closed)) {
                self.senders.remove(i);
            } else {
                i += 1;
            }
        }
        self.ever_connected && self.senders.iter().all(|c| c.reader.greeted() && hung_up(c.stream.as_fd()))
    }

    /// Accepts every waiting connection. It counts as a sender once it says hello; one
    /// that closes without (a receiver checking whether this one is alive) is forgotten.
    fn accept_senders(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                self.senders.push(Connection { stream, reader: FrameReader::new(self.slot_size) });
            }
        }
    }

    /// Reads from every sender; returns the first whole message, round robin. Senders
    /// that closed are forgotten once their last whole message has been taken.
    fn ready_frame(&mut self, accept: &impl Fn(usize) -> bool) -> Result<Option<(usize, usize)>, Stop> {
        let count = self.senders.len();
        let mut closed = Vec::new();
        for i in 0..count {
            let index = (self.next + i) % count;
            let connection = &mut self.senders[index];
            let stream = &connection.stream;
            let filled = connection.reader.fill(|buf| (&*stream).read(buf));
            self.ever_connected |= connection.reader.greeted();
            match filled {
                Ok(Frame::Ready(len)) if accept(len) => return Ok(Some((index, len))),
                Ok(Frame::Ready(len)) => return Err(Stop::Refused(len)),
                Ok(Frame::Partial) => {}
                Ok(Frame::Closed) => closed.push(index),
                Err(stop) => {
                    // A sender that breaks the framing is cut off; the others go on.
                    self.senders.remove(index);
                    return Err(stop);
                }
            }
        }
        closed.sort_unstable_by(|a, b| b.cmp(a));
        for index in closed {
            self.senders.remove(index);
        }
        Ok(None)
    }
}

impl Drop for UnixReceiver {
    fn drop(&mut self) {
        let ours = fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
            remove_description(&self.path);
        }
    }
}

/// A sender connected to the receiver at `path`.
pub(crate) type UnixSender = StreamSender<UnixStream>;

/// Connects to the receiver at `path` and says hello.
/// The socket file must belong to a uid `owners` accepts.
pub(crate) fn open_sender(path: &Path, owners: &Owners) -> Result<UnixSender, AttachError> {
    let name = path.display().to_string();
    let slot_size = read_description(path)?;
    match rustix::fs::stat(path) {
        Ok(st) => owners.check(&name, st.st_uid)?,
        Err(rustix::io::Errno::NOENT) => return Err(AttachError::NotFound { name }),
        Err(e) => return Err(io_error("inspect", path, e.into())),
    }
    let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => AttachError::NotFound { name: name.clone() },
        _ => io_error("connect to", path, e),
    })?;
    stream.set_nonblocking(true).map_err(|e| io_error("configure", path, e))?;
    // Four bytes into a fresh socket: taken at once.
    StreamSender::new(stream, send, path, slot_size, owners).map_err(|_| AttachError::NotFound { name })
}

/// A non-blocking send that reports a gone receiver as EPIPE, never as SIGPIPE.
fn send(stream: &UnixStream, bytes: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(stream, bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT)?)
}

/// A listening socket at `path` whose file never has more permissions than `mode`: the
/// mode is set on the socket before `bind` creates the file (Linux applies it, less the
/// umask; the caller then sets it exactly).
fn listen(path: &Path, mode: u32) -> io::Result<UnixListener> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let socket = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    rustix::fs::fchmod(&socket, rustix::fs::Mode::from_raw_mode(mode))?;
    rustix::net::bind(&socket, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&socket, 128)?;
    Ok(UnixListener::from(socket))
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> AttachError {
    let name = path.display().to_string();
    match source.kind() {
        io::ErrorKind::PermissionDenied => AttachError::PermissionDenied { name },
        _ => AttachError::Io { op, name, source },
    }
}
