"""Python receive rates through ferry, beside a plain Unix-stream socket, in one run.

    python ffi/python/bench.py [--count N] [--rounds R] [--producer PATH]

Each measurement has a separate sending process and a Python receiver that takes
64-byte messages one call at a time and reads a byte of each:

- ``socket``: a forked process writes the messages into a Unix stream socket in large
  ``sendall`` calls; the receiver calls ``sock.recv(64, MSG_WAITALL)`` per message.
- ``ferry copy``: the Rust demo producer (``examples/producer.rs``) sends into a
  channel of 64-byte slots; the receiver calls ``rx.recv()`` (a ``bytes`` per message).
- ``ferry zero-copy``: the same, with ``with rx.recv_guard() as m:`` (read in place).
- ``for m in rx`` and ``for m in rx.guards()``: the same two, one iterator call per
  message (a guard is released when the next is asked for).
- ``ferry copy, 64 KiB slots``: the copy receive of 64-byte messages from slots of
  64 KiB, beside 64-byte slots: ``recv`` copies the message, not the slot.
- not one message per call, for comparison: ``rx.recv_into(buffer)`` (a copy into one
  reused ``bytearray``, no object made per message) and ``rx.recv_many(256)`` (a list of
  up to 256 copies per call, their slots handed back together).

The clock starts at the first message (process start-up is not timed). Every
measurement runs ``--rounds`` times, round-robin, and the median is reported. Where this
process may run on two CPUs or more, the receiver is pinned to one and the sending
process to another (as ``ferry bench`` pins its processes): left to the scheduler, the
two sometimes share a CPU, which changes the figures more than the code does.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import ferry

REPO = Path(__file__).resolve().parents[2]
SIZE = 64
BATCH = 256
# The receiver's CPU and the sender's, or None (nobody pinned) on a single CPU.
CPUS = sorted(os.sched_getaffinity(0))[:2] if len(os.sched_getaffinity(0)) >= 2 else None


def pin_sender() -> None:
    """Pins the calling (sending) process to the sender's CPU."""
    if CPUS:
        os.sched_setaffinity(0, {CPUS[1]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="messages per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement (median reported)")
    parser.add_argument("--producer", type=Path, help="the built examples/producer binary (default: cargo builds it)")
    args = parser.parse_args()
    producer = args.producer or build_producer()
    if CPUS:
        os.sched_setaffinity(0, {CPUS[0]})

    measurements: dict[str, Callable[[], float]] = {
        "socket": lambda: socket_rate(args.count),
        "copy": lambda: ferry_rate(producer, args.count, SIZE, zero_copy=False),
        "zero-copy": lambda: ferry_rate(producer, args.count, SIZE, zero_copy=True),
        "iter": lambda: ferry_rate(producer, args.count, SIZE, zero_copy=False, iterate=True),
        "iter-zero-copy": lambda: ferry_rate(producer, args.count, SIZE, zero_copy=True, iterate=True),
        "copy-64k": lambda: ferry_rate(producer, args.count, 64 * 1024, zero_copy=False),
        "into": lambda: ferry_rate(producer, args.count, SIZE, zero_copy=False, into=True),
        "many": lambda: ferry_rate(producer, args.count, SIZE, zero_copy=False, batch=BATCH),
    }
    rates: dict[str, list[float]] = {key: [] for key in measurements}
    started = time.monotonic()
    for _ in range(args.rounds):
        for key, measure in measurements.items():
            rates[key].append(measure())
    median = {key: statistics.median(values) for key, values in rates.items()}

    print(
        f"ferry Python bench: {args.count} messages of {SIZE} B per measurement, median of {args.rounds} rounds, "
        f"{os.cpu_count()} cpus, "
        + (f"receiver on cpu {CPUS[0]}, sender on cpu {CPUS[1]}" if CPUS else "not pinned")
        + f" ({time.monotonic() - started:.1f} s)"
    )
    print(f"{'receive, one message per call':48} {'msg/s':>12} {'ns/msg':>8}   ratio")
    row("Unix stream socket, sock.recv(64)", median["socket"], "")
    row("ferry rx.recv() (copy), 64 B slots", median["copy"], f"{median['copy'] / median['socket']:.1f} x socket")
    row(
        "ferry rx.recv_guard() (zero-copy), 64 B slots",
        median["zero-copy"],
        f"{median['zero-copy'] / median['socket']:.1f} x socket, {median['zero-copy'] / median['copy']:.2f} x copy",
    )
    row("ferry for m in rx (copy), 64 B slots", median["iter"], f"{median['iter'] / median['socket']:.1f} x socket")
    row(
        "ferry for m in rx.guards() (zero-copy)",
        median["iter-zero-copy"],
        f"{median['iter-zero-copy'] / median['socket']:.1f} x socket, {median['iter-zero-copy'] / median['iter']:.2f} x copy",
    )
    row(
        "ferry rx.recv() (copy), 64 KiB slots",
        median["copy-64k"],
        f"{median['copy-64k'] / median['copy']:.2f} x 64 B slots",
    )
    print("not one message per call")
    row(
        "ferry rx.recv_into(buffer) (copy), 64 B slots",
        median["into"],
        f"{median['into'] / median['socket']:.1f} x socket, {median['into'] / median['copy']:.2f} x recv()",
    )
    row(
        f"ferry rx.recv_many({BATCH}) (copies), 64 B slots",
        median["many"],
        f"{median['many'] / median['socket']:.1f} x socket, {median['many'] / median['copy']:.2f} x recv()",
    )


def row(label: str, rate: float, ratio: str) -> None:
    print(f"{label:48} {rate:12,.0f} {1e9 / rate:8.0f}   {ratio}")


def build_producer() -> Path:
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "producer"], cwd=REPO, check=True)
    return REPO / "target" / "release" / "examples" / "producer"


def ferry_rate(
    producer: Path,
    count: int,
    slot_size: int,
    zero_copy: bool,
    iterate: bool = False,
    into: bool = False,
    batch: int = 0,
) -> float:
    """Messages per second a Python receiver takes from the Rust producer."""
    name = f"pybench-{os.getpid()}-{time.monotonic_ns()}"
    config = ferry.Config(slot_size=slot_size, capacity=256)
    with ferry.Receiver.create(name, config) as rx:
        sender = subprocess.Popen([str(producer), name, str(count)], stdout=subprocess.DEVNULL, preexec_fn=pin_sender)
        checksum = rx.recv(timeout=30)[0]
        start = time.perf_counter()
        if batch:
            taken = 0
            while taken < count - 1:
                messages = rx.recv_many(min(batch, count - 1 - taken))
                for copied in messages:
                    checksum += copied[0]
                taken += len(messages)
        elif into:
            buffer = bytearray(slot_size)
            for _ in range(count - 1):
                rx.recv_into(buffer)
                checksum += buffer[0]
        elif iterate and zero_copy:
            message = None
            for message in itertools.islice(rx.guards(), count - 1):
                checksum += message[0]
            assert message is not None
            message.release()
        elif iterate:
            for copied in itertools.islice(rx, count - 1):
                checksum += copied[0]
        elif zero_copy:
            for _ in range(count - 1):
                with rx.recv_guard() as message:
                    checksum += message[0]
        else:
            for _ in range(count - 1):
                checksum += rx.recv()[0]
        elapsed = time.perf_counter() - start
        for _ in rx:  # the producer's latency probes, untimed
            pass
        sender.wait()
    return (count - 1) / elapsed


def socket_rate(count: int) -> float:
    """Messages per second a Python receiver takes from a Unix stream socket."""
    receiver, sending = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # the sending process
        pin_sender()
        receiver.close()
        batch = b"".join(i.to_bytes(8, "little") * (SIZE // 8) for i in range(1024))
        sent = 0
        while sent < count:
            n = min(1024, count - sent)
            sending.sendall(batch[: n * SIZE])
            sent += n
        sending.close()
        os._exit(0)
    sending.close()
    checksum = receiver.recv(SIZE, socket.MSG_WAITALL)[0]
    start = time.perf_counter()
    for _ in range(count - 1):
        checksum += receiver.recv(SIZE, socket.MSG_WAITALL)[0]
    elapsed = time.perf_counter() - start
    receiver.close()
    os.waitpid(pid, 0)
    return (count - 1) / elapsed


if __name__ == "__main__":
    main()
