"""OpenAICompatibleBackend against scripted servers: streaming, bodies, usage and every failure."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.backend import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    PromptMessage,
    TextDelta,
)
from galatea.inference.errors import (
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailable,
    RequestRejected,
    StreamInterrupted,
    StreamStalled,
)
from galatea.inference.params import SamplingParams
from galatea.inference.remote.dialects import get_dialect
from galatea.inference.remote.endpoints import Endpoint, Timeouts
from galatea.inference.remote.openai_compat import (
    OpenAICompatibleBackend,
    decode_event,
    parse_choice,
)
from tests.inference.remote.fakes import Fail, FakeServer, Pause, chat_chunk, sse, text_chunk

COMPLETIONS = "/v1/completions"
FAST = Timeouts(connect=1, first_token=0.5, stall=0.2, request=1)


def backend(
    server: FakeServer, dialect: str = "vllm", **endpoint: object
) -> OpenAICompatibleBackend:
    settings: dict[str, object] = {"model": "m", "timeouts": FAST, **endpoint}
    return OpenAICompatibleBackend(
        Endpoint("http://gpu:8000", **settings),  # type: ignore[arg-type]
        get_dialect(dialect),
        transport=server.transport(),
    )


async def collect(events: AsyncIterator[GenerationEvent]) -> tuple[list[str], Finished]:
    texts: list[str] = []
    async for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
        else:
            return texts, event
    raise AssertionError("the stream ended without Finished")


async def test_a_completion_streams_its_text_and_the_servers_usage() -> None:
    server = FakeServer()
    usage = {"prompt_tokens": 12, "completion_tokens": 3,
             "prompt_tokens_details": {"cached_tokens": 8}}  # fmt: skip
    server.stream("POST", COMPLETIONS, sse(
        text_chunk("Hel"), text_chunk("lo"), text_chunk(" there", "length"),
        {"choices": [], "usage": usage},
    ))  # fmt: skip
    texts, finished = await collect(backend(server).stream(GenerationRequest("Hi", max_tokens=3)))
    assert texts == ["Hel", "lo", " there"]
    assert finished.reason == "length"
    assert finished.error is None
    assert finished.usage.prompt_tokens == 12
    assert finished.usage.cached_prompt_tokens == 8
    assert finished.usage.generated_tokens == 3
    assert finished.usage.time_to_first_token is not None


async def test_llama_cpp_timings_give_the_cached_prompt_tokens() -> None:
    server = FakeServer()
    timings = {"cache_n": 236, "prompt_n": 1, "predicted_n": 2}
    server.stream("POST", COMPLETIONS, sse(
        text_chunk("a"), text_chunk("b", "stop", timings=timings)
    ))  # fmt: skip
    _, finished = await collect(backend(server, "llamacpp").stream(GenerationRequest("x")))
    assert finished.usage.cached_prompt_tokens == 236
    assert finished.usage.prompt_tokens == 237
    assert finished.usage.generated_tokens == 2


async def test_the_request_carries_the_dialects_fields_and_no_ignored_ones() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("", "stop")))
    request = GenerationRequest(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        SamplingParams(temperature=0.7, min_p=0.1, typical_p=0.9),
        max_tokens=64,
        stop=("<|im_end|>", "\nUser:"),
        seed=11,
    )
    await collect(backend(server, "vllm").stream(request))
    (body,) = server.sent(COMPLETIONS)
    assert body == {
        "model": "m",
        "prompt": request.prompt,
        "max_tokens": 64,
        "stop": ["<|im_end|>", "\nUser:"],
        "seed": 11,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.7,
        "top_p": 1.0,
        "top_k": -1,
        "min_p": 0.1,
        "repetition_penalty": 1.0,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
    }


async def test_llama_cpp_server_is_asked_to_keep_its_prompt_cache() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("", "stop")))
    await collect(backend(server, "llamacpp").stream(GenerationRequest("x")))
    assert server.sent(COMPLETIONS)[0]["cache_prompt"] is True


async def test_a_stop_string_split_across_chunks_is_never_shown() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(
        text_chunk("Sure."), text_chunk("\nUs"), text_chunk("er: and more"),
        text_chunk(" text the user must not see"),
    ))  # fmt: skip
    texts, finished = await collect(
        backend(server).stream(GenerationRequest("x", stop=("\nUser:",)))
    )
    assert "".join(texts) == "Sure."
    assert finished.reason == "stop"
    assert finished.stop_string == "\nUser:"
    # The stream was closed at once, which tells the server to stop generating.
    assert server.bodies[0].closed
    assert len(server.bodies[0].sent) < 5


async def test_a_partial_stop_string_at_the_end_is_released() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("Bye\nUs", "stop")))
    texts, finished = await collect(
        backend(server).stream(GenerationRequest("x", stop=("\nUser:",)))
    )
    assert "".join(texts) == "Bye\nUs"
    assert finished.stop_string is None


async def test_the_stop_string_the_server_matched_is_reported() -> None:
    server = FakeServer()
    stopped = {"choices": [{"text": "", "finish_reason": "stop", "stop_reason": "\nUser:"}]}
    server.stream("POST", COMPLETIONS, sse(text_chunk("Hm."), stopped))
    _, finished = await collect(backend(server).stream(GenerationRequest("x", stop=("\nUser:",))))
    assert finished.stop_string == "\nUser:"


async def test_openai_gets_at_most_four_stop_strings_and_the_rest_are_cut_here() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("one five six"), text_chunk("", "stop")))
    stops = ("a1", "b2", "c3", "d4", " five")
    texts, finished = await collect(
        backend(server, "openai").stream(GenerationRequest("x", stop=stops))
    )
    assert server.sent(COMPLETIONS)[0]["stop"] == ["a1", "b2", "c3", "d4"]
    assert "".join(texts) == "one"
    assert finished.stop_string == " five"


async def test_banned_strings_go_to_engines_that_ban_them_and_are_cut_elsewhere() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("I smile<|im_end|"), text_chunk("", "stop")))
    tabby = backend(server, "tabbyapi")
    await collect(tabby.stream(GenerationRequest("x", banned_strings=("<|im_end|",))))
    assert server.sent(COMPLETIONS)[0]["banned_strings"] == ["<|im_end|"]
    assert tabby.capabilities.banned_strings

    texts, finished = await collect(
        backend(server, "vllm").stream(GenerationRequest("x", banned_strings=("<|im_end|",)))
    )
    assert "banned_strings" not in server.sent(COMPLETIONS)[1]
    assert "".join(texts) == "I smile"
    assert (finished.reason, finished.stop_string) == ("stop", None)


async def test_the_chat_route_sends_one_message_and_reads_deltas() -> None:
    server = FakeServer()
    server.stream("POST", "/v1/chat/completions", sse(chat_chunk("Hi"), chat_chunk("!", "stop")))
    texts, finished = await collect(
        backend(server, "openai", route="chat").stream(GenerationRequest("Say hi"))
    )
    assert texts == ["Hi", "!"]
    assert finished.reason == "stop"
    body = server.sent("/v1/chat/completions")[0]
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert "prompt" not in body


async def test_the_chat_route_sends_the_conversation_when_the_request_has_one() -> None:
    server = FakeServer()
    server.stream("POST", "/v1/chat/completions", sse(chat_chunk("*waves*", "stop")))
    conversation = (
        PromptMessage("system", "You are Wren, a lighthouse keeper."),
        PromptMessage("user", "Ada: Hello?"),
        PromptMessage("assistant", "Wren: Who goes there?"),
        PromptMessage("user", "Ada: A friend."),
    )
    request = GenerationRequest("<|im_start|>system ... flattened", messages=conversation)
    await collect(backend(server, "ollama", route="chat").stream(request))
    body = server.sent("/v1/chat/completions")[0]
    assert body["messages"] == [
        {"role": "system", "content": "You are Wren, a lighthouse keeper."},
        {"role": "user", "content": "Ada: Hello?"},
        {"role": "assistant", "content": "Wren: Who goes there?"},
        {"role": "user", "content": "Ada: A friend."},
    ]


@pytest.mark.parametrize(
    ("dialect", "fields"),
    [
        ("vllm", {"continue_final_message": True, "add_generation_prompt": False}),
        ("aphrodite", {"continue_final_message": True, "add_generation_prompt": False}),
        ("llamacpp", {}),  # llama.cpp's server extends a final assistant message by itself
    ],
)
async def test_a_conversation_ending_with_the_reply_asks_to_continue_it(
    dialect: str, fields: dict[str, bool]
) -> None:
    server = FakeServer()
    route = "/v1/chat/completions"
    server.stream("POST", route, sse(chat_chunk(" on", "stop")))
    server.stream("POST", route, sse(chat_chunk("Hi", "stop")))
    ending = (PromptMessage("user", "Go on."), PromptMessage("assistant", "And so it went"))
    client = backend(server, dialect, route="chat")
    await collect(client.stream(GenerationRequest("x", messages=ending)))
    await collect(client.stream(GenerationRequest("x", messages=ending[:1])))
    continued, fresh = server.sent(route)
    assert {key: continued[key] for key in fields} == fields
    for key in ("continue_final_message", "add_generation_prompt"):
        assert key not in fresh
        if key not in fields:
            assert key not in continued


async def test_the_completions_route_sends_the_text_even_when_messages_are_given() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("ok", "stop")))
    request = GenerationRequest("the text", messages=(PromptMessage("user", "other"),))
    await collect(backend(server, "vllm").stream(request))
    body = server.sent(COMPLETIONS)[0]
    assert body["prompt"] == "the text"
    assert "messages" not in body


async def test_token_prompts_go_where_they_are_understood_and_are_refused_elsewhere() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("", "stop")))
    _, finished = await collect(backend(server, "vllm").stream(GenerationRequest([1, 2, 3])))
    assert server.sent(COMPLETIONS)[0]["prompt"] == [1, 2, 3]
    assert finished.usage.prompt_tokens == 3

    _, refused = await collect(backend(server, "ollama").stream(GenerationRequest([1, 2, 3])))
    assert isinstance(refused.error, RequestRejected)
    assert "text prompts" in refused.error.message
    assert len(server.sent(COMPLETIONS)) == 1


async def test_without_streaming_the_whole_answer_arrives_as_one_delta() -> None:
    server = FakeServer()
    answer = {"choices": [{"text": "All at once.\nUser: x", "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 4, "completion_tokens": 6}}  # fmt: skip
    server.json("POST", COMPLETIONS, answer)
    texts, finished = await collect(
        backend(server, stream=False).stream(GenerationRequest("x", stop=("\nUser:",)))
    )
    assert texts == ["All at once."]
    assert finished.usage.generated_tokens == 6
    assert server.sent(COMPLETIONS)[0]["stream"] is False


async def test_the_model_is_taken_from_the_server_when_not_configured() -> None:
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "Pygmalion-3-12B"}, {"id": "other"}]})
    server.stream("POST", COMPLETIONS, sse(text_chunk("", "stop")))
    b = backend(server, model=None)
    await collect(b.stream(GenerationRequest("x")))
    await collect(b.stream(GenerationRequest("y")))
    assert [body["model"] for body in server.sent(COMPLETIONS)] == ["Pygmalion-3-12B"] * 2
    assert [r.url.path for r in server.requests].count("/v1/models") == 1


# Failures ----------------------------------------------------------------------------------


def refusing(exc: Exception) -> FakeServer:
    server = FakeServer()

    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    server.on("POST", COMPLETIONS, fail)
    return server


async def test_an_unreachable_server_is_backend_unavailable() -> None:
    server = refusing(httpx.ConnectError("[Errno 111] Connection refused"))
    texts, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert (texts, finished.reason) == ([], "error")
    assert isinstance(finished.error, BackendUnavailable)
    assert "gpu:8000" in finished.error.message


async def test_a_connect_timeout_is_backend_timeout() -> None:
    server = refusing(httpx.ConnectTimeout("timed out"))
    _, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, BackendTimeout)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": {"message": "prompt is longer than the context (4100 > 4096)"}},
         "prompt is longer than the context (4100 > 4096)"),
        (422, {"detail": [{"loc": ["body", "top_k"], "msg": "must be an integer"}]},
         "body.top_k: must be an integer"),
        (503, {"error": {"code": 503, "message": "Loading model"}}, "Loading model"),
    ],
)  # fmt: skip
async def test_http_errors_carry_the_servers_own_message(
    status: int, body: object, message: str
) -> None:
    server = FakeServer()
    server.json("POST", COMPLETIONS, body, status=status)
    _, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, BackendHTTPError)
    assert finished.error.status == status
    assert finished.error.message == f"backend answered HTTP {status}: {message}"


async def test_a_plain_text_error_page_still_gives_a_message() -> None:
    server = FakeServer()
    server.on("POST", COMPLETIONS, httpx.Response(502, text="Bad Gateway\n<hr>nginx"))
    _, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, BackendHTTPError)
    assert finished.error.message.endswith("Bad Gateway")


async def test_no_first_token_in_time_is_backend_timeout() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, [Pause(5), *sse(text_chunk("late", "stop"))])
    texts, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert texts == []
    assert isinstance(finished.error, BackendTimeout)
    assert "no text within 0.5 s" in finished.error.message
    assert server.bodies[0].closed


async def test_silence_mid_stream_is_a_stall_with_the_partial_text() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, [*sse(text_chunk("She nods"), done=False), Pause(5)])
    texts, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert texts == ["She nods"]
    assert isinstance(finished.error, StreamStalled)
    assert finished.error.partial_text == "She nods"
    assert finished.usage.generated_tokens == 1


async def test_a_dropped_connection_reports_the_text_already_shown() -> None:
    server = FakeServer()
    pieces = [*sse(text_chunk("Once "), text_chunk("upon a\nUs"), done=False),
              Fail(httpx.RemoteProtocolError("peer closed connection"))]  # fmt: skip
    server.stream("POST", COMPLETIONS, pieces)
    texts, finished = await collect(
        backend(server).stream(GenerationRequest("x", stop=("\nUser:",)))
    )
    assert isinstance(finished.error, StreamInterrupted)
    # The held-back "\nUs" might have been a stop string: it is not shown, nor reported.
    assert "".join(texts) == finished.error.partial_text == "Once upon a"


async def test_a_stream_that_ends_without_finishing_is_interrupted() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("half"), done=False))
    _, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, StreamInterrupted)
    assert finished.error.partial_text == "half"


async def test_an_error_event_mid_stream_is_an_http_error_with_its_message() -> None:
    server = FakeServer()
    error = {"error": {"code": 500, "message": "CUDA out of memory"}}
    server.stream("POST", COMPLETIONS, sse(text_chunk("Hm"), error))
    _, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, BackendHTTPError)
    assert "CUDA out of memory" in finished.error.message
    assert finished.error.partial_text == "Hm"


async def test_garbage_in_the_stream_is_an_interruption_not_a_crash() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, sse(text_chunk("ok"), "{not json"))
    _, finished = await collect(backend(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, StreamInterrupted)


# Cancellation and closing ------------------------------------------------------------------


async def test_closing_the_consumer_closes_the_http_stream() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, [*sse(text_chunk("a"), done=False), Pause(5)])
    events = backend(server).stream(GenerationRequest("x"))
    assert await anext(events) == TextDelta("a")
    await events.aclose()  # type: ignore[attr-defined]
    assert server.bodies[0].closed


async def test_cancelling_the_consumer_task_closes_the_http_stream() -> None:
    server = FakeServer()
    server.stream("POST", COMPLETIONS, [*sse(text_chunk("a"), done=False), Pause(5)])
    b = backend(server, timeouts=Timeouts(first_token=10, stall=10))
    streaming = asyncio.Event()

    async def consume() -> None:
        async for _event in b.stream(GenerationRequest("x")):
            streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.bodies[0].closed


async def test_a_closed_backend_refuses_new_streams() -> None:
    server = FakeServer()
    b = backend(server)
    await b.aclose()
    _, finished = await collect(b.stream(GenerationRequest("x")))
    assert isinstance(finished.error, BackendUnavailable)
    assert server.requests == []


async def test_invalid_requests_are_refused_before_anything_is_sent() -> None:
    server = FakeServer()
    _, finished = await collect(backend(server).stream(GenerationRequest("x", max_tokens=0)))
    assert isinstance(finished.error, RequestRejected)
    _, finished = await collect(
        backend(server, "aphrodite").stream(GenerationRequest("x", SamplingParams(mirostat_mode=1)))
    )
    assert isinstance(finished.error, RequestRejected)
    assert server.requests == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["choices", "text", "delta", "content", "usage", "timings",
                         "finish_reason", "stop_reason", "prompt_tokens", "cache_n", "error"]),
        inner,
        max_size=4,
    ),
    max_leaves=25,
)  # fmt: skip


@given(payload=json_values, chat=st.booleans())
def test_any_json_from_a_server_is_read_or_refused_cleanly(payload: object, chat: bool) -> None:
    try:
        chunk = parse_choice(decode_event(json.dumps(payload), "gpu:8000"), chat=chat)
    except (StreamInterrupted, BackendHTTPError):
        return
    assert isinstance(chunk.text, str)
    usage = chunk.usage
    if usage is not None:
        for count in (usage.prompt_tokens, usage.generated_tokens, usage.cached_tokens):
            assert count is None or (isinstance(count, int) and count >= 0)
