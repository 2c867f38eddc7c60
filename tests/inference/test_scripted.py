"""The scripted backend behaves like an engine: stops, length, cancellation, cache, failures."""

import asyncio

import pytest

from galatea.inference.backend import Finished, GenerationEvent, GenerationRequest, TextDelta
from galatea.inference.errors import BackendTimeout, BackendUnavailable
from galatea.inference.params import SamplingParams
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure


async def collect(backend: ScriptedBackend, request: GenerationRequest) -> tuple[str, Finished]:
    text = ""
    events: list[GenerationEvent] = [event async for event in backend.stream(request)]
    for event in events[:-1]:
        assert isinstance(event, TextDelta)
        text += event.text
    last = events[-1]
    assert isinstance(last, Finished)
    return text, last


async def test_replies_are_used_in_turn() -> None:
    backend = ScriptedBackend(replies=("First reply.", "Second reply."))
    texts = [(await collect(backend, GenerationRequest("hi")))[0] for _ in range(3)]
    assert texts == ["First reply.", "Second reply.", "First reply."]
    assert [r.prompt for r in backend.requests] == ["hi", "hi", "hi"]


async def test_stop_string_cuts_and_is_not_shown() -> None:
    backend = ScriptedBackend(replies=("Sure thing.\nUser: more",))
    text, done = await collect(backend, GenerationRequest("x", stop=("\nUser:",)))
    assert text == "Sure thing."
    assert done.reason == "stop"
    assert done.stop_string == "\nUser:"


async def test_max_tokens_truncates_with_length_reason() -> None:
    backend = ScriptedBackend(replies=("one two three four five",))
    text, done = await collect(backend, GenerationRequest("x", max_tokens=2))
    assert text == "one two"
    assert done.reason == "length"
    assert done.usage.generated_tokens == 2


async def test_same_chat_reports_reused_prompt_tokens() -> None:
    backend = ScriptedBackend(replies=("ok",))
    await collect(backend, GenerationRequest("a b c d", cache_key="chat-1"))
    _, done = await collect(backend, GenerationRequest("a b c d e f", cache_key="chat-1"))
    assert done.usage.prompt_tokens == 6
    assert done.usage.cached_prompt_tokens == 4
    _, other = await collect(backend, GenerationRequest("a b c d e f", cache_key="chat-2"))
    assert other.usage.cached_prompt_tokens == 0


async def test_scripted_failure_reports_partial_text() -> None:
    failure = ScriptedFailure(BackendTimeout("too slow"), text="Half a")
    backend = ScriptedBackend(replies=(failure,))
    text, done = await collect(backend, GenerationRequest("x"))
    assert text == "Half a"
    assert done.reason == "error"
    assert isinstance(done.error, BackendTimeout)
    assert done.error.partial_text == "Half a"


async def test_cancelling_the_consumer_ends_the_stream() -> None:
    backend = ScriptedBackend(replies=("word " * 1000,), token_delay=0.001)
    received: list[str] = []
    three_received = asyncio.Event()

    async def consume() -> None:
        async for event in backend.stream(GenerationRequest("x", max_tokens=2000)):
            if isinstance(event, TextDelta):
                received.append(event.text)
                if len(received) == 3:
                    three_received.set()

    task = asyncio.create_task(consume())
    await three_received.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.finished[-1].reason == "cancelled"
    assert 3 <= backend.finished[-1].usage.generated_tokens < 1000


async def test_closed_backend_fails_with_unavailable() -> None:
    backend = ScriptedBackend()
    await backend.aclose()
    _, done = await collect(backend, GenerationRequest("x"))
    assert done.reason == "error"
    assert isinstance(done.error, BackendUnavailable)


async def test_reply_can_depend_on_the_request() -> None:
    backend = ScriptedBackend(replies=lambda request: f"seed={request.seed}")
    text, _ = await collect(backend, GenerationRequest("x", seed=7))
    assert text == "seed=7"


async def test_tokenizer_round_trips_and_counts() -> None:
    backend = ScriptedBackend()
    ids = await backend.tokenizer.encode("Hello  there, friend")
    assert await backend.tokenizer.decode(ids) == "Hello  there, friend"
    assert await backend.tokenizer.count("Hello  there, friend") == len(ids) == 3


def test_capabilities_report_unclaimed_samplers() -> None:
    backend = ScriptedBackend(samplers=frozenset({"temperature"}))
    params = SamplingParams(temperature=0.7, min_p=0.1)
    assert backend.capabilities.ignored(params) == ["min_p"]
