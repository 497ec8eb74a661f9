"""What the tests share: unique channel names, and the Rust and C producers built once.

The cross-process tests run the repository's own producers: the Rust demo producer
(``examples/producer.rs``, built with cargo) and the C example producer
(``ffi/examples/producer.c``, compiled here against ``libferry`` built with cargo). A
missing toolchain fails the tests instead of skipping them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
RELEASE = TARGET / "release"

_names = itertools.count()


@pytest.fixture
def name() -> str:
    """A channel name no other test (or test run) uses."""
    return f"pytest-{os.getpid()}-{next(_names)}"


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[str]:
    """A path for a ``unix:`` endpoint."""
    yield str(tmp_path / "channel.sock")


def _cargo(*args: str) -> None:
    cargo = shutil.which("cargo")
    assert cargo is not None, "cargo is needed to build the producers the tests run"
    subprocess.run([cargo, *args], cwd=REPO, check=True)


@pytest.fixture(scope="session")
def rust_producer() -> Path:
    """``examples/producer.rs``: ``producer NAME COUNT`` sends COUNT 64-byte checksummed
    messages, then 10,000 latency probes, one at a time."""
    _cargo("build", "--release", "--quiet", "--example", "producer")
    path = RELEASE / "examples" / "producer"
    assert path.exists(), path
    return path


@pytest.fixture(scope="session")
def rust_publisher() -> Path:
    """``examples/publisher.rs``: ``publisher NAME COUNT SUBSCRIBERS`` creates a block-mode
    broadcast channel, waits for SUBSCRIBERS to join, then publishes COUNT 64-byte
    messages (a little-endian sequence number, then 56 copies of its low byte)."""
    _cargo("build", "--release", "--quiet", "--example", "publisher")
    path = RELEASE / "examples" / "publisher"
    assert path.exists(), path
    return path


@pytest.fixture(scope="session")
def c_producer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ffi/examples/producer.c``: ``producer ENDPOINT COUNT`` sends COUNT messages of
    64 bytes (a sequence number, then "message N from C"), built against libferry."""
    _cargo("build", "--release", "--quiet", "-p", "ferry-ffi")
    cc = shutil.which("cc")
    assert cc is not None, "a C compiler is needed to build the C producer"
    out = tmp_path_factory.mktemp("c") / "producer"
    subprocess.run(
        [
            cc,
            "-O2",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-I",
            str(REPO / "ffi" / "include"),
            str(REPO / "ffi" / "examples" / "producer.c"),
            "-L",
            str(RELEASE),
            "-lferry",
            f"-Wl,-rpath,{RELEASE}",
            "-o",
            str(out),
        ],
        check=True,
    )
    return out
