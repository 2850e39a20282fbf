"""Typed exceptions for the server's statuses, carrying the server's own message.

pyarrow raises Flight statuses as a handful of classes (``ArrowInvalid`` for INVALID_ARGUMENT,
``ArrowKeyError`` for NOT_FOUND, ``FlightUnavailableError``, ...) and appends gRPC's debug
context to the message ("... gRPC client debug context: ... Client context: IOError: Server
never sent a data message. Detail: Internal"). :func:`translate` turns them into the classes
below with only the server's message.
"""

from __future__ import annotations

import contextlib

import pyarrow as pa
import pyarrow.flight as flight

__all__ = [
    "ArbalestError", "InvalidArgument", "NotFound", "DatasetNotFound", "AlreadyExists",
    "Unavailable", "ResourceExhausted", "Unauthenticated", "PermissionDenied", "Timeout",
    "Cancelled", "Unimplemented", "InternalError", "WhereSyntaxError",
]


class ArbalestError(Exception):
    """Base of every error this package raises for a failed request."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(ArbalestError, ValueError):
    """INVALID_ARGUMENT: the request or its data is wrong (bad filter, wrong width, ...)."""


class WhereSyntaxError(InvalidArgument):
    """A ``where=`` string that does not parse; ``position`` is the 0-based offset."""

    def __init__(self, message: str, text: str | None = None, position: int = 0):
        self.text = text
        self.position = position
        if text is not None:
            message = f"{message} at position {position}\n  {text}\n  {' ' * position}^"
        super().__init__(message)


class NotFound(ArbalestError, LookupError):
    """NOT_FOUND: something the request names does not exist."""


class DatasetNotFound(NotFound):
    """NOT_FOUND for a dataset name."""


class AlreadyExists(ArbalestError):
    """The dataset exists and the call was asked to create it."""


class Unavailable(ArbalestError):
    """UNAVAILABLE: the server cannot take the request now; sending it again later may work
    (nothing of it was stored)."""


class ResourceExhausted(Unavailable):
    """The server's memory (``--max-memory``), disk, file descriptors or stream slots are
    full, or a message exceeded ``--max-message-size``. Arrives as UNAVAILABLE with a message
    starting "resource exhausted:"."""


class Unauthenticated(ArbalestError):
    """UNAUTHENTICATED: no or a wrong token."""


class PermissionDenied(ArbalestError):
    """PERMISSION_DENIED."""


class Timeout(ArbalestError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's timeout passed (a snapshot goes on in the background)."""


class Cancelled(ArbalestError):
    """CANCELLED: the call was cancelled (e.g. the server is shutting down)."""


class Unimplemented(ArbalestError, NotImplementedError):
    """UNIMPLEMENTED: the server does not know the action."""


class InternalError(ArbalestError):
    """INTERNAL or UNKNOWN: a server-side failure (I/O errors naming a file, bugs)."""


_DEBUG_MARKERS = (". gRPC client debug context:", " gRPC client debug context:",
                  ". Client context:", " Client context:", ". Detail:")


def server_message(error: BaseException) -> str:
    """The server's message without the gRPC and pyarrow context pyarrow appends."""
    text = str(error)
    cut = len(text)
    for marker in _DEBUG_MARKERS:
        at = text.find(marker)
        if at != -1:
            cut = min(cut, at)
    text = text[:cut].strip()
    for prefix in ("Flight returned unavailable error, with message: ",
                   "Flight returned internal error, with message: ",
                   "Flight returned timeout error, with message: ",
                   "Flight returned unauthenticated error, with message: ",
                   "Flight returned unauthorized error, with message: ",
                   "Flight returned cancelled error, with message: ",
                   "Flight error: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text or str(error)


def _grpc_code(error: BaseException) -> str:
    text = str(error)
    at = text.find("gRPC client debug context: ")
    if at == -1:
        return ""
    rest = text[at + len("gRPC client debug context: "):]
    return rest.split(":", 1)[0].strip()


def convert(error: BaseException, dataset: str | None = None) -> BaseException:
    """The typed exception for a pyarrow error (the error itself when it is not one)."""
    message = server_message(error)
    code = _grpc_code(error)
    lowered = message.lower()
    if lowered.startswith("resource exhausted") or code == "RESOURCE_EXHAUSTED" or \
            "larger than max" in lowered:
        return ResourceExhausted(message)
    if isinstance(error, flight.FlightUnavailableError):
        return Unavailable(message)
    if isinstance(error, flight.FlightUnauthenticatedError):
        return Unauthenticated(message)
    if isinstance(error, flight.FlightUnauthorizedError):
        return PermissionDenied(message)
    if isinstance(error, flight.FlightTimedOutError):
        return Timeout(message)
    if isinstance(error, flight.FlightCancelledError):
        return Cancelled(message)
    if isinstance(error, pa.ArrowKeyError):
        if "dataset" in lowered and "not found" in lowered:
            return DatasetNotFound(message)
        return NotFound(message)
    if isinstance(error, pa.ArrowInvalid):
        return InvalidArgument(message)
    if isinstance(error, pa.ArrowNotImplementedError):
        return Unimplemented(message)
    if isinstance(error, (flight.FlightInternalError, flight.FlightServerError,
                          pa.ArrowException)):
        return InternalError(message)
    return error


@contextlib.contextmanager
def translate(dataset: str | None = None):
    """Re-raises pyarrow's Flight errors as this module's classes (``from None``: the pyarrow
    error adds nothing but gRPC's context)."""
    try:
        yield
    except ArbalestError:
        raise
    except (pa.ArrowException, flight.FlightError) as error:
        typed = convert(error, dataset)
        if typed is error:
            raise
        raise typed from None
