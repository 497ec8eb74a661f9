"""MPMC work queues, the other transports, and in-process channels, through the same API."""

from __future__ import annotations

import threading

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
