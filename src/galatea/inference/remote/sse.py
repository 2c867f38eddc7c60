"""Server-sent events: split a streamed HTTP body into events, with size bounds.

Follows the WHATWG event-stream rules (lines end in CRLF, LF or CR; `:` starts a comment;
`data` lines join with newlines; a blank line dispatches) with one leniency: an event still
pending when the body ends is dispatched, because some servers (older KoboldCpp) write their
final `data: [DONE]` without the blank line after it.
"""

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

MAX_LINE_CHARS = 1 << 20
"""Longest line accepted; a server sending more is treated as broken."""
MAX_EVENT_CHARS = 4 << 20
"""Most data accepted in one event."""


class SSEError(ValueError):
    """The byte stream is not a usable event stream (a line or an event is too large)."""


@dataclass(slots=True, frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Incremental decoder: feed text as it arrives, get the events it completes."""

    __slots__ = (
        "_data",
        "_event",
        "_has_data",
        "_id",
        "_max_event",
        "_max_line",
        "_partial",
        "_skip_lf",
    )

    def __init__(self, *, max_line: int = MAX_LINE_CHARS, max_event: int = MAX_EVENT_CHARS) -> None:
        self._max_line = max_line
        self._max_event = max_event
        self._partial = ""
        self._skip_lf = False
        self._data: list[str] = []
        self._has_data = False
        self._event = ""
        self._id: str | None = None

    def feed(self, text: str) -> list[ServerSentEvent]:
        """Decode the next piece of the body; returns the events completed by it."""
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = False
        if not text:
            return []
        buffer = self._partial + text
        # A CR at the very end may be the first half of a CRLF split across pieces.
        self._skip_lf = buffer.endswith("\r")
        lines = _LINE_BREAK.split(buffer)
        self._partial = lines.pop()
        if len(self._partial) > self._max_line:
            raise SSEError(f"an event-stream line is longer than {self._max_line} characters")
        events: list[ServerSentEvent] = []
        for line in lines:
            event = self._take_line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """The body ended: dispatch what is still pending."""
        events: list[ServerSentEvent] = []
        if self._partial:
            line, self._partial = self._partial, ""
            self._take_line(line)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _take_line(self, line: str) -> ServerSentEvent | None:
        if len(line) > self._max_line:
            raise SSEError(f"an event-stream line is longer than {self._max_line} characters")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
            if sum(len(part) + 1 for part in self._data) > self._max_event:
                raise SSEError(f"an event is larger than {self._max_event} characters")
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event: ServerSentEvent | None = None
        if self._has_data:
            event = ServerSentEvent(
                data="\n".join(self._data), event=self._event or "message", id=self._id
            )
        self._data = []
        self._has_data = False
        self._event = ""
        return event


async def aiter_events(
    pieces: AsyncIterable[str], *, max_line: int = MAX_LINE_CHARS, max_event: int = MAX_EVENT_CHARS
) -> AsyncIterator[ServerSentEvent]:
    """Events of a streamed body given as decoded text pieces."""
    decoder = SSEDecoder(max_line=max_line, max_event=max_event)
    async for piece in pieces:
        for event in decoder.feed(piece):
            yield event
    for event in decoder.close():
        yield event
