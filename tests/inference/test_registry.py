"""BackendSpec -> TextBackend: every kind, and a clear error for every bad specification."""

import json

import httpx
import pytest

from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.registry import BackendConfigError, BackendSpec, build_backend, dialect_names
from galatea.inference.remote.koboldai import KoboldAIBackend
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend


@pytest.mark.parametrize("dialect", dialect_names())
def test_an_openai_backend_is_built_for_every_dialect(dialect: str) -> None:
    backend = build_backend(BackendSpec(kind="openai", url="http://gpu:8000/v1", dialect=dialect))
    assert isinstance(backend, OpenAICompatibleBackend)
    assert backend.dialect.name == dialect


def test_a_koboldai_backend_is_built() -> None:
    spec = BackendSpec(kind="koboldai", url="http://kcpp:5001", dialect="koboldcpp")
    assert isinstance(build_backend(spec), KoboldAIBackend)


async def test_the_built_backend_talks_to_the_configured_server() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        events = [{"choices": [{"text": "hi", "finish_reason": "stop"}]}]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    spec = BackendSpec(kind="openai", url="https://llm.internal/api/v1/", dialect="aphrodite",
                       model="m", api_key="k")  # fmt: skip
    backend = build_backend(spec, transport=httpx.MockTransport(handle))
    events = [event async for event in backend.stream(GenerationRequest("x"))]
    assert events[0] == TextDelta("hi")
    assert seen[0] == "https://llm.internal/api/v1/completions"
    await backend.aclose()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (BackendSpec(kind="openai"), "needs a url"),
        (BackendSpec(kind="openai", url="file:///etc/passwd"), "must start with http"),
        (BackendSpec(kind="openai", url="http://user:pw@gpu:8000"), "api_key"),
        (
            BackendSpec(kind="openai", url="http://gpu", dialect="exllama"),
            "unknown backend dialect",
        ),
        (BackendSpec(kind="koboldai", url="http://k", dialect="vllm"), "does not apply"),
        (BackendSpec(kind="koboldai", url="http://k", route="chat"), "no chat route"),
        (BackendSpec(kind="openai", url="http://gpu", context_length=0), "context_length"),
        (BackendSpec(kind="embedded", name="local", options={"threads": "many"}), "threads"),
        (BackendSpec(kind="tgi", url="http://x"), "unknown backend kind 'tgi'"),  # type: ignore[arg-type]
    ],
)
def test_bad_specifications_are_refused_with_the_reason(spec: BackendSpec, message: str) -> None:
    with pytest.raises(BackendConfigError, match=message):
        build_backend(spec)


def test_the_api_key_never_shows_in_a_printed_spec() -> None:
    spec = BackendSpec(kind="openai", url="http://gpu", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(spec)
    backend = build_backend(spec)
    assert isinstance(backend, OpenAICompatibleBackend)
    assert "sk-very-secret" not in repr(backend._endpoint)
