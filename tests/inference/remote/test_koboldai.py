"""KoboldAIBackend against a scripted KoboldCpp: native fields, token events, abort by genkey."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.backend import Finished, GenerationEvent, GenerationRequest, TextDelta
from galatea.inference.errors import (
    BackendHTTPError,
    RequestRejected,
    StreamInterrupted,
    StreamStalled,
)
from galatea.inference.params import SamplingParams
from galatea.inference.remote.endpoints import Endpoint, Timeouts
from galatea.inference.remote.koboldai import KoboldAIBackend, parse_token_event
from tests.inference.remote.fakes import FakeServer, Pause, Piece

STREAM = "/api/extra/generate/stream"
ABORT = "/api/extra/abort"
FAST = Timeouts(connect=1, first_token=0.5, stall=0.2, request=1)


def tokens(*texts: str, finish: str = "stop") -> list[Piece]:
    """KoboldCpp's events: `event: message` with a token; the last one says why it ended."""
    pieces: list[Piece] = []
    for index, text in enumerate(texts):
        reason = finish if index == len(texts) - 1 else None
        pieces.append(
            f"event: message\ndata: {json.dumps({'token': text, 'finish_reason': reason})}\n\n"
        )
    return pieces


def kobold(server: FakeServer, **endpoint: object) -> KoboldAIBackend:
    settings: dict[str, object] = {"timeouts": FAST, **endpoint}
    return KoboldAIBackend(
        Endpoint("http://kcpp:5001", **settings),  # type: ignore[arg-type]
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


def with_abort(server: FakeServer) -> None:
    server.json("POST", ABORT, {"success": "true"})
    server.json("POST", "/api/extra/tokencount", {"value": 7, "ids": [1] * 7})


async def test_tokens_stream_as_text_and_the_request_uses_koboldcpp_names() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, tokens("The", " door", " creaks."))
    request = GenerationRequest(
        "Once",
        SamplingParams(temperature=0.9, mirostat_mode=2, repetition_penalty=1.05),
        max_tokens=50,
        stop=("\nYou:",),
        banned_strings=("ministrations",),
        seed=3,
    )
    texts, finished = await collect(kobold(server, context_length=8192).stream(request))
    assert texts == ["The", " door", " creaks."]
    assert finished.reason == "stop"
    assert finished.usage.prompt_tokens == 7
    assert finished.usage.generated_tokens == 3
    (body,) = server.sent(STREAM)
    assert body["prompt"] == "Once"
    assert body["max_length"] == 50
    assert body["max_context_length"] == 8192
    assert body["stop_sequence"] == ["\nYou:"]
    assert body["banned_tokens"] == ["ministrations"]
    assert body["sampler_seed"] == 3
    assert body["mirostat"] == 2
    assert "mirostat_mode" not in body
    assert body["rep_pen"] == 1.05
    assert body["genkey"].startswith("GAL")
    assert body["quiet"] is True
    # A generation that finished needs no abort.
    assert server.sent(ABORT) == []


async def test_the_length_limit_is_reported() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, tokens("a", "b", finish="length"))
    _, finished = await collect(kobold(server).stream(GenerationRequest("x", max_tokens=2)))
    assert finished.reason == "length"


async def test_a_client_side_stop_aborts_the_generation_by_its_genkey() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, [*tokens("Yes.", "\nYo", "u: no", finish="stop")[:3], Pause(5)])
    texts, finished = await collect(kobold(server).stream(GenerationRequest("x", stop=("\nYou:",))))
    assert "".join(texts) == "Yes."
    assert finished.stop_string == "\nYou:"
    genkey = server.sent(STREAM)[0]["genkey"]
    assert server.sent(ABORT) == [{"genkey": genkey}]


async def test_cancelling_the_consumer_aborts_on_the_server() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, [*tokens("Hm", finish="stop")[:1], Pause(5)])
    backend = kobold(server, timeouts=Timeouts(first_token=10, stall=10))
    streaming = asyncio.Event()

    async def consume() -> None:
        async for _event in backend.stream(GenerationRequest("x")):
            streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert server.bodies[0].closed
    assert server.sent(ABORT) == [{"genkey": server.sent(STREAM)[0]["genkey"]}]


async def test_a_stalled_stream_is_aborted_and_reported_with_its_text() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, [*tokens("She", finish="stop")[:1], Pause(5)])
    texts, finished = await collect(kobold(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, StreamStalled)
    assert finished.error.partial_text == "She" == "".join(texts)
    assert len(server.sent(ABORT)) == 1


async def test_koboldcpps_error_body_gives_the_message() -> None:
    server = FakeServer()
    message = "Authentication key is missing or invalid."
    detail = {"detail": {"error": "Unauthorized", "msg": message, "type": "unauthorized"}}
    server.json("POST", STREAM, detail, status=401)
    _, finished = await collect(kobold(server).stream(GenerationRequest("x")))
    assert isinstance(finished.error, BackendHTTPError)
    assert finished.error.status == 401
    assert finished.error.message.endswith("Authentication key is missing or invalid.")


async def test_the_api_key_is_sent_as_a_bearer_token() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, tokens("ok"))
    await collect(kobold(server, api_key="s3cret").stream(GenerationRequest("x")))
    request = next(r for r in server.requests if r.url.path == STREAM)
    assert request.headers["authorization"] == "Bearer s3cret"


async def test_without_streaming_the_generate_route_answers_at_once() -> None:
    server = FakeServer()
    with_abort(server)
    server.json(
        "POST", "/api/v1/generate", {"results": [{"text": "All of it.", "finish_reason": "length"}]}
    )
    texts, finished = await collect(kobold(server, stream=False).stream(GenerationRequest("x")))
    assert texts == ["All of it."]
    assert finished.reason == "length"


async def test_token_prompts_are_refused() -> None:
    server = FakeServer()
    _, finished = await collect(kobold(server).stream(GenerationRequest([1, 2])))
    assert isinstance(finished.error, RequestRejected)
    assert server.requests == []


async def test_model_info_and_tokens_come_from_the_kobold_routes() -> None:
    server = FakeServer()
    server.json("GET", "/api/v1/model", {"result": "koboldcpp/Pygmalion-2-7B.Q4_K_M"})
    server.json("GET", "/api/v1/config/max_context_length", {"value": 4096})

    def tokencount(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        ids = [ord(c) for c in prompt]
        return httpx.Response(200, json={"value": len(ids), "ids": ids})

    server.on("POST", "/api/extra/tokencount", tokencount)
    backend = kobold(server)
    info = await backend.model_info()
    assert (info.name, info.context_length) == ("Pygmalion-2-7B.Q4_K_M", 4096)
    assert backend.capabilities.max_context == 4096
    assert backend.capabilities.banned_strings
    assert await backend.tokenizer.encode("hey") == [104, 101, 121]


async def test_closing_the_backend_aborts_running_generations() -> None:
    server = FakeServer()
    with_abort(server)
    server.stream("POST", STREAM, [*tokens("a", finish="stop")[:1], Pause(5)])
    backend = kobold(server, timeouts=Timeouts(first_token=10, stall=10))
    events = backend.stream(GenerationRequest("x"))
    assert await anext(events) == TextDelta("a")
    await backend.aclose()
    assert server.sent(ABORT) == [{"genkey": server.sent(STREAM)[0]["genkey"]}]
    await events.aclose()  # type: ignore[attr-defined]


@given(st.text(max_size=200) | st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["token", "finish_reason", "results", "text"]),
    st.none() | st.text(max_size=5) | st.integers() | st.lists(st.text(max_size=3), max_size=2),
    max_size=3,
)))  # fmt: skip
def test_any_token_event_is_read_or_refused_cleanly(data: str) -> None:
    try:
        chunk = parse_token_event(data, "kcpp:5001")
    except StreamInterrupted:
        return
    assert isinstance(chunk.text, str)
    assert chunk.finish_reason is None or isinstance(chunk.finish_reason, str)
