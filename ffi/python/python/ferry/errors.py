"""The exceptions ferry raises: every one is a ``ferry.Error``.

Where a Python built-in exception means the same thing, a ferry exception is also one:
``ferry.Timeout`` is a ``TimeoutError``, ``ferry.NotFound`` a ``FileNotFoundError``,
``ferry.AlreadyExists`` a ``FileExistsError``, ``ferry.PermissionDenied`` a
``PermissionError``, and the bad-input errors (``InvalidName``, ``InvalidEndpoint``,
``InvalidConfig``, ``TooLarge``, ``BufferTooSmall``) are ``ValueError`` s.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "Full",
    "Empty",
    "Timeout",
    "Disconnected",
    "Lagged",
    "TooLarge",
    "BufferTooSmall",
    "Corrupt",
    "Closed",
    "Busy",
    "AttachError",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "InvalidName",
    "InvalidEndpoint",
    "InvalidConfig",
    "Unsupported",
    "RoleTaken",
    "Incompatible",
]


class Error(Exception):
    """The base of every exception ferry raises."""


class Full(Error):
    """The channel is full (from ``try_send`` and ``try_loan``); nothing was sent."""


class Empty(Error):
    """No message is waiting (from the ``try_recv`` forms)."""


class Timeout(Error, TimeoutError):
    """The timeout passed first; nothing was sent or consumed."""


class Disconnected(Error):
    """The peer has gone: a send finds no receiver, or a receive finds the channel
    drained and every sender gone."""


class Lagged(Error):
    """A broadcast subscriber fell a whole ring behind in overwrite mode: ``missed``
    positions were overwritten before it read them (each lost message, and any position
    a publisher gave up without one, such as a loan dropped uncommitted). The next
    receive returns the oldest message the channel still holds."""

    def __init__(self, message: str, missed: int) -> None:
        super().__init__(message)
        #: How many messages this subscriber lost.
        self.missed = missed


class TooLarge(Error, ValueError):
    """The message is larger than the channel's slot size; nothing was sent."""

    def __init__(self, message: str, length: int, max: int) -> None:
        super().__init__(message)
        #: The message's length in bytes.
        self.length = length
        #: The slot size: the largest message the channel carries.
        self.max = max


class BufferTooSmall(Error, ValueError):
    """The buffer given to ``recv_into`` is smaller than the message, which stays in
    the channel."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        #: The message's length in bytes.
        self.needed = needed


class Corrupt(Error):
    """The channel's shared state is inconsistent: the peer is broken or hostile."""


class Closed(Error):
    """The handle was closed; only ``close`` may be called on it."""


class Busy(Error):
    """The handle cannot take this call now: a ``Loan`` or ``RecvGuard`` of it is
    outstanding (finish it first), or another thread is in a call on it."""


class AttachError(Error):
    """Creating or opening a channel failed (the base of the errors below)."""


class NotFound(AttachError, FileNotFoundError):
    """No channel of that name: has its creator started? (``open(..., timeout=)``
    waits for it.)"""


class AlreadyExists(AttachError, FileExistsError):
    """A channel of that name exists: open it, or remove it with ``ferry.unlink``."""


class PermissionDenied(AttachError, PermissionError):
    """The channel belongs to another user, or its mode forbids access."""


class InvalidName(AttachError, ValueError):
    """The channel name is not valid (letters, digits, ``.``, ``_``, ``-``)."""


class InvalidEndpoint(AttachError, ValueError):
    """The endpoint is not ``NAME``, ``shm:NAME``, ``unix:PATH``, ``fifo:PATH`` or
    ``auto:NAME``."""


class InvalidConfig(AttachError, ValueError):
    """The configuration cannot describe a channel."""


class Unsupported(AttachError):
    """The transport cannot do this (a second receiver on a socket, a second sender
    on a FIFO, a sender creating a socket, reading an overwrite-mode broadcast message
    in place)."""


class RoleTaken(AttachError):
    """The channel is SPSC and a live process holds the role (sender or receiver)."""


class Incompatible(AttachError):
    """The channel is not what this ferry can open: another layout version, another
    shape than asked for, a corrupt header, not a ferry segment, or not initialised in
    time. The message says what to do."""
