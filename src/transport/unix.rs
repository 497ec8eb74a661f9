//! The Unix domain socket transport: one receiver listening on a stream socket, any
//! number of senders connected to it, length-prefixed frames on each connection.
//!
//! The receiver describes its slot size in a small file beside the socket
//! (`PATH.ferry`), which senders read on open, so they refuse oversized messages exactly
//! as on shared memory. A socket file left by a receiver that died is recognised (nobody
//! accepts on it) and replaced.
//!
//! A connected peer is not trusted. A connection whose frame announces more than the
//! slot size is closed and what it had buffered dropped; the receiving call that found
//! it returns `Corrupt` once, and later calls serve the other senders as before. A
//! connection's buffer grows with the bytes it actually sends (`framing.rs`), so bare
//! prefixes cost little. A receiver out of file descriptors cannot accept the waiting
//! connections, which keep the listening socket readable: it stops polling the listener
//! and retries the accept every `ACCEPT_BACKOFF`, sleeping in between, within the
//! call's wait.

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
    time::{Duration, Instant},
};

use rustix::{event::PollFlags, net::SendFlags};

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
    /// Set while accepting fails (out of file descriptors): no accept before then.
    accept_after: Option<Instant>,
    /// Messages taken since the last look for new senders (see `recv`).
    since_accept: u32,
    slot_size: usize,
    /// The listener and every connection behind one fd, for event loops.
    pollable: Pollable,
    /// The creator's process: a forked child's copy leaves the sockets and the socket
    /// file alone (`forked.rs`).
    made_by: MadeBy,
}

/// How long a receiver out of file descriptors waits before it tries to accept again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// While the connected senders keep messages coming, the receiver looks for new ones
/// once every this many messages (an `accept` that finds nobody is a system call per
/// message otherwise); it always looks before it reports nothing or sleeps.
const ACCEPT_EVERY: u32 = 64;

#[derive(Debug)]
struct Connection {
    stream: UnixStream,
    reader: FrameReader,
}

impl UnixReceiver {
    /// Listens at `path` (mode `mode`), replacing a stale socket file of this user.
    /// Anything else at `path` (a link, another kind of file, another user's socket, a
    /// live socket) is an error at once, and nothing is left behind.
    pub(crate) fn create(path: &Path, slot_size: usize, mode: u32) -> Result<Self, AttachError> {
        let name = path.display().to_string();
        let io = |op| move |e: io::Error| io_error(op, path, e);
        let listener = match listen(path, mode) {
            Ok(listener) => listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                // A live receiver accepts connections; a crashed one left only the file.
                // Anything but this user's socket file is not ours to replace.
                let meta = fs::symlink_metadata(path).map_err(io("inspect"))?;
                if !meta.file_type().is_socket() {
                    return Err(unexpected(&name, kind_of(meta.mode())));
                }
                Owners::default().check(&name, meta.uid())?;
                if UnixStream::connect(path).is_ok() {
                    return Err(AttachError::AlreadyExists { name });
                }
                fs::remove_file(path).map_err(io("remove the stale socket"))?;
                listen(path, mode).map_err(io("listen on"))?
            }
            Err(e) => return Err(io_error("listen on", path, e)),
        };
        let meta = fs::symlink_metadata(path).map_err(io("inspect"))?;
        let identity = (meta.dev(), meta.ino());
        // What this call made goes again if the rest fails.
        let cleanup = |e: AttachError| {
            if fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == identity) {
                let _ = fs::remove_file(path);
            }
            e
        };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| cleanup(io("set the mode of")(e)))?;
        describe(path, slot_size, mode).map_err(cleanup)?;
        listener.set_nonblocking(true).map_err(|e| {
            remove_description(path);
            cleanup(io("configure")(e))
        })?;
        let pollable = Pollable::watching(listener.as_fd(), Ready::Readable).map_err(|e| {
            remove_description(path);
            cleanup(io("watch")(e))
        })?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            identity,
            senders: Vec::new(),
            next: 0,
            ever_connected: false,
            accept_after: None,
            since_accept: 0,
            slot_size,
            pollable,
            made_by: MadeBy::this_process(),
        })
    }

    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Whether a whole message is buffered already (its socket may be quiet).
    pub(crate) fn has_buffered(&self) -> bool {
        self.senders.iter().any(|c| c.reader.has_frame())
    }

    /// One fd, readable when a connection waits to be accepted or a sender's socket has
    /// bytes or has closed.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pollable.fd()
    }

    /// Finds the next whole message whose length `accept`s, waiting as `wait` allows.
    /// Returns the sender's index and the length; read it with `frame`, then `consume`.
    pub(crate) fn recv(&mut self, wait: Wait, accept: impl Fn(usize) -> bool) -> Result<(usize, usize), Stop> {
        loop {
            // The connected senders first: a message ready there needs no look for new
            // senders, except once every `ACCEPT_EVERY` messages, so that a steady stream
            // from some senders does not keep new ones waiting.
            let found = self.ready_frame(&accept)?;
            if let Some(found) = found.filter(|_| self.since_accept < ACCEPT_EVERY) {
                self.since_accept += 1;
                return Ok(found);
            }
            let before = self.senders.len();
            self.accept_senders();
            self.since_accept = 0;
            // (`accept_senders` only appends: the index `found` holds stays valid.)
            if let Some(found) = found {
                return Ok(found);
            }
            if self.senders.len() > before {
                if let Some(found) = self.ready_frame(&accept)? {
                    return Ok(found);
                }
            }
            if self.senders.is_empty() && self.ever_connected {
                return Err(Stop::Gone);
            }
            if wait.is_never() {
                return Err(Stop::WouldBlock);
            }
            // While accepting fails for lack of descriptors, the waiting connections keep
            // the listener readable: leave it out, and wake to retry after the backoff.
            let mut fds = Vec::with_capacity(self.senders.len() + 1);
            let retry = match self.accept_after {
                Some(after) => Some(after),
                None => {
                    fds.push(self.listener.as_fd());
                    None
                }
            };
            fds.extend(self.senders.iter().map(|c| c.stream.as_fd()));
            let slice = match (retry, wait) {
                (Some(after), Wait::Until(deadline)) if after < deadline => Wait::Until(after),
                (Some(after), Wait::Forever) => Wait::Until(after),
                _ => wait,
            };
            match framing::wait_any(&fds, PollFlags::IN, slice) {
                Err(Stop::Timeout) if retry.is_some() && wait.remaining().is_some() => {}
                other => other?,
            }
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
    /// Out of descriptors, it stops and sets the time of the next try.
    fn accept_senders(&mut self) {
        if self.accept_after.is_some_and(|after| Instant::now() < after) {
            return;
        }
        self.accept_after = None;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        // A connection the epoll cannot watch is still served by `recv`,
                        // which polls every connection itself; only an outside event loop
                        // would miss it.
                        let _ = self.pollable.watch(stream.as_fd(), Ready::Readable);
                        self.senders.push(Connection { stream, reader: FrameReader::new(self.slot_size) });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A connection reset before it was accepted, or a signal: the next one.
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                // Out of descriptors (EMFILE, ENFILE) or kernel memory, or any failure
                // that leaves the connection waiting: retry later, not at once.
                Err(_) => {
                    self.accept_after = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
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
        if self.made_by.is_forked_copy() {
            return;
        }
        // Shut the sockets down, not only close them: a child this process forks keeps
        // copies of its descriptors until it calls `exec` (CLOEXEC acts only then), and
        // a socket lives while any copy does. Shut down, it refuses every sender now,
        // whoever holds a copy: new ones cannot connect, and the connected ones, the
        // accepted and those still waiting to be, see the receiver gone at their next
        // send.
        let _ = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Both);
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        for connection in &self.senders {
            let _ = connection.stream.shutdown(std::net::Shutdown::Both);
        }
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
/// The description file and the socket file must belong to a uid `owners` accepts, and
/// so must the process listening on the socket; neither file may be a link.
pub(crate) fn open_sender(path: &Path, owners: &Owners) -> Result<UnixSender, AttachError> {
    let name = path.display().to_string();
    let slot_size = read_description(path, owners)?;
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => return Err(unexpected(&name, kind_of(meta.mode()))),
        Ok(meta) => owners.check(&name, meta.uid())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(AttachError::NotFound { name }),
        Err(e) => return Err(io_error("inspect", path, e)),
    }
    let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => AttachError::NotFound { name: name.clone() },
        _ => io_error("connect to", path, e),
    })?;
    // The file could have been swapped between the check and the connect by whoever
    // can write its directory: the listener's own uid is what counts.
    let listener = rustix::net::sockopt::socket_peercred(&stream).map_err(|e| io_error("inspect", path, e.into()))?;
    owners.check(&name, listener.uid.as_raw())?;
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
