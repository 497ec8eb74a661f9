"""A gone peer: the receiver drains what was sent and then hears Disconnected (and
iteration ends); a sender hears it from a blocking send; a SIGKILLed peer too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import ferry


def test_receiver_drains_then_disconnects(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=8)) as rx:
        with ferry.Sender.open(name) as tx:
            for i in range(3):
                tx.send(bytes([i]))
        assert list(rx) == [b"\x00", b"\x01", b"\x02"]
        with pytest.raises(ferry.Disconnected):
            rx.recv()
        with pytest.raises(ferry.Disconnected):
            rx.recv(timeout=0)


def test_blocking_send_hears_the_receiver_go(name: str) -> None:
    rx = ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=2))
    with ferry.Sender.open(name) as tx:
        tx.send(b"1")
        tx.send(b"2")
        rx.close()
        with pytest.raises(ferry.Disconnected):
            tx.send(b"3", timeout=5)


def test_a_killed_sender_process_is_noticed(name: str) -> None:
    child = textwrap.dedent(
        f"""
        import time, ferry
        tx = ferry.Sender.open({name!r}, timeout=10)
        tx.send(b"before")
        print("sent", flush=True)
        time.sleep(60)
        """
    )
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=8)) as rx:
        with subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True) as process:
            assert_noticed(rx, process)


def assert_noticed(rx: ferry.Receiver, process: subprocess.Popen[str]) -> None:
    """Kills the sending child once it has sent, and times how soon `rx` notices."""
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "sent"
    assert rx.recv(timeout=5) == b"before"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    start = time.monotonic()
    with pytest.raises(ferry.Disconnected):
        rx.recv(timeout=10)
    assert time.monotonic() - start < 2


def test_closed_handles_refuse_calls(name: str) -> None:
    rx = ferry.Receiver.create(name)
    tx = ferry.Sender.open(name)
    tx.close()
    tx.close()  # twice is fine
    assert tx.closed
    with pytest.raises(ferry.Closed):
        tx.send(b"x")
    rx.close()
    with pytest.raises(ferry.Closed):
        rx.recv()
    with pytest.raises(ferry.NotFound):
        ferry.Sender.open(name)  # the creator's close removed the name


def test_a_forked_child_closing_its_copies_leaves_the_parents_ends(name: str) -> None:
    # As a child of os.fork (or multiprocessing's "fork") that closes what it inherited:
    # its copies give up nothing of the parent's channel.
    with ferry.Receiver.create(name, ferry.Config(slot_size=16, capacity=4)) as rx:
        with ferry.Sender.open(name) as tx:
            pid = os.fork()
            if pid == 0:
                tx.close()
                rx.close()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            assert not rx.is_disconnected() and not tx.is_disconnected()
            tx.send(b"after the child")
            assert rx.recv(timeout=5) == b"after the child"
