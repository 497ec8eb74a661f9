"""The broadcast channel: every subscriber receives every message, in order."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

import ferry


def test_every_subscriber_gets_every_message(name: str) -> None:
    config = ferry.Config(slot_size=32, capacity=8)
    with ferry.Publisher.create(name, config) as publisher:
        a = publisher.subscribe()
        b = ferry.Subscriber.open(name)
        assert publisher.subscriber_count() == 2
        for i in range(5):
            publisher.publish(i.to_bytes(4, "little"))
        assert a.pending() == 5
        assert [a.recv(timeout=1) for _ in range(5)] == [i.to_bytes(4, "little") for i in range(5)]
        buf = bytearray(32)
        got = []
        for _ in range(5):
            n = b.recv_into(buf, timeout=1)
            got.append(bytes(buf[:n]))
        assert got == [i.to_bytes(4, "little") for i in range(5)]
        with pytest.raises(ferry.Empty):
            a.try_recv()
        with pytest.raises(ferry.Timeout):
            b.recv(timeout=0.01)
        a.close()
        b.close()
        assert a.closed
        with pytest.raises(ferry.Closed):
            a.try_recv()


def test_block_mode_waits_for_the_slowest_subscriber(name: str) -> None:
    with ferry.Publisher.create(name, ferry.Config(slot_size=8, capacity=4)) as publisher:
        slow = publisher.subscribe()
        for i in range(4):
            publisher.try_publish(bytes([i]))
        with pytest.raises(ferry.Full):
            publisher.try_publish(b"x")
        with pytest.raises(ferry.Timeout):
            publisher.publish(b"x", timeout=0.01)
        assert slow.recv(timeout=1) == b"\x00"
        publisher.try_publish(b"\x04")
        assert list(slow.try_recv() for _ in range(4)) == [bytes([i]) for i in range(1, 5)]
        slow.close()


def test_overwrite_mode_reports_what_a_slow_subscriber_lost(name: str) -> None:
    config = ferry.Config(slot_size=8, capacity=4, policy="overwrite")
    assert config.policy == "overwrite"
    with ferry.Publisher.create(name, config) as publisher:
        slow = publisher.subscribe()
        for i in range(10):
            publisher.try_publish(bytes([i]))
        with pytest.raises(ferry.Lagged) as lagged:
            slow.recv(timeout=1)
        assert lagged.value.missed > 0
        rest = [slow.try_recv() for _ in range(10 - lagged.value.missed)]
        assert rest == [bytes([i]) for i in range(lagged.value.missed, 10)]
        slow.close()


def test_a_publisher_lends_slots_and_a_subscriber_reads_them_in_place(name: str) -> None:
    with ferry.Publisher.create(name, ferry.Config(slot_size=64, capacity=4)) as publisher:
        assert (publisher.capacity, publisher.capacity_bytes) == (4, 0)
        subscriber = publisher.subscribe()
        assert (subscriber.capacity, subscriber.capacity_bytes) == (4, 0)
        with publisher.loan() as loan:
            assert len(loan) == 64  # no size: a whole slot
            loan[:5] = b"whole"
            loan.commit(5)
        with publisher.try_loan(size=8) as loan:
            assert len(loan) == 8
            loan[:] = b"12345678"
            loan.commit(8)
        with publisher.loan(size=3) as loan:
            loan[:] = b"not"  # left uncommitted: nothing is published
        with subscriber.recv_guard(timeout=1) as message:
            assert bytes(message) == b"whole"
        guard = subscriber.try_recv_guard()
        assert guard[:] == b"12345678"
        with pytest.raises(ferry.Empty):
            publisher.subscribe().try_recv_guard()
        subscriber.close()  # the subscriber goes once its guard is released
        assert subscriber.closed
        assert bytes(guard) == b"12345678"  # the mapping is still there
        guard.release()
        with pytest.raises(ferry.Closed):
            subscriber.try_recv()


def test_overwrite_mode_is_not_read_in_place(name: str) -> None:
    config = ferry.Config(slot_size=8, capacity=4, policy="overwrite")
    with ferry.Publisher.create(name, config) as publisher:
        subscriber = publisher.subscribe()
        publisher.publish(b"copy me")
        with pytest.raises(ferry.Unsupported, match="recv"):
            subscriber.recv_guard(timeout=1)
        assert subscriber.recv(timeout=1) == b"copy me"
        subscriber.close()


def test_late_subscriber_asks_for_history(name: str) -> None:
    with ferry.Publisher.create(name, ferry.Config(slot_size=8, capacity=8, history=3)) as publisher:
        for i in range(5):
            publisher.publish(bytes([i]))
        with ferry.Subscriber.open(name, history=3) as late:
            assert [late.try_recv() for _ in range(3)] == [b"\x02", b"\x03", b"\x04"]
            with pytest.raises(ferry.Empty):
                late.try_recv()


def test_iteration_ends_when_every_publisher_has_gone(name: str) -> None:
    publisher = ferry.Publisher.create(name, ferry.Config(slot_size=8, capacity=16))
    subscriber = publisher.subscribe()
    second = ferry.Publisher.open(name)
    publisher.publish(b"one")
    second.publish(b"two")
    publisher.close()
    second.close()
    assert list(subscriber) == [b"one", b"two"]
    with pytest.raises(ferry.Disconnected):
        subscriber.try_recv()
    subscriber.close()


def test_bad_input_raises_clear_errors(name: str) -> None:
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(policy="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(history=-1)
    with pytest.raises(ferry.InvalidConfig):
        ferry.Publisher.create(name, ferry.Config(capacity=8, history=8))
    with pytest.raises(ferry.Timeout):
        ferry.Subscriber.open(name, timeout=0.05)
    with ferry.Publisher.create(name, ferry.Config(slot_size=8)) as publisher:
        with pytest.raises(ferry.TooLarge):
            publisher.publish(bytes(9))
        with pytest.raises(ferry.InvalidConfig):
            publisher.subscribe(history=-2)
        with pytest.raises(TypeError):
            publisher.publish("text")  # type: ignore[arg-type]


def test_a_blocked_receive_lets_other_threads_run(name: str) -> None:
    with ferry.Publisher.create(name, ferry.Config(slot_size=8, capacity=4)) as publisher:
        subscriber = publisher.subscribe()
        got: list[bytes] = []
        thread = threading.Thread(target=lambda: got.append(subscriber.recv(timeout=10)))
        thread.start()
        publisher.publish(b"late")
        thread.join(timeout=10)
        assert got == [b"late"]
        subscriber.close()


def test_python_subscribers_of_a_rust_publisher_process(name: str, rust_publisher: Path) -> None:
    count = 20_000
    publisher = subprocess.Popen([rust_publisher, name, str(count), "2"], stdout=subprocess.DEVNULL)
    try:
        a = ferry.Subscriber.open(name, timeout=10)
        b = ferry.Subscriber.open(name, timeout=10)
        # Block mode: the publisher waits for the slower, so the two read in turn.
        for seen in range(count):
            expected = seen.to_bytes(8, "little") + bytes([seen & 0xFF]) * 56
            assert a.recv(timeout=10) == expected
            assert b.recv(timeout=10) == expected
        for subscriber in (a, b):
            with pytest.raises(ferry.Disconnected):
                subscriber.recv(timeout=10)
            subscriber.close()
    finally:
        assert publisher.wait(timeout=60) == 0
