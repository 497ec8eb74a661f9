"""The pollable fds (``fileno()``): a receiver and a sender waited on with ``selectors``."""

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
