"""Simulated load: an event loop on a virtual clock and a backend of fixed, known throughput.

With `run_in_virtual_time`, sleeps and timeouts take no real time: when nothing is ready the
clock jumps to the next timer. Fifteen minutes of a loaded scheduler run in seconds, exactly
the same on every run, however busy the machine is. The loop does no real I/O (sockets,
threads and subprocesses do not work in it); it is for the scheduler, `SimulatedBackend` and
plain coroutines.

`SimulatedBackend` shares a fixed number of tokens per second equally among the generations
it runs (processor sharing, as a batching engine does), after a fixed prompt-evaluation delay.
"""

import asyncio
import selectors
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from galatea.inference.backend import (
    Capabilities,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    Usage,
)
from galatea.inference.errors import BackendUnavailable
from galatea.inference.scripted import WordTokenizer

T = TypeVar("T")


class _VirtualSelector(selectors.BaseSelector):
    """Never waits: a select with a timeout moves the virtual clock instead."""

    def __init__(self) -> None:
        self.now = 0.0
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("the simulation is stuck: nothing is ready and no timer is set")
        self.now += max(0.0, timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose clock jumps to the next timer instead of waiting for it."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        """Virtual seconds since the loop was made."""
        return self._virtual.now


def run_in_virtual_time(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a fresh `VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@dataclass(slots=True, eq=False)
class _Share:
    base: float
    """The backend's work counter when this generation joined."""
    next_at: float = 0.0
    reached: "asyncio.Future[None] | None" = None


class SimulatedBackend:
    """A `TextBackend` with a fixed total throughput shared by the generations it runs."""

    def __init__(
        self,
        *,
        tokens_per_s: float,
        first_token_s: float = 0.0,
        reply_tokens: Callable[[GenerationRequest], int] | None = None,
        chunk_tokens: int = 16,
        context_length: int = 32768,
        name: str = "simulated",
    ) -> None:
        if tokens_per_s <= 0 or first_token_s < 0 or chunk_tokens < 1:
            raise ValueError("tokens_per_s > 0, first_token_s >= 0 and chunk_tokens >= 1 needed")
        self.tokens_per_s = tokens_per_s
        self.first_token_s = first_token_s
        self.reply_tokens = reply_tokens or (lambda request: request.max_tokens)
        self.chunk_tokens = chunk_tokens
        self.context_length = context_length
        self.name = name
        self.peak_streams = 0
        """Most generations that ran at once (for checks that the scheduler caps them)."""
        self._tokenizer = WordTokenizer()
        self._shares: set[_Share] = set()
        self._work = 0.0
        self._updated_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def tokenizer(self) -> WordTokenizer:
        """One token per word."""
        return self._tokenizer

    @property
    def capabilities(self) -> Capabilities:
        """No samplers (the text is filler); its context length."""
        return Capabilities(samplers=frozenset(), max_context=self.context_length)

    async def model_info(self) -> ModelInfo:
        """A made-up model."""
        return ModelInfo(name=self.name, context_length=self.context_length)

    async def aclose(self) -> None:
        """Later streams fail with BackendUnavailable."""
        self._closed = True

    def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Generate `reply_tokens(request)` tokens (at most max_tokens) at the shared speed."""
        return self._run(request)

    async def _run(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        if self._closed:
            yield Finished("error", error=BackendUnavailable("the backend is closed"))
            return
        loop = asyncio.get_running_loop()
        prompt = request.prompt
        prompt_tokens = len(self._tokenizer.split(prompt) if isinstance(prompt, str) else prompt)
        total = max(0, min(self.reply_tokens(request), request.max_tokens))
        await asyncio.sleep(self.first_token_s)
        self._advance(loop.time())
        share = _Share(self._work)
        self._shares.add(share)
        self.peak_streams = max(self.peak_streams, len(self._shares))
        produced = 0
        try:
            while produced < total:
                step = min(self.chunk_tokens, total - produced)
                share.next_at = share.base + produced + step
                share.reached = loop.create_future()
                self._reschedule(loop)
                await share.reached
                produced += step
                yield TextDelta(" word" * step)
        finally:
            self._advance(loop.time())
            self._shares.discard(share)
            self._reschedule(loop)
        usage = Usage(prompt_tokens, 0, total, self.first_token_s)
        yield Finished("length" if total == request.max_tokens else "stop", usage)

    def _advance(self, now: float) -> None:
        if self._shares:
            self._work += (now - self._updated_at) * self.tokens_per_s / len(self._shares)
        self._updated_at = now

    def _reschedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending = [share.next_at for share in self._shares if share.reached is not None]
        if pending:
            delay = (min(pending) - self._work) * len(self._shares) / self.tokens_per_s
            self._timer = loop.call_at(self._updated_at + max(0.0, delay), self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._advance(loop.time())
        for share in self._shares:
            if share.reached is not None and share.next_at <= self._work + 1e-6:
                if not share.reached.done():
                    share.reached.set_result(None)
                share.reached = None
        self._reschedule(loop)
