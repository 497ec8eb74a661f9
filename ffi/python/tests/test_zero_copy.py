"""Zero-copy both ways: a guard reads the slot in place and cannot be released while a
view of it lives; a loan is written in place; a copy takes only the message."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import ferry


def test_guard_reads_the_slot_in_place_and_refuses_release_while_viewed(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=64, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        tx.send(np.arange(8, dtype=np.uint64))  # type: ignore[arg-type]  # numpy types __buffer__ from 3.12
        guard = rx.recv_guard()
        with guard as message:
            assert message is guard
            array = np.frombuffer(message, dtype=np.uint64)  # type: ignore[call-overload]  # numpy names concrete buffer types
            assert array.tolist() == list(range(8))
            assert struct.unpack_from("<Q", message, 8) == (1,)
            view = memoryview(message)
            assert view.readonly
            # The slot cannot go back while the array or the view can still read it.
            with pytest.raises(BufferError, match="still alive"):
                message.release()
            assert not message.released
            with pytest.raises(ferry.Busy):
                rx.try_recv()  # the receiver is lent to the guard
            del array
            view.release()
        assert guard.released
        # After release, the guard gives no access to the slot.
        with pytest.raises(BufferError):
            memoryview(guard)
        with pytest.raises(BufferError):
            bytes(guard)
        guard.release()  # twice is a no-op
        tx.send(b"next")
        assert rx.recv() == b"next"


def test_leaving_the_block_with_a_view_alive_raises_and_keeps_the_slot(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=64, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        tx.send(b"abc")
        kept = []
        with pytest.raises(BufferError):
            with rx.recv_guard() as message:
                kept.append(memoryview(message))
        assert kept[0].tobytes() == b"abc"  # still the message: the slot was not released
        guard = kept[0].obj
        assert isinstance(guard, ferry.RecvGuard)
        kept[0].release()
        guard.release()
        tx.send(b"def")
        assert rx.recv() == b"def"


def test_a_slice_of_a_view_keeps_the_guard_from_releasing(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=64, capacity=4))
    tx.send(b"0123456789")
    guard = rx.recv_guard()
    view = memoryview(guard)
    part = view[2:5]
    view.release()
    with pytest.raises(BufferError):
        guard.release()
    assert part.tobytes() == b"234"
    part.release()
    guard.release()


def test_close_while_a_guard_is_held_waits_for_the_guard(name: str) -> None:
    rx = ferry.Receiver.create(name, ferry.Config(slot_size=64, capacity=4))
    tx = ferry.Sender.open(name)
    tx.send(b"held")
    guard = rx.recv_guard()
    rx.close()
    assert rx.closed
    assert bytes(guard) == b"held"  # the mapping is still there
    guard.release()
    with pytest.raises(ferry.Closed):
        rx.try_recv()
    tx.close()


def test_loan_writes_in_place(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=64, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        with tx.loan() as slot:
            assert len(slot) == 64
            slot[:5] = b"hello"
            slot[5] = ord("!")
            slot.commit(6)
        assert rx.recv() == b"hello!"

        with tx.loan() as slot:
            words = np.frombuffer(slot, dtype=np.uint64)  # type: ignore[call-overload]  # as above
            words[:3] = [7, 8, 9]
            with pytest.raises(BufferError, match="still alive"):
                slot.commit(24)
            del words
            slot.commit(24)
        assert np.frombuffer(rx.recv(), dtype=np.uint64).tolist() == [7, 8, 9]

        with tx.loan() as slot:
            struct.pack_into("<I", slot, 0, 42)
            slot.commit(4)
        assert rx.recv() == struct.pack("<I", 42)


def test_a_loan_left_uncommitted_sends_nothing(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=64, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        with tx.loan() as slot:
            slot[:4] = b"lost"
            with pytest.raises(ferry.Busy):
                tx.try_send(b"x")  # the sender is lent to the loan
        assert slot.done
        with pytest.raises(ferry.Empty):
            rx.try_recv()
        with pytest.raises(ValueError):
            with tx.loan() as slot:
                slot.commit(65)
        with pytest.raises(ValueError):
            with tx.loan() as slot:
                slot[:3] = b"four"  # a slice assignment must fit exactly
        with pytest.raises(BufferError):
            slot.commit(1)  # finished already


def test_recv_copies_the_message_not_the_slot(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=65536, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        tx.send(b"x" * 64)
        message = rx.recv()
        assert len(message) == 64
        buf = bytearray(65536)
        tx.send(b"y" * 100)
        assert rx.recv_into(buf) == 100
        assert bytes(buf[:100]) == b"y" * 100


def test_recv_into_a_small_buffer_leaves_the_message(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=64, capacity=4))
    tx.send(b"0123456789")
    small = bytearray(4)
    with pytest.raises(ferry.BufferTooSmall) as caught:
        rx.recv_into(small)
    assert caught.value.needed == 10
    array = np.zeros(16, dtype=np.uint8)
    assert rx.recv_into(array) == 10  # type: ignore[arg-type]  # as above
    assert bytes(array[:10]) == b"0123456789"
    with pytest.raises(BufferError):
        rx.try_recv_into(b"read-only bytes")


def test_guards_iterator_releases_each_guard_at_the_next(name: str) -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=16, capacity=8))
    for i in range(3):
        tx.send(bytes([i]) * 4)
    tx.close()
    seen = []
    previous: ferry.RecvGuard | None = None
    for message in rx.guards():
        if previous is not None:
            assert previous.released
        seen.append(bytes(message))
        previous = message
    assert seen == [b"\x00" * 4, b"\x01" * 4, b"\x02" * 4]
