"""Servers' error bodies become one-line messages; transport failures become typed errors."""

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.errors import (
    BackendTimeout,
    BackendUnavailable,
    InferenceError,
    StreamInterrupted,
)
from galatea.inference.remote.responses import (
    MAX_MESSAGE_CHARS,
    error_from_transport,
    extract_message,
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # OpenAI, vLLM, llama.cpp server
        (
            {"error": {"message": "the request exceeds the available context size", "code": 400}},
            "the request exceeds the available context size",
        ),
        # vLLM / Aphrodite (older)
        ({"object": "error", "message": "model 'x' does not exist"}, "model 'x' does not exist"),
        # FastAPI (llama-cpp-python, TabbyAPI)
        ({"detail": "Invalid API key"}, "Invalid API key"),
        (
            {"detail": [{"loc": ["body", "max_tokens"], "msg": "Input should be a valid integer"}]},
            "body.max_tokens: Input should be a valid integer",
        ),
        # KoboldCpp
        (
            {
                "detail": {
                    "error": "Unauthorized",
                    "msg": "Authentication key is missing or invalid.",
                }
            },
            "Authentication key is missing or invalid.",
        ),
        ({"error": "Model is loading"}, "Model is loading"),
    ],
)
def test_the_servers_own_message_is_found(body: object, message: str) -> None:
    assert extract_message(json.dumps(body).encode()) == message


def test_a_plain_text_body_gives_its_first_line() -> None:
    assert extract_message(b"\n  Bad Gateway\n<html>...</html>") == "Bad Gateway"


def test_an_empty_or_shapeless_body_gives_nothing() -> None:
    assert extract_message(b"") is None
    assert extract_message(b'{"status": 500}') is None


def test_messages_are_one_short_line() -> None:
    body = json.dumps({"error": {"message": "line one\nline\ttwo\x00" + "x" * 1000}}).encode()
    message = extract_message(body)
    assert message is not None
    assert message.startswith("line one line two ")
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("…")


@given(st.binary(max_size=2000))
def test_any_body_gives_a_bounded_single_line_or_nothing(body: bytes) -> None:
    message = extract_message(body)
    assert message is None or (len(message) <= MAX_MESSAGE_CHARS and "\n" not in message)


@given(
    st.recursive(
        st.none() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["error", "detail", "msg", "message"]), inner, max_size=3
            )
        ),
        max_leaves=30,
    )
)
def test_deeply_nested_error_bodies_do_not_crash(payload: object) -> None:
    message = extract_message(json.dumps(payload).encode())
    assert message is None or len(message) <= MAX_MESSAGE_CHARS


request = httpx.Request("POST", "http://gpu-box:8000/v1/completions")


@pytest.mark.parametrize(
    ("exc", "streaming", "kind"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused", request=request),
            False,
            BackendUnavailable,
        ),
        (httpx.ConnectTimeout("timed out", request=request), False, BackendTimeout),
        (httpx.ReadTimeout("timed out", request=request), False, BackendTimeout),
        (
            httpx.RemoteProtocolError("peer closed connection", request=request),
            True,
            StreamInterrupted,
        ),
        (httpx.ReadError("connection reset", request=request), True, StreamInterrupted),
        (
            httpx.RemoteProtocolError("Server disconnected", request=request),
            False,
            BackendUnavailable,
        ),
        (httpx.StreamClosed(), True, StreamInterrupted),
    ],
)
def test_transport_failures_have_their_own_types(
    exc: httpx.HTTPError, streaming: bool, kind: type[InferenceError]
) -> None:
    error = error_from_transport(exc, server="gpu-box:8000", streaming=streaming)
    assert type(error) is kind
    assert "gpu-box:8000" in error.message
