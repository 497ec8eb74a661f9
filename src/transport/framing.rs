//! Length-prefixed messages over a byte stream (a Unix stream socket or a FIFO).
//!
//! A frame is a little-endian `u32` length and that many bytes. The reader checks the
//! length against the slot size before it waits for the bytes, so a hostile prefix (say
//! 4 GiB) is an error, not an allocation. Even a length within the slot size commits no
//! memory by itself: the reader's buffer grows with the bytes that actually arrive (at
//! most doubling per read), and a buffer a large message left is given back once the
//! message is consumed, so a writer that sends bare prefixes on many connections costs
//! the receiver a few KiB each, not a slot each.
//!
//! The writer never leaves half a frame: the part of a frame the stream does not take
//! at once is kept and written before the next one (and, when its sender is dropped,
//! within a bound: `stream.rs`). A frame of at most `PIPE_BUF` bytes, prefix included,
//! goes out in one `write`, which a pipe takes whole or not at all: another writer's
//! bytes never land inside it, and a FIFO reader that resynchronises after a bad frame
//! (`fifo.rs`) never cuts it in two.
//!
//! A batch (`Sender::batch`) gathers its small frames and writes them together: up to
//! [`BATCH_BYTES`] in one `write`, whole frames only, so a pipe still takes them all or
//! none.

use std::{io, os::fd::BorrowedFd};

use rustix::event::{poll, PollFd, PollFlags};

use crate::{signal::wait::Wait, transport::stop::Stop};

/// Bytes of the length prefix.
pub(crate) const PREFIX: usize = 4;
/// Bytes read beyond the front frame's needs, at most.
const READ_AHEAD: usize = 4096;
/// Most bytes one read asks for (and zeroes first): a large frame arrives in several.
const MAX_READ: usize = 256 * 1024;
/// A reader's buffer beyond this is given back once the frames in it are consumed.
const KEEP: usize = 64 * 1024;
/// Largest write a pipe takes atomically (POSIX `PIPE_BUF`, 4096 on Linux).
const PIPE_BUF: usize = 4096;
/// Most bytes a resynchronising reader discards in one call (more than a default pipe
/// holds), so a writer that never stops cannot keep it reading.
const MAX_DISCARD: usize = 1 << 20;
/// Most bytes of whole frames a batch gathers for one write: `PIPE_BUF`, so a pipe takes
/// them all or none.
pub(crate) const BATCH_BYTES: usize = PIPE_BUF;
/// A prefix with no payload that a writer sends first to say it is there (FIFOs, where
/// the reader cannot otherwise tell "no writer yet" from "writer gone").
pub(crate) const HELLO: [u8; PREFIX] = u32::MAX.to_le_bytes();
/// A prefix with no payload that a FIFO's writer sends last, when it is dropped, to say
/// it has gone: the reader sees the end of the stream only once every copy of the write
/// end is closed, and a child the sender's process forked holds one until it execs or
/// exits. (No frame has this length: every slot size is far below it.)
pub(crate) const GOODBYE: [u8; PREFIX] = (u32::MAX - 1).to_le_bytes();

/// Writes frames to a non-blocking byte stream without ever leaving half of one: what
/// the stream does not take at once is kept, and written before anything else.
#[derive(Debug, Default)]
pub(crate) struct FrameWriter {
    /// Bytes handed to the writer and not yet written: the unwritten end of the last
    /// frame, or (in a batch) the frames gathered so far, at most [`BATCH_BYTES`] of them
    /// beyond one frame.
    pending: Vec<u8>,
}

impl FrameWriter {
    /// Sends `payload` as one frame through `write` (a non-blocking write on `fd`),
    /// waiting as `wait` allows: for the stream to take the first byte (an error then
    /// means none of this frame was written), and then to take the rest. What is left when
    /// the wait runs out (at once, for `Wait::Never`) goes out with the next call.
    pub(crate) fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        payload: &[u8],
        wait: Wait,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), Stop> {
        self.flush(fd, wait, &mut write)?;
        while !self.start(payload, &mut write)? {
            wait_for(fd, PollFlags::OUT, wait)?;
        }
        self.finish(fd, wait, write)
    }

    /// Sends `payload` as one frame (a loan's commit, after `flush`): what the stream
    /// does not take at once is written within `wait`, or kept for the next call.
    pub(crate) fn queue(
        &mut self,
        fd: BorrowedFd<'_>,
        payload: &[u8],
        wait: Wait,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), Stop> {
        debug_assert!(self.pending.is_empty());
        if !self.start(payload, &mut write)? {
            self.pending.extend_from_slice(&prefix(payload));
            self.pending.extend_from_slice(payload);
        }
        self.finish(fd, wait, write)
    }

    /// Writes the rest of the frame just started, within `wait`. A blocking call must
    /// not return with its message half out (a peer waiting for it to answer would wait
    /// forever); a call whose wait runs out leaves the rest for the next call.
    fn finish(
        &mut self,
        fd: BorrowedFd<'_>,
        wait: Wait,
        write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), Stop> {
        if wait.is_never() {
            return Ok(());
        }
        match self.flush(fd, wait, write) {
            Err(Stop::Timeout) => Ok(()),
            other => other,
        }
    }

    /// Adds `payload` as one frame to the bytes waiting, for a batch: they go out together
    /// with `write_now` (the batch's publish), or when this frame would not fit beside
    /// them. Never waits: `WouldBlock` if the stream cannot take what is waiting and this
    /// frame has no room beside it (the frame is then not taken). A frame larger than a
    /// batch goes out on its own, as `send` without waiting would send it.
    pub(crate) fn gather(
        &mut self,
        payload: &[u8],
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), Stop> {
        let frame = PREFIX + payload.len();
        if self.pending.len() + frame > BATCH_BYTES && !self.pending.is_empty() {
            self.write_now(&mut write)?;
            if !self.pending.is_empty() {
                return Err(Stop::WouldBlock);
            }
        }
        if frame > BATCH_BYTES {
            return if self.start(payload, &mut write)? { Ok(()) } else { Err(Stop::WouldBlock) };
        }
        self.pending.extend_from_slice(&prefix(payload));
        self.pending.extend_from_slice(payload);
        Ok(())
    }

    /// Writes raw bytes (a hello) without waiting, keeping what the stream does not take.
    pub(crate) fn queue_raw(
        &mut self,
        bytes: &[u8],
        write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), Stop> {
        self.pending.extend_from_slice(bytes);
        self.write_now(write)
    }

    /// Writes what is waiting (the end of a frame, a gathered batch), waiting as `wait`
    /// allows.
    pub(crate) fn flush(
        &mut self,
        fd: BorrowedFd<'_>,
        wait: Wait,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), Stop> {
        loop {
            self.write_now(&mut write)?;
            if self.pending.is_empty() {
                return Ok(());
            }
            wait_for(fd, PollFlags::OUT, wait)?;
        }
    }

    /// Whether bytes wait to be written: frames a batch gathered, or the end of a frame.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes what is waiting as far as the stream takes it now, keeping the rest (it
    /// goes out before the next frame). No `poll`.
    pub(crate) fn write_now(&mut self, mut write: impl FnMut(&[u8]) -> io::Result<usize>) -> Result<(), Stop> {
        while !self.pending.is_empty() {
            match write(&self.pending) {
                Ok(0) => return Err(Stop::Gone),
                Ok(n) => drop(self.pending.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // Any other failure leaves the stream unusable, as if the peer had gone.
                Err(_) => return Err(Stop::Gone),
            }
        }
        Ok(())
    }

    /// Writes as much of the frame as the stream takes now, keeping the rest. `false`
    /// if it took nothing. Called with nothing pending.
    fn start(&mut self, payload: &[u8], write: &mut impl FnMut(&[u8]) -> io::Result<usize>) -> Result<bool, Stop> {
        debug_assert!(self.pending.is_empty());
        let prefix = prefix(payload);
        let total = PREFIX + payload.len();
        if total <= PIPE_BUF {
            // One write for the whole frame (see the module doc), assembled in the
            // pending buffer, which keeps whatever a socket does not take. A frame the
            // stream took none of, or a failed stream, leaves nothing pending.
            self.pending.extend_from_slice(&prefix);
            self.pending.extend_from_slice(payload);
            return match self.write_now(write) {
                Ok(()) if self.pending.len() < total => Ok(true),
                other => {
                    self.pending.clear();
                    other.map(|()| false)
                }
            };
        }
        let mut written = 0;
        while written < total {
            let chunk = if written < PREFIX { &prefix[written..] } else { &payload[written - PREFIX..] };
            match write(chunk) {
                Ok(0) => return Err(Stop::Gone),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && written == 0 => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if written < PREFIX {
                        self.pending.extend_from_slice(&prefix[written..]);
                    }
                    self.pending.extend_from_slice(&payload[written.saturating_sub(PREFIX)..]);
                    return Ok(true);
                }
                Err(_) => return Err(Stop::Gone),
            }
        }
        Ok(true)
    }
}

fn prefix(payload: &[u8]) -> [u8; PREFIX] {
    u32::try_from(payload.len()).expect("slot sizes fit in u32").to_le_bytes()
}

/// Reassembles frames from a non-blocking byte stream.
///
/// The bytes read and not yet consumed are `buf[start..end]`. Consuming a frame moves
/// `start`; the bytes behind it move to the front only when a read needs the room, so a
/// read that brings many small frames costs one copy of what is left over, not one per
/// frame. `buf` is initialised once as it grows, never zeroed again before a read.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    /// First byte not yet consumed: the front frame's prefix.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Largest payload accepted.
    max: usize,
    /// Whether the writer has said hello.
    greeted: bool,
    /// Whether the writer has said goodbye (and no writer hello since): the stream reads
    /// as closed while it is quiet.
    departed: bool,
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
        Self { buf: Vec::new(), start: 0, end: 0, max, greeted: false, departed: false }
    }

    /// Whether a hello has arrived on this stream.
    pub(crate) fn greeted(&self) -> bool {
        self.greeted
    }

    /// The bytes read and not yet consumed.
    fn held(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads what `read` (a non-blocking read) has and reports the front frame.
    pub(crate) fn fill(&mut self, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Result<Frame, Stop> {
        loop {
            if self.held().get(..PREFIX) == Some(&HELLO[..]) {
                self.start += PREFIX;
                (self.greeted, self.departed) = (true, false);
                continue;
            }
            if self.held().get(..PREFIX) == Some(&GOODBYE[..]) {
                self.start += PREFIX;
                self.departed = true;
                continue;
            }
            let held = self.end - self.start;
            let need = match self.front_len()? {
                Some(len) if held >= PREFIX + len => return Ok(Frame::Ready(len)),
                Some(len) => PREFIX + len - held,
                None => PREFIX - held,
            };
            // Read what the front frame still needs, or a little more so small frames
            // arrive in few system calls; the buffer never outgrows one checked frame
            // plus the read-ahead. It grows at most by what it already holds (or the
            // read-ahead) per read, and by `MAX_READ`: memory is committed as bytes
            // arrive, not as a prefix announces them.
            let room = need.max(READ_AHEAD).min(held.max(READ_AHEAD)).min(MAX_READ);
            self.make_room(room);
            match read(&mut self.buf[self.end..self.end + room]) {
                Ok(0) => {
                    // A partial frame from a writer that has gone is garbage.
                    self.forget();
                    return Ok(Frame::Closed);
                }
                Ok(n) => self.end += n,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock if self.departed && self.start == self.end => return Ok(Frame::Closed),
                    io::ErrorKind::WouldBlock => return Ok(Frame::Partial),
                    io::ErrorKind::Interrupted => {}
                    // Any failure leaves the stream unusable, as if the writer had gone.
                    _ => return Ok(Frame::Closed),
                },
            }
        }
    }

    /// Makes `room` bytes free after `end`: moves what is held to the front if that
    /// frees them, else grows the buffer (zeroing only the new bytes).
    fn make_room(&mut self, room: usize) {
        if self.buf.len() - self.end >= room {
            return;
        }
        self.compact();
        if self.buf.len() - self.end < room {
            self.buf.resize(self.end + room, 0);
        }
    }

    /// Moves the bytes held to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
    }

    /// Drops everything buffered and the memory with it.
    fn forget(&mut self) {
        (self.buf, self.start, self.end) = (Vec::new(), 0, 0);
    }

    /// The payload of the front frame (after `fill` returned `Ready`).
    pub(crate) fn frame(&self, len: usize) -> &[u8] {
        &self.held()[PREFIX..PREFIX + len]
    }

    /// Drops the front frame of `len` payload bytes, and gives back the memory a large
    /// frame needed once what is left fits in a quarter of it.
    pub(crate) fn consume(&mut self, len: usize) {
        self.start += PREFIX + len;
        debug_assert!(self.start <= self.end);
        let held = self.end - self.start;
        if held == 0 {
            // Nothing to move: the next read starts at the front.
            self.compact();
        }
        if self.buf.len() > KEEP && held <= self.buf.len() / 4 {
            self.compact();
            self.buf.truncate(held.max(READ_AHEAD));
            self.buf.shrink_to_fit();
        }
    }

    /// Forgets what is buffered and discards what `read` (a non-blocking read) has now,
    /// up to `MAX_DISCARD` bytes, after `fill` found a bad frame: the next byte read is
    /// taken as the start of a frame. Whether the hello was seen is kept.
    pub(crate) fn resync(&mut self, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) {
        self.forget();
        let mut scratch = [0u8; READ_AHEAD];
        let mut discarded = 0;
        while discarded < MAX_DISCARD {
            match read(&mut scratch) {
                Ok(0) => break,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Empty for now (or unusable: the next `fill` reports that).
                Err(_) => break,
            }
        }
    }

    /// Whether a whole frame (or something the next `fill` reports: a hello, a bad
    /// length) is buffered already, so the stream's fd may be quiet while a receive would
    /// not be empty.
    pub(crate) fn has_frame(&self) -> bool {
        let held = self.held();
        if held.get(..PREFIX) == Some(&HELLO[..]) {
            // Bytes behind a hello may be a frame: the next `fill` says.
            return held.len() > PREFIX;
        }
        if held.get(..PREFIX) == Some(&GOODBYE[..]) || self.departed {
            // The next `fill` reports the writer gone.
            return true;
        }
        match self.front_len() {
            Ok(Some(len)) => held.len() >= PREFIX + len,
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// The length the front prefix announces, checked against the slot size.
    fn front_len(&self) -> Result<Option<usize>, Stop> {
        let Some(prefix) = self.held().get(..PREFIX) else { return Ok(None) };
        let len = u32::from_le_bytes(prefix.try_into().expect("four bytes")) as usize;
        if len > self.max {
            return Err(Stop::Corrupt("a message length exceeds the slot size"));
        }
        Ok(Some(len))
    }
}

/// Waits until `fd` is ready for `events`, or the wait runs out.
pub(crate) fn wait_for(fd: BorrowedFd<'_>, events: PollFlags, wait: Wait) -> Result<(), Stop> {
    poll_until(&mut [PollFd::new(&fd, events)], wait)
}

/// Waits until one of `fds` is ready for `events` (or hung up), or the wait runs out.
pub(crate) fn wait_any(fds: &[BorrowedFd<'_>], events: PollFlags, wait: Wait) -> Result<(), Stop> {
    let mut polled: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::new(fd, events)).collect();
    poll_until(&mut polled, wait)
}

/// Polls `polled` until one is ready, or the wait runs out.
fn poll_until(polled: &mut [PollFd<'_>], wait: Wait) -> Result<(), Stop> {
    loop {
        let timeout = match wait.remaining() {
            Some(None) => None,
            Some(Some(left)) => Some(
                rustix::time::Timespec::try_from(left)
                    .unwrap_or(rustix::time::Timespec { tv_sec: i64::MAX, tv_nsec: 0 }),
            ),
            None => return Err(if wait.is_never() { Stop::WouldBlock } else { Stop::Timeout }),
        };
        match poll(polled, timeout.as_ref()) {
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

#[cfg(test)]
mod tests {
    use std::{collections::VecDeque, os::fd::AsFd};

    use super::*;

    /// A non-blocking read from `stream`: what it holds, or `WouldBlock` when empty.
    fn reading(stream: &mut VecDeque<u8>) -> impl FnMut(&mut [u8]) -> io::Result<usize> + '_ {
        |buf| {
            if stream.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(stream.len());
            for (dst, src) in buf.iter_mut().zip(stream.drain(..n)) {
                *dst = src;
            }
            Ok(n)
        }
    }

    #[test]
    fn a_bare_prefix_commits_no_slot_sized_buffer() {
        let slot = 16 << 20;
        let mut reader = FrameReader::new(slot);
        let mut stream: VecDeque<u8> = (slot as u32).to_le_bytes().into_iter().collect();
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Partial);
        assert!(reader.buf.capacity() <= 2 * READ_AHEAD, "capacity {} for a bare prefix", reader.buf.capacity());
        // A quarter of the payload: the buffer reserves a small multiple of what arrived
        // (it touches at most the bytes of one read beyond it), not the slot.
        stream.extend(vec![1u8; slot / 4]);
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Partial);
        assert!(reader.buf.capacity() <= slot / 4 * 2 + MAX_READ, "capacity {}", reader.buf.capacity());
        stream.extend(vec![1u8; slot / 4]);
        stream.extend(vec![2u8; slot / 2]);
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Ready(slot));
        assert!(reader.frame(slot)[..slot / 2].iter().all(|&b| b == 1));
        assert!(reader.frame(slot)[slot / 2..].iter().all(|&b| b == 2));
        // Consumed, the large buffer is given back.
        reader.consume(slot);
        assert!(reader.buf.capacity() <= KEEP, "capacity {} kept after the frame", reader.buf.capacity());
    }

    #[test]
    fn small_frames_arrive_many_per_read_in_a_buffer_that_does_not_grow() {
        let mut stream: VecDeque<u8> = VecDeque::new();
        for n in 0..1000u32 {
            let payload = vec![n as u8; 60 + n as usize % 5];
            stream.extend(prefix(&payload).into_iter().chain(payload));
        }
        let total = stream.len();
        let mut reader = FrameReader::new(4096);
        let mut reads = 0;
        for n in 0..1000u32 {
            let mut read = reading(&mut stream);
            let len = match reader.fill(|buf| {
                reads += 1;
                read(buf)
            }) {
                Ok(Frame::Ready(len)) => len,
                other => panic!("frame {n}: {other:?}"),
            };
            assert_eq!(len, 60 + n as usize % 5);
            assert!(reader.frame(len).iter().all(|&b| b == n as u8), "frame {n}");
            reader.consume(len);
            assert!(reader.buf.capacity() <= 2 * READ_AHEAD, "capacity {} at frame {n}", reader.buf.capacity());
        }
        assert!(reads <= total / (READ_AHEAD - 70) + 1, "{reads} reads for {total} bytes");
        assert!(!reader.has_frame());
    }

    #[test]
    fn a_goodbye_closes_the_stream_after_the_frames_before_it_until_a_new_hello() {
        let mut reader = FrameReader::new(8);
        let mut stream: VecDeque<u8> =
            HELLO.into_iter().chain(2u32.to_le_bytes()).chain(*b"hi").chain(GOODBYE).collect();
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Ready(2), "the frame before the goodbye");
        assert_eq!(reader.frame(2), b"hi");
        reader.consume(2);
        assert!(reader.has_frame(), "a goodbye is something to report");
        // Quiet, and the write end still open somewhere: closed all the same, every time.
        for _ in 0..2 {
            assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Closed);
        }
        // A sender that opens later says hello, and is read.
        stream.extend(HELLO.into_iter().chain(1u32.to_le_bytes()).chain(*b"!"));
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Ready(1));
        reader.consume(1);
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Partial, "quiet, with a sender");
    }

    #[test]
    fn resync_drops_the_bad_frame_and_reads_what_comes_next() {
        let mut reader = FrameReader::new(8);
        let mut stream: VecDeque<u8> = HELLO.into_iter().chain(9u32.to_le_bytes()).chain([0xee; 5000]).collect();
        assert!(matches!(reader.fill(reading(&mut stream)), Err(Stop::Corrupt(_))));
        reader.resync(reading(&mut stream));
        assert!(stream.is_empty(), "what the stream held is discarded");
        assert!(reader.greeted(), "the hello is remembered");
        stream.extend(3u32.to_le_bytes().into_iter().chain(*b"abc"));
        assert_eq!(reader.fill(reading(&mut stream)).unwrap(), Frame::Ready(3));
        assert_eq!(reader.frame(3), b"abc");
    }

    #[test]
    fn a_batch_goes_out_in_writes_of_whole_frames() {
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let mut writer = FrameWriter::default();
        let payloads: Vec<Vec<u8>> = (0..200u8).map(|n| vec![n; 60 + n as usize % 7]).collect();
        for payload in &payloads {
            writer
                .gather(payload, |bytes| {
                    writes.push(bytes.to_vec());
                    Ok(bytes.len())
                })
                .unwrap();
        }
        writer
            .write_now(|bytes| {
                writes.push(bytes.to_vec());
                Ok(bytes.len())
            })
            .unwrap();
        // Each write is whole frames, in order, no more than a pipe takes at once, and
        // (but the last) full: no room for another frame of at most 70 bytes.
        let mut frames = payloads.iter();
        for (i, write) in writes.iter().enumerate() {
            assert!(write.len() <= BATCH_BYTES);
            assert!(i + 1 == writes.len() || write.len() > BATCH_BYTES - 70, "write {i}: {} bytes", write.len());
            let mut rest = &write[..];
            while !rest.is_empty() {
                let expected = frames.next().expect("no more frames than sent");
                assert_eq!(rest[..PREFIX], prefix(expected));
                assert_eq!(rest[PREFIX..PREFIX + expected.len()], expected[..]);
                rest = &rest[PREFIX + expected.len()..];
            }
        }
        assert!(frames.next().is_none(), "every frame written");
    }

    #[test]
    fn a_batch_that_cannot_be_written_refuses_the_frame_without_room() {
        let full = |_: &[u8]| -> io::Result<usize> { Err(io::ErrorKind::WouldBlock.into()) };
        let mut writer = FrameWriter::default();
        let payload = [1u8; 1000];
        // Gathered while they fit beside each other, whatever the stream takes.
        for _ in 0..4 {
            writer.gather(&payload, full).unwrap();
        }
        // The fifth has no room, and the stream takes nothing: refused, not taken.
        assert!(matches!(writer.gather(&payload, full), Err(Stop::WouldBlock)));
        assert_eq!(writer.pending.len(), 4 * (PREFIX + payload.len()));
        // Once the stream takes them, the refused frame fits again.
        let mut written = 0;
        writer
            .gather(&payload, |b| {
                written += b.len();
                Ok(b.len())
            })
            .unwrap();
        assert_eq!(written, 4 * (PREFIX + payload.len()));
        assert_eq!(writer.pending.len(), PREFIX + payload.len());
    }

    #[test]
    fn a_frame_that_fits_in_pipe_buf_goes_out_in_one_write() {
        let fd = std::fs::File::open("/dev/null").unwrap();
        for len in [0, 1, PIPE_BUF - PREFIX] {
            let mut writes = Vec::new();
            let mut writer = FrameWriter::default();
            let payload = vec![3u8; len];
            writer
                .send(fd.as_fd(), &payload, Wait::Never, |bytes| {
                    writes.push(bytes.to_vec());
                    Ok(bytes.len())
                })
                .unwrap();
            assert_eq!(writes.len(), 1, "{len} bytes of payload in {} writes", writes.len());
            assert_eq!(writes[0][..PREFIX], prefix(&payload));
            assert_eq!(writes[0][PREFIX..], payload[..]);
        }
    }
}
