//! `Select`: waiting at once on a shared-memory channel, a `unix:` channel, a pipe and a
//! sender's room, with every message received exactly once; fairness between channels
//! that are always ready; the timeout.

use std::{
    env,
    io::Write,
    os::fd::AsFd,
    process, thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, Select, Sender};

mod support;
use support::Cleanup;

/// A wait long enough that only a broken `Select` runs into it.
const LONG: Duration = Duration::from_secs(60);

/// A thread feeds a shared-memory channel, a Unix socket channel and a plain pipe, in
/// bursts with pauses between them; one `Select` over the three receiving ends (and the
/// pipe's read end, a caller fd) gets every message once, in order per source.
#[test]
fn select_over_shm_unix_and_a_pipe() {
    const PER_SOURCE: u64 = 200;
    let name = format!("select-shm-{}", process::id());
    let _cleanup = Cleanup(name.clone());
    let socket = env::temp_dir().join(format!("select-{}.sock", process::id()));
    let unix = format!("unix:{}", socket.display());
    let mut shm_rx = Receiver::create(&name, &Config::new().slot_size(16).capacity(8)).unwrap();
    let mut unix_rx = Receiver::create(&unix, &Config::new().slot_size(16)).unwrap();
    let (pipe_rx, pipe_tx) = rustix::pipe::pipe().unwrap();
    let mut pipe_tx = std::fs::File::from(pipe_tx);
    let pipe_rx = std::fs::File::from(pipe_rx);
    rustix::fs::fcntl_setfl(&pipe_rx, rustix::fs::OFlags::NONBLOCK).unwrap();

    let feeder = thread::spawn({
        let (name, unix) = (name.clone(), unix.clone());
        move || {
            let mut shm_tx = Sender::open(&name).unwrap();
            let mut unix_tx = Sender::open(&unix).unwrap();
            for seq in 0..PER_SOURCE {
                shm_tx.send(&seq.to_le_bytes()).unwrap();
                unix_tx.send(&seq.to_le_bytes()).unwrap();
                pipe_tx.write_all(&seq.to_le_bytes()).unwrap();
                if seq % 50 == 49 {
                    // Let the receiver drain everything and go to sleep in `poll`.
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
    });

    let mut next = [0u64; 3];
    let mut pipe_bytes = Vec::new();
    let deadline = Instant::now() + LONG;
    let mut sleeps = 0;
    while next.iter().any(|&n| n < PER_SOURCE) {
        assert!(Instant::now() < deadline, "stalled at {next:?}");
        let ready = {
            let mut select = Select::new();
            assert_eq!(select.recv(&shm_rx), 0);
            assert_eq!(select.recv(&unix_rx), 1);
            assert_eq!(select.fd(&pipe_rx), 2);
            select.ready_timeout(Duration::from_secs(5)).unwrap()
        };
        sleeps += 1;
        for index in ready {
            match index {
                0 | 1 => {
                    let rx = if index == 0 { &mut shm_rx } else { &mut unix_rx };
                    loop {
                        match rx.try_recv() {
                            Ok(guard) => {
                                let seq = u64::from_le_bytes(guard[..].try_into().unwrap());
                                assert_eq!(seq, next[index], "source {index}: lost, repeated or reordered");
                                next[index] += 1;
                            }
                            Err(RecvError::Empty) => break,
                            Err(e) => panic!("source {index}: {e}"),
                        }
                    }
                }
                2 => {
                    let mut buf = [0u8; 512];
                    while let Ok(n) = rustix::io::read(pipe_rx.as_fd(), &mut buf) {
                        if n == 0 {
                            break;
                        }
                        pipe_bytes.extend_from_slice(&buf[..n]);
                    }
                    while pipe_bytes.len() >= 8 {
                        let seq = u64::from_le_bytes(pipe_bytes[..8].try_into().unwrap());
                        assert_eq!(seq, next[2], "pipe: lost, repeated or reordered");
                        next[2] += 1;
                        pipe_bytes.drain(..8);
                    }
                }
                other => panic!("index {other} was never added"),
            }
        }
    }
    feeder.join().unwrap();
    println!("{} messages from 3 sources in {sleeps} selects", 3 * PER_SOURCE);
}

/// A sender in a `Select` is ready when its full ring gets room.
#[test]
fn select_reports_a_sender_with_room() {
    let (mut tx, mut rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(2)).unwrap();
    tx.send(b"1").unwrap();
    tx.send(b"2").unwrap();
    let mut select = Select::new();
    select.send(&tx);
    assert_eq!(select.ready_timeout(Duration::from_millis(50)).unwrap(), Vec::<usize>::new(), "room in a full ring");
    let reader = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        drop(rx.try_recv().unwrap());
        rx
    });
    assert_eq!(select.ready_timeout(LONG).unwrap(), vec![0]);
    drop(select);
    tx.try_send(b"3").unwrap();
    drop(reader.join().unwrap());
}

/// Two channels that always have a message: a caller that serves only the first index
/// each `Select` reports serves both, in turn.
#[test]
fn select_rotates_between_ready_channels() {
    let config = Config::new().slot_size(8).capacity(64);
    let (mut tx_a, mut rx_a) = ferry::in_memory(&config).unwrap();
    let (mut tx_b, mut rx_b) = ferry::in_memory(&config).unwrap();
    for _ in 0..32 {
        tx_a.send(b"a").unwrap();
        tx_b.send(b"b").unwrap();
    }
    let mut served = [0u32; 2];
    for _ in 0..20 {
        let first = {
            let mut select = Select::new();
            select.recv(&rx_a);
            select.recv(&rx_b);
            select.ready().unwrap()[0]
        };
        let rx = if first == 0 { &mut rx_a } else { &mut rx_b };
        drop(rx.try_recv().unwrap());
        served[first] += 1;
    }
    assert_eq!(served, [10, 10], "one channel starved the other");
}

/// Nothing ready: `ready_timeout` returns no index after about its timeout.
#[test]
fn select_times_out() {
    let (_tx, rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(2)).unwrap();
    let mut select = Select::new();
    select.recv(&rx);
    let started = Instant::now();
    assert!(select.ready_timeout(Duration::from_millis(150)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(140), "returned after {:?}", started.elapsed());
}

/// A channel sized in bytes takes part like a slot channel: a `Select` over both sleeps
/// until another thread sends into the byte channel, then reports it (and only it), and
/// the byte channel's sender is reported once a full ring has room again.
#[test]
fn select_over_a_byte_channel() {
    let (mut bytes_tx, mut bytes_rx) = ferry::in_memory(&Config::new().capacity_bytes(128).max_message(16)).unwrap();
    let (_slots_tx, slots_rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(2)).unwrap();
    assert_eq!(bytes_rx.try_recv().unwrap_err(), RecvError::Empty);
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        bytes_tx.send(b"bytes").unwrap();
        bytes_tx
    });
    let mut select = Select::new();
    let bytes = select.recv(&bytes_rx);
    let _slots = select.recv(&slots_rx);
    let ready = select.ready_timeout(LONG).unwrap();
    assert_eq!(ready, vec![bytes]);
    drop(select);
    assert_eq!(&*bytes_rx.try_recv().unwrap(), b"bytes");
    let mut bytes_tx = sender.join().unwrap();

    while bytes_tx.try_send(&[1; 16]).is_ok() {}
    let mut select = Select::new();
    let room = select.send(&bytes_tx);
    assert!(select.ready_timeout(Duration::from_millis(20)).unwrap().is_empty(), "room in a full byte ring");
    drop(bytes_rx.try_recv().unwrap());
    assert_eq!(select.ready_timeout(LONG).unwrap(), vec![room]);
}
