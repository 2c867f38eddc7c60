"""What a remote server says about its model: name, context length, chat template.

Each engine reports the context length somewhere else (or nowhere: llama-cpp-python's server,
Ollama's OpenAI routes and OpenAI itself), so an administrator's `context_length` always wins
and is required where the server is silent.
"""

from typing import Any

import httpx

from galatea.inference.backend import ModelInfo
from galatea.inference.errors import InferenceError, RequestRejected
from galatea.inference.remote.dialects import ContextSource
from galatea.inference.remote.endpoints import Endpoint
from galatea.inference.remote.responses import request_json


async def list_models(client: httpx.AsyncClient, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The entries of `/v1/models` (each has at least an `id`); none if the route is missing."""
    payload = await _optional(client, endpoint, "/v1/models")
    entries = payload.get("data")
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


async def discover_model_info(
    client: httpx.AsyncClient, endpoint: Endpoint, source: ContextSource
) -> ModelInfo:
    """Ask the server about its model; the endpoint's own settings take precedence."""
    name = endpoint.model
    context: int | None = None
    template: str | None = None
    bos = eos = ""
    if source == "kobold":
        name = name or await _kobold_model_name(client, endpoint)
        context = await _kobold_context(client, endpoint)
    else:
        models = await list_models(client, endpoint)
        entry = _pick(models, name)
        if entry is not None:
            name = name or entry["id"]
            context = _positive_int(entry.get("max_model_len"))
        if source == "props":
            props = await _optional(client, endpoint, "/props")
            settings = props.get("default_generation_settings", {})
            n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
            context = _positive_int(n_ctx) or context
            template = _text(props.get("chat_template")) or None
            bos, eos = _text(props.get("bos_token")), _text(props.get("eos_token"))
        elif source == "tabby":
            loaded = await _optional(client, endpoint, "/v1/model")
            parameters = loaded.get("parameters", {})
            if isinstance(parameters, dict):
                context = _positive_int(parameters.get("max_seq_len")) or context
    context = endpoint.context_length or context
    if context is None:
        raise RequestRejected(
            f"{endpoint.label} does not report its context length; "
            "set context_length in this backend's configuration"
        )
    return ModelInfo(
        name=name or "unknown",
        context_length=context,
        chat_template=template,
        bos_token=bos,
        eos_token=eos,
    )


async def _kobold_model_name(client: httpx.AsyncClient, endpoint: Endpoint) -> str | None:
    payload = await request_json(client, endpoint, "GET", "/api/v1/model")
    result = payload.get("result") if isinstance(payload, dict) else None
    # KoboldCpp answers "koboldcpp/<file name>".
    return result.removeprefix("koboldcpp/") if isinstance(result, str) else None


async def _kobold_context(client: httpx.AsyncClient, endpoint: Endpoint) -> int | None:
    payload = await _optional(client, endpoint, "/api/v1/config/max_context_length")
    return _positive_int(payload.get("value"))


async def _optional(client: httpx.AsyncClient, endpoint: Endpoint, path: str) -> dict[str, Any]:
    """A GET whose route some versions lack: an empty answer instead of an HTTP error."""
    try:
        payload = await request_json(client, endpoint, "GET", path)
    except InferenceError as exc:
        if getattr(exc, "status", None) in (404, 405, 501):
            return {}
        raise
    return payload if isinstance(payload, dict) else {}


def _pick(models: list[dict[str, Any]], name: str | None) -> dict[str, Any] | None:
    if name is not None:
        return next((m for m in models if m["id"] == name), None)
    return models[0] if models else None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
