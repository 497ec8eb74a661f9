//! Event-loop measurements (issue 17): the wake-up latency of a ferry receiver asleep in
//! `epoll` on its fd, beside the raw floor of the same thing (an eventfd ping-pong
//! through `epoll` between two processes) and beside an async receive (tokio's
//! `AsyncReceiver`); and the doorbell system calls a saturated stream makes.
//!
//! Ping-pong: this process sends a message, the echo process (asleep in `epoll` on its
//! receiver's fd) wakes, reads it and sends it back; this process, asleep on its own fd,
//! wakes and reads it. Both sides park at once (no spinning): every round trip is two
//! wake-ups through the kernel, the case the fd exists for. One-way latency is half the
//! round trip.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    time::Instant,
};

use ferry::{AsyncReceiver, Config, Receiver, RecvError, Sender};
use rustix::event::{epoll, eventfd, EventfdFlags};

use crate::{
    process::{failure, unique, Control, Peer},
    Percentiles,
};

/// How this process's receive waits in [`wakeup_latency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiter {
    /// A ferry receiver asleep in `epoll_wait` on its fd.
    FerryEpoll,
    /// A ferry receiver awaited in a tokio task (`AsyncReceiver::recv`).
    FerryAsync,
    /// The floor: an eventfd written by the peer, waited on with `epoll_wait`.
    RawEventfd,
}

impl Waiter {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::FerryEpoll => "ferry fd + epoll",
            Self::FerryAsync => "ferry AsyncReceiver (tokio)",
            Self::RawEventfd => "raw eventfd + epoll",
        }
    }
}

fn ferry_error(e: impl std::fmt::Display) -> io::Error {
    failure(e.to_string())
}

/// An epoll instance watching one fd.
fn epoll_on(fd: impl AsFd) -> io::Result<OwnedFd> {
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(&epoll, fd, epoll::EventData::new_u64(0), epoll::EventFlags::IN)?;
    Ok(epoll)
}

fn epoll_wait(epoll: &OwnedFd) -> io::Result<()> {
    let mut events = Vec::with_capacity(1);
    loop {
        match epoll::wait(epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message into `buf`, sleeping in `epoll` on the receiver's fd while the
/// channel is empty (the `Empty` that ends a drain re-arms the fd).
fn recv_epoll(rx: &mut Receiver, epoll: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rx.try_recv_into(buf) {
            Ok(n) => return Ok(n),
            Err(RecvError::Empty) => epoll_wait(epoll)?,
            Err(e) => return Err(ferry_error(e)),
        }
    }
}

/// One-way wake-up latency over `rounds` round trips of 8-byte messages.
///
/// # Errors
///
/// The echo could not be started, or a send or receive failed.
pub fn wakeup_latency(waiter: Waiter, rounds: u64) -> io::Result<Percentiles> {
    let mut samples = Vec::with_capacity(rounds as usize);
    match waiter {
        Waiter::RawEventfd => {
            // Inherited by the echo (no CLOEXEC): it writes `pong` and waits on `ping`.
            let ping = eventfd(0, EventfdFlags::empty())?;
            let pong = eventfd(0, EventfdFlags::empty())?;
            let args = ["raw".to_owned(), ping.as_raw_fd().to_string(), pong.as_raw_fd().to_string()];
            let mut echo = Peer::spawn("echo", "fd-echo", &args, None)?;
            let epoll = epoll_on(&pong)?;
            echo.tell(&format!("run {rounds}"))?;
            echo.expect("go")?;
            for _ in 0..rounds {
                let start = Instant::now();
                rustix::io::write(&ping, &1u64.to_ne_bytes())?;
                epoll_wait(&epoll)?;
                let mut value = [0u8; 8];
                rustix::io::read(&pong, &mut value)?;
                samples.push((start.elapsed() / 2).as_nanos() as u64);
            }
            echo.expect("done")?;
            echo.finish()?;
        }
        Waiter::FerryEpoll | Waiter::FerryAsync => {
            let (ping, pong) = (unique("evl-ping"), unique("evl-pong"));
            let config = Config::new().slot_size(8).capacity(64);
            let mut tx = Sender::create(&ping, &config).map_err(ferry_error)?;
            let rx = Receiver::create(&pong, &config).map_err(ferry_error)?;
            let mut echo = Peer::spawn("echo", "fd-echo", &["ferry".to_owned(), ping, pong], None)?;
            echo.tell(&format!("run {rounds}"))?;
            echo.expect("go")?;
            if waiter == Waiter::FerryEpoll {
                let mut rx = rx;
                assert_eq!(rx.try_recv().map(drop), Err(RecvError::Empty), "a message before the first ping");
                let epoll = epoll_on(&rx)?;
                let mut buf = [0u8; 8];
                for _ in 0..rounds {
                    let start = Instant::now();
                    tx.send(&buf).map_err(ferry_error)?;
                    recv_epoll(&mut rx, &epoll, &mut buf)?;
                    samples.push((start.elapsed() / 2).as_nanos() as u64);
                }
            } else {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
                runtime.block_on(async {
                    let mut rx = AsyncReceiver::new(rx)?;
                    for _ in 0..rounds {
                        let start = Instant::now();
                        tx.send(&[0u8; 8]).map_err(ferry_error)?;
                        drop(rx.recv().await.map_err(ferry_error)?);
                        samples.push((start.elapsed() / 2).as_nanos() as u64);
                    }
                    Ok::<(), io::Error>(())
                })?;
            }
            echo.expect("done")?;
            echo.finish()?;
        }
    }
    Ok(Percentiles::of(&mut samples))
}

/// The echo of [`wakeup_latency`]: `raw PING_FD PONG_FD` or `ferry PING PONG`.
pub(crate) fn echo(args: &[String]) -> io::Result<()> {
    let mut control = Control::new();
    let arg = |i: usize| args.get(i).ok_or_else(|| failure("fd-echo: too few arguments"));
    match arg(0)?.as_str() {
        "raw" => {
            let fd = |i: usize| -> io::Result<OwnedFd> {
                let raw: i32 = arg(i)?.parse().map_err(|_| failure("fd-echo: bad fd"))?;
                // SAFETY: the parent made this eventfd without CLOEXEC and passed its
                // number; this process owns its inherited copy and nothing else uses it.
                Ok(unsafe { OwnedFd::from_raw_fd(raw) })
            };
            let (ping, pong) = (fd(1)?, fd(2)?);
            let epoll = epoll_on(&ping)?;
            control.say("ready")?;
            while let Some(rounds) = control.next()? {
                control.say("go")?;
                for _ in 0..rounds {
                    epoll_wait(&epoll)?;
                    let mut value = [0u8; 8];
                    rustix::io::read(&ping, &mut value)?;
                    rustix::io::write(&pong, &1u64.to_ne_bytes())?;
                }
                control.say("done")?;
            }
        }
        _ => {
            let mut rx = Receiver::open(arg(1)?).map_err(ferry_error)?;
            let mut tx = Sender::open(arg(2)?).map_err(ferry_error)?;
            let epoll = epoll_on(&rx)?;
            control.say("ready")?;
            let mut buf = [0u8; 8];
            while let Some(rounds) = control.next()? {
                control.say("go")?;
                for _ in 0..rounds {
                    let n = recv_epoll(&mut rx, &epoll, &mut buf)?;
                    tx.send(&buf[..n]).map_err(ferry_error)?;
                }
                control.say("done")?;
            }
        }
    }
    control.quit()
}

/// Bytes per message of the saturated stream: the receiver checksums each in place,
/// which takes longer than the sender's fill, so the ring stays full (saturated).
const STREAM_MESSAGE: usize = 256;

/// FNV-1a over `bytes`: the receiver's work per message.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Doorbell system calls during a saturated stream of `messages` messages: a source
/// process writes them as fast as it can (zero-copy loans, blocking when the ring is
/// full), this process receives them through its fd (drain until `Empty`, then `epoll`)
/// and checksums each in place, which is the slower side: the ring stays full. Returns
/// the receiver's calls, the sender's, how many of the receiver's came in the first 1% of
/// the stream (start-up), and the seconds the stream took.
///
/// # Errors
///
/// The source could not be started, or a send or receive failed.
pub fn doorbell_calls(messages: u64) -> io::Result<DoorbellCalls> {
    let name = unique("evl-stream");
    // A deep ring (16 MiB): the backlog outlasts a scheduling gap of the sender on a busy
    // machine, so the receiver does not run dry whenever the sender is descheduled.
    let config = Config::new().slot_size(STREAM_MESSAGE).capacity(1 << 16);
    let mut rx = Receiver::create(&name, &config).map_err(ferry_error)?;
    let mut source = Peer::spawn("source", "fd-source", &["ferry".to_owned(), name], None)?;
    assert_eq!(rx.try_recv().map(drop), Err(RecvError::Empty), "a message before the stream");
    let epoll = epoll_on(&rx)?;
    let before = ferry::doorbell_calls();
    source.tell(&format!("run {messages}"))?;
    source.expect("go")?;
    let start = Instant::now();
    let (mut startup, mut sum) = (0, 0u64);
    for i in 0..messages {
        let seq = loop {
            match rx.try_recv() {
                Ok(guard) => {
                    sum = sum.wrapping_add(fnv(&guard));
                    break u64::from_le_bytes(guard[..8].try_into().expect("8 bytes"));
                }
                Err(RecvError::Empty) => epoll_wait(&epoll)?,
                Err(e) => return Err(ferry_error(e)),
            }
        };
        if seq != i {
            return Err(failure(format!("message {i} arrived as {seq}")));
        }
        if i == messages / 100 {
            startup = ferry::doorbell_calls() - before;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(sum);
    let receiver = ferry::doorbell_calls() - before;
    let sender = source.expect("done")?.first().copied().unwrap_or(-1);
    source.finish()?;
    Ok(DoorbellCalls { messages, receiver, sender: sender.max(0) as u64, startup, seconds })
}

/// What [`doorbell_calls`] counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoorbellCalls {
    /// Messages in the stream.
    pub messages: u64,
    /// The receiver's doorbell system calls (drains).
    pub receiver: u64,
    /// The sender's doorbell system calls (rings).
    pub sender: u64,
    /// The receiver's calls within the first 1% of the stream.
    pub startup: u64,
    /// How long the stream took.
    pub seconds: f64,
}

/// The source of [`doorbell_calls`]: `ferry NAME`; says `done CALLS` after each run.
pub(crate) fn source(args: &[String]) -> io::Result<()> {
    let mut control = Control::new();
    let name = args.get(1).ok_or_else(|| failure("fd-source: no channel"))?;
    let mut tx = Sender::open(name).map_err(ferry_error)?;
    control.say("ready")?;
    while let Some(messages) = control.next()? {
        let before = ferry::doorbell_calls();
        control.say("go")?;
        for i in 0..messages {
            let mut loan = tx.loan().map_err(ferry_error)?;
            loan[..STREAM_MESSAGE].fill(i as u8);
            loan[..8].copy_from_slice(&i.to_le_bytes());
            loan.commit(STREAM_MESSAGE);
        }
        control.say(&format!("done {}", ferry::doorbell_calls() - before))?;
    }
    drop(tx);
    control.quit()
}

/// Runs the event-loop measurements and returns their report lines.
///
/// # Errors
///
/// A measurement failed.
pub fn report(rounds: u64, stream: u64) -> io::Result<String> {
    let mut out = String::from("\nEvent loops (issue 17): one-way wake-up latency, both sides asleep in the kernel\n");
    let mut p50 = Vec::new();
    for waiter in [Waiter::RawEventfd, Waiter::FerryEpoll, Waiter::FerryAsync] {
        let figures = wakeup_latency(waiter, rounds)?;
        p50.push(figures.p50);
        out.push_str(&format!("  {:<30} {figures}\n", waiter.name()));
    }
    let floor = p50[0].max(1) as f64;
    out.push_str(&format!(
        "  ratio to the eventfd floor (p50): fd + epoll {:.2}x (target <= 1.2x), async {:.2}x\n",
        p50[1] as f64 / floor,
        p50[2] as f64 / floor
    ));
    let calls = doorbell_calls(stream)?;
    out.push_str(&format!(
        "  doorbell system calls over a saturated stream of {} messages ({:.2} M msg/s): receiver {} ({} in the \
         first 1%), sender {} (target 0 after start-up)\n",
        calls.messages,
        calls.messages as f64 / calls.seconds / 1e6,
        calls.receiver,
        calls.startup,
        calls.sender
    ));
    Ok(out)
}
