//! The MPMC byte ring's model bodies, shared by the passing models (`bytes_mpmc.rs`) and
//! their deliberately broken runs (`bytes_mpmc_mutations.rs`). They are separate test
//! binaries because the mutation switch is global to the process: a model run beside a
//! mutated one would be broken too.
//!
//! All run on a 64-byte ring for messages of up to 16 bytes, so a record is 32 bytes (a
//! message of 1 to 16 bytes) or 16 (an empty one), and the last message of each model
//! starts the next lap over bytes a consumer read before (in most orders after a padding
//! record at the end of the region). Under loom each 16-byte unit's payload cell records
//! the producers' writes and the consumers' reads, so a record written before its bytes
//! were released, or read before they were published, is a reported race.
// Each test binary uses part of this module.
#![allow(dead_code)]

use ferry::{Config, Receiver, RingKind, Sender};
use loom::thread::{self, JoinHandle};

/// The bytes of message `id`, `len` long.
fn pattern(id: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| id.wrapping_mul(31).wrapping_add(i as u8)).collect()
}

/// Which of `sent` (`(id, len)` pairs) `bytes` is, after checking every byte of it.
fn identify(bytes: &[u8], sent: &[(u8, usize)]) -> u8 {
    let found = sent.iter().find(|&&(id, len)| bytes == &pattern(id, len)[..]);
    found.unwrap_or_else(|| panic!("a torn, stale or unknown message: {bytes:?}")).0
}

fn config() -> Config {
    Config::new().kind(RingKind::Mpmc).capacity_bytes(64).max_message(16)
}

/// A clone of `tx` on a thread of its own, running `send`; the thread hands it back.
fn spawn_sender(tx: &Sender, send: impl FnOnce(&mut Sender) + Send + 'static) -> JoinHandle<Sender> {
    let mut tx = tx.try_clone().unwrap();
    thread::spawn(move || {
        send(&mut tx);
        tx
    })
}

/// Receives the three messages of `sent` on `rx`, joins `senders`, and checks that each
/// arrived whole, exactly once, and nothing after: returns their ids in arrival order.
fn receive_three(rx: &mut Receiver, sent: &[(u8, usize)], senders: [JoinHandle<Sender>; 2]) -> Vec<u8> {
    let got: Vec<u8> = (0..3).map(|_| identify(&rx.recv().unwrap(), sent)).collect();
    let senders = senders.map(|s| s.join().unwrap());
    assert!(rx.try_recv().is_err(), "nothing after the three messages");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3], "each message exactly once");
    drop(senders);
    got
}

/// Two senders (cloned, on two threads) and a receiver (the main thread). The first
/// sender sends `A` (16 bytes, through a loan) then `B` (16 bytes); the second sends `C`
/// (empty). Whatever the order of the claims, the last one cannot fit before the end of
/// the region: it pads there and wraps to the start, once the receiver has released
/// what lay there. In the order `A`, `B`, `C`, `B`'s claim moves the reclaim position
/// over `A` and `C` then lands on `A`'s first unit without looking at it: only the
/// claims' Acquire/Release chain orders the receiver's read of `A` before `C`'s write.
/// The receiver gets the three whole, each once, `A` before `B`, and nothing else.
pub fn two_senders_wrap() {
    const SENT: [(u8, usize); 3] = [(1, 16), (2, 16), (3, 0)];
    let (tx, mut rx) = ferry::in_memory(&config()).unwrap();
    let first = spawn_sender(&tx, |tx| {
        let mut loan = tx.loan_bytes(16).unwrap();
        loan.copy_from_slice(&pattern(1, 16));
        loan.commit(16);
        tx.send(&pattern(2, 16)).unwrap();
    });
    let second = spawn_sender(&tx, |tx| tx.send(&[]).unwrap());
    let got = receive_three(&mut rx, &SENT, [first, second]);
    let position = |id| got.iter().position(|&g| g == id);
    assert!(position(1) < position(2), "the first sender's messages out of order: {got:?}");
    drop(tx);
}

/// The main thread sends `A` (16 bytes), then two senders (cloned, on two threads) race:
/// one sends `B` (16 bytes), which does not fit beside `A` and waits for the receiver to
/// release it; the other sends `C` (empty), which fits at once. If `C` claims first, `B`
/// pads to the end and wraps over `A`; if `B` waits first, `C` still passes it (a
/// producer that finds no room gives up the claiming turn). The receiver (the main
/// thread) gets the three whole, each once.
pub fn two_senders_one_waits_for_room() {
    const SENT: [(u8, usize); 3] = [(1, 16), (2, 16), (3, 0)];
    let (mut tx, mut rx) = ferry::in_memory(&config()).unwrap();
    tx.send(&pattern(1, 16)).unwrap();
    let first = spawn_sender(&tx, |tx| tx.send(&pattern(2, 16)).unwrap());
    let second = spawn_sender(&tx, |tx| tx.send(&[]).unwrap());
    receive_three(&mut rx, &SENT, [first, second]);
    drop(tx);
}

/// A sender (the main thread) and two receivers (cloned, on two threads). The sender
/// sends `A` (16 bytes) and `B` (empty), which fill the region up to its last unit, then
/// `C` (16 bytes), which pads to the end and starts the next lap over `A`: it needs both
/// `A` and `B` released, and the receivers release them in either order. The reclaim
/// position passes a released record only once every record before it is released, so
/// `C` is never written over bytes a receiver still reads. Each receiver takes one
/// message; the main thread takes the third.
pub fn two_receivers_release_out_of_order() {
    const SENT: [(u8, usize); 3] = [(1, 16), (2, 0), (3, 16)];
    let (mut tx, mut rx) = ferry::in_memory(&config()).unwrap();
    tx.send(&pattern(1, 16)).unwrap();
    tx.send(&pattern(2, 0)).unwrap();
    let receivers = [(); 2].map(|()| {
        let mut rx = rx.try_clone().unwrap();
        thread::spawn(move || {
            let id = identify(&rx.recv().unwrap(), &SENT);
            (id, rx)
        })
    });
    tx.send(&pattern(3, 16)).unwrap();
    let [(a, ra), (b, rb)] = receivers.map(|r| r.join().unwrap());
    let last = identify(&rx.recv().unwrap(), &SENT);
    assert!(rx.try_recv().is_err(), "nothing after the three messages");
    let mut got = [a, b, last];
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3], "each message exactly once");
    drop((tx, ra, rb));
}
