"""Model name and context length, from wherever each engine reports them."""

import pytest

from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.errors import BackendUnavailable, RequestRejected
from galatea.inference.remote.dialects import get_dialect
from galatea.inference.remote.endpoints import Endpoint
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend
from tests.inference.remote.fakes import FakeServer, sse, text_chunk


def backend(server: FakeServer, dialect: str, **endpoint: object) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        Endpoint("http://gpu:8000", **endpoint),  # type: ignore[arg-type]
        get_dialect(dialect),
        transport=server.transport(),
    )


async def test_vllm_reports_max_model_len_in_its_model_list() -> None:
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "a", "max_model_len": 2048},
                                                {"id": "b", "max_model_len": 32768}]})  # fmt: skip
    b = backend(server, "vllm", model="b")
    assert b.capabilities.max_context is None
    info = await b.model_info()
    assert (info.name, info.context_length) == ("b", 32768)
    assert b.capabilities.max_context == 32768


async def test_llama_cpp_server_gives_context_template_and_special_tokens_in_props() -> None:
    server = FakeServer()
    server.json(
        "GET", "/v1/models", {"data": [{"id": "smollm2.gguf", "meta": {"n_ctx_train": 8192}}]}
    )
    server.json("GET", "/props", {
        "default_generation_settings": {"n_ctx": 4096},
        "chat_template": "{% for m in messages %}...{% endfor %}",
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
    })  # fmt: skip
    info = await backend(server, "llamacpp").model_info()
    assert info.name == "smollm2.gguf"
    assert info.context_length == 4096
    assert info.chat_template == "{% for m in messages %}...{% endfor %}"
    assert (info.bos_token, info.eos_token) == ("<|im_start|>", "<|im_end|>")


async def test_tabbyapi_reports_the_loaded_models_sequence_length() -> None:
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "Mistral-Nemo-exl2"}]})
    server.json(
        "GET", "/v1/model", {"id": "Mistral-Nemo-exl2", "parameters": {"max_seq_len": 16384}}
    )
    info = await backend(server, "tabbyapi").model_info()
    assert info.context_length == 16384


async def test_a_configured_context_length_wins_over_the_servers() -> None:
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "a", "max_model_len": 32768}]})
    info = await backend(server, "vllm", context_length=8192).model_info()
    assert info.context_length == 8192


@pytest.mark.parametrize("dialect", ["llamacpp-python", "ollama", "openai"])
async def test_servers_that_do_not_say_need_a_configured_context_length(dialect: str) -> None:
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "llama3.1:8b"}]})
    with pytest.raises(RequestRejected, match="set context_length"):
        await backend(server, dialect).model_info()
    info = await backend(server, dialect, context_length=2048).model_info()
    assert (info.name, info.context_length) == ("llama3.1:8b", 2048)


async def test_model_info_is_asked_once() -> None:
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "a", "max_model_len": 2048}]})
    b = backend(server, "vllm")
    assert await b.model_info() == await b.model_info()
    assert len(server.requests) == 1


async def test_an_unreachable_server_raises_a_typed_error() -> None:
    b = OpenAICompatibleBackend(Endpoint("http://127.0.0.1:9"), get_dialect("vllm"))
    with pytest.raises(BackendUnavailable, match=r"127\.0\.0\.1:9"):
        await b.model_info()
    await b.aclose()


async def test_a_server_without_a_model_list_still_serves_generations() -> None:
    server = FakeServer()
    server.stream("POST", "/v1/completions", sse(text_chunk("ok", "stop")))
    b = backend(server, "openai")
    events = [event async for event in b.stream(GenerationRequest("x"))]
    assert events[0] == TextDelta("ok")
    assert "model" not in server.sent("/v1/completions")[0]
    info = await backend(server, "openai", model="gpt-x", context_length=4096).model_info()
    assert info.name == "gpt-x"
