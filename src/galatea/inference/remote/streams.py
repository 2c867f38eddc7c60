"""From a server's text chunks to `TextDelta`s and one `Finished`, for every remote backend.

A backend turns its wire format into `Chunk`s; `StreamRelay` does the rest the same way for
all of them: the first-token deadline and the stall limit, stop strings held back and cut
client-side, time to first token, usage (the server's figures, else counted), and failures
delivered as `Finished(reason="error")` with the text already shown as `partial_text`.
"""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

from galatea.inference.backend import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    Usage,
)
from galatea.inference.errors import BackendTimeout, InferenceError, StreamStalled
from galatea.inference.remote.endpoints import Timeouts
from galatea.inference.stops import StopStringFilter

_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "length": "length",
    "max_tokens": "length",
    "abort": "cancelled",
    "cancelled": "cancelled",
}


@dataclass(slots=True, frozen=True)
class ServerUsage:
    """Token counts a server reported about a generation."""

    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(slots=True, frozen=True)
class Chunk:
    """One piece of a server's answer, already out of its wire format."""

    text: str = ""
    finish_reason: str | None = None
    """The server's own word for why it stopped, on the last chunk."""
    stop_string: str | None = None
    """The stop string the server says it matched (vLLM and Aphrodite `stop_reason`)."""
    usage: ServerUsage | None = None
    tokens: int = 1
    """Tokens this chunk stands for, when counting is all there is."""


class StreamRelay:
    """Runs one generation's chunks through deadlines, stop strings and usage accounting."""

    def __init__(
        self,
        request: GenerationRequest,
        timeouts: Timeouts,
        *,
        server: str,
        count_prompt: Callable[[], Awaitable[int | None]] | None = None,
        is_closing: Callable[[], bool] = lambda: False,
    ) -> None:
        self._request = request
        self._timeouts = timeouts
        self._server = server
        self._count_prompt = count_prompt
        self._is_closing = is_closing
        self._filter = StopStringFilter((*request.stop, *request.banned_strings))
        self._shown: list[str] = []
        self._usage = ServerUsage()
        self._generated = 0
        self._started = 0.0
        self._first_token_at: float | None = None
        self._server_reason: str | None = None
        self._server_stop: str | None = None

    async def run(
        self, chunks: AsyncGenerator[Chunk, None]
    ) -> AsyncGenerator[GenerationEvent, None]:
        """Yield the generation's events; the chunk source is closed on every way out."""
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        first_token_deadline = self._started + self._timeouts.first_token
        async with aclosing(chunks):
            while True:
                # The stall clock runs only while waiting on the server, so a slow consumer
                # never makes a healthy stream look stalled.
                deadline = first_token_deadline
                if self._first_token_at is not None:
                    deadline = loop.time() + self._timeouts.stall
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks, None)
                except TimeoutError:
                    yield self._finished("error", error=self._timeout_error())
                    return
                except InferenceError as exc:
                    if self._is_closing():
                        yield self._finished("cancelled")
                        return
                    exc.partial_text = self.partial_text
                    yield self._finished("error", error=exc)
                    return
                if chunk is None:
                    break
                self._absorb(chunk)
                if chunk.text:
                    if self._first_token_at is None:
                        self._first_token_at = loop.time()
                    step = self._filter.push(chunk.text)
                    if step.text:
                        self._shown.append(step.text)
                        yield TextDelta(step.text)
                    if step.stop is not None:
                        # Closing the source (leaving this block) makes the server stop.
                        break
        if self._filter.stopped is None:
            tail = self._filter.flush()
            if tail:
                self._shown.append(tail)
                yield TextDelta(tail)
        yield await self._completed()

    @property
    def partial_text(self) -> str:
        """Text shown so far."""
        return "".join(self._shown)

    def _absorb(self, chunk: Chunk) -> None:
        if chunk.text:
            self._generated += chunk.tokens
        if chunk.finish_reason:
            self._server_reason = chunk.finish_reason
        if chunk.stop_string:
            self._server_stop = chunk.stop_string
        if chunk.usage is not None:
            usage = chunk.usage
            self._usage = ServerUsage(
                prompt_tokens=_first(usage.prompt_tokens, self._usage.prompt_tokens),
                generated_tokens=_first(usage.generated_tokens, self._usage.generated_tokens),
                cached_tokens=_first(usage.cached_tokens, self._usage.cached_tokens),
            )

    def _timeout_error(self) -> InferenceError:
        if self._first_token_at is None:
            return BackendTimeout(
                f"{self._server} sent no text within {self._timeouts.first_token:g} s",
                partial_text=self.partial_text,
            )
        return StreamStalled(
            f"{self._server} sent nothing for {self._timeouts.stall:g} s mid-stream",
            partial_text=self.partial_text,
        )

    async def _completed(self) -> Finished:
        stop = self._filter.stopped
        if stop is not None:
            # A banned string the server let through also ends the reply before it.
            named = stop if stop in self._request.stop else None
            return await self._finished_counted("stop", stop_string=named)
        reason = _REASONS.get(self._server_reason or "", "stop")
        if self._server_reason is None and self._generated >= self._request.max_tokens:
            reason = "length"
        named = self._server_stop if self._server_stop in self._request.stop else None
        return await self._finished_counted(reason, stop_string=named)

    async def _finished_counted(self, reason: FinishReason, *, stop_string: str | None) -> Finished:
        if self._usage.prompt_tokens is None and self._count_prompt is not None:
            counted = await self._count_prompt()
            self._usage = ServerUsage(
                counted, self._usage.generated_tokens, self._usage.cached_tokens
            )
        return self._finished(reason, stop_string=stop_string)

    def _finished(
        self,
        reason: FinishReason,
        *,
        error: InferenceError | None = None,
        stop_string: str | None = None,
    ) -> Finished:
        ttft = None
        if self._first_token_at is not None:
            ttft = self._first_token_at - self._started
        usage = Usage(
            prompt_tokens=self._usage.prompt_tokens or 0,
            cached_prompt_tokens=self._usage.cached_tokens or 0,
            generated_tokens=_first(self._usage.generated_tokens, self._generated) or 0,
            time_to_first_token=ttft,
        )
        return Finished(reason=reason, usage=usage, error=error, stop_string=stop_string)


def _first(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)
