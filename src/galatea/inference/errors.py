"""Typed failures of text generation.

InferenceError
 ├── BackendUnavailable   the backend cannot be reached
 ├── BackendTimeout       no answer within the time allowed
 ├── StreamStalled        the stream started but no token came for too long
 ├── StreamInterrupted    the connection dropped mid-stream
 ├── BackendHTTPError     the backend answered 4xx/5xx (its message included)
 └── RequestRejected      the request cannot run here (prompt too long, bad grammar, ...)
"""


class InferenceError(Exception):
    """Base of generation failures; `partial_text` is what was produced before it."""

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.partial_text = partial_text


class BackendUnavailable(InferenceError):
    """The backend cannot be reached (connection refused, DNS, closed engine)."""


class BackendTimeout(InferenceError):
    """The backend did not answer in time."""


class StreamStalled(InferenceError):
    """No token arrived for longer than the stall limit."""


class StreamInterrupted(InferenceError):
    """The connection dropped in the middle of a stream."""


class BackendHTTPError(InferenceError):
    """The backend answered with an HTTP error status."""

    def __init__(self, status: int, message: str, *, partial_text: str = "") -> None:
        super().__init__(f"backend answered HTTP {status}: {message}", partial_text=partial_text)
        self.status = status


class RequestRejected(InferenceError):
    """The request cannot be served as asked (too long for the context, invalid grammar, ...)."""
