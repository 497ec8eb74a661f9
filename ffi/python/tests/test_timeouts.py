"""try_ never waits; timeout= waits that long and says so; open(timeout=) waits for the
creator; a blocking call releases the GIL and yields to Ctrl-C."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

import ferry


def test_try_and_timeout_forms(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=2)) as rx, ferry.Sender.open(name) as tx:
        with pytest.raises(ferry.Empty):
            rx.try_recv()
        start = time.monotonic()
        with pytest.raises(ferry.Timeout) as caught:
            rx.recv(timeout=0.2)
        assert 0.19 <= time.monotonic() - start < 2.0
        assert isinstance(caught.value, TimeoutError)
        with pytest.raises(ferry.Timeout):
            rx.recv_guard(timeout=0.01)
        with pytest.raises(ferry.Timeout):
            rx.recv_into(bytearray(16), timeout=0)
        tx.send(b"a")
        tx.send(b"b")
        with pytest.raises(ferry.Full):
            tx.try_send(b"c")
        with pytest.raises(ferry.Full):
            tx.try_loan()
        start = time.monotonic()
        with pytest.raises(ferry.Timeout):
            tx.send(b"c", timeout=0.2)
        assert 0.19 <= time.monotonic() - start < 2.0
        with pytest.raises(ferry.Timeout):
            tx.loan(timeout=0.01)
        assert rx.recv(timeout=1) == b"a"  # nothing was lost by the timeouts
        assert rx.try_recv() == b"b"
        with pytest.raises(ValueError):
            rx.recv(timeout=-1)
        with pytest.raises(ValueError):
            tx.send(b"x", timeout=float("nan"))


def test_a_blocked_receive_wakes_for_a_message_from_another_thread(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=2)) as rx, ferry.Sender.open(name) as tx:
        # The sending thread runs while the receiver waits: the wait released the GIL.
        sender = threading.Timer(0.1, lambda: tx.send(b"late"))
        sender.start()
        assert rx.recv(timeout=10) == b"late"
        sender.join()


def test_open_waits_for_the_channel_to_be_created(name: str) -> None:
    created: list[ferry.Receiver] = []
    creator = threading.Timer(0.2, lambda: created.append(ferry.Receiver.create(name)))
    creator.start()
    start = time.monotonic()
    with ferry.Sender.open(name, timeout=10) as tx:
        assert time.monotonic() - start >= 0.15
        tx.send(b"hi")
    creator.join()
    with created[0] as rx:
        assert rx.recv(timeout=1) == b"hi"


def test_open_timeout_names_the_endpoint(name: str) -> None:
    start = time.monotonic()
    with pytest.raises(ferry.Timeout, match=name):
        ferry.Sender.open(name, timeout=0.1)
    assert time.monotonic() - start >= 0.09
    with pytest.raises(ferry.NotFound):
        ferry.Sender.open(name)  # no timeout: one attempt


def test_ctrl_c_interrupts_a_blocking_receive(name: str) -> None:
    with ferry.Receiver.create(name) as rx:
        interrupter = threading.Timer(0.2, _thread.interrupt_main)
        interrupter.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            rx.recv()  # no timeout: only the interrupt ends it
        assert time.monotonic() - start < 5
        interrupter.join()
        # The receiver still works after the interrupted wait.
        with pytest.raises(ferry.Empty):
            rx.try_recv()


def test_a_handle_serves_one_thread_at_a_time(name: str) -> None:
    with ferry.Receiver.create(name) as rx, ferry.Sender.open(name) as tx:
        outcome: list[BaseException] = []

        def wait() -> None:
            try:
                rx.recv(timeout=0.5)
            except ferry.Timeout as e:
                outcome.append(e)

        waiting = threading.Thread(target=wait, daemon=True)
        waiting.start()
        time.sleep(0.1)
        with pytest.raises(ferry.Busy, match="another thread"):
            rx.try_recv()
        waiting.join()
        assert len(outcome) == 1
        tx.send(b"after")
        assert rx.recv() == b"after"
