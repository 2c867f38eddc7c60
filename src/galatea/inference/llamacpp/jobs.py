"""A generation inside the engine: its request, progress, sampler state and event channel."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from galatea.inference.backend import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    Usage,
)
from galatea.inference.errors import InferenceError
from galatea.inference.llamacpp.guard import OutputGuard
from galatea.inference.llamacpp.sampling import SamplerChain, SamplerStep

Phase = Literal["waiting", "prefill", "decode", "done"]


@dataclass(eq=False, slots=True)
class Job:
    """One generation, shared by the asyncio side (which submits and cancels) and the engine."""

    request: GenerationRequest
    prompt: list[int]
    emit: Callable[[GenerationEvent], None]
    """Keeps an event for the consumer; called from the engine thread."""
    seed: int
    order: int
    flush: Callable[[], None] = lambda: None
    """Hands the kept events over to the consumer's loop (the engine calls it once a step)."""
    submitted: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    """Set by the consumer's side; the engine drops the job at its next step."""
    cancelled_at_step: int = -1
    """The engine's step count when the cancel arrived (to measure how fast it is honoured)."""
    phase: Phase = "waiting"
    stream: int = -1
    cursor: int = 0
    """Prompt tokens whose KV exists (prefill progress)."""
    reused: int = 0
    """Prompt tokens served from cache."""
    n_past: int = 0
    """Tokens in the stream's KV once prefill is over."""
    next_token: int = -1
    """The token to evaluate at position `n_past` in the next decode step."""
    steps: tuple[SamplerStep, ...] = ()
    chain: SamplerChain | None = None
    guard: OutputGuard = field(default_factory=OutputGuard)
    bans: dict[int, set[int]] = field(default_factory=dict)
    """Generated-token index -> tokens banned there (after banned-string rewinds)."""
    first_token_at: float | None = None
    shown_any: bool = False

    @property
    def generated(self) -> list[int]:
        """Generated tokens kept so far."""
        return self.guard.tokens

    def kv_tokens(self) -> list[int]:
        """The tokens whose KV the stream holds right now."""
        if self.phase in ("waiting", "prefill"):
            return self.prompt[: self.cursor]
        return (self.prompt + self.generated)[: self.n_past]

    def usage(self) -> Usage:
        """Token counts and time to first token so far."""
        first = None if self.first_token_at is None else self.first_token_at - self.submitted
        return Usage(
            prompt_tokens=len(self.prompt),
            cached_prompt_tokens=self.reused,
            generated_tokens=len(self.generated),
            time_to_first_token=first,
        )

    def send_text(self, text: str) -> None:
        """Stream a piece of reply text."""
        if text:
            self.shown_any = True
            self.emit(TextDelta(text))

    def finish(
        self,
        reason: FinishReason,
        *,
        error: InferenceError | None = None,
        stop_string: str | None = None,
    ) -> None:
        """Send the final event and release the sampler."""
        if self.phase == "done":
            return
        self.phase = "done"
        if self.chain is not None:
            self.chain.close()
            self.chain = None
        if error is not None and not error.partial_text:
            error.partial_text = self.guard.shown
        self.emit(Finished(reason, self.usage(), error=error, stop_string=stop_string))


@dataclass(slots=True)
class EngineStats:
    """Counters of the engine's work, for tests, benchmarks and logs."""

    steps: int = 0
    """Decode calls made."""
    prompt_tokens_evaluated: int = 0
    prompt_tokens_reused: int = 0
    generated_tokens: int = 0
    widest_step: int = 0
    """Most sequences that produced a token in one decode call."""
    steps_by_width: dict[int, int] = field(default_factory=dict)
    """Decode calls by how many sequences produced a token in them."""
    slowest_cancel_steps: int = 0
    """Most decode calls that ran between a cancel request and the freed stream."""
    shifted_tokens: int = 0
    """Prompt tokens kept by shifting KV after a front trim."""
    snapshots_saved: int = 0
    snapshots_restored: int = 0
    stream_copies: int = 0
    relocations: int = 0
    rewinds: int = 0
    finished: dict[str, int] = field(default_factory=dict)
