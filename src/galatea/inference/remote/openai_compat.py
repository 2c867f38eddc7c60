"""`OpenAICompatibleBackend`: Aphrodite, vLLM, llama.cpp server, llama-cpp-python's server,
TabbyAPI, Ollama, KoboldCpp and OpenAI itself, through `/v1/completions` (the text prompt, as
roleplay templates need) or `/v1/chat/completions` (for servers that only offer chat).

The parameter dialect decides the field names; this module does the HTTP, the SSE stream
and the reading of each server's answer shapes.
"""

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from galatea.inference.backend import (
    Capabilities,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    Tokenizer,
)
from galatea.inference.errors import (
    BackendHTTPError,
    BackendUnavailable,
    InferenceError,
    RequestRejected,
    StreamInterrupted,
)
from galatea.inference.remote.dialects import Dialect
from galatea.inference.remote.discovery import discover_model_info, list_models
from galatea.inference.remote.endpoints import Endpoint
from galatea.inference.remote.responses import (
    TRANSPORT_ERRORS,
    error_from_response,
    error_from_transport,
    extract_message,
    read_json,
)
from galatea.inference.remote.sse import SSEError, aiter_events
from galatea.inference.remote.streams import Chunk, ServerUsage, StreamRelay
from galatea.inference.remote.tokenizers import ApproximateTokenizer, HttpTokenizer

Body = dict[str, Any]


def build_client(
    endpoint: Endpoint, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The HTTP client a remote backend owns: no redirects, its own connection limits."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(endpoint.timeouts.request, connect=endpoint.timeouts.connect),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        follow_redirects=False,
    )


def stream_timeout(endpoint: Endpoint) -> httpx.Timeout:
    """Transport limits of a generation: reads are timed by the relay (first token, stall)."""
    t = endpoint.timeouts
    return httpx.Timeout(connect=t.connect, read=None, write=t.request, pool=t.first_token)


class OpenAICompatibleBackend:
    """A remote engine spoken to through OpenAI's completion routes in its own dialect."""

    def __init__(
        self,
        endpoint: Endpoint,
        dialect: Dialect,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._dialect = dialect
        self._client = build_client(endpoint, transport)
        self._tokenizer: HttpTokenizer | ApproximateTokenizer = (
            HttpTokenizer(self._client, endpoint, dialect.tokenizer_routes)
            if dialect.tokenizer_routes
            else ApproximateTokenizer()
        )
        self._closed = False
        self._info: ModelInfo | None = None
        self._model: str | None = endpoint.model
        self._model_lock = asyncio.Lock()

    @property
    def dialect(self) -> Dialect:
        """The parameter dialect this backend speaks."""
        return self._dialect

    @property
    def tokenizer(self) -> Tokenizer:
        """The server's tokenizer, or an approximate counter when it offers none."""
        return self._tokenizer

    @property
    def capabilities(self) -> Capabilities:
        """The dialect's samplers; the context length once known."""
        known = self._info.context_length if self._info else None
        max_context = self._endpoint.context_length or known
        return self._dialect.capabilities(max_context)

    async def model_info(self) -> ModelInfo:
        """Name and context length from the server (or the configuration, which wins)."""
        self._ensure_open()
        if self._info is None:
            self._info = await discover_model_info(
                self._client, self._endpoint, self._dialect.context_source
            )
        return self._info

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Generate remotely; failures end the stream as `Finished(reason="error")`."""
        try:
            self._ensure_open()
            body = self._body(request)
        except InferenceError as exc:
            yield Finished(reason="error", error=exc)
            return
        relay = StreamRelay(
            request,
            self._endpoint.timeouts,
            server=self._endpoint.label,
            count_prompt=lambda: self._count_prompt(request),
            is_closing=lambda: self._closed,
        )
        # Closing this generator must close the relay's too, and with it the HTTP stream.
        async with aclosing(relay.run(self._chunks(body))) as events:
            async for event in events:
                yield event

    async def aclose(self) -> None:
        """Close the connections; streams still running end as cancelled."""
        self._closed = True
        await self._client.aclose()

    def _ensure_open(self) -> None:
        if self._closed:
            raise BackendUnavailable(f"the backend for {self._endpoint.label} has been closed")

    def _body(self, request: GenerationRequest) -> Body:
        dialect, endpoint = self._dialect, self._endpoint
        if request.max_tokens < 1:
            raise RequestRejected("max_tokens must be at least 1")
        body: Body = {**dialect.extra_fields, **dialect.sampling_fields(request.sampling)}
        if isinstance(request.prompt, str):
            if endpoint.route == "chat":
                body["messages"] = _chat_messages(request)
                if body["messages"][-1]["role"] == "assistant":
                    body.update(dialect.continue_fields)
            else:
                body["prompt"] = request.prompt
        elif endpoint.route == "chat" or not dialect.token_prompts:
            raise RequestRejected(
                f"{dialect.name} on its {endpoint.route} route takes text prompts, not token ids"
            )
        else:
            body["prompt"] = list(request.prompt)
        body["max_tokens"] = request.max_tokens
        stops = [stop for stop in dict.fromkeys(request.stop) if stop]
        if dialect.max_stop_strings is not None:
            # The rest are still cut client-side by the relay.
            stops = stops[: dialect.max_stop_strings]
        if stops:
            body["stop"] = stops
        if request.banned_strings and dialect.banned_strings_field:
            body[dialect.banned_strings_field] = list(request.banned_strings)
        if request.seed is not None:
            body["seed"] = request.seed
        body["stream"] = endpoint.stream
        if endpoint.stream and dialect.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _model_name(self) -> str | None:
        """The configured model, else the first one the server lists (asked once)."""
        if self._model is None:
            async with self._model_lock:
                if self._model is None:
                    models = await list_models(self._client, self._endpoint)
                    self._model = models[0]["id"] if models else ""
        return self._model or None

    async def _chunks(self, body: Body) -> AsyncGenerator[Chunk, None]:
        model = await self._model_name()
        if model:
            body["model"] = model
        chat = self._endpoint.route == "chat"
        path = "/v1/chat/completions" if chat else "/v1/completions"
        label = self._endpoint.label
        answered = False
        try:
            async with self._client.stream(
                "POST",
                self._endpoint.url(path),
                json=body,
                headers=self._endpoint.headers(),
                timeout=stream_timeout(self._endpoint),
            ) as response:
                if response.status_code >= 400:
                    raise await error_from_response(response)
                answered = True
                if not self._endpoint.stream:
                    yield parse_choice(await read_json(response), chat=chat)
                    return
                ended = False
                async for event in aiter_events(response.aiter_text()):
                    if event.data.strip() == "[DONE]":
                        ended = True
                        break
                    chunk = parse_choice(decode_event(event.data, label), chat=chat)
                    ended = ended or chunk.finish_reason is not None
                    yield chunk
                if not ended:
                    raise StreamInterrupted(f"{label} ended the stream before the reply was done")
        except SSEError as exc:
            raise StreamInterrupted(f"{label} sent an unusable event stream: {exc}") from exc
        except TRANSPORT_ERRORS as exc:
            raise error_from_transport(exc, server=label, streaming=answered) from exc

    async def _count_prompt(self, request: GenerationRequest) -> int | None:
        """Prompt tokens when the server reported none: exact counts only, best effort."""
        if not isinstance(request.prompt, str):
            return len(request.prompt)
        tokenizer = self._tokenizer
        if self._endpoint.route == "chat" or not isinstance(tokenizer, HttpTokenizer):
            return None
        try:
            count = await tokenizer.count(request.prompt)
        except InferenceError:
            return None
        return count if tokenizer.exact else None


def decode_event(data: str, server: str) -> Any:
    """The JSON of one SSE event; an `error` object in it becomes a `BackendHTTPError`."""
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StreamInterrupted(f"{server} sent an event that is not JSON") from exc
    if isinstance(payload, dict) and payload.get("error"):
        error = payload["error"]
        code = error.get("code") if isinstance(error, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        message = extract_message(json.dumps(payload).encode()) or "error in stream"
        raise BackendHTTPError(status, message)
    return payload


def parse_choice(payload: Any, *, chat: bool) -> Chunk:
    """The first choice of a completion (streamed chunk or whole answer) as a `Chunk`."""
    if not isinstance(payload, dict):
        raise StreamInterrupted("the server sent an answer that is not a JSON object")
    choices = payload.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    if not isinstance(choice, dict):
        choice = {}
    text: Any = choice.get("text")
    if chat:
        message = choice.get("delta") or choice.get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
    finish = choice.get("finish_reason")
    stop = choice.get("stop_reason")
    return Chunk(
        text=text if isinstance(text, str) else "",
        finish_reason=finish if isinstance(finish, str) else None,
        stop_string=stop if isinstance(stop, str) else None,
        usage=parse_usage(payload),
    )


def parse_usage(payload: dict[str, Any]) -> ServerUsage | None:
    """Token counts from `usage` (OpenAI, vLLM), `timings` and `tokens_cached` (llama.cpp)."""
    usage = payload.get("usage")
    timings = payload.get("timings")
    if not (isinstance(usage, dict) or isinstance(timings, dict) or "tokens_cached" in payload):
        return None
    usage = usage if isinstance(usage, dict) else {}
    timings = timings if isinstance(timings, dict) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = _count(details.get("cached_tokens"))
    if cached is None:
        cached = _count(timings.get("cache_n"))
    if cached is None:
        cached = _count(payload.get("tokens_cached"))
    prompt = _count(usage.get("prompt_tokens"))
    if prompt is None and "prompt_n" in timings:
        prompt = (_count(timings.get("prompt_n")) or 0) + (_count(timings.get("cache_n")) or 0)
    generated = _count(usage.get("completion_tokens"))
    if generated is None:
        generated = _count(timings.get("predicted_n"))
    return ServerUsage(prompt_tokens=prompt, generated_tokens=generated, cached_tokens=cached)


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    """The conversation for a chat route: the request's messages, else its text as one turn."""
    if request.messages:
        return [{"role": m.role, "content": m.content} for m in request.messages]
    assert isinstance(request.prompt, str)
    return [{"role": "user", "content": request.prompt}]
