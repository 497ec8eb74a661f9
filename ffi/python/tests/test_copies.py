"""Copy receives take the message, never the slot: ``recv``, ``recv_into`` and the batch
receive ``recv_many``, and the zero-copy iterator's hand-over from one guard to the next."""

from __future__ import annotations

import threading
import time

import pytest

import ferry

SIZES = [0, 1, 7, 64, 100, 4096]


def pattern(seq: int, size: int) -> bytes:
    return bytes((seq * 31 + i) & 0xFF for i in range(size))


def test_recv_from_large_slots_returns_exactly_the_message(name: str) -> None:
    config = ferry.Config(slot_size=64 * 1024, capacity=8)
    with ferry.Receiver.create(name, config) as rx, ferry.Sender.open(name) as tx:
        assert rx.slot_size == 64 * 1024
        for seq, size in enumerate(SIZES):
            tx.send(pattern(seq, size))
            message = rx.recv(timeout=10)
            assert type(message) is bytes
            assert len(message) == size
            assert message == pattern(seq, size)
        for seq, size in enumerate(SIZES):
            tx.send(pattern(seq, size))
            assert rx.try_recv() == pattern(seq, size)
        buffer = bytearray(64 * 1024)
        for seq, size in enumerate(SIZES):
            tx.send(pattern(seq, size))
            assert rx.recv_into(buffer, timeout=10) == size
            assert buffer[:size] == pattern(seq, size)


def test_recv_many_takes_what_is_waiting_in_order_up_to_the_maximum(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=64 * 1024, capacity=16)) as rx:
        with ferry.Sender.open(name) as tx:
            for seq in range(10):
                tx.send(pattern(seq, seq * 3))
            first = rx.recv_many(4)
            assert first == [pattern(seq, seq * 3) for seq in range(4)]
            assert all(type(message) is bytes for message in first)
            rest = rx.try_recv_many(100)
            assert rest == [pattern(seq, seq * 3) for seq in range(4, 10)]
            with pytest.raises(ferry.Empty):
                rx.try_recv_many(5)
            assert rx.qsize() == 0
            # Every slot of the batches went back: the ring takes a full load again.
            for seq in range(16):
                tx.try_send(pattern(seq, 8))
            assert rx.full()
            assert rx.recv_many(16, timeout=10) == [pattern(seq, 8) for seq in range(16)]
        # The sender has gone: what it sent still comes first, then Disconnected.
        with pytest.raises(ferry.Disconnected):
            rx.recv_many(3, timeout=10)
        with pytest.raises(ferry.Disconnected):
            rx.try_recv_many(3)


def test_recv_many_waits_for_a_message_and_times_out_without_one(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=64, capacity=8))
    with pytest.raises(ferry.Timeout):
        rx.recv_many(8, timeout=0.05)

    def later() -> None:
        time.sleep(0.05)
        tx.send(b"late")

    sender = threading.Thread(target=later)
    sender.start()
    assert rx.recv_many(8, timeout=10) == [b"late"]
    sender.join()


def test_recv_many_refuses_bad_arguments(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=64, capacity=8))
    tx.send(b"kept")
    with pytest.raises(ValueError, match="at least 1"):
        rx.recv_many(0)
    with pytest.raises(OverflowError):
        rx.recv_many(-1)
    with pytest.raises(ValueError, match="timeout"):
        rx.recv_many(1, timeout=-1)
    assert rx.recv_many(1) == [b"kept"]


def test_recv_many_is_refused_while_a_guard_is_held(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=64, capacity=8))
    tx.send(b"a")
    tx.send(b"b")
    with rx.recv_guard() as message:
        with pytest.raises(ferry.Busy):
            rx.try_recv_many(2)
        assert bytes(message) == b"a"
    assert rx.try_recv_many(2) == [b"b"]


def test_guards_iterator_keeps_a_previous_guard_that_is_still_viewed(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=16, capacity=8))
    for i in range(3):
        tx.send(bytes([i]) * 4)
    tx.close()
    guards = rx.guards()
    first = next(guards)
    view = memoryview(first)
    with pytest.raises(BufferError, match="still alive"):
        next(guards)
    assert not first.released
    assert bytes(view) == b"\x00" * 4
    view.release()
    second = next(guards)
    assert first.released
    assert bytes(second) == b"\x01" * 4
    second.release()  # released by hand: the iterator goes on from there
    assert bytes(next(guards)) == b"\x02" * 4
    with pytest.raises(StopIteration):
        next(guards)


def test_recv_into_a_bytearray_waits_and_reports_as_any_buffer(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=64, capacity=8))
    buffer = bytearray(64)
    with pytest.raises(ferry.Empty):
        rx.try_recv_into(buffer)
    with pytest.raises(ferry.Timeout):
        rx.recv_into(buffer, timeout=0.05)

    def later() -> None:
        time.sleep(0.05)
        tx.send(b"late")

    sender = threading.Thread(target=later)
    sender.start()
    assert rx.recv_into(buffer, timeout=10) == 4
    assert buffer[:4] == b"late"
    sender.join()
    tx.send(b"x" * 10)
    with pytest.raises(ferry.BufferTooSmall):
        rx.try_recv_into(bytearray(4))
    assert rx.try_recv_into(buffer) == 10
    tx.close()
    with pytest.raises(ferry.Disconnected):
        rx.recv_into(buffer, timeout=10)
