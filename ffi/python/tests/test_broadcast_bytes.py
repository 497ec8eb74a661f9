"""The broadcast channel sized in bytes: messages of any size up to a maximum, each taking
only the room it needs, every one to every subscriber, in order, zero-copy both ways."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import numpy.typing as npt
import pytest

import ferry

MAX = 8192
SIZES = [0, 1, 64, 4096, MAX]


def pattern(seq: int, size: int) -> npt.NDArray[np.uint8]:
    """Message ``seq``'s bytes: a ramp that starts where ``seq`` says."""
    return ((np.arange(size, dtype=np.uint32) + seq * 31) & 0xFF).astype(np.uint8)


def publish(publisher: ferry.Publisher, seq: int, size: int) -> None:
    """Publishes message ``seq`` of ``size`` bytes one of three ways: a copy, a loan of a
    few bytes more committed shorter, or a loan of the largest message committed shorter.
    The loans are written through a memoryview or by slice assignment, in place."""
    message = pattern(seq, size)
    way = seq % 3
    if way == 0:
        publisher.publish(message.tobytes(), timeout=10)
    elif way == 1:
        lent = min(size + 100, MAX)
        with publisher.loan(timeout=10, size=lent) as loan:
            assert len(loan) == lent
            with memoryview(loan) as view:
                view[:size] = message.tobytes()
            loan.commit(size)
    else:
        with publisher.loan(timeout=10) as loan:
            assert len(loan) == MAX
            loan[:size] = message.tobytes()
            loan.commit(size)


def test_every_subscriber_gets_every_size_in_order(name: str) -> None:
    config = ferry.Config(slot_size=MAX, capacity_bytes=64 * 1024)
    rounds = 200  # about 7 MB through a ring of 64 KiB: it wraps some 100 times
    sizes = SIZES * 3 * rounds
    with ferry.Publisher.create(name, config) as publisher:
        copied = publisher.subscribe()
        in_place = ferry.Subscriber.open(name)
        got: dict[str, list[int]] = {"copied": [], "in place": []}
        wrong: list[str] = []

        def read_copies() -> None:
            for seq, size in enumerate(sizes):
                if copied.recv(timeout=10) != pattern(seq, size).tobytes():
                    wrong.append(f"copied: message {seq}")
                got["copied"].append(seq)

        def read_in_place() -> None:
            for seq, size in enumerate(sizes):
                with in_place.recv_guard(timeout=10) as message:
                    array = np.frombuffer(message, dtype=np.uint8)  # type: ignore[call-overload]  # numpy names concrete buffer types
                    if not np.array_equal(array, pattern(seq, size)):
                        wrong.append(f"in place: message {seq}")
                    del array
                got["in place"].append(seq)

        readers = [threading.Thread(target=read_copies), threading.Thread(target=read_in_place)]
        for reader in readers:
            reader.start()
        for seq, size in enumerate(sizes):
            publish(publisher, seq, size)
        for reader in readers:
            reader.join(timeout=30)
        assert wrong == []
        assert got["copied"] == got["in place"] == list(range(len(sizes)))
        for subscriber in (copied, in_place):
            with pytest.raises(ferry.Empty):
                subscriber.try_recv()
            assert subscriber.pending() == 0
            subscriber.close()


def test_subscribers_read_in_place_where_the_publisher_wrote(name: str) -> None:
    config = ferry.Config(slot_size=4096, capacity_bytes=64 * 1024)
    with ferry.Publisher.create(name, config) as publisher:
        a = publisher.subscribe()
        b = publisher.subscribe()
        with publisher.loan(size=4096) as loan:
            words = np.frombuffer(loan, dtype=np.uint32)  # type: ignore[call-overload]  # as above
            assert words.flags.writeable
            words[:] = np.arange(1024, dtype=np.uint32)
            written_at = words.ctypes.data
            with pytest.raises(BufferError, match="still alive"):
                loan.commit(4000)
            del words
            loan.commit(4000)  # the first 1000 words
        with a.recv_guard(timeout=1) as seen_by_a, b.recv_guard(timeout=1) as seen_by_b:
            xa = np.frombuffer(seen_by_a, dtype=np.uint32)  # type: ignore[call-overload]  # as above
            xb = np.frombuffer(seen_by_b, dtype=np.uint32)  # type: ignore[call-overload]  # as above
            assert xa.tolist() == xb.tolist() == list(range(1000))
            assert not xa.flags.writeable
            # No copy anywhere: one record in shared memory, read where it was written.
            assert xa.ctypes.data == xb.ctypes.data == written_at
            with pytest.raises(BufferError, match="still alive"):
                seen_by_a.release()
            with pytest.raises(ferry.Busy):
                a.try_recv()  # the subscriber is lent to its guard
            assert "guard held" in repr(a)
            del xa, xb
        assert seen_by_a.released and seen_by_b.released
        with pytest.raises(BufferError):
            memoryview(seen_by_a)
        publisher.publish(b"next")
        assert a.recv(timeout=1) == b.recv(timeout=1) == b"next"
        a.close()
        b.close()


def test_the_slowest_subscriber_holds_the_room_back(name: str) -> None:
    config = ferry.Config(slot_size=1024, capacity_bytes=4096)
    with ferry.Publisher.create(name, config) as publisher:
        assert (publisher.capacity_bytes, publisher.capacity, publisher.slot_size) == (4096, 0, 1024)
        assert "capacity_bytes=4096" in repr(publisher)
        fast = publisher.subscribe()
        slow = ferry.Subscriber.open(name)
        assert (slow.capacity_bytes, slow.capacity, slow.slot_size) == (4096, 0, 1024)
        for i in range(3):
            publisher.try_publish(bytes([i]) * 1000)
        # A record is its length rounded up to 16, plus a 16-byte header.
        assert slow.pending() == 3 * 1024
        assert [fast.try_recv() for _ in range(3)] == [bytes([i]) * 1000 for i in range(3)]
        assert fast.pending() == 0
        # The fast subscriber has read everything; the slow one still holds 3 KiB.
        with pytest.raises(ferry.Full):
            publisher.try_loan(size=1024)
        with pytest.raises(ferry.Timeout):
            publisher.loan(timeout=0.01, size=1024)
        with pytest.raises(ferry.Full):
            publisher.try_publish(bytes(1024))
        with publisher.try_loan(size=16) as small:  # a small record still fits
            assert len(small) == 16
            small[:2] = b"hi"
            small.commit(2)
        with slow.recv_guard(timeout=1) as first:
            assert bytes(first) == b"\x00" * 1000
            with pytest.raises(ferry.Full):
                publisher.try_loan(size=1024)  # the guard keeps the slow one at its first record
        assert [slow.try_recv() for _ in range(3)] == [b"\x01" * 1000, b"\x02" * 1000, b"hi"]
        assert fast.try_recv() == b"hi"
        # Everyone has read everything: the largest message fits wherever the ring is.
        with publisher.try_loan(size=1024) as whole:
            whole[:] = bytes(range(256)) * 4
            whole.commit(1024)
        assert slow.try_recv() == fast.try_recv() == bytes(range(256)) * 4
        fast.close()
        slow.close()


def test_a_message_over_the_largest_is_too_large(name: str) -> None:
    with ferry.Publisher.create(name, ferry.Config(slot_size=1024, capacity_bytes=4096)) as publisher:
        subscriber = publisher.subscribe()
        with pytest.raises(ferry.TooLarge) as caught:
            publisher.publish(bytes(1025))
        assert (caught.value.length, caught.value.max) == (1025, 1024)
        with pytest.raises(ferry.TooLarge):
            publisher.try_loan(size=1025)
        with pytest.raises(ferry.TooLarge):
            publisher.loan(timeout=1, size=1025)
        with pytest.raises(ValueError, match="loan of 10 bytes"):
            with publisher.loan(size=10) as loan:
                loan.commit(11)
        with pytest.raises(ferry.Empty):
            subscriber.try_recv()  # nothing was published
        subscriber.close()


def test_a_loan_holds_the_publisher_and_close_waits_for_it(name: str) -> None:
    publisher = ferry.Publisher.create(name, ferry.Config(slot_size=64, capacity_bytes=1024))
    subscriber = publisher.subscribe()
    with publisher.loan(size=5) as loan:
        loan[:] = b"hello"
        with pytest.raises(ferry.Busy):
            publisher.try_publish(b"x")
        with pytest.raises(ferry.Busy):
            publisher.subscribe()
        assert "loan held" in repr(publisher)
        publisher.close()  # the publisher goes once the loan is finished
        assert publisher.closed
        loan.commit(5)
    assert subscriber.recv(timeout=1) == b"hello"
    with pytest.raises(ferry.Disconnected):
        subscriber.recv(timeout=1)
    with pytest.raises(ferry.Closed):
        publisher.try_loan()
    subscriber.close()


def test_overwrite_or_history_with_capacity_bytes_is_refused(name: str) -> None:
    with pytest.raises(ferry.InvalidConfig, match='policy="overwrite"'):
        ferry.Publisher.create(name, ferry.Config(slot_size=64, capacity_bytes=4096, policy="overwrite"))
    with pytest.raises(ferry.InvalidConfig, match="history"):
        ferry.Publisher.create(name, ferry.Config(slot_size=64, capacity_bytes=4096, history=2))
    with pytest.raises(ferry.InvalidConfig):
        ferry.Subscriber.create(name, ferry.Config(slot_size=64, capacity_bytes=4096, policy="overwrite"))
    with pytest.raises(ferry.InvalidConfig):
        ferry.Publisher.create(name, ferry.Config(slot_size=64, capacity_bytes=5000))  # not a power of two
    with pytest.raises(ferry.InvalidConfig, match="slot_size"):
        # Room for two of the largest message is 2 x (16 + 4096) bytes.
        ferry.Publisher.create(name, ferry.Config(slot_size=4096, capacity_bytes=8192))
    # None of them left a channel behind.
    with pytest.raises(ferry.NotFound):
        ferry.Subscriber.open(name)


SUBSCRIBER_PROCESS = r"""
import sys

import numpy as np

import ferry

name, count = sys.argv[1], int(sys.argv[2])
SIZES = [0, 1, 64, 4096, 8192]
subscriber = ferry.Subscriber.open(name, timeout=10)
seq = 0
while True:
    expected = ((np.arange(SIZES[seq % 5], dtype=np.uint32) + seq * 31) & 0xFF).astype(np.uint8)
    try:
        if seq % 2:
            with subscriber.recv_guard(timeout=30) as message:
                same = np.array_equal(np.frombuffer(message, dtype=np.uint8), expected)
        else:
            same = np.array_equal(np.frombuffer(subscriber.recv(timeout=30), dtype=np.uint8), expected)
    except ferry.Disconnected:
        break
    if not same:
        sys.exit(f"message {seq} is wrong")
    seq += 1
print(f"received {seq}")
"""


def test_subscriber_processes_get_every_message(name: str) -> None:
    count = 20_000
    with ferry.Publisher.create(name, ferry.Config(slot_size=MAX, capacity_bytes=64 * 1024)) as publisher:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", SUBSCRIBER_PROCESS, name, str(count)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 30
            while publisher.subscriber_count() < 2:
                assert time.monotonic() < deadline, "the subscriber processes did not attach"
                assert all(child.poll() is None for child in children), "a subscriber process exited early"
                time.sleep(0.01)
            for seq in range(count):
                publish(publisher, seq, SIZES[seq % len(SIZES)])
        finally:
            publisher.close()  # the subscribers see Disconnected once they have read everything
            outcomes = [child.communicate(timeout=60) for child in children]
    for child, (out, err) in zip(children, outcomes):
        assert child.returncode == 0, err
        assert out.strip() == f"received {count}"
