"""Reply streams: the events of a running generation, kept so any number of viewers can follow.

A generation is a server-side job; the browser tab that started it is only one viewer. A
reloaded page rejoins by following the same stream from the start (or from the last event it
saw): it gets every event so far, then the live ones. Streams are dropped a little while after
they end.

`ReplyStreamHub` and `ReplyStreamChannel` are the shape the chat service codes against; the
in-process `ReplyStreams` implements them here, and a relay shared by several processes (Redis)
can implement the same shape. Opening a stream is also how a chat is claimed for one
generation at a time, so a hub shared by processes must make `open` atomic across them.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

StreamEventKind = Literal["accepted", "queued", "started", "token", "saved", "error", "done"]
"""`accepted` (the user's stored message) is sent only to the request that sent it; the others
are the stream's own, in this order: queued (repeated as the place in line changes), started,
tokens, then saved (when anything was stored), error (when it failed) and done."""


@dataclass(slots=True, frozen=True)
class StreamEvent:
    """One event of a reply stream, shaped for the SSE wire (`event: kind`, `data: json`)."""

    kind: StreamEventKind
    data: dict[str, Any] = field(default_factory=dict)


class ReplyStreamChannel(Protocol):
    """One generation's events: the job publishes, viewers follow."""

    key: str

    @property
    def closed(self) -> bool:
        """Whether the generation has ended (no more events will come)."""
        ...

    async def publish(self, event: StreamEvent) -> None:
        """Append an event for every follower."""
        ...

    async def close(self) -> None:
        """Mark the stream finished; followers get what is left and stop."""
        ...

    def follow(self, start: int = 0) -> AsyncIterator[StreamEvent]:
        """Every event from index `start` on, as they come, until the stream closes."""
        ...


class ReplyStreamHub(Protocol):
    """The reply streams by key (a chat id): at most one running stream per key."""

    async def open(self, key: str) -> ReplyStreamChannel:
        """A new stream for `key`; StreamBusy while another one for `key` runs."""
        ...

    async def get(self, key: str) -> ReplyStreamChannel | None:
        """The stream for `key`, running or recently finished."""
        ...

    async def running(self, key: str) -> bool:
        """Whether a generation for `key` is still streaming."""
        ...

    async def request_stop(self, key: str) -> bool:
        """Ask another process writing `key`'s reply to stop it; False when no other process
        does (a hub of one process always answers False: its own replies are stopped
        directly)."""
        ...

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """Have `callback(key)` called when another process asks to stop a reply this
        process writes."""
        ...


class ReplyStream:
    """The ordered events of one generation; `follow()` replays them and then waits for more."""

    def __init__(self, key: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.key = key
        self._clock = clock
        self._events: list[StreamEvent] = []
        self._changed = asyncio.Condition()
        self._closed = False
        self.closed_at: float | None = None

    @property
    def closed(self) -> bool:
        """Whether the generation has ended."""
        return self._closed

    @property
    def text(self) -> str:
        """The reply text streamed so far."""
        return "".join(e.data.get("text", "") for e in self._events if e.kind == "token")

    async def publish(self, event: StreamEvent) -> None:
        """Append an event and wake every follower."""
        if self._closed:
            raise RuntimeError(f"reply stream {self.key} is closed")
        async with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    async def close(self) -> None:
        """Mark the stream finished; followers drain what is left and stop."""
        async with self._changed:
            self._closed = True
            self.closed_at = self._clock()
            self._changed.notify_all()

    async def follow(self, start: int = 0) -> AsyncIterator[StreamEvent]:
        """Every event from index `start` on, as they come, until the stream closes."""
        index = max(0, start)
        while True:
            async with self._changed:
                while index >= len(self._events) and not self._closed:
                    await self._changed.wait()
                batch = self._events[index:]
                finished = self._closed
            for event in batch:
                yield event
            index += len(batch)
            if finished and index >= len(self._events):
                return


class ReplyStreams:
    """The reply streams of this process, by key (one running generation per chat)."""

    def __init__(self, keep_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._streams: dict[str, ReplyStream] = {}
        self._keep = keep_seconds
        self._clock = clock

    async def open(self, key: str) -> ReplyStream:
        """A new stream for `key`, replacing a finished one; an unfinished one is an error."""
        self._forget_old()
        current = self._streams.get(key)
        if current is not None and not current.closed:
            raise StreamBusy(key)
        stream = ReplyStream(key, self._clock)
        self._streams[key] = stream
        return stream

    async def get(self, key: str) -> ReplyStream | None:
        """The stream for `key`, running or recently finished."""
        self._forget_old()
        return self._streams.get(key)

    async def running(self, key: str) -> bool:
        """Whether a generation for `key` is still streaming."""
        stream = self._streams.get(key)
        return stream is not None and not stream.closed

    async def request_stop(self, key: str) -> bool:
        """No other process writes replies: always False."""
        del key
        return False

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """No other process can ask: the callback is never called."""

    def _forget_old(self) -> None:
        now = self._clock()
        for key, stream in list(self._streams.items()):
            if stream.closed_at is not None and now - stream.closed_at > self._keep:
                del self._streams[key]


class StreamBusy(Exception):
    """A generation for this chat is already running."""

    def __init__(self, key: str) -> None:
        super().__init__(f"a reply is already being generated for {key}")
        self.key = key
