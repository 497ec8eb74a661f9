"""MPMC work queues, the other transports, and in-process channels, through the same API."""

from __future__ import annotations

import threading

import pytest

import ferry


def test_mpmc_each_message_goes_to_one_receiver(name: str) -> None:
    config = ferry.Config(kind="mpmc", slot_size=16, capacity=64)
    assert config.kind == "mpmc"
    with ferry.Sender.create(name, config) as jobs, ferry.Receiver.open(name, config) as a:
        b = a.try_clone()
        more = jobs.try_clone()
        for i in range(20):
            (jobs if i % 2 else more).send(i.to_bytes(2, "little"))
        got_a = [a.recv(timeout=1) for _ in range(10)]
        got_b = [b.recv(timeout=1) for _ in range(10)]
        assert sorted(got_a + got_b) == sorted(i.to_bytes(2, "little") for i in range(20))
        b.close()
        more.close()


def test_unix_socket_endpoint(socket_path: str) -> None:
    endpoint = f"unix:{socket_path}"
    with ferry.Receiver.create(endpoint, ferry.Config(slot_size=256)) as rx:
        assert rx.capacity == 0
        with ferry.Sender.open(endpoint) as tx:
            tx.send(b"over a socket")
            with tx.loan() as slot:
                slot[:2] = b"hi"
                slot.commit(2)
        assert rx.recv(timeout=5) == b"over a socket"
        with rx.recv_guard(timeout=5) as message:
            assert bytes(message) == b"hi"
        assert list(rx) == []


def test_threads_through_an_in_memory_channel() -> None:
    tx, rx = ferry.in_memory(ferry.Config(slot_size=8, capacity=16))

    def produce() -> None:
        with tx:
            for i in range(10_000):
                tx.send(i.to_bytes(8, "little"))

    producer = threading.Thread(target=produce)
    producer.start()
    assert [int.from_bytes(m, "little") for m in rx] == list(range(10_000))
    producer.join()


def test_queue_state_without_consuming(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=8, capacity=2)) as rx:
        tx = ferry.Sender.open(name)
        assert rx.empty() and tx.empty() and not rx.full()
        tx.send(b"a")
        tx.send(b"b")
        assert (rx.qsize(), tx.qsize()) == (2, 2)
        assert rx.full() and tx.full()
        assert not rx.is_disconnected() and not tx.is_disconnected()
        assert list(rx.try_iter()) == [b"a", b"b"]
        assert list(rx.try_iter()) == []  # empty, the sender is still there
        tx.send(b"c")
        tx.close()
        assert rx.is_disconnected()
        assert rx.qsize() == 1  # still to be received
        assert list(rx.try_iter()) == [b"c"]
        with pytest.raises(ferry.Disconnected):
            rx.try_recv()


@pytest.mark.parametrize("kind", ["spsc", "mpmc"])
def test_any_capacity_holds_exactly_that_many(name: str, kind: str) -> None:
    # Not only powers of two, as queue.Queue(maxsize=3): three fit, the fourth is Full.
    config = ferry.Config(slot_size=8, capacity=3, kind=kind)  # type: ignore[arg-type]
    with ferry.Receiver.create(name, config) as rx, ferry.Sender.open(name) as tx:
        assert (config.capacity, rx.capacity, tx.capacity) == (3, 3, 3)
        for message in (b"a", b"b", b"c"):
            tx.try_send(message)
        with pytest.raises(ferry.Full):
            tx.try_send(b"d")
        assert rx.full() and rx.qsize() == 3
        assert rx.recv() == b"a"
        tx.try_send(b"d")
        with pytest.raises(ferry.Full):
            tx.try_send(b"e")
        assert list(rx.try_iter()) == [b"b", b"c", b"d"]


def test_a_sender_sees_the_receiver_go(name: str) -> None:
    rx = ferry.Receiver.create(name, ferry.Config(slot_size=8))
    with ferry.Sender.open(name) as tx:
        assert not tx.is_disconnected()
        rx.close()
        assert tx.is_disconnected()
        with pytest.raises(ferry.Disconnected):
            tx.send(b"x")
