from datetime import UTC, datetime, timedelta

import pytest

from galatea.core.characters import Character
from galatea.core.chats import Message
from galatea.core.errors import PromptTooLarge
from galatea.core.personas import Persona
from galatea.core.prompting import PromptRequest
from galatea.inference.scripted import ScriptedBackend
from galatea.services.generation import GenerationSettings, PromptBuilder, default_template

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GEMMA_LIKE_TEMPLATE = (
    "{% for m in messages %}<turn|{{ m.role }}>{{ m.content }}<end>\n{% endfor %}"
    "{% if add_generation_prompt %}<turn|assistant>{% endif %}"
)

AVA = Character(
    name="Ava",
    description="{{char}} is a cheerful botanist who talks to {{user}} about plants.",
    first_mes="Hello {{user}}!",
)


def history(turns: int) -> list[Message]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Message(
            role="user" if i % 2 else "character",
            name="Sam" if i % 2 else "Ava",
            text=f"message number {i} about ferns and mosses",
            created_at=start + timedelta(seconds=i),
        )
        for i in range(turns)
    ]


async def test_request_carries_the_prompt_stops_reply_budget_and_chat_key() -> None:
    backend = ScriptedBackend(context_length=2048)
    builder = PromptBuilder(backend)
    prepared = await builder.prepare(
        PromptRequest(character=AVA, history=history(4), persona=Persona("Sam"), chat_id="c1"),
        GenerationSettings(template="pygmalion", max_reply_tokens=100),
    )
    request = prepared.request
    assert request.prompt == prepared.prompt.text
    assert "Ava is a cheerful botanist who talks to Sam" in request.prompt
    assert request.prompt.endswith("Ava:")
    assert request.max_tokens == 100
    assert request.cache_key == "c1"
    assert set(prepared.prompt.stop_strings) <= set(request.stop)
    assert "\nSam:" in request.stop
    # For servers that apply their own chat template: the same prompt as a conversation.
    assert [m.role for m in request.messages] == [
        "system",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "Ava is a cheerful botanist" in request.messages[0].content
    assert request.messages[-1].content == "You: message number 3 about ferns and mosses"


async def test_the_models_own_template_is_the_default_unless_it_is_chatml() -> None:
    plain = ScriptedBackend()
    chatml = ScriptedBackend(chat_template=CHATML_TEMPLATE)
    other = ScriptedBackend(chat_template=GEMMA_LIKE_TEMPLATE)
    assert default_template(await plain.model_info()) == "chatml"
    # ChatML models get the name-prefixed ChatML: same markers, speakers named.
    assert default_template(await chatml.model_info()) == "chatml"
    assert default_template(await other.model_info()) == "gguf"
    prepared = await PromptBuilder(other).prepare(
        PromptRequest(character=AVA, history=history(2), chat_id="c"), GenerationSettings()
    )
    assert prepared.prompt.template == "gguf"
    assert prepared.request.prompt.endswith("<turn|assistant>")


async def test_a_scheduler_budget_shrinks_context_and_reply() -> None:
    backend = ScriptedBackend(context_length=4096)
    builder = PromptBuilder(backend)
    request = PromptRequest(character=AVA, history=history(400), chat_id="long")
    full = await builder.prepare(request, GenerationSettings(template="chatml"))
    cut = await builder.prepare(
        request, GenerationSettings(template="chatml"), max_context=1024, max_reply=64
    )
    assert cut.request.max_tokens == 64
    assert cut.prompt.context_length == 1024
    assert cut.prompt.total_tokens + 64 <= 1024
    assert cut.prompt.history_kept < full.prompt.history_kept


async def test_counts_are_cached_per_chat_between_turns() -> None:
    backend = ScriptedBackend(context_length=4096)
    builder = PromptBuilder(backend)
    calls = 0
    original = backend.tokenizer.count

    async def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return await original(text)

    backend.tokenizer.count = counting  # type: ignore[method-assign]
    chat = history(60)
    await builder.prepare(
        PromptRequest(character=AVA, history=chat, chat_id="c"), GenerationSettings()
    )
    first = calls
    await builder.prepare(
        PromptRequest(character=AVA, history=history(61), chat_id="c"), GenerationSettings()
    )
    assert calls - first < first / 4


async def test_a_card_too_large_for_the_context_is_an_error_saying_by_how_much() -> None:
    huge = Character(name="Big", description="word " * 3000)
    with pytest.raises(PromptTooLarge, match="tokens too many"):
        await PromptBuilder(ScriptedBackend(context_length=1024)).prepare(
            PromptRequest(character=huge, chat_id="c"), GenerationSettings(template="chatml")
        )
