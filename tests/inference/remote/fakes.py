"""A scripted HTTP server on `httpx.MockTransport` for the remote backend tests."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Pause:
    """In a scripted body: wait this long before the next piece."""

    seconds: float


@dataclass
class Fail:
    """In a scripted body: the connection breaks with this error."""

    error: Exception


Piece = bytes | str | Pause | Fail


class ScriptedBody(httpx.AsyncByteStream):
    """A response body sent piece by piece, recording whether the client closed it."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.sent: list[bytes] = []
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, Pause):
                await asyncio.sleep(piece.seconds)
            elif isinstance(piece, Fail):
                raise piece.error
            else:
                data = piece.encode() if isinstance(piece, str) else piece
                self.sent.append(data)
                yield data

    async def aclose(self) -> None:
        self.closed = True


def sse(*events: dict[str, Any] | str, done: bool = True) -> list[Piece]:
    """Pieces of an OpenAI-style event stream, one event per piece."""
    pieces: list[Piece] = [
        f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events
    ]
    if done:
        pieces.append("data: [DONE]\n\n")
    return pieces


def text_chunk(text: str, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """One streamed `/v1/completions` chunk."""
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish}], **extra}


def chat_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    """One streamed `/v1/chat/completions` chunk."""
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeServer:
    """Routes by method and path; records every request with its JSON body."""

    routes: dict[tuple[str, str], Handler | httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[ScriptedBody] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Handler | httpx.Response) -> None:
        self.routes[(method, path)] = answer

    def stream(self, method: str, path: str, pieces: list[Piece], status: int = 200) -> None:
        """Answer with a fresh scripted event stream each time."""

        def answer(_request: httpx.Request) -> httpx.Response:
            body = ScriptedBody(list(pieces))
            self.bodies.append(body)
            return httpx.Response(
                status, headers={"content-type": "text/event-stream"}, stream=body
            )

        self.on(method, path, answer)

    def json(self, method: str, path: str, payload: Any, status: int = 200) -> None:
        self.on(method, path, lambda _request: httpx.Response(status, json=payload))

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            answer = self.routes.get((request.method, request.url.path))
            if answer is None:
                return httpx.Response(404, json={"detail": "Not Found"})
            return answer if isinstance(answer, httpx.Response) else answer(request)

        return httpx.MockTransport(handle)

    def sent(self, path: str) -> list[dict[str, Any]]:
        """JSON bodies the client posted to `path`, in order."""
        return [json.loads(r.content) for r in self.requests if r.url.path == path]
