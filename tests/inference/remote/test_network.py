"""Failures over real sockets: a tiny HTTP server that misbehaves on purpose."""

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.errors import (
    BackendTimeout,
    BackendUnavailable,
    StreamInterrupted,
    StreamStalled,
)
from galatea.inference.remote.dialects import get_dialect
from galatea.inference.remote.endpoints import Endpoint, Timeouts
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend

Writer = asyncio.StreamWriter
Script = Callable[[Writer], Awaitable[None]]


def event(text: str, finish: str | None = None) -> bytes:
    payload = {"choices": [{"text": text, "finish_reason": finish}]}
    data = f"data: {json.dumps(payload)}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


class MisbehavingServer:
    """Answers every request with the same script; notices when the client hangs up."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.client_left = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "MisbehavingServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await self._answer(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length")),
                0,
            )  # fmt: skip
            await reader.readexactly(length)
            watcher = asyncio.create_task(self._watch(reader))
            try:
                await self.script(writer)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        await reader.read()  # returns at EOF: the client closed its side
        self.client_left.set()

    def backend(self, timeouts: Timeouts) -> OpenAICompatibleBackend:
        endpoint = Endpoint(f"http://127.0.0.1:{self.port}", model="m", timeouts=timeouts)
        return OpenAICompatibleBackend(endpoint, get_dialect("llamacpp"))


async def collect(events: AsyncIterator[object]) -> tuple[str, Finished]:
    text = ""
    async for item in events:
        if isinstance(item, TextDelta):
            text += item.text
        elif isinstance(item, Finished):
            return text, item
    raise AssertionError("no Finished")


FAST = Timeouts(connect=1, first_token=0.5, stall=0.3, request=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_closed_port_is_backend_unavailable() -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{free_port()}", model="m", timeouts=FAST)
    backend = OpenAICompatibleBackend(endpoint, get_dialect("vllm"))
    text, finished = await collect(backend.stream(GenerationRequest("x")))
    assert text == ""
    assert isinstance(finished.error, BackendUnavailable)
    await backend.aclose()


async def test_a_server_that_never_answers_is_a_first_token_timeout() -> None:
    async def silent(writer: Writer) -> None:
        await asyncio.sleep(10)

    async with MisbehavingServer(silent) as server:
        backend = server.backend(FAST)
        _, finished = await collect(backend.stream(GenerationRequest("x")))
        assert isinstance(finished.error, BackendTimeout)
        await asyncio.wait_for(server.client_left.wait(), 2)
        await backend.aclose()


async def test_a_connection_cut_mid_stream_is_interrupted_with_the_partial_text() -> None:
    async def cut(writer: Writer) -> None:
        writer.write(STREAM_HEAD + event("It was ") + event("a dark"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async with MisbehavingServer(cut) as server:
        backend = server.backend(FAST)
        text, finished = await collect(backend.stream(GenerationRequest("x")))
        assert text == "It was a dark"
        assert isinstance(finished.error, StreamInterrupted)
        assert finished.error.partial_text == "It was a dark"
        await backend.aclose()


async def test_a_silent_stream_is_stalled_and_the_connection_dropped() -> None:
    async def stall(writer: Writer) -> None:
        writer.write(STREAM_HEAD + event("Wait"))
        await writer.drain()
        await asyncio.sleep(10)

    async with MisbehavingServer(stall) as server:
        backend = server.backend(FAST)
        text, finished = await collect(backend.stream(GenerationRequest("x")))
        assert text == "Wait"
        assert isinstance(finished.error, StreamStalled)
        await asyncio.wait_for(server.client_left.wait(), 2)
        await backend.aclose()


async def endless(writer: Writer) -> None:
    writer.write(STREAM_HEAD)
    while True:
        writer.write(event("tick "))
        await writer.drain()
        await asyncio.sleep(0.02)


async def test_cancelling_the_consumer_hangs_up_on_the_server() -> None:
    async with MisbehavingServer(endless) as server:
        backend = server.backend(Timeouts(first_token=5, stall=5))
        ticks = asyncio.Semaphore(0)

        async def consume() -> None:
            async for item in backend.stream(GenerationRequest("x")):
                if isinstance(item, TextDelta):
                    ticks.release()

        task = asyncio.create_task(consume())
        for _ in range(3):
            await ticks.acquire()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.client_left.wait(), 2)
        await backend.aclose()


async def test_closing_the_backend_ends_running_streams_as_cancelled() -> None:
    async with MisbehavingServer(endless) as server:
        backend = server.backend(Timeouts(first_token=5, stall=5))
        events = backend.stream(GenerationRequest("x"))
        assert isinstance(await anext(events), TextDelta)
        await backend.aclose()
        _, finished = await collect(events)
        assert finished.reason == "cancelled"
        assert finished.error is None
        await asyncio.wait_for(server.client_left.wait(), 2)
