"""Tokenizing over HTTP: the right route per server, no BOS of its own, estimates otherwise."""

import json

import httpx
import pytest

from galatea.inference.errors import BackendHTTPError, RequestRejected
from galatea.inference.remote.dialects import get_dialect
from galatea.inference.remote.endpoints import Endpoint
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend
from galatea.inference.remote.tokenizers import (
    ApproximateTokenizer,
    HttpTokenizer,
    parse_tokens,
)
from tests.inference.remote.fakes import FakeServer

VOCAB = {"Hello": 9906, " world": 1917, "<|im_start|>": 1}


def fake_encode(text: str) -> list[int]:
    """A toy tokenizer: known pieces, greedy, one id per unknown character."""
    ids: list[int] = []
    while text:
        piece = next((p for p in VOCAB if text.startswith(p)), text[0])
        ids.append(VOCAB[piece] if piece in VOCAB else 1000 + ord(piece))
        text = text[len(piece) :]
    return ids


def backend(server: FakeServer, dialect: str) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        Endpoint("http://gpu:8000"), get_dialect(dialect), transport=server.transport()
    )


async def test_llama_cpp_server_tokenizes_without_special_tokens_added() -> None:
    server = FakeServer()

    def tokenize(request: httpx.Request) -> httpx.Response:
        body = httpx.Response(200, content=request.content).json()
        assert body["add_special"] is False
        return httpx.Response(200, json={"tokens": fake_encode(body["content"])})

    server.on("POST", "/tokenize", tokenize)
    server.json("POST", "/detokenize", {"content": "Hello world"})
    tokenizer = backend(server, "llamacpp").tokenizer
    assert await tokenizer.encode("Hello world") == [9906, 1917]
    assert await tokenizer.count("Hello world") == 2
    assert await tokenizer.decode([9906, 1917]) == "Hello world"
    assert server.sent("/detokenize") == [{"tokens": [9906, 1917]}]


async def test_the_bos_a_server_always_adds_is_taken_off() -> None:
    # llama-cpp-python's /extras/tokenize adds BOS whenever the model says so.
    server = FakeServer()

    def tokenize(request: httpx.Request) -> httpx.Response:
        text = httpx.Response(200, content=request.content).json()["input"]
        return httpx.Response(200, json={"tokens": [1, *fake_encode(text)]})

    server.on("POST", "/extras/tokenize", tokenize)
    tokenizer = backend(server, "llamacpp-python").tokenizer
    assert await tokenizer.encode("Hello world") == [9906, 1917]
    # A BOS written in the text itself is the text's and stays.
    assert await tokenizer.encode("<|im_start|>Hello") == [1, 9906]


async def test_a_generic_server_is_probed_route_by_route_once() -> None:
    server = FakeServer()
    server.on("POST", "/v1/tokenize", lambda request: httpx.Response(
        200, json={"tokens": fake_encode(json.loads(request.content)["prompt"])}
    ))  # fmt: skip
    tokenizer = backend(server, "openai").tokenizer
    assert isinstance(tokenizer, HttpTokenizer)
    before = tokenizer.exact
    assert await tokenizer.count("abc") == 3
    assert await tokenizer.count("abc") == 3
    assert (before, tokenizer.exact) == (None, True)
    paths = [r.url.path for r in server.requests]
    assert paths == ["/tokenize", "/v1/tokenize", "/v1/tokenize", "/v1/tokenize"]


async def test_without_a_tokenize_route_counts_are_estimates_and_encoding_is_refused() -> None:
    server = FakeServer()
    tokenizer = backend(server, "openai").tokenizer
    assert await tokenizer.count("x" * 30) == 10
    assert isinstance(tokenizer, HttpTokenizer)
    assert tokenizer.exact is False
    with pytest.raises(RequestRejected, match="no tokenizer"):
        await tokenizer.encode("x")


async def test_ollama_has_no_tokenizer_route_and_never_asks() -> None:
    server = FakeServer()
    tokenizer = backend(server, "ollama").tokenizer
    assert isinstance(tokenizer, ApproximateTokenizer)
    assert await tokenizer.count("twelve chars") == 4
    assert server.requests == []


async def test_a_failing_server_is_an_error_not_an_estimate() -> None:
    server = FakeServer()
    server.json("POST", "/tokenize", {"error": {"message": "model not loaded"}}, status=503)
    with pytest.raises(BackendHTTPError, match="model not loaded"):
        await backend(server, "llamacpp").tokenizer.count("x")


@pytest.mark.parametrize(
    ("payload", "tokens"),
    [
        ({"tokens": [1, 2]}, [1, 2]),
        ({"tokens": [{"id": 1, "piece": "a"}, {"id": 2, "piece": "b"}]}, [1, 2]),
        ({"value": 2, "ids": [3, 4]}, [3, 4]),
    ],
)
def test_token_lists_are_read_in_every_servers_shape(payload: object, tokens: list[int]) -> None:
    assert parse_tokens(payload) == tokens


@pytest.mark.parametrize("payload", [{"tokens": ["a"]}, {"tokens": [True]}, {"count": 3}, []])
def test_malformed_token_lists_are_refused(payload: object) -> None:
    with pytest.raises(BackendHTTPError):
        parse_tokens(payload)


async def test_a_catch_all_page_is_not_mistaken_for_a_tokenizer() -> None:
    server = FakeServer()
    server.on("POST", "/tokenize", httpx.Response(200, text="<html>welcome</html>"))
    server.json("POST", "/v1/tokenize", {"status": "ok"})
    server.on("POST", "/extras/tokenize", lambda request: httpx.Response(
        200, json={"tokens": fake_encode(json.loads(request.content)["input"])}
    ))  # fmt: skip
    assert await backend(server, "openai").tokenizer.count("Hello world") == 2


async def test_refused_credentials_are_an_error_not_a_missing_route() -> None:
    server = FakeServer()
    server.json("POST", "/tokenize", {"error": {"message": "Invalid API Key"}}, status=401)
    with pytest.raises(BackendHTTPError, match="Invalid API Key"):
        await backend(server, "openai").tokenizer.count("x")
