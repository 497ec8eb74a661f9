"""ferry: zero-copy messaging between processes through shared memory.

One process creates a channel by name, another opens it::

    import ferry

    # the receiving process
    with ferry.Receiver.create("jobs", ferry.Config(slot_size=256)) as rx:
        for message in rx:            # ends once every sender has gone
            print(message)

    # the sending process
    with ferry.Sender.open("jobs", timeout=5) as tx:
        tx.send(b"hello")

``Receiver.recv_guard()`` reads a message in place (a read-only buffer over the slot:
``numpy.frombuffer`` it without a copy) and ``Sender.loan()`` lends a slot to write
into. ``ferry.Publisher`` and ``ferry.Subscriber`` are the broadcast channel: every
subscriber receives every message (``Publisher.loan()`` and, in block mode,
``Subscriber.recv_guard()`` zero-copy too). The exceptions are in ``ferry.errors`` (and here): every one is a ``ferry.Error``.
"""

from __future__ import annotations

# The exceptions first: the extension raises them and imports this module to find them.
from . import errors
from .errors import *  # noqa: F403 (every exception, as `errors.__all__` lists them)
from ._ferry import (
    LAYOUT_VERSION,
    MAX_CAPACITY,
    MAX_SLOT_SIZE,
    SLOT_ALIGN,
    Config,
    Guards,
    Loan,
    Publisher,
    Receiver,
    RecvGuard,
    Sender,
    Subscriber,
    TryIter,
    __version__,
    in_memory,
    unlink,
)

__all__ = [
    "Config",
    "Sender",
    "Receiver",
    "Loan",
    "RecvGuard",
    "Guards",
    "Publisher",
    "Subscriber",
    "TryIter",
    "in_memory",
    "unlink",
    "LAYOUT_VERSION",
    "MAX_CAPACITY",
    "MAX_SLOT_SIZE",
    "SLOT_ALIGN",
    "__version__",
]
__all__ += errors.__all__
