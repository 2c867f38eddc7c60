"""From a chat to a generation request: prompt assembly on the model's own tokenizer.

Shared by the terminal chat and the web platform. Assembly is pure and synchronous, while a
backend's tokenizer is async (remote servers tokenize over HTTP), so assembly runs in a worker
thread whose counter asks the event loop for counts; each chat keeps a count cache, so a long
history is counted once and each turn only counts what is new.
"""

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from galatea.core.budget import TokenCountCache
from galatea.core.prompting import (
    AssembledPrompt,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
    get_template,
)
from galatea.formats.chat_templates import JinjaChatTemplate
from galatea.inference.backend import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    PromptMessage,
    TextBackend,
    TextDelta,
    Tokenizer,
)
from galatea.inference.params import SamplingParams

ROLEPLAY_SAMPLING = SamplingParams(
    temperature=0.8,
    min_p=0.05,
    repetition_penalty=1.08,
    penalty_range=256,
)
"""Defaults that keep a small model in character without looping: mild temperature, min-p,
a light repetition penalty over the recent window."""

FALLBACK_TEMPLATE = "chatml"


@dataclass(slots=True, frozen=True)
class GenerationSettings:
    """What a user chooses for replies (a preset, possibly overridden per chat)."""

    template: str | None = None
    """Instruct template name; None uses the model's own chat template when it has one."""
    context_length: int | None = None
    """Prompt plus reply, in tokens; None uses the model's context length."""
    max_reply_tokens: int = 250
    sampling: SamplingParams = field(default_factory=lambda: ROLEPLAY_SAMPLING)
    system_prompt: str | None = None
    """Replaces the template's default system prompt (a card's own still wins)."""
    post_history_instructions: str = ""
    author_note: str = ""
    author_note_depth: int = 4
    seed: int | None = None


@dataclass(slots=True, frozen=True)
class PreparedGeneration:
    """An assembled prompt and the request that asks a backend to continue it."""

    prompt: AssembledPrompt
    request: GenerationRequest


def default_template(info: ModelInfo) -> str:
    """The template a chat uses unless told otherwise, chosen from the model's own.

    A ChatML model gets our name-prefixed ChatML (Pygmalion-3 style): the same markers the
    model was trained on, with speaker names that keep small models in character. Any other
    model with a chat template gets that template; a model without one gets ChatML.
    """
    source = info.chat_template or ""
    if not source or "<|im_start|>" in source:
        return FALLBACK_TEMPLATE
    return "gguf"


class SyncTokenCounter:
    """A synchronous `TokenCounter` over an async tokenizer, for use off the event loop."""

    def __init__(self, tokenizer: Tokenizer, loop: asyncio.AbstractEventLoop) -> None:
        self._tokenizer = tokenizer
        self._loop = loop

    def count(self, text: str) -> int:
        """Number of tokens in `text` (blocks this worker thread, not the loop)."""
        return asyncio.run_coroutine_threadsafe(self._tokenizer.count(text), self._loop).result()


class PromptBuilder:
    """Builds prompts and generation requests for one backend, remembering counts per chat."""

    def __init__(self, backend: TextBackend, *, cached_chats: int = 256) -> None:
        self._backend = backend
        self._caches: OrderedDict[str, TokenCountCache] = OrderedDict()
        self._cached_chats = cached_chats
        self._renderers: dict[str, JinjaChatTemplate] = {}

    async def prepare(
        self,
        request: PromptRequest,
        settings: GenerationSettings,
        *,
        max_context: int | None = None,
        max_reply: int | None = None,
        continue_last: bool = False,
    ) -> PreparedGeneration:
        """Assemble the prompt for the next reply within the budget; PromptTooLarge if it can't."""
        info = await self._backend.model_info()
        context = min(settings.context_length or info.context_length, info.context_length)
        if max_context is not None:
            context = min(context, max_context)
        reply = min(settings.max_reply_tokens, max_reply or settings.max_reply_tokens)
        reply = max(1, min(reply, context // 2))
        template = get_template(settings.template or default_template(info))
        options = replace(
            request.options,
            context_length=context,
            reply_reserve=reply,
            system_prompt=settings.system_prompt,
            post_history_instructions=settings.post_history_instructions,
            author_note=settings.author_note,
            author_note_depth=settings.author_note_depth,
            continue_last=continue_last,
        )
        environment = PromptEnvironment(
            token_cache=self._cache_for(request.chat_id),
            chat_renderer=self._renderer(info) if template.uses_model_template else None,
        )
        counter = SyncTokenCounter(self._backend.tokenizer, asyncio.get_running_loop())
        prompt = await asyncio.to_thread(
            assemble_prompt, replace(request, options=options), template, counter, environment
        )
        # The model writing the user's next line means the reply is over, in every template.
        stops = tuple(dict.fromkeys((*prompt.stop_strings, f"\n{request.persona.name}:")))
        generation = GenerationRequest(
            prompt=prompt.text,
            messages=tuple(PromptMessage(m.role, m.content) for m in prompt.messages),
            sampling=settings.sampling,
            max_tokens=reply,
            stop=stops,
            seed=settings.seed,
            cache_key=request.chat_id or None,
        )
        return PreparedGeneration(prompt=prompt, request=generation)

    def forget(self, chat_id: str) -> None:
        """Drop a chat's cached counts (the chat was deleted)."""
        self._caches.pop(chat_id, None)

    def _cache_for(self, chat_id: str) -> TokenCountCache | None:
        if not chat_id:
            return None
        cache = self._caches.get(chat_id)
        if cache is None:
            cache = self._caches[chat_id] = TokenCountCache(max_entries=4096)
            while len(self._caches) > self._cached_chats:
                self._caches.popitem(last=False)
        else:
            self._caches.move_to_end(chat_id)
        return cache

    def _renderer(self, info: ModelInfo) -> JinjaChatTemplate:
        source = info.chat_template or ""
        renderer = self._renderers.get(source)
        if renderer is None:
            # The engine adds BOS itself when it tokenizes, so the template must not write it.
            renderer = JinjaChatTemplate(source, eos_token=info.eos_token)
            self._renderers[source] = renderer
        return renderer


async def without_speaker_prefix(
    events: AsyncIterator[GenerationEvent], speaker: str
) -> AsyncIterator[GenerationEvent]:
    """The events of a reply, minus a leading "Name:" the model wrote and leading whitespace.

    Templates that do not end the prompt with the speaker's name leave the model free to write
    it; the user should not see it twice. Text is held back only until it can no longer be
    such a prefix.
    """
    prefix = f"{speaker}:"
    held = ""
    settled = False
    async for event in events:
        if settled or not isinstance(event, TextDelta):
            if not settled and isinstance(event, Finished):
                rest = _after_prefix(held, prefix)
                if rest:
                    yield TextDelta(rest)
            yield event
            continue
        held += event.text
        candidate = _after_prefix(held, prefix)
        if not candidate or (candidate == held.lstrip() and prefix.startswith(candidate)):
            continue
        settled = True
        yield TextDelta(candidate)


def _after_prefix(text: str, prefix: str) -> str:
    text = text.lstrip()
    return text[len(prefix) :].lstrip() if text.startswith(prefix) else text
