//! Length-prefixed messages over a byte stream (a Unix stream socket or a FIFO).
//!
//! A frame is a little-endian `u32` length and that many bytes. The reader checks the
//! length against the slot size before it allocates or waits for the bytes, so a hostile
//! prefix (say 4 GiB) is an error, not an allocation. The writer never leaves half a
//! frame: once the first byte is out it finishes the frame, or, if the call's deadline
//! passes first, tells the caller to close the stream, so the reader sees the writer
//! gone and discards the partial frame.

use std::{io, os::fd::BorrowedFd};

use rustix::event::{poll, PollFd, PollFlags};

use crate::transport::{Stop, Wait};

/// Bytes of the length prefix.
pub(crate) const PREFIX: usize = 4;
/// Bytes read beyond the front frame's needs, at most.
const READ_AHEAD: usize = 4096;
/// A prefix with no payload that a writer sends first to say it is there (FIFOs, where
/// the reader cannot otherwise tell "no writer yet" from "writer gone").
pub(crate) const HELLO: [u8; PREFIX] = u32::MAX.to_le_bytes();

/// Writes `payload` as one frame through `write` (a non-blocking write on `fd`).
///
/// On error, the flag says whether part of the frame was written: the stream is then
/// unusable and the caller must close it.
pub(crate) fn write_frame(
    fd: BorrowedFd<'_>,
    payload: &[u8],
    wait: Wait,
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> Result<(), (Stop, bool)> {
    let prefix = u32::try_from(payload.len()).expect("slot sizes fit in u32").to_le_bytes();
    let mut written = 0;
    let total = PREFIX + payload.len();
    while written < total {
        let chunk = if written < PREFIX { &prefix[written..] } else { &payload[written - PREFIX..] };
        let partial = written > 0;
        match write(chunk) {
            Ok(0) => return Err((Stop::Gone, partial)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Before the first byte the call may give up; after it, it must finish
                // the frame (or report a timeout that makes the caller drop the stream).
                let wait = if partial { wait.at_least_blocking() } else { wait };
                wait_for(fd, PollFlags::OUT, wait).map_err(|stop| (stop, partial))?;
            }
            // Any other failure leaves the stream unusable, as if the peer had gone.
            Err(_) => return Err((Stop::Gone, partial)),
        }
    }
    Ok(())
}

/// Reassembles frames from a non-blocking byte stream.
#[derive(Debug)]
pub(crate) struct FrameReader {
    /// Bytes read and not yet consumed: a partial or complete frame at the front.
    buf: Vec<u8>,
    /// Largest payload accepted.
    max: usize,
    /// Whether the writer has said hello.
    greeted: bool,
}

/// What the stream holds now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole frame of this many payload bytes is at the front.
    Ready(usize),
    /// Not a whole frame yet.
    Partial,
    /// The writer closed the stream (any partial frame is discarded).
    Closed,
}

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        Self { buf: Vec::new(), max, greeted: false }
    }

    /// Whether a hello has arrived on this stream.
    pub(crate) fn greeted(&self) -> bool {
        self.greeted
    }

    /// Reads what `read` (a non-blocking read) has and reports the front frame.
    pub(crate) fn fill(&mut self, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Result<Frame, Stop> {
        loop {
            if self.buf.get(..PREFIX) == Some(&HELLO[..]) {
                self.buf.drain(..PREFIX);
                self.greeted = true;
                continue;
            }
            if let Some(len) = self.front_len()? {
                if self.buf.len() >= PREFIX + len {
                    return Ok(Frame::Ready(len));
                }
            }
            let need = match self.front_len()? {
                Some(len) => PREFIX + len - self.buf.len(),
                None => PREFIX - self.buf.len(),
            };
            // Read what the front frame still needs, or a little more so small frames
            // arrive in few system calls; the buffer never outgrows one checked frame
            // plus the read-ahead.
            let start = self.buf.len();
            self.buf.resize(start + need.max(READ_AHEAD), 0);
            match read(&mut self.buf[start..]) {
                Ok(0) => {
                    self.buf.truncate(start);
                    return Ok(Frame::Closed);
                }
                Ok(n) => self.buf.truncate(start + n),
                Err(e) => {
                    self.buf.truncate(start);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Ok(Frame::Partial),
                        io::ErrorKind::Interrupted => {}
                        // Any failure leaves the stream unusable, as if the writer had gone.
                        _ => return Ok(Frame::Closed),
                    }
                }
            }
        }
    }

    /// The payload of the front frame (after `fill` returned `Ready`).
    pub(crate) fn frame(&self, len: usize) -> &[u8] {
        &self.buf[PREFIX..PREFIX + len]
    }

    /// Drops the front frame of `len` payload bytes.
    pub(crate) fn consume(&mut self, len: usize) {
        self.buf.drain(..PREFIX + len);
    }

    /// The length the front prefix announces, checked against the slot size.
    fn front_len(&self) -> Result<Option<usize>, Stop> {
        let Some(prefix) = self.buf.get(..PREFIX) else { return Ok(None) };
        let len = u32::from_le_bytes(prefix.try_into().expect("four bytes")) as usize;
        if len > self.max {
            return Err(Stop::Corrupt("a message length exceeds the slot size"));
        }
        Ok(Some(len))
    }
}

/// Waits until `fd` is ready for `events`, or the wait runs out.
pub(crate) fn wait_for(fd: BorrowedFd<'_>, events: PollFlags, wait: Wait) -> Result<(), Stop> {
    wait_any(&[fd], events, wait).map(|_| ())
}

/// Waits until one of `fds` is ready for `events` (or hung up), or the wait runs out.
pub(crate) fn wait_any(fds: &[BorrowedFd<'_>], events: PollFlags, wait: Wait) -> Result<(), Stop> {
    loop {
        let timeout = match wait.remaining() {
            Some(None) => None,
            Some(Some(left)) => Some(
                rustix::time::Timespec::try_from(left)
                    .unwrap_or(rustix::time::Timespec { tv_sec: i64::MAX, tv_nsec: 0 }),
            ),
            None => return Err(if wait.is_never() { Stop::WouldBlock } else { Stop::Timeout }),
        };
        let mut polled: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::new(fd, events)).collect();
        match poll(&mut polled, timeout.as_ref()) {
            Ok(0) => {
                if wait.is_never() {
                    return Err(Stop::WouldBlock);
                }
            }
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return Err(Stop::Gone),
        }
    }
}
