//! The two workloads, latency ping-pong and one-way throughput, over every [`Link`], with
//! both sides of each: the measuring (coordinating) process and its children.
//!
//! A throughput run's messages are of one size, or a mixed stream ([`Sizes`]); each
//! stream reports the shared memory its channel takes ([`Stream::shared_bytes`]).

use std::{
    fs::File,
    io::{self, Read, Write},
    os::{fd::OwnedFd, unix::net::UnixStream},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ferry::{Config, Publisher, Receiver, RingKind, Sender, Start, Subscriber};

use super::{
    baselines::{
        self, FutexSide, LineEcho, LinePinger, PlainConsumer, PlainProducer, RingFile, SharedPage, MAX_SEQPACKET,
    },
    current_cpu,
    process::{failure, placement, unique, Control, Peer, Pinned, Scratch},
    Api, Cpus, Link, Sizes, Wait,
};

fn ferry_error(e: impl std::fmt::Display) -> io::Error {
    failure(e.to_string())
}

fn number<T: std::str::FromStr>(s: &str) -> io::Result<T> {
    s.parse().map_err(|_| failure(format!("`{s}` is not a number")))
}

/// The sending end of a link.
enum Tx {
    Ferry(Sender),
    Broadcast(Publisher),
    Stream(UnixStream),
    Packet(OwnedFd),
    Pipe(File),
    Plain(PlainProducer),
}

impl Tx {
    /// Sends a copy of `message`.
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        match self {
            Self::Ferry(tx) => tx.send(message).map_err(ferry_error),
            Self::Broadcast(tx) => tx.send(message).map_err(ferry_error),
            Self::Stream(s) => s.write_all(message),
            Self::Packet(s) => baselines::send_packet(&*s, message),
            Self::Pipe(p) => p.write_all(message),
            Self::Plain(ring) => ring.send(message),
        }
    }

    /// Sends one message of `scratch.len()` bytes per byte of `bytes`, every byte of
    /// each written with that byte by this call: in place in a loaned slot (zero-copy),
    /// else into `scratch`, which is then sent; with [`Api::Batch`], all of them
    /// published together (as soon as the ring has room for them).
    fn send_filled(&mut self, api: Api, scratch: &mut [u8], bytes: &[u8]) -> io::Result<()> {
        match (api, self) {
            (Api::ZeroCopy, Self::Ferry(tx)) => {
                for &byte in bytes {
                    // A loan of the message's size: on a channel sized in bytes it takes
                    // that much of the ring; on a ring of slots it is a slot.
                    let mut loan = tx.loan_bytes(scratch.len()).map_err(ferry_error)?;
                    loan.fill(byte);
                    loan.commit(scratch.len());
                }
                Ok(())
            }
            (Api::ZeroCopy, Self::Broadcast(tx)) => {
                for &byte in bytes {
                    let mut loan = tx.loan().map_err(ferry_error)?;
                    loan[..scratch.len()].fill(byte);
                    loan.commit(scratch.len());
                }
                Ok(())
            }
            (Api::Batch, Self::Ferry(tx)) => {
                let mut bytes = bytes.iter();
                let mut next = bytes.next();
                while let Some(&byte) = next {
                    scratch.fill(byte);
                    let mut batch = tx.batch();
                    match batch.try_send(scratch) {
                        Ok(()) => next = bytes.next(),
                        // Full: publish what the batch holds, then wait for room.
                        Err(ferry::SendError::Full(_)) => {
                            drop(batch);
                            tx.send(scratch).map_err(ferry_error)?;
                            next = bytes.next();
                            continue;
                        }
                        Err(e) => return Err(ferry_error(e)),
                    }
                    while let Some(&byte) = next {
                        scratch.fill(byte);
                        if batch.try_send(scratch).is_err() {
                            break;
                        }
                        next = bytes.next();
                    }
                }
                Ok(())
            }
            (_, tx) => {
                for &byte in bytes {
                    scratch.fill(byte);
                    tx.send(scratch)?;
                }
                Ok(())
            }
        }
    }

    /// Sends the end-of-run marker: a message of `scratch.len()` bytes whose first is
    /// [`STOP`].
    fn send_stop(&mut self, scratch: &mut [u8]) -> io::Result<()> {
        scratch[0] = STOP;
        self.send(scratch)
    }
}

/// The receiving end of a link.
enum Rx {
    Ferry(Receiver),
    Broadcast(Subscriber),
    Stream(UnixStream),
    Packet(OwnedFd),
    Pipe(File),
    Plain(PlainConsumer),
}

impl Rx {
    /// Receives one message into `buf`, returning its length. On a stream (socket or
    /// pipe), messages have no boundaries: this reads exactly `buf.len()` bytes.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Ferry(rx) => rx.recv_into(buf).map_err(ferry_error),
            Self::Broadcast(rx) => rx.recv_into(buf).map_err(ferry_error),
            Self::Stream(s) => s.read_exact(buf).map(|()| buf.len()),
            Self::Packet(s) => baselines::recv_packet(&*s, buf),
            Self::Pipe(p) => p.read_exact(buf).map(|()| buf.len()),
            Self::Plain(ring) => ring.recv(buf),
        }
    }

    /// Receives one message or more (with [`Api::Batch`], up to [`super::BATCH`]
    /// already waiting, released together) and reads every byte of each: in place
    /// (zero-copy), else copied into `scratch`. Calls `each` with every message's first
    /// byte and [`checksum`].
    fn recv_checked(&mut self, api: Api, scratch: &mut [u8], mut each: impl FnMut(u8, u64)) -> io::Result<()> {
        let mut read = |bytes: &[u8]| each(bytes.first().copied().unwrap_or(0), checksum(bytes));
        match (api, self) {
            (Api::ZeroCopy, Self::Ferry(rx)) => read(&rx.recv().map_err(ferry_error)?),
            (Api::ZeroCopy, Self::Broadcast(rx)) => read(&rx.recv().map_err(ferry_error)?),
            (Api::Batch, Self::Ferry(rx)) => {
                let mut batch = rx.batch();
                let mut taken = 0;
                while taken < super::BATCH {
                    match batch.try_recv() {
                        Ok(message) => {
                            scratch[..message.len()].copy_from_slice(&message);
                            let n = message.len();
                            drop(message);
                            read(&scratch[..n]);
                            taken += 1;
                        }
                        Err(ferry::RecvError::Empty) => break,
                        Err(e) => return Err(ferry_error(e)),
                    }
                }
                drop(batch);
                if taken == 0 {
                    let n = rx.recv_into(scratch).map_err(ferry_error)?;
                    read(&scratch[..n]);
                }
            }
            (_, rx) => {
                let n = rx.recv(scratch)?;
                read(&scratch[..n]);
            }
        }
        Ok(())
    }
}

/// First byte of the message that ends a throughput run; data bytes are below 251.
const STOP: u8 = 0xff;

/// What the receiver computes over every byte of a message: the wrapping sum of its
/// little-endian 64-bit words, then of its remaining bytes.
fn checksum(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let sum = words
        .by_ref()
        .fold(0u64, |sum, w| sum.wrapping_add(u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])));
    words.remainder().iter().fold(sum, |sum, &b| sum.wrapping_add(u64::from(b)))
}

/// [`checksum`] of `size` bytes that are all `byte`, computed without the bytes.
fn checksum_of_fill(byte: u8, size: usize) -> u64 {
    let word = u64::from(byte) * 0x0101_0101_0101_0101;
    ((size / 8) as u64).wrapping_mul(word).wrapping_add((size % 8) as u64 * u64::from(byte))
}

/// The data byte of a sender's `n`th message.
fn fill_byte(sender: u64, n: u64) -> u8 {
    (sender.wrapping_mul(97).wrapping_add(n) % 251) as u8
}

/// Slots of a throughput ring: about 1 MiB of payload, at least 4 slots, at most 1024.
fn throughput_capacity(size: usize) -> usize {
    (1024 * 1024 / size.max(1)).clamp(4, 1024)
}

/// The bytes a message of `size` bytes takes in a channel sized in bytes: its length
/// rounded up to 16, plus a 16-byte header (`Config::capacity_bytes`).
fn record_bytes(size: usize) -> usize {
    16 + size.next_multiple_of(16)
}

/// The configuration of a throughput run's channel. A ring of slots has slots of the
/// largest message, as many as [`throughput_capacity`] gives for it. For messages of
/// one size, a channel sized in bytes holds at least as many of them (its bytes rounded
/// up to a power of two); for the mixed stream, it has the slot ring's payload bytes
/// (16 x 64 KiB = 1 MiB), which hold many more of its messages.
fn throughput_config(link: Link, sizes: Sizes) -> Config {
    let largest = sizes.largest();
    let slots = throughput_capacity(largest);
    match (link, sizes) {
        (Link::FerryBytes | Link::FerryMpmcBytes | Link::FerryBroadcastBytes, Sizes::Mixed) => {
            bytes_config(link, slots * largest, largest)
        }
        _ => ferry_config(link, largest, slots),
    }
}

/// A channel sized in bytes: `bytes` bytes for messages of up to `max_message` bytes,
/// with any number of senders and receivers on [`Link::FerryMpmcBytes`], publishers and
/// subscribers on [`Link::FerryBroadcastBytes`], one of each otherwise.
fn bytes_config(link: Link, bytes: usize, max_message: usize) -> Config {
    let kind = match link {
        Link::FerryMpmcBytes => RingKind::Mpmc,
        Link::FerryBroadcastBytes => RingKind::Broadcast,
        _ => RingKind::Spsc,
    };
    Config::new().kind(kind).capacity_bytes(bytes).max_message(max_message)
}

/// The ferry endpoint string of a link, for a name or a path in `scratch`.
fn ferry_endpoint(link: Link, scratch: &Scratch, tag: &str) -> String {
    match link {
        Link::FerryUnix => format!("unix:{}", scratch.path(tag).display()),
        Link::FerryFifo => format!("fifo:{}", scratch.path(tag).display()),
        _ => format!("shm:{}", unique(tag)),
    }
}

/// The configuration of a ferry channel for messages of `size` bytes: `capacity` slots,
/// or, on the links sized in bytes, room for at least
/// `capacity` such messages (their records, and the header the ring keeps free for the
/// record after them, rounded up to a power of two).
fn ferry_config(link: Link, size: usize, capacity: usize) -> Config {
    let kind = match link {
        Link::FerryBytes | Link::FerryMpmcBytes | Link::FerryBroadcastBytes => {
            let bytes = (capacity * record_bytes(size) + record_bytes(0)).next_power_of_two();
            return bytes_config(link, bytes, size);
        }
        Link::FerryMpmc => RingKind::Mpmc,
        Link::FerryBroadcast => RingKind::Broadcast,
        _ => RingKind::Spsc,
    };
    Config::new().kind(kind).slot_size(size.max(1)).capacity(capacity)
}

/// How long a benchmark's process waits for the other side to create its channel.
const OPEN_PATIENCE: Duration = Duration::from_secs(10);

/// Opens a broadcast publisher, waiting while the channel is not there yet.
fn open_publisher(endpoint: &str) -> io::Result<Publisher> {
    Publisher::open_timeout(endpoint, OPEN_PATIENCE).map_err(ferry_error)
}

/// Opens a ferry sender, waiting while the receiver's side is not there yet.
fn open_sender(endpoint: &str) -> io::Result<Sender> {
    Sender::open_timeout(endpoint, OPEN_PATIENCE).map_err(ferry_error)
}

/// The parent's means of a round trip. (One per session: its size does not matter, and
/// no box puts a pointer between the measured loop and its link.)
#[allow(clippy::large_enum_variant)]
enum Pinger {
    /// A message out through `tx`, the echo back through `rx`.
    Wire {
        tx: Tx,
        rx: Rx,
        message: Vec<u8>,
        buf: Vec<u8>,
    },
    Line(LinePinger),
    Futex(FutexSide),
}

/// A latency measurement: this process sends a message, an echo process sends it back.
/// The echo lives as long as the session, across any number of batches.
pub struct PingPong {
    pinger: Pinger,
    echo: Peer,
    /// Where this process ran during its round trips: its first and last CPU.
    ran_on: Option<(i32, i32)>,
    /// The CPU this process takes during round trips, where the echo has one of its own.
    cpu: Option<usize>,
    /// Holds the sockets, FIFOs and floor files until the end.
    _scratch: Scratch,
}

impl PingPong {
    /// Starts an echo process and connects to it over `link`, for messages of `size`
    /// bytes; a ferry shared-memory link waits as `wait` says (both sides).
    ///
    /// # Errors
    ///
    /// The echo could not be started or connected.
    pub fn start(link: Link, wait: Wait, size: usize) -> io::Result<Self> {
        // This process (while it makes round trips) and the echo on CPUs of their own,
        // where there are two. Sessions overlap: this process is pinned only inside
        // `round_trips`, so that every session finds the whole machine here.
        let cpus = placement(2);
        let (cpu, echo_cpu) = (cpus.as_ref().map(|cpus| cpus[0]), cpus.map(|cpus| cpus[1]));
        let scratch = Scratch::new()?;
        let size = size.max(1);
        let args = |extra: &[&str]| -> Vec<String> {
            [link.name(), wait.name(), &size.to_string()].iter().chain(extra).map(|s| s.to_string()).collect()
        };
        let wire = |tx, rx| Pinger::Wire { tx, rx, message: vec![0x5a; size], buf: vec![0; size] };
        let (pinger, echo) = match link {
            Link::FerrySpsc | Link::FerryBytes | Link::FerryMpmc | Link::FerryMpmcBytes => {
                let (ping, pong) = (ferry_endpoint(link, &scratch, "ping"), ferry_endpoint(link, &scratch, "pong"));
                let config = ferry_config(link, size, 64);
                let mut tx = Sender::create(&ping, &config).map_err(ferry_error)?;
                let mut rx = Receiver::create(&pong, &config).map_err(ferry_error)?;
                tx.set_wait_policy(wait.policy());
                rx.set_wait_policy(wait.policy());
                let echo = Peer::spawn("echo", "echo", &args(&[&ping, &pong]), echo_cpu)?;
                (wire(Tx::Ferry(tx), Rx::Ferry(rx)), echo)
            }
            Link::FerryBroadcast | Link::FerryBroadcastBytes => {
                // Two broadcast channels, one each way: publisher -> subscriber latency.
                let (ping, pong) = (ferry_endpoint(link, &scratch, "ping"), ferry_endpoint(link, &scratch, "pong"));
                let config = ferry_config(link, size, 64);
                let mut tx = Publisher::create(&ping, &config).map_err(ferry_error)?;
                let mut rx = Subscriber::create(&pong, &config, Start::Live).map_err(ferry_error)?;
                tx.set_wait_policy(wait.policy());
                rx.set_wait_policy(wait.policy());
                let echo = Peer::spawn("echo", "echo", &args(&[&ping, &pong]), echo_cpu)?;
                (wire(Tx::Broadcast(tx), Rx::Broadcast(rx)), echo)
            }
            Link::FerryUnix | Link::FerryFifo => {
                let (ping, pong) = (ferry_endpoint(link, &scratch, "ping"), ferry_endpoint(link, &scratch, "pong"));
                let rx = Receiver::create(&pong, &ferry_config(link, size, 64)).map_err(ferry_error)?;
                // The echo creates its receiving end before it says `ready`.
                let echo = Peer::spawn("echo", "echo", &args(&[&ping, &pong]), echo_cpu)?;
                (wire(Tx::Ferry(open_sender(&ping)?), Rx::Ferry(rx)), echo)
            }
            Link::UnixStream => {
                let path = scratch.path("stream");
                let listener = baselines::listen_stream(&path)?;
                let echo = Peer::spawn("echo", "echo", &args(&[&path.display().to_string()]), echo_cpu)?;
                let (stream, _) = listener.accept()?;
                (wire(Tx::Stream(stream.try_clone()?), Rx::Stream(stream)), echo)
            }
            Link::UnixSeqpacket => {
                let path = scratch.path("seqpacket");
                let listener = baselines::listen_seqpacket(&path)?;
                let echo = Peer::spawn("echo", "echo", &args(&[&path.display().to_string()]), echo_cpu)?;
                let socket = baselines::accept_seqpacket(&listener)?;
                (wire(Tx::Packet(socket.try_clone()?), Rx::Packet(socket)), echo)
            }
            Link::Pipe => {
                let (ping, pong) = (scratch.path("ping"), scratch.path("pong"));
                baselines::make_fifo(&ping)?;
                baselines::make_fifo(&pong)?;
                // The echo says `ready`, then opens `ping` for reading and `pong` for
                // writing; the opens below meet it in the same order.
                let echo = Peer::spawn("echo", "echo", &args(&[&path_arg(&ping), &path_arg(&pong)]), echo_cpu)?;
                let tx = baselines::open_pipe_writer(&ping)?;
                let rx = baselines::open_pipe_reader(&pong)?;
                (wire(Tx::Pipe(tx), Rx::Pipe(rx)), echo)
            }
            Link::PlainRing => {
                return Err(io::Error::new(io::ErrorKind::Unsupported, "the plain ring measures throughput only"));
            }
            Link::CacheLine | Link::Futex => {
                let path = scratch.path("page");
                let page = SharedPage::create(&path)?;
                let echo = Peer::spawn("echo", "echo", &args(&[&path_arg(&path)]), echo_cpu)?;
                let pinger = match link {
                    Link::CacheLine => Pinger::Line(LinePinger::new(page)),
                    _ => Pinger::Futex(FutexSide::new(page, true)),
                };
                (pinger, echo)
            }
        };
        Ok(Self { pinger, echo, ran_on: None, cpu, _scratch: scratch })
    }

    /// Makes `rounds` round trips and appends each one's one-way latency (half the round
    /// trip, in nanoseconds) to `one_way_ns`. Returns the sum of the one-way latencies:
    /// the time criterion's `iter_custom` wants for `rounds` iterations.
    ///
    /// # Errors
    ///
    /// A send, a receive or the echo failed.
    pub fn round_trips(&mut self, rounds: u64, one_way_ns: &mut Vec<u64>) -> io::Result<Duration> {
        let _pinned = Pinned::to(self.cpu)?;
        let first = self.ran_on.map_or_else(current_cpu, |(first, _)| first);
        self.echo.tell(&format!("run {rounds}"))?;
        // The echo is waiting on the link now: no control line is in the timing.
        self.echo.expect("go")?;
        one_way_ns.reserve(rounds as usize);
        let mut total = Duration::ZERO;
        for _ in 0..rounds {
            let start = Instant::now();
            match &mut self.pinger {
                Pinger::Wire { tx, rx, message, buf } => {
                    tx.send(message)?;
                    let n = rx.recv(buf)?;
                    if n != message.len() {
                        return Err(failure(format!("sent {} bytes, {n} came back", message.len())));
                    }
                }
                Pinger::Line(line) => line.round_trip(),
                Pinger::Futex(futex) => futex.round_trip()?,
            }
            let one_way = start.elapsed() / 2;
            total += one_way;
            one_way_ns.push(one_way.as_nanos() as u64);
        }
        self.echo.expect("done")?;
        self.ran_on = Some((first, current_cpu()));
        Ok(total)
    }

    /// Ends the echo; returns where both processes ran (this one first).
    ///
    /// # Errors
    ///
    /// The echo failed.
    pub fn finish(self) -> io::Result<Vec<Cpus>> {
        let echo = self.echo.finish()?;
        let (start, end) = self.ran_on.unwrap_or_else(|| (current_cpu(), current_cpu()));
        Ok(vec![Cpus { process: "parent".into(), start, end }, echo])
    }
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// A throughput measurement: sender processes stream messages to receiver processes,
/// which this process coordinates and checks. The processes live as long as the
/// session, across any number of runs.
pub struct Stream {
    senders: Vec<Peer>,
    receivers: Vec<Peer>,
    start_cpu: i32,
    /// The shared-memory channel's name, removed at the end should its creator fail to.
    shm_name: Option<String>,
    /// The file of the shared memory the link uses: a ferry channel's segment or a
    /// plain ring's file.
    shared: Option<PathBuf>,
    /// Whether every receiver gets every message (a broadcast channel).
    broadcast: bool,
    /// A plain ring's file, removed at the end.
    _ring: Option<RingFile>,
    _scratch: Scratch,
}

impl Stream {
    /// Starts `receivers` receiver processes and as many sender processes on `link`, for
    /// messages of `size` bytes moved through `api`.
    ///
    /// # Errors
    ///
    /// A process could not be started or connected; or the combination is not one this
    /// link offers: the zero-copy API is ferry's; more than one pair needs ferry's MPMC
    /// ring (of slots or sized in bytes) or its broadcast ring; the seqpacket baseline
    /// carries at most 64 KiB; the floors carry no data.
    pub fn start(link: Link, api: Api, size: usize, pairs: usize) -> io::Result<Self> {
        Self::start_sized(link, api, Sizes::Fixed(size), pairs)
    }

    /// As [`Stream::start`], for messages of the sizes `sizes` gives (sender by sender,
    /// message by message).
    ///
    /// # Errors
    ///
    /// As for [`Stream::start`]; and a mixed stream needs one of ferry's links other
    /// than broadcast, and the copy or zero-copy API.
    pub fn start_sized(link: Link, api: Api, sizes: Sizes, pairs: usize) -> io::Result<Self> {
        let unsupported = |why: &str| Err(io::Error::new(io::ErrorKind::Unsupported, why.to_owned()));
        if matches!(link, Link::CacheLine | Link::Futex) {
            return unsupported("the floors carry no data");
        }
        if api != Api::Copy && !link.is_ferry() {
            return unsupported("the zero-copy and batch APIs are ferry's");
        }
        if pairs != 1 && !matches!(link, Link::FerryMpmc | Link::FerryMpmcBytes) && !link.is_broadcast() {
            return unsupported("more than one sender and receiver needs ferry's MPMC or broadcast ring");
        }
        if link == Link::UnixSeqpacket && sizes.largest() > MAX_SEQPACKET {
            return unsupported("a seqpacket message must fit the socket's send buffer");
        }
        if sizes == Sizes::Mixed && (!link.is_ferry() || link.is_broadcast() || api == Api::Batch) {
            return unsupported("a mixed stream runs on ferry's queues, one message per call");
        }
        let start_cpu = current_cpu();
        let scratch = Scratch::new()?;
        let sizes = match sizes {
            Sizes::Fixed(size) => Sizes::Fixed(size.max(1)),
            Sizes::Mixed => Sizes::Mixed,
        };
        let ring = match link {
            Link::PlainRing => {
                let size = sizes.largest();
                Some(RingFile::create(&unique("plain-ring"), size, throughput_capacity(size))?)
            }
            _ => None,
        };
        let endpoint = match (&ring, link.is_ferry()) {
            (Some(ring), _) => path_arg(ring.path()),
            (None, true) => ferry_endpoint(link, &scratch, "data"),
            (None, false) => path_arg(&scratch.path("data")),
        };
        if link == Link::Pipe {
            baselines::make_fifo(Path::new(&endpoint))?;
        }
        let shm_name = endpoint.strip_prefix("shm:").map(str::to_owned);
        let shared = match (&ring, &shm_name) {
            (Some(ring), _) => Some(ring.path().to_owned()),
            // Where ferry keeps a channel's segment on Linux.
            (None, Some(name)) => Some(Path::new("/dev/shm").join(format!("ferry.{name}"))),
            (None, None) => None,
        };
        let args = |index: usize| -> Vec<String> {
            vec![link.name().into(), api.name().into(), sizes.arg(), endpoint.clone(), index.to_string()]
        };
        let broadcast = link.is_broadcast();
        let mut stream = Self {
            senders: Vec::new(),
            receivers: Vec::new(),
            start_cpu,
            shm_name,
            shared,
            broadcast,
            _ring: ring,
            _scratch: scratch,
        };
        // A broadcast stream has one publisher for its `pairs` subscribers.
        let senders = if link.is_broadcast() { 1 } else { pairs };
        // Each process on a CPU of its own, where there are enough.
        let cpus = placement(pairs + senders);
        let cpu = |i: usize| cpus.as_ref().map(|cpus| cpus[i]);
        // Receivers first: the first one creates the endpoint.
        for i in 0..pairs {
            stream.receivers.push(Peer::spawn(&format!("receiver {}", i + 1), "sink", &args(i), cpu(i))?);
        }
        for i in 0..senders {
            stream.senders.push(Peer::spawn(&format!("sender {}", i + 1), "source", &args(i), cpu(pairs + i))?);
        }
        Ok(stream)
    }

    /// The bytes of shared memory the link's channel takes (its segment's or plain ring's
    /// file); `None` for sockets and pipes.
    pub fn shared_bytes(&self) -> Option<u64> {
        self.shared.as_ref().and_then(|path| std::fs::metadata(path).ok()).map(|m| m.len())
    }

    /// Each sender sends `messages` messages; returns how long until every receiver had
    /// them all, after checking the count and the checksums.
    ///
    /// # Errors
    ///
    /// A process failed, or the receivers did not get exactly what was sent.
    pub fn run(&mut self, messages: u64) -> io::Result<Duration> {
        let start = Instant::now();
        let order = format!("run {messages}");
        for peer in self.receivers.iter_mut().chain(&mut self.senders) {
            peer.tell(&order)?;
        }
        let (mut sent, mut received, mut count) = (0u64, 0u64, 0u64);
        for receiver in &mut self.receivers {
            match receiver.expect("done")?[..] {
                [n, sum] => {
                    count += n as u64;
                    received = received.wrapping_add(sum as u64);
                }
                _ => return Err(failure("a receiver did not say what it received")),
            }
        }
        let elapsed = start.elapsed();
        for sender in &mut self.senders {
            match sender.expect("done")?[..] {
                [sum] => sent = sent.wrapping_add(sum as u64),
                _ => return Err(failure("a sender did not say what it sent")),
            }
        }
        // Every receiver of a broadcast stream receives every message.
        let copies = if self.broadcast { self.receivers.len() as u64 } else { 1 };
        let expected = messages * self.senders.len() as u64 * copies;
        let sent = sent.wrapping_mul(copies);
        if count != expected || sent != received {
            return Err(failure(format!(
                "{expected} messages with checksum {sent:#x} sent, {count} with checksum {received:#x} received"
            )));
        }
        Ok(elapsed)
    }

    /// Ends every process; returns where each ran (this one first).
    ///
    /// # Errors
    ///
    /// A process failed.
    pub fn finish(mut self) -> io::Result<Vec<Cpus>> {
        let mut cpus = vec![Cpus { process: "parent".into(), start: self.start_cpu, end: current_cpu() }];
        for peer in self.senders.drain(..).chain(self.receivers.drain(..)) {
            cpus.push(peer.finish()?);
        }
        Ok(cpus)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // The children are ended by their `Peer`s; a channel whose creator was ended goes.
        self.senders.clear();
        self.receivers.clear();
        if let Some(name) = &self.shm_name {
            let _ = ferry::unlink(name);
        }
    }
}

/// Runs the child role `role` with the arguments its parent gave.
pub(crate) fn child(role: &str, args: &[String]) -> io::Result<()> {
    // The event-loop roles (`event_loop.rs`) name no link.
    match role {
        "fd-echo" => return crate::event_loop::echo(args),
        "fd-source" => return crate::event_loop::source(args),
        _ => {}
    }
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or_else(|| failure(format!("`{role}`: too few arguments")));
    let link = Link::parse(arg(0)?).ok_or_else(|| failure(format!("`{role}`: unknown link `{}`", args[0])))?;
    match role {
        "echo" => {
            let wait = if arg(1)? == "park" { Wait::Park } else { Wait::Spin };
            echo(link, wait, number(arg(2)?)?, &args[3..])
        }
        "sink" | "source" => {
            let api = Api::parse(arg(1)?).ok_or_else(|| failure(format!("`{role}`: unknown API `{}`", args[1])))?;
            let sizes = Sizes::parse(arg(2)?).ok_or_else(|| failure(format!("`{role}`: bad sizes `{}`", args[2])))?;
            let (endpoint, index) = (arg(3)?, number(arg(4)?)?);
            if role == "sink" {
                sink(link, api, sizes, endpoint, index)
            } else {
                source(link, api, sizes, endpoint, index)
            }
        }
        _ => Err(failure(format!("unknown role `{role}`"))),
    }
}

/// The echo's half of the session started by [`PingPong::start`].
fn echo(link: Link, wait: Wait, size: usize, endpoints: &[String]) -> io::Result<()> {
    let mut control = Control::new();
    let endpoint = |i: usize| endpoints.get(i).ok_or_else(|| failure("echo: an endpoint is missing"));
    #[allow(clippy::large_enum_variant)] // one per process, like `Pinger`
    enum Echo {
        Wire(Rx, Tx),
        Line(LineEcho),
        Futex(FutexSide),
    }
    let mut echo = match link {
        Link::FerrySpsc | Link::FerryBytes | Link::FerryMpmc | Link::FerryMpmcBytes => {
            let mut rx = Receiver::open(endpoint(0)?).map_err(ferry_error)?;
            let mut tx = Sender::open(endpoint(1)?).map_err(ferry_error)?;
            rx.set_wait_policy(wait.policy());
            tx.set_wait_policy(wait.policy());
            control.say("ready")?;
            Echo::Wire(Rx::Ferry(rx), Tx::Ferry(tx))
        }
        Link::FerryBroadcast | Link::FerryBroadcastBytes => {
            let mut rx = Subscriber::open(endpoint(0)?, Start::Live).map_err(ferry_error)?;
            let mut tx = Publisher::open(endpoint(1)?).map_err(ferry_error)?;
            rx.set_wait_policy(wait.policy());
            tx.set_wait_policy(wait.policy());
            control.say("ready")?;
            Echo::Wire(Rx::Broadcast(rx), Tx::Broadcast(tx))
        }
        Link::FerryUnix | Link::FerryFifo => {
            let rx = Receiver::create(endpoint(0)?, &ferry_config(link, size, 64)).map_err(ferry_error)?;
            let tx = open_sender(endpoint(1)?)?;
            control.say("ready")?;
            Echo::Wire(Rx::Ferry(rx), Tx::Ferry(tx))
        }
        Link::UnixStream => {
            let stream = baselines::connect_stream(Path::new(endpoint(0)?))?;
            control.say("ready")?;
            Echo::Wire(Rx::Stream(stream.try_clone()?), Tx::Stream(stream))
        }
        Link::UnixSeqpacket => {
            let socket = baselines::connect_seqpacket(Path::new(endpoint(0)?))?;
            control.say("ready")?;
            Echo::Wire(Rx::Packet(socket.try_clone()?), Tx::Packet(socket))
        }
        Link::Pipe => {
            control.say("ready")?;
            let rx = baselines::open_pipe_reader(Path::new(endpoint(0)?))?;
            let tx = baselines::open_pipe_writer(Path::new(endpoint(1)?))?;
            Echo::Wire(Rx::Pipe(rx), Tx::Pipe(tx))
        }
        Link::PlainRing => return Err(failure("the plain ring measures throughput only")),
        Link::CacheLine | Link::Futex => {
            let page = SharedPage::open(Path::new(endpoint(0)?))?;
            control.say("ready")?;
            match link {
                Link::CacheLine => Echo::Line(LineEcho::new(page)),
                _ => Echo::Futex(FutexSide::new(page, false)),
            }
        }
    };
    let mut buf = vec![0u8; size];
    while let Some(rounds) = control.next()? {
        control.say("go")?;
        for _ in 0..rounds {
            match &mut echo {
                Echo::Wire(rx, tx) => {
                    let n = rx.recv(&mut buf)?;
                    tx.send(&buf[..n])?;
                }
                Echo::Line(line) => line.echo(),
                Echo::Futex(futex) => futex.echo()?,
            }
        }
        control.say("done")?;
    }
    control.quit()
}

/// A receiver of [`Stream`]: receives until the end-of-run marker, reading every byte.
fn sink(link: Link, api: Api, sizes: Sizes, endpoint: &str, index: usize) -> io::Result<()> {
    let mut control = Control::new();
    let path = PathBuf::from(endpoint);
    let size = sizes.largest();
    let mut rx = match link {
        Link::FerrySpsc
        | Link::FerryBytes
        | Link::FerryMpmc
        | Link::FerryMpmcBytes
        | Link::FerryUnix
        | Link::FerryFifo => {
            let rx = if index == 0 {
                Receiver::create(endpoint, &throughput_config(link, sizes))
            } else {
                Receiver::open(endpoint)
            };
            control.say("ready")?;
            Rx::Ferry(rx.map_err(ferry_error)?)
        }
        Link::FerryBroadcast | Link::FerryBroadcastBytes => {
            // The first subscriber creates the channel; every one joins before the
            // publisher starts (the parent waits for each `ready`).
            let rx = if index == 0 {
                Subscriber::create(endpoint, &throughput_config(link, sizes), Start::Live)
            } else {
                Subscriber::open(endpoint, Start::Live)
            };
            let rx = rx.map_err(ferry_error)?;
            control.say("ready")?;
            Rx::Broadcast(rx)
        }
        Link::UnixStream => {
            let listener = baselines::listen_stream(&path)?;
            control.say("ready")?;
            Rx::Stream(listener.accept()?.0)
        }
        Link::UnixSeqpacket => {
            let listener = baselines::listen_seqpacket(&path)?;
            control.say("ready")?;
            Rx::Packet(baselines::accept_seqpacket(&listener)?)
        }
        Link::Pipe => {
            control.say("ready")?;
            Rx::Pipe(baselines::open_pipe_reader(&path)?)
        }
        Link::PlainRing => {
            let ring = PlainConsumer::open(&path, size, throughput_capacity(size))?;
            control.say("ready")?;
            Rx::Plain(ring)
        }
        Link::CacheLine | Link::Futex => return Err(failure("the floors carry no data")),
    };
    let mut scratch = vec![0u8; size];
    while control.next()?.is_some() {
        let (mut count, mut sum, mut stopped) = (0u64, 0u64, false);
        while !stopped {
            rx.recv_checked(api, &mut scratch, |first, check| {
                // Nothing follows the end marker within a run.
                stopped |= first == STOP;
                if !stopped {
                    count += 1;
                    sum = sum.wrapping_add(check);
                }
            })?;
        }
        control.say(&format!("done {count} {}", sum as i64))?;
    }
    control.quit()
}

/// A sender of [`Stream`]: writes every byte of every message, then the end marker.
fn source(link: Link, api: Api, sizes: Sizes, endpoint: &str, index: usize) -> io::Result<()> {
    let mut control = Control::new();
    let path = PathBuf::from(endpoint);
    let size = sizes.largest();
    let mut tx = match link {
        Link::FerrySpsc
        | Link::FerryBytes
        | Link::FerryMpmc
        | Link::FerryMpmcBytes
        | Link::FerryUnix
        | Link::FerryFifo => Tx::Ferry(open_sender(endpoint)?),
        Link::FerryBroadcast | Link::FerryBroadcastBytes => Tx::Broadcast(open_publisher(endpoint)?),
        Link::UnixStream => Tx::Stream(baselines::connect_stream(&path)?),
        Link::UnixSeqpacket => Tx::Packet(baselines::connect_seqpacket(&path)?),
        Link::Pipe => Tx::Pipe(baselines::open_pipe_writer(&path)?),
        Link::PlainRing => Tx::Plain(PlainProducer::open(&path, size, throughput_capacity(size))?),
        Link::CacheLine | Link::Futex => return Err(failure("the floors carry no data")),
    };
    control.say("ready")?;
    // The private buffer the copy API sends from: page-aligned, like the ceiling's.
    let mut buffer = memmap2::MmapMut::map_anon(size)?;
    let mut sent = 0u64;
    // The fill bytes of the messages of one call, reused: no allocation per message.
    let mut bytes = Vec::with_capacity(super::BATCH as usize);
    while let Some(messages) = control.next()? {
        let mut sum = 0u64;
        let mut left = messages;
        while left > 0 {
            // A batch holds messages of one size (a mixed stream is sent one by one).
            let count = if api == Api::Batch { left.min(super::BATCH) } else { 1 };
            let length = sizes.of(sent);
            bytes.clear();
            bytes.extend((sent..sent + count).map(|n| fill_byte(index as u64, n)));
            tx.send_filled(api, &mut buffer[..length], &bytes)?;
            for &byte in &bytes {
                sum = sum.wrapping_add(checksum_of_fill(byte, length));
            }
            (sent, left) = (sent + count, left - count);
        }
        tx.send_stop(&mut buffer)?;
        control.say(&format!("done {}", sum as i64))?;
    }
    drop(tx);
    control.quit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_of_a_fill_is_known_without_the_bytes() {
        for size in [1, 7, 8, 9, 64, 1000, 4099] {
            for byte in [0u8, 1, 97, 250] {
                assert_eq!(checksum(&vec![byte; size]), checksum_of_fill(byte, size), "{byte} x {size}");
            }
        }
        // Every byte counts: changing any one changes the sum.
        let mut bytes = vec![3u8; 100];
        let whole = checksum(&bytes);
        bytes[99] = 4;
        assert_ne!(checksum(&bytes), whole);
    }

    #[test]
    fn a_byte_channel_holds_as_many_messages_as_the_ring_of_slots() {
        assert_eq!((record_bytes(0), record_bytes(8), record_bytes(64), record_bytes(65)), (16, 32, 80, 96));
        for (size, slots) in [(8, 64), (64, throughput_capacity(64))] {
            let (mut tx, _rx) = ferry::in_memory(&ferry_config(Link::FerryBytes, size, slots)).expect("a byte channel");
            assert!(tx.capacity_bytes() > 0, "not sized in bytes");
            for n in 0..slots {
                tx.try_send(&vec![1; size]).unwrap_or_else(|e| panic!("{size} B message {n} of {slots}: {e}"));
            }
        }
        // The mixed stream's byte channel has the payload bytes of its ring of slots.
        let (tx, _rx) = ferry::in_memory(&throughput_config(Link::FerryBytes, Sizes::Mixed)).expect("a byte channel");
        let (slots, _srx) = ferry::in_memory(&throughput_config(Link::FerrySpsc, Sizes::Mixed)).expect("a slot ring");
        assert_eq!(tx.capacity_bytes(), slots.capacity() * slots.slot_size());
        assert_eq!((tx.slot_size(), slots.slot_size()), (crate::MIXED_LARGE, crate::MIXED_LARGE));
    }

    #[test]
    fn the_mpmc_byte_channel_is_mpmc_and_holds_as_many_messages_as_its_ring_of_slots() {
        let sizes = Sizes::Fixed(64);
        let (slots, _srx) = ferry::in_memory(&throughput_config(Link::FerryMpmc, sizes)).expect("an MPMC slot ring");
        let (spsc, _brx) = ferry::in_memory(&throughput_config(Link::FerryBytes, sizes)).expect("an SPSC byte channel");
        let (tx, rx) = ferry::in_memory(&throughput_config(Link::FerryMpmcBytes, sizes)).expect("an MPMC byte channel");
        // The same bytes as the SPSC byte channel of the same run, sized in bytes.
        assert_eq!((tx.capacity_bytes(), tx.slot_size()), (spsc.capacity_bytes(), 64));
        // Any number of senders and receivers: a second of each (the SPSC one refuses).
        let (mut tx2, _rx2) = (tx.try_clone().expect("a second sender"), rx.try_clone().expect("a second receiver"));
        assert!(spsc.try_clone().is_err(), "the SPSC byte channel took a second sender");
        // Room for every message the MPMC ring of slots holds.
        for n in 0..slots.capacity() {
            tx2.try_send(&[1; 64]).unwrap_or_else(|e| panic!("64 B message {n} of {}: {e}", slots.capacity()));
        }
        // The mixed stream's: the payload bytes of its ring of slots, as on SPSC.
        let (mixed, _mrx) =
            ferry::in_memory(&throughput_config(Link::FerryMpmcBytes, Sizes::Mixed)).expect("an MPMC byte channel");
        assert!(mixed.try_clone().is_ok(), "the mixed MPMC byte channel is not MPMC");
        assert_eq!(mixed.capacity_bytes(), throughput_capacity(crate::MIXED_LARGE) * crate::MIXED_LARGE);
    }

    #[test]
    fn data_bytes_never_look_like_the_stop_marker() {
        assert!((0..5000).all(|n| fill_byte(n % 3, n) != STOP));
    }
}
