"""Types of ``ferry._ferry``, the extension module (PyO3 bindings of ferry's Rust API)."""

from types import TracebackType
from typing import Final, Literal, overload

from typing_extensions import Buffer, Self

LAYOUT_VERSION: Final[int]
MAX_CAPACITY: Final[int]
MAX_SLOT_SIZE: Final[int]
SLOT_ALIGN: Final[int]
__version__: Final[str]

class Config:
    """The shape of a channel, chosen by its creator."""

    def __new__(
        cls,
        *,
        slot_size: int | None = None,
        capacity: int | None = None,
        kind: Literal["spsc", "mpmc"] = "spsc",
        signaling: Literal["futex", "semaphore"] = "futex",
        mode: int = 0o600,
        policy: Literal["block", "overwrite"] = "block",
        history: int = 0,
        subscribers: int | None = None,
        capacity_bytes: int | None = None,
    ) -> Config: ...
    @property
    def slot_size(self) -> int:
        """The largest message, in bytes."""
    @property
    def capacity(self) -> int:
        """How many messages the channel holds at once."""
    @property
    def kind(self) -> Literal["spsc", "mpmc"]:
        """``"spsc"`` or ``"mpmc"``."""
    @property
    def signaling(self) -> Literal["futex", "semaphore"]:
        """``"futex"`` or ``"semaphore"``."""
    @property
    def mode(self) -> int:
        """Permission bits of the shared-memory object."""

    @property
    def policy(self) -> Literal["block", "overwrite"]:
        """Broadcast: what a publisher does about a subscriber a whole ring behind."""
    @property
    def history(self) -> int:
        """Broadcast: messages kept for late subscribers."""
    @property
    def subscribers(self) -> int:
        """Broadcast: subscriber seats."""
    @property
    def capacity_bytes(self) -> int:
        """0, or the bytes of a channel sized in bytes (a queue or a broadcast channel)."""

class Sender:
    """The sending end of a channel."""

    @staticmethod
    def create(endpoint: str, config: Config | None = None) -> Sender:
        """Creates the shared-memory channel ``endpoint`` and attaches as a sender."""
    @staticmethod
    def open(endpoint: str, config: Config | None = None, *, timeout: float | None = None) -> Sender:
        """Opens the channel ``endpoint``; ``timeout`` waits for it to be created."""
    def try_clone(self) -> Sender:
        """Attaches another sender to the same channel."""
    def send(self, data: Buffer, timeout: float | None = None) -> None:
        """Copies ``data`` in, waiting while the channel is full."""
    def try_send(self, data: Buffer) -> None:
        """Copies ``data`` in if there is room now; raises ``Full`` if not."""
    def loan(self, timeout: float | None = None, *, size: int | None = None) -> Loan:
        """Lends a free slot to write into, waiting while the channel is full."""
    def try_loan(self, *, size: int | None = None) -> Loan:
        """Lends a free slot if there is one now; raises ``Full`` if not."""
    def qsize(self) -> int:
        """Messages in a shared-memory ring not yet taken (0 on sockets and pipes)."""
    def empty(self) -> bool:
        """Whether the ring holds no message."""
    def full(self) -> bool:
        """Whether the ring is full."""
    def is_disconnected(self) -> bool:
        """Whether every receiver has gone."""
    def fileno(self) -> int:
        """The pollable fd: readable when a full channel gets room; re-armed by a ``try_`` call that finds it full."""
    def in_flight(self) -> int:
        """Messages sent and not yet received."""
    @property
    def slot_size(self) -> int:
        """The largest message, in bytes."""
    @property
    def capacity(self) -> int:
        """Messages a shared-memory ring of slots holds at once; 0 on a channel sized in bytes, on sockets and pipes."""
    @property
    def capacity_bytes(self) -> int:
        """Bytes of a shared-memory channel sized in bytes; 0 on a ring of slots, on sockets and pipes."""
    @property
    def fallback_reason(self) -> str | None:
        """Why ``auto:`` fell back from shared memory, if it did."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def close(self) -> None:
        """Detaches from the channel."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool: ...

class Loan:
    """Room lent for writing by a ``Sender`` or a ``Publisher``: a writable buffer, until committed or cancelled."""

    def commit(self, length: int) -> None:
        """Sends (or publishes) the first ``length`` bytes of the loan."""
    def cancel(self) -> None:
        """Gives the room back without sending anything."""
    @property
    def done(self) -> bool:
        """Whether the loan was committed or cancelled."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool: ...
    def __len__(self) -> int: ...
    @overload
    def __setitem__(self, index: int, value: int) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Buffer) -> None: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, view: memoryview, /) -> None: ...

class Receiver:
    """The receiving end of a channel."""

    @staticmethod
    def create(endpoint: str, config: Config | None = None) -> Receiver:
        """Creates the channel ``endpoint`` and attaches as its receiver."""
    @staticmethod
    def open(endpoint: str, config: Config | None = None, *, timeout: float | None = None) -> Receiver:
        """Opens the MPMC channel ``endpoint`` as one more receiver."""
    def try_clone(self) -> Receiver:
        """Attaches another receiver to the same MPMC channel."""
    def recv(self, timeout: float | None = None) -> bytes:
        """Waits for the next message and returns a copy of it."""
    def fileno(self) -> int:
        """The pollable fd: readable when a message arrives; re-armed by a ``try_`` call that finds it empty."""
    def try_recv(self) -> bytes:
        """Returns a copy of the next message if one is waiting; raises ``Empty`` if not."""
    def recv_into(self, buffer: Buffer, timeout: float | None = None) -> int:
        """Waits for the next message, copies it into ``buffer``, returns its length."""
    def try_recv_into(self, buffer: Buffer) -> int:
        """Copies the next message into ``buffer`` if one is waiting."""
    def recv_many(self, max_messages: int, timeout: float | None = None) -> list[bytes]:
        """Waits for a message, then returns copies of every one waiting, up to ``max_messages``."""
    def try_recv_many(self, max_messages: int) -> list[bytes]:
        """Copies of the messages waiting now, up to ``max_messages``; raises ``Empty`` if none."""
    def recv_guard(self, timeout: float | None = None) -> RecvGuard:
        """Waits for the next message and returns a guard that reads it in place."""
    def try_recv_guard(self) -> RecvGuard:
        """A guard on the next message if one is waiting; raises ``Empty`` if not."""
    def qsize(self) -> int:
        """Messages waiting in a shared-memory ring (0 on sockets and pipes)."""
    def empty(self) -> bool:
        """Whether no message is waiting."""
    def full(self) -> bool:
        """Whether the ring is full."""
    def is_disconnected(self) -> bool:
        """Whether every sender has gone (messages may still be waiting)."""
    def try_iter(self) -> TryIter:
        """The messages waiting now, without waiting."""
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...
    def guards(self) -> Guards:
        """Iterates over the messages read in place; each guard is released when the next is asked for."""
    @property
    def slot_size(self) -> int:
        """The largest message, in bytes."""
    @property
    def capacity(self) -> int:
        """Messages a shared-memory ring of slots holds at once; 0 on a channel sized in bytes, on sockets and pipes."""
    @property
    def capacity_bytes(self) -> int:
        """Bytes of a shared-memory channel sized in bytes; 0 on a ring of slots, on sockets and pipes."""
    @property
    def fallback_reason(self) -> str | None:
        """Why ``auto:`` fell back from shared memory, if it did."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def close(self) -> None:
        """Detaches from the channel."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool: ...

class RecvGuard:
    """A message a ``Receiver`` or a ``Subscriber`` reads in place: a read-only buffer over it, until released."""

    def release(self) -> None:
        """Hands the message back: its slot to the senders, or the subscriber past it."""
    @property
    def released(self) -> bool:
        """Whether the message has been handed back."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool: ...
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, view: memoryview, /) -> None: ...

class Guards:
    """The iterator ``Receiver.guards()`` returns."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> RecvGuard: ...

class TryIter:
    """The iterator ``Receiver.try_iter()`` returns."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...

class Publisher:
    """The publishing end of a broadcast channel: every subscriber receives every message."""

    @staticmethod
    def create(endpoint: str, config: Config | None = None) -> Publisher:
        """Creates the broadcast channel and attaches as a publisher."""
    @staticmethod
    def open(endpoint: str, *, timeout: float | None = None) -> Publisher:
        """Opens an existing broadcast channel as one more publisher."""
    def subscribe(self, *, history: int = 0) -> Subscriber:
        """Attaches a subscriber to this channel."""
    def publish(self, data: Buffer, timeout: float | None = None) -> None:
        """Copies ``data`` to every subscriber (block mode: waits for the slowest)."""
    def try_publish(self, data: Buffer) -> None:
        """Publishes if there is room now; raises ``Full`` if not."""
    def loan(self, timeout: float | None = None, *, size: int | None = None) -> Loan:
        """Lends room to write a message into (a whole slot, or exactly ``size`` bytes), waiting (block mode) for room."""
    def try_loan(self, *, size: int | None = None) -> Loan:
        """Lends room (a whole slot, or ``size`` bytes) if there is some now; raises ``Full`` if not."""
    def fileno(self) -> int:
        """The pollable fd (block mode): readable when a full ring gets room; re-armed by a ``try_`` call that finds it full."""
    def subscriber_count(self) -> int:
        """Subscribers attached now."""
    @property
    def slot_size(self) -> int:
        """The largest message, in bytes."""
    @property
    def capacity(self) -> int:
        """Slots in the ring; 0 on a channel sized in bytes."""
    @property
    def capacity_bytes(self) -> int:
        """Bytes of a channel sized in bytes; 0 on a ring of slots."""
    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
    def close(self) -> None:
        """Detaches from the channel."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool: ...

class Subscriber:
    """The subscribing end of a broadcast channel."""

    @staticmethod
    def open(endpoint: str, *, history: int = 0, timeout: float | None = None) -> Subscriber:
        """Opens the broadcast channel as a subscriber."""
    @staticmethod
    def create(endpoint: str, config: Config | None = None) -> Subscriber:
        """Creates the broadcast channel from the subscribing side."""
    def recv(self, timeout: float | None = None) -> bytes:
        """Waits for the next message and returns a copy of it."""
    def try_recv(self) -> bytes:
        """A copy of the next message if one is there now; raises ``Empty`` if not."""
    def fileno(self) -> int:
        """The pollable fd: readable when a message (or a lag) is there, or every publisher has gone; re-armed by a ``try_`` call that finds it empty."""
    def recv_into(self, buffer: Buffer, timeout: float | None = None) -> int:
        """Copies the next message into ``buffer``; returns its length."""
    def try_recv_into(self, buffer: Buffer) -> int:
        """Copies the next message into ``buffer`` if one is there now."""
    def recv_guard(self, timeout: float | None = None) -> RecvGuard:
        """Waits for the next message and returns a guard that reads it in place (block mode only)."""
    def try_recv_guard(self) -> RecvGuard:
        """A guard on the next message if one is there now; raises ``Empty`` if not."""
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...
    def pending(self) -> int:
        """Messages published that this subscriber has not read yet (bytes, on a channel sized in bytes)."""
    @property
    def slot_size(self) -> int:
        """The largest message, in bytes."""
    @property
    def capacity(self) -> int:
        """Slots in the ring; 0 on a channel sized in bytes."""
    @property
    def capacity_bytes(self) -> int:
        """Bytes of a channel sized in bytes; 0 on a ring of slots."""
    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
    def close(self) -> None:
        """Detaches from the channel."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> bool: ...

def unlink(name: str) -> None:
    """Removes the shared-memory channel ``name``."""

def in_memory(config: Config | None = None) -> tuple[Sender, Receiver]:
    """A channel on heap memory, for threads of one process."""
