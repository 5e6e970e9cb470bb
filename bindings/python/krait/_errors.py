"""Krait's exceptions: one base, KraitError, with the ABI status code in ``.status``.

Every failure reported by the library (and every argument the bindings refuse) raises a subclass
of KraitError chosen by status; the subclasses also derive from the matching built-in exception
where one exists (a missing file is an OSError, a bad argument a ValueError), so generic handlers
work too. The message is the library's (krait_last_error()), which names the problem.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type

__all__ = [
    "KraitError",
    "KraitInvalidArgumentError",
    "KraitIOError",
    "KraitFormatError",
    "KraitUnsupportedError",
    "KraitOutOfMemoryError",
    "KraitBufferTooSmallError",
    "KraitCancelledError",
    "KraitAbortedError",
    "KraitWrongKindError",
    "KraitBusyError",
    "KraitInternalError",
    "Status",
]


class Status:
    """The krait_status codes of krait.h, as ``KraitError.status`` holds them (plain ints)."""

    OK = 0
    INVALID_ARGUMENT = 1
    IO = 2
    FORMAT = 3
    UNSUPPORTED = 4
    OUT_OF_MEMORY = 5
    BUFFER_TOO_SMALL = 6
    CANCELLED = 7
    ABORTED = 8
    WRONG_KIND = 9
    INTERNAL = 10
    BUSY = 11


class KraitError(Exception):
    """A failed Krait call. ``status`` is the krait_status code (see krait.Status)."""

    #: The status of an error of this class raised without one.
    default_status: int = Status.INTERNAL

    def __init__(self, message: str, status: Optional[int] = None):
        """An error with the library's ``message``; ``status`` defaults to the class's default_status."""
        super().__init__(message)
        #: The krait_status code (an int: compare with krait.Status.IO, ...).
        self.status: int = int(self.default_status if status is None else status)

    @property
    def message(self) -> str:
        """The library's message (krait_last_error()), which names the problem."""
        return str(self.args[0]) if self.args else ""

    @property
    def status_name(self) -> str:
        """The library's short name of the status ("invalid argument")."""
        from . import _krait

        return _krait.status_string(self.status)

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickles as (class, (message, status)): errors cross process boundaries intact."""
        return (type(self), (self.message, self.status))


class KraitInvalidArgumentError(KraitError, ValueError):
    """NULL/empty input, value out of range (token id, sampling value), text that is not UTF-8."""

    default_status = Status.INVALID_ARGUMENT


class KraitIOError(KraitError, OSError):
    """A file or directory is missing or unreadable."""

    default_status = Status.IO


class KraitFormatError(KraitError, ValueError):
    """A file is present but malformed, truncated or inconsistent."""

    default_status = Status.FORMAT


class KraitUnsupportedError(KraitError):
    """Valid input this version does not handle (model type, dtype, device, missing tokenizer)."""

    default_status = Status.UNSUPPORTED


class KraitOutOfMemoryError(KraitError, MemoryError):
    """An allocation failed (a model or a context too large for the memory available)."""

    default_status = Status.OUT_OF_MEMORY


class KraitBufferTooSmallError(KraitError):
    """An output buffer was too small (the bindings size buffers themselves: not seen from Python)."""

    default_status = Status.BUFFER_TOO_SMALL


class KraitCancelledError(KraitError):
    """A callback asked the library to stop a call (closing a streaming generator stops it without this)."""

    default_status = Status.CANCELLED


class KraitAbortedError(KraitError):
    """SequenceModel.abort() stopped a running call."""

    default_status = Status.ABORTED


class KraitWrongKindError(KraitError, TypeError):
    """A model of another kind than the class loads (a classifier given to SequenceModel, ...)."""

    default_status = Status.WRONG_KIND


class KraitInternalError(KraitError):
    """A bug in Krait: please report the message."""

    default_status = Status.INTERNAL


class KraitBusyError(KraitError):
    """Another call on the same session (or a conversation over it) is running: calls on one session must
    not overlap, so use one session per thread. Nothing was done; the running call is unharmed."""

    default_status = Status.BUSY


_BY_STATUS: Dict[int, Type[KraitError]] = {cls.default_status: cls for cls in (
    KraitInvalidArgumentError, KraitIOError, KraitFormatError, KraitUnsupportedError, KraitOutOfMemoryError,
    KraitBufferTooSmallError, KraitCancelledError, KraitAbortedError, KraitWrongKindError, KraitInternalError,
    KraitBusyError)}


def error_from_status(status: int, message: str) -> KraitError:
    """The exception for a krait_status (used by the compiled module)."""
    return _BY_STATUS.get(status, KraitError)(message, status)


# The public names are krait.X (tracebacks, help() and pickle say so).
for _public in (Status, KraitError, *_BY_STATUS.values()):
    _public.__module__ = "krait"
del _public
