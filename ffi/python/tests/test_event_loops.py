"""The pollable fds (``fileno()``): receivers, senders, subscribers and publishers waited on
with ``selectors``."""

from __future__ import annotations

import selectors
import threading
import time

import pytest

import ferry


def test_selectors_wakes_for_a_message_from_another_thread(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        # Drain once before the first wait: this arms the fd.
        with pytest.raises(ferry.Empty):
            rx.try_recv()
        fd = rx.fileno()
        assert fd == rx.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            assert selector.select(timeout=0.05) == []

            def later() -> None:
                time.sleep(0.05)
                tx.send(b"wake up")

            thread = threading.Thread(target=later)
            thread.start()
            assert len(selector.select(timeout=30)) == 1
            thread.join()
            assert rx.try_recv() == b"wake up"


def test_a_full_senders_fd_turns_readable_when_room_is_made(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=1)) as rx, ferry.Sender.open(name) as tx:
        tx.send(b"fills it")
        with pytest.raises(ferry.Full):
            tx.try_send(b"no room")
        with selectors.DefaultSelector() as selector:
            selector.register(tx.fileno(), selectors.EVENT_READ)
            with pytest.raises(ferry.Full):
                tx.try_send(b"still no room")  # re-arms the fd
            assert selector.select(timeout=0.05) == []
            assert rx.recv(timeout=5) == b"fills it"
            assert len(selector.select(timeout=30)) == 1
            tx.try_send(b"room again")
        assert rx.recv(timeout=5) == b"room again"


def test_every_subscribers_fd_wakes_for_a_publication(name: str) -> None:
    config = ferry.Config(slot_size=16, capacity=4)
    with ferry.Publisher.create(name, config) as publisher:
        subscribers = [ferry.Subscriber.open(name) for _ in range(3)]
        with selectors.DefaultSelector() as selector:
            for i, subscriber in enumerate(subscribers):
                # Drain once before the first wait: this arms the fd.
                with pytest.raises(ferry.Empty):
                    subscriber.try_recv()
                assert subscriber.fileno() == subscriber.fileno()
                selector.register(subscriber.fileno(), selectors.EVENT_READ, i)
            assert selector.select(timeout=0.05) == []

            def later() -> None:
                time.sleep(0.05)
                publisher.publish(b"to all")

            thread = threading.Thread(target=later)
            thread.start()
            woken: set[int] = set()
            deadline = time.monotonic() + 30
            while len(woken) < 3 and time.monotonic() < deadline:
                woken.update(key.data for key, _ in selector.select(timeout=1))
            thread.join()
            assert woken == {0, 1, 2}
            for subscriber in subscribers:
                assert subscriber.try_recv() == b"to all"
                with pytest.raises(ferry.Empty):
                    subscriber.try_recv()
            assert selector.select(timeout=0.05) == []
        for subscriber in subscribers:
            subscriber.close()


def test_a_full_publishers_fd_turns_readable_when_room_is_made(name: str) -> None:
    with ferry.Publisher.create(name, ferry.Config(slot_size=16, capacity=2)) as publisher:
        subscriber = publisher.subscribe()
        publisher.publish(b"one")
        publisher.publish(b"two")
        with selectors.DefaultSelector() as selector:
            selector.register(publisher.fileno(), selectors.EVENT_READ)
            with pytest.raises(ferry.Full):
                publisher.try_publish(b"no room")  # arms the fd
            assert selector.select(timeout=0.05) == []
            assert subscriber.recv(timeout=5) == b"one"
            assert len(selector.select(timeout=30)) == 1
            publisher.try_publish(b"room again")
        subscriber.close()
