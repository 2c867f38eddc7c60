"""End to end against a server no one here wrote: llama-cpp-python's `llama_cpp.server`
on the bundled model (see conftest.py). Greedy sampling keeps every run reproducible."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from llama_cpp import Llama

from galatea.inference.backend import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    PromptMessage,
    TextBackend,
    TextDelta,
)
from galatea.inference.errors import BackendHTTPError, RequestRejected, StreamInterrupted
from galatea.inference.params import GREEDY, SamplingParams
from galatea.inference.registry import BackendSpec, build_backend
from galatea.inference.remote.endpoints import Timeouts
from tests.inference.remote.conftest import CONTEXT, RunningServer

pytestmark = pytest.mark.slow

PROMPT = (
    "<|im_start|>system\nYou are Wren, a cheerful innkeeper.<|im_end|>\n"
    "<|im_start|>user\nDescribe your inn in two sentences.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
TIMEOUTS = Timeouts(connect=5, first_token=60, stall=30, request=30)


Build = Callable[..., TextBackend]


@pytest.fixture
async def build(llama_cpp_server: RunningServer) -> AsyncIterator[Build]:
    """Backends on the test server, all closed at the end, even when a test fails."""
    built: list[TextBackend] = []

    def make(**changes: object) -> TextBackend:
        built.append(build_backend(spec(llama_cpp_server, **changes)))
        return built[-1]

    yield make
    for backend in built:
        await backend.aclose()


def spec(server: RunningServer, **changes: object) -> BackendSpec:
    settings: dict[str, object] = {
        "kind": "openai",
        "url": server.url,
        "dialect": "llamacpp-python",
        "context_length": CONTEXT,
        "timeouts": TIMEOUTS,
        **changes,
    }
    return BackendSpec(**settings)  # type: ignore[arg-type]


async def collect(events: AsyncIterator[GenerationEvent]) -> tuple[list[str], Finished]:
    texts: list[str] = []
    async for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
        else:
            return texts, event
    raise AssertionError("the stream ended without Finished")


async def greedy_text(build: Build, max_tokens: int) -> str:
    texts, finished = await collect(
        build().stream(GenerationRequest(PROMPT, GREEDY, max_tokens=max_tokens))
    )
    assert finished.error is None
    return "".join(texts)


async def test_a_completion_streams_token_by_token_with_usage(build: Build) -> None:
    backend = build()
    texts, finished = await collect(
        backend.stream(GenerationRequest(PROMPT, GREEDY, max_tokens=12))
    )
    assert finished.error is None
    assert finished.reason == "length"
    assert len(texts) > 1
    assert "".join(texts).strip()
    usage = finished.usage
    assert usage.generated_tokens == 12
    assert usage.time_to_first_token is not None and usage.time_to_first_token > 0
    # This server reports no usage; the prompt is counted with its own tokenizer.
    assert usage.prompt_tokens == await backend.tokenizer.count(PROMPT)


async def test_token_counts_match_the_models_own_tokenizer(
    llama_cpp_server: RunningServer, build: Build
) -> None:
    vocab = Llama(str(llama_cpp_server.model_path), vocab_only=True, verbose=False)
    tokenizer = build().tokenizer
    for text in (PROMPT, "Hello, world!", "naïve café — 東京 🙂", ""):
        expected = vocab.tokenize(text.encode(), add_bos=False, special=True)
        assert await tokenizer.encode(text) == expected
        assert await tokenizer.count(text) == len(expected)


async def test_decoding_gives_back_the_text(build: Build) -> None:
    tokenizer = build().tokenizer
    # This server leaves special tokens out of decoded text, so plain text only.
    for text in ("Hello, world!", "naïve café — 東京 🙂"):
        assert await tokenizer.decode(await tokenizer.encode(text)) == text


async def test_the_chat_route_applies_the_models_template_to_the_conversation(
    build: Build,
) -> None:
    conversation = (
        PromptMessage("system", "You are Wren, a cheerful innkeeper."),
        PromptMessage("user", "Describe your inn in two sentences."),
    )
    request = GenerationRequest("unused", GREEDY, max_tokens=16, messages=conversation)
    texts, finished = await collect(build(route="chat").stream(request))
    assert finished.error is None
    # The server renders the same ChatML our completion prompt spells out by hand.
    assert "".join(texts) == await greedy_text(build, max_tokens=16)


async def test_a_stop_string_ends_the_reply_before_it(build: Build) -> None:
    full = await greedy_text(build, max_tokens=24)
    words = full.split(" ")
    assert len(words) > 4, full
    stop = " " + words[3]
    expected = full[: full.index(stop)]

    texts, finished = await collect(
        build().stream(GenerationRequest(PROMPT, GREEDY, max_tokens=24, stop=(stop,)))
    )
    assert "".join(texts) == expected
    assert finished.reason == "stop"
    assert finished.error is None


async def test_the_dialects_logit_bias_is_honoured_by_the_server(build: Build) -> None:
    full = await greedy_text(build, max_tokens=4)
    backend = build()
    first_token = (await backend.tokenizer.encode(full))[0]
    banned = SamplingParams(temperature=0.0, logit_bias={first_token: float("-inf")})
    texts, _ = await collect(backend.stream(GenerationRequest(PROMPT, banned, max_tokens=4)))
    assert (await backend.tokenizer.encode("".join(texts)))[0] != first_token


async def test_model_info_names_the_model_and_needs_the_configured_context(
    llama_cpp_server: RunningServer, build: Build
) -> None:
    info = await build().model_info()
    assert info.name == str(llama_cpp_server.model_path)
    assert info.context_length == CONTEXT
    with pytest.raises(RequestRejected, match="context_length"):
        await build(context_length=None).model_info()


async def test_a_prompt_over_the_context_is_refused_with_the_servers_message(
    build: Build,
) -> None:
    too_long = "word " * 2500
    request = GenerationRequest(too_long, max_tokens=4)
    _, finished = await collect(build(stream=False).stream(request))
    assert isinstance(finished.error, BackendHTTPError)
    assert finished.error.status == 400
    assert "maximum context length is 2048 tokens" in finished.error.message
    # Streaming, this server fails after its 200 and closes an empty stream.
    _, finished = await collect(build().stream(request))
    assert isinstance(finished.error, StreamInterrupted)


async def test_cancelling_a_stream_frees_the_server_for_the_next_request(
    llama_cpp_server: RunningServer, build: Build
) -> None:
    backend = build()
    long_run = backend.stream(GenerationRequest(PROMPT, SamplingParams(), max_tokens=1500))
    assert isinstance(await anext(long_run), TextDelta)
    await long_run.aclose()  # type: ignore[attr-defined]
    # The server notices the hang-up (it logs it) and stops generating.
    for _ in range(300):
        if "Disconnected from client" in llama_cpp_server.log_text():
            break
        await asyncio.sleep(0.1)
    assert "Disconnected from client" in llama_cpp_server.log_text()

    _, finished = await collect(backend.stream(GenerationRequest(PROMPT, GREEDY, max_tokens=3)))
    assert finished.error is None
    assert finished.usage.generated_tokens == 3
