"""`ScriptedBackend`: a `TextBackend` that streams replies written in advance, instantly.

For unit tests of the layers above inference, and for measuring the platform's own overhead with
a backend that costs nothing. It honours the protocol as a real engine would: stop strings are
held back and cut, `max_tokens` truncates, a cancelled consumer ends the stream, `cache_key`
prompts report their reused prefix, and scripted failures end with `Finished(reason="error")`.
"""

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, fields

from galatea.inference.backend import (
    Capabilities,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    Usage,
)
from galatea.inference.errors import BackendUnavailable, InferenceError
from galatea.inference.params import SamplingParams
from galatea.inference.stops import StopStringFilter

_PIECES = re.compile(r"\s*\S+|\s+")
ALL_SAMPLERS = frozenset(f.name for f in fields(SamplingParams))


class WordTokenizer:
    """A stand-in tokenizer: one token per word with its leading space, ids given on first use."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pieces: list[str] = []

    def split(self, text: str) -> list[str]:
        """The token pieces of `text`; joined they give `text` back."""
        return _PIECES.findall(text)

    def encode_now(self, text: str) -> list[int]:
        """Synchronous `encode`."""
        ids = []
        for piece in self.split(text):
            if piece not in self._ids:
                self._ids[piece] = len(self._pieces)
                self._pieces.append(piece)
            ids.append(self._ids[piece])
        return ids

    def decode_now(self, tokens: Sequence[int]) -> str:
        """Synchronous `decode`."""
        return "".join(self._pieces[token] for token in tokens)

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text`."""
        return self.encode_now(text)

    async def decode(self, tokens: Sequence[int]) -> str:
        """Text of token ids."""
        return self.decode_now(tokens)

    async def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return len(self.split(text))


@dataclass(slots=True, frozen=True)
class ScriptedFailure:
    """A scripted reply that fails after streaming `text` (the partial reply)."""

    error: InferenceError
    text: str = ""


Script = str | ScriptedFailure
Responder = Callable[[GenerationRequest], Script]


@dataclass(slots=True)
class ScriptedBackend:
    """Streams scripted replies: a fixed list used in turn (cycling), or a function of the request.

    `token_delay` (seconds) sleeps between tokens to simulate a model's speed; 0 still yields to
    the event loop between tokens, so cancellation and concurrency behave as with a real engine.
    """

    replies: Sequence[Script] | Responder = ("Hello!",)
    token_delay: float = 0.0
    context_length: int = 4096
    model_name: str = "scripted"
    chat_template: str | None = None
    samplers: frozenset[str] = ALL_SAMPLERS
    requests: list[GenerationRequest] = field(default_factory=list)
    """Every request received, in order (for assertions)."""
    finished: list[Finished] = field(default_factory=list)
    """The final event of every stream, including cancelled ones."""
    _tokenizer: WordTokenizer = field(default_factory=WordTokenizer)
    _cache: dict[str, list[int]] = field(default_factory=dict)
    _turn: int = 0
    _closed: bool = False

    @property
    def tokenizer(self) -> WordTokenizer:
        """The word tokenizer shared by prompts and replies."""
        return self._tokenizer

    @property
    def capabilities(self) -> Capabilities:
        """Claims the configured samplers (it applies none: replies are fixed)."""
        return Capabilities(
            samplers=self.samplers,
            token_prompts=True,
            prefix_cache=True,
            banned_strings=False,
            max_context=self.context_length,
        )

    async def model_info(self) -> ModelInfo:
        """A made-up model with the configured name and context."""
        return ModelInfo(
            name=self.model_name,
            context_length=self.context_length,
            chat_template=self.chat_template,
        )

    async def aclose(self) -> None:
        """Later streams fail with BackendUnavailable."""
        self._closed = True

    def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Stream the next scripted reply for `request`."""
        self.requests.append(request)
        script = self._next_script(request)
        return self._run(request, script)

    def _next_script(self, request: GenerationRequest) -> Script:
        if callable(self.replies):
            return self.replies(request)
        if not self.replies:
            return ""
        script = self.replies[self._turn % len(self.replies)]
        self._turn += 1
        return script

    def _prompt_tokens(self, request: GenerationRequest) -> tuple[int, int]:
        """Prompt token count and how many of them a previous prompt of the chat shared."""
        if isinstance(request.prompt, str):
            tokens = self._tokenizer.encode_now(request.prompt)
        else:
            tokens = list(request.prompt)
        cached = 0
        if request.cache_key is not None:
            previous = self._cache.get(request.cache_key, [])
            cached = common_prefix_length(previous, tokens)
            self._cache[request.cache_key] = tokens
        return len(tokens), cached

    async def _run(
        self, request: GenerationRequest, script: Script
    ) -> AsyncIterator[GenerationEvent]:
        started = time.perf_counter()
        if self._closed:
            yield self._finish(Finished("error", error=BackendUnavailable("the backend is closed")))
            return
        prompt_tokens, cached = self._prompt_tokens(request)
        text, failure = (
            (script.text, script.error) if isinstance(script, ScriptedFailure) else (script, None)
        )
        gate = StopStringFilter(request.stop)
        generated = 0
        first: float | None = None
        shown = ""

        ended = False

        def usage() -> Usage:
            return Usage(prompt_tokens, cached, generated, first)

        try:
            for piece in self._tokenizer.split(text):
                if generated >= request.max_tokens:
                    ended = True
                    yield self._finish(Finished("length", usage()))
                    return
                await asyncio.sleep(self.token_delay)
                generated += 1
                if first is None:
                    first = time.perf_counter() - started
                step = gate.push(piece)
                if step.text:
                    shown += step.text
                    yield TextDelta(step.text)
                if step.stop is not None:
                    ended = True
                    yield self._finish(Finished("stop", usage(), stop_string=step.stop))
                    return
            rest = gate.flush()
            if rest:
                shown += rest
                yield TextDelta(rest)
        except (asyncio.CancelledError, GeneratorExit):
            if not ended:
                self.finished.append(Finished("cancelled", usage()))
            raise
        if failure is not None:
            failure.partial_text = shown
            yield self._finish(Finished("error", usage(), error=failure))
            return
        yield self._finish(Finished("stop", usage()))

    def _finish(self, event: Finished) -> Finished:
        self.finished.append(event)
        return event


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens `a` and `b` share."""
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length
