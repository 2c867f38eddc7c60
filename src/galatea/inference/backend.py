"""The `TextBackend` protocol: what every engine, local or remote, offers.

A stream yields `TextDelta`s and ends with exactly one `Finished`. A failed generation does not
raise: it ends with `Finished(reason="error", error=...)`, the text streamed so far being the
partial reply. Cancelling the consuming task (or closing the iterator) stops the generation.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from galatea.inference.errors import InferenceError
from galatea.inference.params import SamplingParams

FinishReason = Literal["stop", "length", "cancelled", "error"]


@dataclass(slots=True, frozen=True)
class PromptMessage:
    """One message of a prompt given as a conversation (system, user or assistant)."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(slots=True)
class GenerationRequest:
    """One completion to produce from a prompt."""

    prompt: str | Sequence[int]
    """Prompt text (special tokens written as text are parsed) or token ids."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    max_tokens: int = 256
    """Most tokens to generate."""
    stop: tuple[str, ...] = ()
    """Generation ends before any of these strings; they are never shown."""
    banned_strings: tuple[str, ...] = ()
    """Strings the output must never contain (the engine rewinds and bans the token)."""
    seed: int | None = None
    """Sampling seed; None picks one at random."""
    cache_key: str | None = None
    """Names the conversation (chat id) so its KV cache can be reused next turn."""
    priority: int = 0
    """Higher runs earlier where a backend queues."""
    messages: tuple[PromptMessage, ...] = ()
    """The same prompt as a conversation, for a backend that applies the model's chat template
    itself (the chat route of an OpenAI-compatible server); without it, such a backend gets the
    prompt text as one user message. Backends that take text ignore it."""


@dataclass(slots=True, frozen=True)
class TextDelta:
    """A piece of generated text, safe to show (stop strings already held back)."""

    text: str


@dataclass(slots=True, frozen=True)
class Usage:
    """What a generation cost."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    """Prompt tokens served from the KV cache instead of being evaluated."""
    generated_tokens: int = 0
    time_to_first_token: float | None = None
    """Seconds from the request to the first generated token."""


@dataclass(slots=True, frozen=True)
class Finished:
    """The last event of every stream."""

    reason: FinishReason
    usage: Usage = field(default_factory=Usage)
    error: InferenceError | None = None
    stop_string: str | None = None
    """Which stop string ended the generation, when one did."""


GenerationEvent = TextDelta | Finished


@dataclass(slots=True, frozen=True)
class Capabilities:
    """What a backend honours, so callers can report what it would ignore."""

    samplers: frozenset[str]
    """Names of `SamplingParams` fields the backend applies."""
    token_prompts: bool = False
    """Accepts prompts as token ids."""
    prefix_cache: bool = False
    """Reuses the KV cache of a previous prompt with the same start."""
    banned_strings: bool = False
    max_context: int | None = None
    """Context length in tokens, when known."""

    def ignored(self, params: SamplingParams) -> list[str]:
        """Samplers set in `params` that this backend would not apply."""
        return [name for name in params.changed() if name not in self.samplers]


@dataclass(slots=True, frozen=True)
class ModelInfo:
    """The model behind a backend."""

    name: str
    context_length: int
    chat_template: str | None = None
    """The Jinja chat template from the model's metadata (GGUF), when it has one."""
    bos_token: str = ""
    eos_token: str = ""


class Tokenizer(Protocol):
    """The model's own tokenizer. Async because remote backends tokenize over HTTP."""

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text` (special tokens written as text are parsed, no BOS added)."""
        ...

    async def decode(self, tokens: Sequence[int]) -> str:
        """Text of token ids."""
        ...

    async def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        ...


class TextBackend(Protocol):
    """An engine that streams completions of prompts."""

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """Which samplers and features the backend honours."""
        ...

    async def model_info(self) -> ModelInfo:
        """Name, context length and chat template of the model served."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Generate; yields text deltas, then one `Finished`."""
        ...

    async def aclose(self) -> None:
        """Release the engine or connections; later streams fail with BackendUnavailable."""
        ...
