"""Server-sent events: a reply stream on the wire (`text/event-stream`).

Each event is written as `id: N`, `event: KIND`, `data: JSON`, so a client that reconnects
can say where it stopped (`Last-Event-ID`, or `?after=N`) and get only what it missed. While
nothing happens a comment line goes out every few seconds, so proxies do not close an idle
connection during a long wait in the queue. Closing the connection only stops the viewing:
the generation is a job of the server and goes on.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from galatea.services.reply_streams import ReplyStreamChannel, StreamEvent

HEARTBEAT_SECONDS = 15.0
SSE_HEADERS = {
    "Cache-Control": "no-store",
    # Reverse proxies (nginx) would otherwise buffer the stream and deliver it all at the end.
    "X-Accel-Buffering": "no",
}


def format_event(event: StreamEvent, event_id: int | None = None) -> bytes:
    """One event in the SSE wire format."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event.kind}")
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    # JSON never holds a raw newline, so the data is always one `data:` line.
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def event_stream_response(
    stream: ReplyStreamChannel,
    *,
    start: int = 0,
    first: list[StreamEvent] | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The stream's events from index `start` on, as an event-stream response.

    `first` are events only this response carries (the accepted user message), sent before
    the stream's own and without ids.
    """
    body = _events(stream, start, first or [], heartbeat)
    return StreamingResponse(
        body,
        media_type="text/event-stream; charset=utf-8",
        headers={**SSE_HEADERS, **(headers or {})},
    )


async def _events(
    stream: ReplyStreamChannel, start: int, first: list[StreamEvent], heartbeat: float
) -> AsyncIterator[bytes]:
    for event in first:
        yield format_event(event)
    # A reader task fills a queue, so waiting with a timeout never cancels the stream's
    # own iterator half way through an event.
    queue: asyncio.Queue[tuple[int, StreamEvent] | None] = asyncio.Queue()

    async def read() -> None:
        index = start
        try:
            async for event in stream.follow(start):
                await queue.put((index, event))
                index += 1
        finally:
            await queue.put(None)

    reader = asyncio.get_running_loop().create_task(read())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                break
            index, event = item
            yield format_event(event, index)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def parse_events(body: str) -> list[tuple[str, Any]]:
    """Events of an event-stream body as (kind, data) pairs; comments skipped (for tests and
    scripts that read a whole response)."""
    events = []
    for block in body.split("\n\n"):
        kind, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event:"):
                kind = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data = json.loads(line[len("data:") :].strip())
        if data is not None:
            events.append((kind, data))
    return events
