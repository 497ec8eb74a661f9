#!/usr/bin/env python3
"""Send and receive ferry messages from Python, through the C ABI with ctypes alone.

No build step: this file loads libferry.so and declares the functions of
ffi/include/ferry.h it uses. It talks to any ferry process (Rust, C, Python) over any
transport the endpoint names (NAME, shm:NAME, unix:PATH, fifo:PATH, auto:NAME).

    ferry_client.py send ENDPOINT MESSAGE...   open ENDPOINT, send each MESSAGE (UTF-8)
    ferry_client.py recv ENDPOINT [COUNT]      create ENDPOINT, print each message as it
                                               comes (COUNT of them, or until the
                                               senders have gone)

    ferry_client.py send-pattern ENDPOINT COUNT SLOT_SIZE
    ferry_client.py recv-pattern ENDPOINT COUNT SLOT_SIZE
        the test messages of ffi/tests/c/pattern.h, used by ffi/tests/c_abi.rs

The library is $FERRY_LIB if set, else target/release/libferry.so or
target/debug/libferry.so of this checkout, else libferry.so on the loader's path.

As a module:

    from ferry_client import Receiver, Sender
    with Receiver.create("unix:/tmp/demo.sock", slot_size=256) as rx:
        ...                       # another process: Sender.open("unix:/tmp/demo.sock")
        print(rx.recv(timeout=1.0))
"""

import ctypes
import os
import sys
from contextlib import contextmanager
from ctypes import POINTER, byref, c_char_p, c_int32, c_size_t, c_uint32, c_uint64, c_void_p

# Status codes from ferry.h (stable: a number never changes meaning).
FERRY_OK = 0
FERRY_ERR_IO = -34
FERRY_ERR_FULL = -10
FERRY_ERR_EMPTY = -11
FERRY_ERR_TIMEOUT = -12
FERRY_ERR_DISCONNECTED = -13
FERRY_ERR_NOT_FOUND = -25
FERRY_KIND_SPSC = 1
FERRY_KIND_MPMC = 2
FERRY_SIGNALING_FUTEX = 1
FERRY_SIGNALING_SEMAPHORE = 2


class Config(ctypes.Structure):
    """struct ferry_config."""

    _fields_ = [
        ("size", c_size_t),
        ("kind", c_uint32),
        ("signaling", c_uint32),
        ("slot_size", c_size_t),
        ("capacity", c_size_t),
        ("mode", c_uint32),
    ]


def _find_library():
    if os.environ.get("FERRY_LIB"):
        return os.environ["FERRY_LIB"]
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    for profile in ("release", "debug"):
        path = os.path.join(root, "target", profile, "libferry.so")
        if os.path.exists(path):
            return path
    return "libferry.so"


def _load(path):
    lib = ctypes.CDLL(path)
    status = c_int32
    handle = c_void_p
    signatures = {
        "ferry_strerror": (c_char_p, [c_int32]),
        "ferry_last_error_message": (c_char_p, []),
        "ferry_version": (c_char_p, []),
        "ferry_layout_version": (c_uint32, []),
        "ferry_config_init": (status, [POINTER(Config)]),
        "ferry_sender_create": (status, [c_char_p, POINTER(Config), POINTER(handle)]),
        "ferry_sender_open": (status, [c_char_p, POINTER(handle)]),
        "ferry_sender_open_timeout": (status, [c_char_p, c_uint64, POINTER(handle)]),
        "ferry_sender_free": (None, [handle]),
        "ferry_sender_slot_size": (status, [handle, POINTER(c_size_t)]),
        "ferry_send": (status, [handle, c_void_p, c_size_t]),
        "ferry_try_send": (status, [handle, c_void_p, c_size_t]),
        "ferry_send_timeout": (status, [handle, c_void_p, c_size_t, c_uint64]),
        "ferry_loan": (status, [handle, POINTER(c_void_p), POINTER(c_size_t)]),
        "ferry_commit": (status, [handle, c_size_t]),
        "ferry_loan_cancel": (status, [handle]),
        "ferry_receiver_create": (status, [c_char_p, POINTER(Config), POINTER(handle)]),
        "ferry_receiver_open": (status, [c_char_p, POINTER(handle)]),
        "ferry_receiver_free": (None, [handle]),
        "ferry_receiver_slot_size": (status, [handle, POINTER(c_size_t)]),
        "ferry_recv": (status, [handle, c_void_p, c_size_t, POINTER(c_size_t)]),
        "ferry_try_recv": (status, [handle, c_void_p, c_size_t, POINTER(c_size_t)]),
        "ferry_recv_timeout": (status, [handle, c_void_p, c_size_t, POINTER(c_size_t), c_uint64]),
        "ferry_recv_acquire": (status, [handle, POINTER(c_void_p), POINTER(c_size_t)]),
        "ferry_recv_acquire_timeout": (status, [handle, POINTER(c_void_p), POINTER(c_size_t), c_uint64]),
        "ferry_recv_release": (status, [handle]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


_lib = _load(_find_library())


class FerryError(Exception):
    """A ferry call returned an error status."""

    def __init__(self, call, code):
        self.call = call
        self.code = code
        self.detail = _lib.ferry_last_error_message().decode(errors="replace")
        summary = _lib.ferry_strerror(code).decode()
        super().__init__(f"{call}: {summary} ({code}): {self.detail}")


def _check(call, code):
    if code != FERRY_OK:
        raise FerryError(call, code)


def _nanos(seconds):
    return max(0, int(seconds * 1e9))


def config(slot_size=1024, capacity=256, kind=FERRY_KIND_SPSC, signaling=FERRY_SIGNALING_FUTEX, mode=0o600):
    """A ferry_config with the given shape (the rest at ferry's defaults)."""
    cfg = Config()
    _check("ferry_config_init", _lib.ferry_config_init(byref(cfg)))
    cfg.slot_size, cfg.capacity, cfg.kind, cfg.signaling, cfg.mode = slot_size, capacity, kind, signaling, mode
    return cfg


class Sender:
    """The sending end of a channel. Use it from one thread at a time."""

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def create(cls, endpoint, **shape):
        """Creates the shared-memory channel ENDPOINT (see config() for the shape)."""
        handle = c_void_p()
        cfg = config(**shape)
        _check("ferry_sender_create", _lib.ferry_sender_create(endpoint.encode(), byref(cfg), byref(handle)))
        return cls(handle)

    @classmethod
    def open(cls, endpoint, wait=0.0):
        """Opens the existing channel ENDPOINT, waiting up to WAIT seconds for it to appear
        (ferry_sender_open_timeout retries while it is not there, then fails with
        FERRY_ERR_TIMEOUT naming the endpoint)."""
        handle = c_void_p()
        if wait > 0:
            timeout_ns = int(wait * 1e9)
            code = _lib.ferry_sender_open_timeout(endpoint.encode(), timeout_ns, byref(handle))
            _check("ferry_sender_open_timeout", code)
        else:
            _check("ferry_sender_open", _lib.ferry_sender_open(endpoint.encode(), byref(handle)))
        return cls(handle)

    @property
    def slot_size(self):
        """The largest message, in bytes."""
        n = c_size_t()
        _check("ferry_sender_slot_size", _lib.ferry_sender_slot_size(self._handle, byref(n)))
        return n.value

    def send(self, message, timeout=None):
        """Copies MESSAGE (bytes-like) into the channel, waiting for room (at most TIMEOUT s)."""
        data = bytes(message)
        if timeout is None:
            _check("ferry_send", _lib.ferry_send(self._handle, data, len(data)))
        else:
            _check("ferry_send_timeout", _lib.ferry_send_timeout(self._handle, data, len(data), _nanos(timeout)))

    def try_send(self, message):
        """Sends MESSAGE if there is room now; returns False if the channel is full."""
        data = bytes(message)
        code = _lib.ferry_try_send(self._handle, data, len(data))
        if code == FERRY_ERR_FULL:
            return False
        _check("ferry_try_send", code)
        return True

    @contextmanager
    def loan(self):
        """Zero-copy: borrows a free slot and yields a Loan; write into loan.buf (a
        writable memoryview of the slot) and call loan.commit(n) to send its first n
        bytes. Leaving the block without committing sends nothing."""
        ptr, capacity = c_void_p(), c_size_t()
        _check("ferry_loan", _lib.ferry_loan(self._handle, byref(ptr), byref(capacity)))
        loan = Loan(self._handle, ptr.value, capacity.value)
        try:
            yield loan
        finally:
            loan.finish()

    def close(self):
        """Detaches and frees the handle (idempotent)."""
        if self._handle:
            _lib.ferry_sender_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Loan:
    """A slot borrowed by Sender.loan(): write into .buf, then .commit(n)."""

    def __init__(self, handle, address, capacity):
        self._handle = handle
        self._array = (ctypes.c_char * capacity).from_address(address)
        self.buf = memoryview(self._array).cast("B")
        self._done = False

    def commit(self, length):
        """Sends the first LENGTH bytes of the slot; the slot may not be touched after."""
        if self._done:
            raise RuntimeError("this loan was committed already")
        _check("ferry_commit", _lib.ferry_commit(self._handle, length))
        self._done = True
        self.buf.release()

    def finish(self):
        if not self._done:
            self._done = True
            self.buf.release()
            _check("ferry_loan_cancel", _lib.ferry_loan_cancel(self._handle))


class Receiver:
    """The receiving end of a channel. Use it from one thread at a time."""

    def __init__(self, handle):
        self._handle = handle
        n = c_size_t()
        _check("ferry_receiver_slot_size", _lib.ferry_receiver_slot_size(handle, byref(n)))
        self.slot_size = n.value
        self._buf = ctypes.create_string_buffer(max(1, self.slot_size))

    @classmethod
    def create(cls, endpoint, **shape):
        """Creates the channel ENDPOINT, of any transport (see config() for the shape)."""
        handle = c_void_p()
        cfg = config(**shape)
        _check("ferry_receiver_create", _lib.ferry_receiver_create(endpoint.encode(), byref(cfg), byref(handle)))
        return cls(handle)

    @classmethod
    def open(cls, endpoint):
        """Opens the existing shared-memory channel ENDPOINT."""
        handle = c_void_p()
        _check("ferry_receiver_open", _lib.ferry_receiver_open(endpoint.encode(), byref(handle)))
        return cls(handle)

    def recv(self, timeout=None):
        """Returns the next message as bytes, waiting for it (at most TIMEOUT s). Raises
        FerryError with code FERRY_ERR_DISCONNECTED once the senders have gone."""
        n = c_size_t()
        if timeout is None:
            code = _lib.ferry_recv(self._handle, self._buf, self.slot_size, byref(n))
            _check("ferry_recv", code)
        else:
            code = _lib.ferry_recv_timeout(self._handle, self._buf, self.slot_size, byref(n), _nanos(timeout))
            _check("ferry_recv_timeout", code)
        return self._buf.raw[: n.value]

    def try_recv(self):
        """Returns the next message, or None if the channel is empty."""
        n = c_size_t()
        code = _lib.ferry_try_recv(self._handle, self._buf, self.slot_size, byref(n))
        if code == FERRY_ERR_EMPTY:
            return None
        _check("ferry_try_recv", code)
        return self._buf.raw[: n.value]

    @contextmanager
    def acquire(self, timeout=None):
        """Zero-copy: yields a read-only memoryview of the next message, in place; the slot
        goes back to the senders when the block ends. Do not keep the view."""
        ptr, n = c_void_p(), c_size_t()
        if timeout is None:
            _check("ferry_recv_acquire", _lib.ferry_recv_acquire(self._handle, byref(ptr), byref(n)))
        else:
            code = _lib.ferry_recv_acquire_timeout(self._handle, byref(ptr), byref(n), _nanos(timeout))
            _check("ferry_recv_acquire_timeout", code)
        if n.value == 0:
            view = memoryview(b"")
        else:
            view = memoryview((ctypes.c_char * n.value).from_address(ptr.value)).cast("B").toreadonly()
        try:
            yield view
        finally:
            view.release()
            _check("ferry_recv_release", _lib.ferry_recv_release(self._handle))

    def close(self):
        """Detaches and frees the handle (idempotent); the creator's also removes the name."""
        if self._handle:
            _lib.ferry_receiver_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


# The test messages of ffi/tests/c/pattern.h.
def pattern(i, slot_size):
    if i == 0:
        length = 0
    elif i == 1:
        length = slot_size
    else:
        length = 1 + (i * 7919) % slot_size
    return bytes((i * 31 + j * 7 + 3) & 0xFF for j in range(length))


def send_pattern(endpoint, count, slot_size):
    """Sends messages 0..COUNT, even ones copied, odd ones through a loan."""
    with Sender.open(endpoint, wait=10.0) as tx:
        if tx.slot_size != slot_size:
            raise SystemExit(f"ferry_client: slot size {tx.slot_size}, expected {slot_size}")
        for i in range(count):
            message = pattern(i, slot_size)
            if i % 2 == 0:
                tx.send(message)
            else:
                with tx.loan() as loan:
                    loan.buf[: len(message)] = message
                    loan.commit(len(message))
    print(f"sent {count} messages")


def recv_pattern(endpoint, count, slot_size):
    """Creates ENDPOINT, receives and checks messages 0..COUNT, then expects the sender gone."""
    with Receiver.create(endpoint, slot_size=slot_size, capacity=64) as rx:
        print("ready", flush=True)
        for i in range(count):
            if i % 2 == 0:
                got = rx.recv(timeout=10.0)
            else:
                with rx.acquire(timeout=10.0) as view:
                    got = bytes(view)
            if got != pattern(i, slot_size):
                raise SystemExit(f"ferry_client: message {i} is wrong ({len(got)} bytes)")
        try:
            rx.recv(timeout=10.0)
            raise SystemExit("ferry_client: a message after the last one")
        except FerryError as e:
            if e.code != FERRY_ERR_DISCONNECTED:
                raise
    print(f"received {count} messages, every byte checked")


def main(argv):
    if len(argv) >= 3 and argv[1] == "send":
        with Sender.open(argv[2], wait=5.0) as tx:
            for text in argv[3:]:
                tx.send(text.encode())
        return 0
    if len(argv) in (3, 4) and argv[1] == "recv":
        limit = int(argv[3]) if len(argv) == 4 else None
        with Receiver.create(argv[2], slot_size=4096) as rx:
            received = 0
            while limit is None or received < limit:
                try:
                    message = rx.recv()
                except FerryError as e:
                    if e.code == FERRY_ERR_DISCONNECTED:
                        break
                    raise
                print(message.decode(errors="replace"), flush=True)
                received += 1
        return 0
    if len(argv) == 5 and argv[1] in ("send-pattern", "recv-pattern"):
        run = send_pattern if argv[1] == "send-pattern" else recv_pattern
        run(argv[2], int(argv[3]), int(argv[4]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
