"""Bad names, endpoints, configurations, types and sizes are exceptions that say what is
wrong, never a crash."""

from __future__ import annotations

import pytest

import ferry


@pytest.mark.parametrize("bad", ["", ".hidden", "a/b", "x" * 300, "spaces here", "nul\0"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(ferry.InvalidName) as caught:
        ferry.Receiver.create(bad)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("bad", ["tcp:host:1", "unix:", "shm:"])
def test_bad_endpoints(bad: str) -> None:
    with pytest.raises((ferry.InvalidEndpoint, ferry.InvalidName)):
        ferry.Receiver.create(bad)


def test_bad_configs(name: str) -> None:
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(kind="broadcast")  # type: ignore[arg-type]
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(signaling="spin")  # type: ignore[arg-type]
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(slot_size=-1)
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(mode=0o7777)
    with pytest.raises(ferry.InvalidConfig):
        ferry.Receiver.create(name, ferry.Config(capacity=0))  # no room at all
    with pytest.raises(TypeError):
        ferry.Config(16)  # type: ignore[call-arg]
    assert ferry.Config(slot_size=64) == ferry.Config(slot_size=64)
    assert "slot_size=64" in repr(ferry.Config(slot_size=64))


def test_wrong_types(name: str) -> None:
    with pytest.raises(TypeError):
        ferry.Receiver.create(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ferry.Receiver.create(name, {"slot_size": 64})  # type: ignore[arg-type]
    tx, rx = ferry.in_memory()
    with pytest.raises(TypeError):
        tx.send("text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tx.send(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rx.recv(timeout="soon")  # type: ignore[arg-type]
    tx.send(bytearray(b"bytearray"))
    tx.send(memoryview(b"memoryview"))
    assert rx.recv() == b"bytearray"
    assert rx.recv() == b"memoryview"


def test_oversized_messages(name: str) -> None:
    with ferry.Receiver.create(name, ferry.Config(slot_size=64, capacity=4)) as rx, ferry.Sender.open(name) as tx:
        with pytest.raises(ferry.TooLarge) as caught:
            tx.send(b"x" * 65)
        assert (caught.value.length, caught.value.max) == (65, 64)
        with pytest.raises(ferry.TooLarge):
            tx.try_send(bytes(1 << 20))
        tx.send(b"x" * 64)
        assert rx.recv() == b"x" * 64


def test_existing_and_missing_channels(name: str) -> None:
    with ferry.Receiver.create(name):
        with pytest.raises(ferry.AlreadyExists, match=rf'ferry\.unlink\("{name}"\)') as caught:
            ferry.Receiver.create(name)
        assert "::" not in str(caught.value)  # a Python remedy, not a Rust one
        assert isinstance(caught.value, FileExistsError)
        with pytest.raises(ferry.RoleTaken):
            ferry.Receiver.open(name)
        with pytest.raises(ferry.Incompatible):
            ferry.Sender.open(name, ferry.Config(slot_size=8))
    with pytest.raises(ferry.NotFound) as missing:
        ferry.Sender.open(name)
    assert isinstance(missing.value, FileNotFoundError)
    with pytest.raises(ferry.NotFound):
        ferry.unlink(name)
