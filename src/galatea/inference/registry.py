"""Backends by configuration: a `BackendSpec` names a kind of engine and how to reach it, and
`build_backend` turns it into a running `TextBackend`.

Kinds: `openai` (any OpenAI-compatible server, in one of the parameter dialects of
`galatea.inference.remote.dialects`), `koboldai` (KoboldCpp's native API), `embedded` (the
llama.cpp engine in this process, registered by its module in `BUILDERS`) and `scripted`
(replies written in advance, streamed at once: for tests and demos of the platform only).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from galatea.inference.backend import TextBackend
from galatea.inference.remote.dialects import DIALECTS, get_dialect
from galatea.inference.remote.endpoints import Endpoint, EndpointError, Route, Timeouts
from galatea.inference.remote.koboldai import KoboldAIBackend
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend
from galatea.inference.scripted import ScriptedBackend

BackendKind = Literal["openai", "koboldai", "embedded", "scripted"]
OptionValue = str | int | float | bool


class BackendConfigError(ValueError):
    """A backend specification cannot be built; the message names the field at fault."""


@dataclass(slots=True, frozen=True)
class BackendSpec:
    """One backend as the administrator configured it.

    Backend URLs are administrator configuration, read from the server's settings at start-up.
    They never come from users: no request, card, chat or profile can name or change the
    server a generation goes to (an address taken from users would let them make this server
    call into its private network). Users only choose among the backends configured here.
    """

    kind: BackendKind
    url: str = ""
    """Server root for remote kinds, e.g. http://127.0.0.1:8080 (a trailing /v1 is fine)."""
    dialect: str = "openai"
    """Parameter dialect of an `openai` backend: aphrodite, vllm, llamacpp, llamacpp-python,
    tabbyapi, ollama, koboldcpp or openai (generic)."""
    model: str | None = None
    """Model name to request; None takes the first one the server lists."""
    api_key: str | None = field(default=None, repr=False)
    """Bearer token for the server; never logged."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    context_length: int | None = None
    """Context window in tokens; required where the server does not report it."""
    route: Route = "completions"
    """`completions` (text prompts, the roleplay path) or `chat` (chat-only servers)."""
    stream: bool = True
    """Stream tokens as they come; False waits for whole completions."""
    name: str = ""
    """Name shown in logs and errors; defaults to the server's host and port."""
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    """Settings specific to one kind (the embedded engine's threads, model file, ...)."""


Builder = Callable[[BackendSpec, httpx.AsyncBaseTransport | None], TextBackend]


def _endpoint(spec: BackendSpec) -> Endpoint:
    if not spec.url:
        raise BackendConfigError(f"backend kind {spec.kind!r} needs a url")
    try:
        return Endpoint(
            base_url=spec.url,
            model=spec.model,
            api_key=spec.api_key,
            timeouts=spec.timeouts,
            context_length=spec.context_length,
            route=spec.route,
            stream=spec.stream,
            label=spec.name,
        )
    except EndpointError as exc:
        raise BackendConfigError(str(exc)) from exc


def _build_openai(spec: BackendSpec, transport: httpx.AsyncBaseTransport | None) -> TextBackend:
    try:
        dialect = get_dialect(spec.dialect)
    except ValueError as exc:
        raise BackendConfigError(str(exc)) from exc
    return OpenAICompatibleBackend(_endpoint(spec), dialect, transport=transport)


def _build_koboldai(spec: BackendSpec, transport: httpx.AsyncBaseTransport | None) -> TextBackend:
    if spec.dialect not in ("koboldcpp", "openai"):
        raise BackendConfigError(
            f"a koboldai backend speaks KoboldCpp's API; dialect {spec.dialect!r} does not apply"
        )
    if spec.route != "completions":
        raise BackendConfigError("a koboldai backend has no chat route")
    return KoboldAIBackend(_endpoint(spec), transport=transport)


def _build_embedded(spec: BackendSpec, transport: httpx.AsyncBaseTransport | None) -> TextBackend:
    """The in-process llama.cpp engine, configured by `spec.options` (`LlamaCppConfig` fields;
    `spec.model` and `spec.context_length` fill `model` and `context_length` when given)."""
    del transport  # the embedded engine makes no HTTP calls
    # Imported here: loading llama.cpp's native library only pays when the engine is used.
    from galatea.inference.llamacpp import LlamaCppBackend, LlamaCppConfig

    options: dict[str, object] = dict(spec.options)
    if spec.model:
        options.setdefault("model", spec.model)
    if spec.context_length:
        options.setdefault("context_length", spec.context_length)
    try:
        config = LlamaCppConfig.from_options(options)
    except ValueError as exc:
        raise BackendConfigError(f"backend {spec.name or 'embedded'!r}: {exc}") from exc
    return LlamaCppBackend.open(config)


def _build_scripted(spec: BackendSpec, transport: httpx.AsyncBaseTransport | None) -> TextBackend:
    """A `ScriptedBackend` for tests and demos: `options` give `reply` (the text every request
    gets), `token_delay` (seconds per word) and `context_length`. It runs no model."""
    del transport
    options = dict(spec.options)
    unknown = sorted(set(options) - {"reply", "token_delay"})
    if unknown:
        raise BackendConfigError(f"a scripted backend has no option {unknown[0]!r}")
    reply = options.get("reply", "Hello!")
    delay = options.get("token_delay", 0.0)
    if not isinstance(reply, str) or isinstance(delay, bool) or not isinstance(delay, int | float):
        raise BackendConfigError("a scripted backend needs a text 'reply' and a 'token_delay'")
    if not 0 <= delay <= 10:
        raise BackendConfigError("a scripted backend's token_delay must be 0 to 10 seconds")
    return ScriptedBackend(
        replies=(reply,),
        token_delay=float(delay),
        context_length=spec.context_length or 4096,
        model_name=spec.model or "scripted",
    )


BUILDERS: dict[BackendKind, Builder] = {
    "openai": _build_openai,
    "koboldai": _build_koboldai,
    "embedded": _build_embedded,
    "scripted": _build_scripted,
}
"""How each kind of backend is built."""


def build_backend(
    spec: BackendSpec, *, transport: httpx.AsyncBaseTransport | None = None
) -> TextBackend:
    """The backend `spec` describes; `transport` replaces the network (tests only)."""
    builder = BUILDERS.get(spec.kind)
    if builder is None:
        known = ", ".join(sorted(BUILDERS))
        raise BackendConfigError(f"unknown backend kind {spec.kind!r}; known: {known}")
    return builder(spec, transport)


def dialect_names() -> list[str]:
    """Names accepted in `BackendSpec.dialect`."""
    return sorted(DIALECTS)
