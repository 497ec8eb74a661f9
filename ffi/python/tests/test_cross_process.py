"""A Python consumer receives 1,000,000 checksummed 64-byte messages from the Rust demo
producer, and 1,000,000 from the C producer, each process a real separate one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

import ferry

COUNT = 1_000_000
PROBES = 10_000  # the Rust producer's latency phase, after the stream
CHUNK = 10_000


def expected_rust(seq: np.ndarray, sent_ns: np.ndarray) -> np.ndarray:
    """The messages ``examples/wire/mod.rs`` builds: (seq, sent_ns, 5 fill words derived
    from seq, an FNV-1a-style checksum of the seven), as rows of eight u64."""
    rows = np.empty((len(seq), 8), dtype=np.uint64)
    rows[:, 0] = seq
    rows[:, 1] = sent_ns
    mixed = seq * np.uint64(0x9E3779B97F4A7C15)
    rows[:, 2] = mixed
    for i in range(1, 5):
        r = np.uint64(i * 7)
        rows[:, 2 + i] = (mixed << r) | (mixed >> (np.uint64(64) - r))
    check = np.full(len(seq), 0xCBF29CE484222325, dtype=np.uint64)
    for column in range(7):
        check = (check ^ rows[:, column]) * np.uint64(0x100000001B3)
    rows[:, 7] = check
    return rows


def test_a_million_checksummed_messages_from_the_rust_producer(name: str, rust_producer: Path) -> None:
    config = ferry.Config(slot_size=64, capacity=1024)
    with ferry.Receiver.create(name, config) as rx:
        with subprocess.Popen([str(rust_producer), name, str(COUNT)], stdout=subprocess.PIPE, text=True) as producer:
            received = receive_from_rust(rx)
            assert producer.wait(timeout=60) == 0
            assert producer.stdout is not None
            assert f"sent {COUNT} messages" in producer.stdout.read()
        assert received == COUNT + PROBES


def receive_from_rust(rx: ferry.Receiver) -> int:
    """Receives until disconnection, checking every message; returns how many."""
    received = 0
    chunk: list[bytes] = []
    with np.errstate(over="ignore"):
        for message in rx:  # ends when the producer exits and the ring is drained
            assert len(message) == 64
            chunk.append(message)
            if len(chunk) == CHUNK:
                received = verify_rust(chunk, received)
                chunk = []
        received = verify_rust(chunk, received)
    return received


def verify_rust(chunk: list[bytes], start: int) -> int:
    if not chunk:
        return start
    rows = np.frombuffer(b"".join(chunk), dtype="<u8").reshape(-1, 8)
    seq = np.arange(start, start + len(rows), dtype=np.uint64)
    np.testing.assert_array_equal(rows[:, 0], seq, err_msg="a message is missing, repeated or out of order")
    np.testing.assert_array_equal(rows, expected_rust(seq, rows[:, 1]), err_msg="a message is corrupt")
    return start + len(rows)


def test_a_million_messages_from_the_c_producer_read_in_place(name: str, c_producer: Path) -> None:
    config = ferry.Config(slot_size=64, capacity=1024)
    with ferry.Receiver.create(name, config) as rx:
        with subprocess.Popen([str(c_producer), name, str(COUNT)], stdout=subprocess.DEVNULL) as producer:
            seq = receive_from_c(rx)
            assert producer.wait(timeout=60) == 0
        assert seq == COUNT


def receive_from_c(rx: ferry.Receiver) -> int:
    """Receives in place until disconnection, checking every message; returns how many."""
    seq = 0
    while True:
        try:
            guard = rx.recv_guard(timeout=30)
        except ferry.Disconnected:
            break
        with guard:
            # The C struct: a u64 sequence number, then "message N from C" in 56 bytes.
            assert len(guard) == 64
            assert int.from_bytes(guard[:8], "little") == seq
            assert guard[8:64] == f"message {seq} from C".encode().ljust(56, b"\0")
        seq += 1
    return seq
