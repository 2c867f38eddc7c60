"""`KoboldAIBackend`: KoboldCpp through its native KoboldAI routes.

`/api/extra/generate/stream` streams `event: message` / `data: {"token": ...}` events (and
`/api/v1/generate` answers at once when streaming is off); `/api/extra/tokencount` counts,
`/api/v1/model` and `/api/v1/config/max_context_length` describe the model. Each generation
carries a random `genkey`, so cancelling it (or cutting it at a client-side stop string)
also tells the server to stop through `/api/extra/abort`.

Aphrodite serves a thinner copy of these routes (no DRY, no penalty window, no banned
strings); point Galatea at Aphrodite's OpenAI routes instead, where it honours everything.
"""

import contextlib
import json
import secrets
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
    BackendUnavailable,
    InferenceError,
    RequestRejected,
    StreamInterrupted,
)
from galatea.inference.remote.dialects import DIALECTS
from galatea.inference.remote.discovery import discover_model_info
from galatea.inference.remote.endpoints import Endpoint
from galatea.inference.remote.openai_compat import build_client, stream_timeout
from galatea.inference.remote.responses import (
    TRANSPORT_ERRORS,
    error_from_response,
    error_from_transport,
    read_json,
    request_json,
)
from galatea.inference.remote.sse import SSEError, aiter_events
from galatea.inference.remote.streams import Chunk, StreamRelay
from galatea.inference.remote.tokenizers import KOBOLD_TOKENIZE, HttpTokenizer

Body = dict[str, Any]

ABORT_TIMEOUT = 5.0
"""Seconds allowed for telling the server to abort; the stream is already gone by then."""

_NATIVE_NAMES = {"mirostat_mode": "mirostat"}
"""Fields the OpenAI routes rename for KoboldCpp and its native routes take as they are."""


class KoboldAIBackend:
    """A KoboldCpp server spoken to through the KoboldAI API."""

    def __init__(
        self, endpoint: Endpoint, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._endpoint = endpoint
        self._dialect = DIALECTS["koboldcpp"]
        self._client = build_client(endpoint, transport)
        self._tokenizer = HttpTokenizer(self._client, endpoint, (KOBOLD_TOKENIZE,))
        self._closed = False
        self._info: ModelInfo | None = None
        self._running: set[str] = set()

    @property
    def tokenizer(self) -> Tokenizer:
        """KoboldCpp's tokenizer, through `/api/extra/tokencount`."""
        return self._tokenizer

    @property
    def capabilities(self) -> Capabilities:
        """KoboldCpp's samplers, its native banned strings; the context length once known."""
        known = self._info.context_length if self._info else None
        return self._dialect.capabilities(self._endpoint.context_length or known)

    async def model_info(self) -> ModelInfo:
        """Model name and context length as KoboldCpp reports them."""
        if self._closed:
            raise BackendUnavailable(f"the backend for {self._endpoint.label} has been closed")
        if self._info is None:
            self._info = await discover_model_info(self._client, self._endpoint, "kobold")
        return self._info

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Generate on KoboldCpp; failures end the stream as `Finished(reason="error")`."""
        genkey = f"GAL{secrets.token_hex(8)}"
        try:
            if self._closed:
                raise BackendUnavailable(f"the backend for {self._endpoint.label} has been closed")
            body = self._body(request, genkey)
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
        async with aclosing(relay.run(self._chunks(body, genkey))) as events:
            async for event in events:
                yield event

    async def aclose(self) -> None:
        """Abort what is running, then close the connections."""
        self._closed = True
        for genkey in list(self._running):
            await self._abort(genkey)
        await self._client.aclose()

    def _body(self, request: GenerationRequest, genkey: str) -> Body:
        if not isinstance(request.prompt, str):
            raise RequestRejected("the KoboldAI API takes text prompts, not token ids")
        if request.max_tokens < 1:
            raise RequestRejected("max_tokens must be at least 1")
        fields = self._dialect.sampling_fields(request.sampling)
        body: Body = {_NATIVE_NAMES.get(key, key): value for key, value in fields.items()}
        body.update(
            prompt=request.prompt,
            max_length=request.max_tokens,
            stop_sequence=[stop for stop in dict.fromkeys(request.stop) if stop],
            trim_stop=True,
            genkey=genkey,
            # Keeps users' prompts out of the server's console log.
            quiet=True,
        )
        if self._endpoint.context_length:
            body["max_context_length"] = self._endpoint.context_length
        if request.banned_strings and self._dialect.banned_strings_field:
            body[self._dialect.banned_strings_field] = list(request.banned_strings)
        if request.seed is not None:
            body["sampler_seed"] = request.seed
        return body

    async def _chunks(self, body: Body, genkey: str) -> AsyncGenerator[Chunk, None]:
        streaming = self._endpoint.stream
        path = "/api/extra/generate/stream" if streaming else "/api/v1/generate"
        label = self._endpoint.label
        answered = finished = False
        self._running.add(genkey)
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
                if not streaming:
                    yield parse_result(await read_json(response))
                else:
                    async for event in aiter_events(response.aiter_text()):
                        if event.event == "message":
                            yield parse_token_event(event.data, label)
                # KoboldCpp closes the connection when done; an error would have raised.
                finished = True
        except SSEError as exc:
            raise StreamInterrupted(f"{label} sent an unusable event stream: {exc}") from exc
        except TRANSPORT_ERRORS as exc:
            raise error_from_transport(exc, server=label, streaming=answered) from exc
        finally:
            self._running.discard(genkey)
            if not finished and not self._closed:
                await self._abort(genkey)

    async def _abort(self, genkey: str) -> None:
        """Ask the server to stop a generation; nothing to report if it cannot."""
        with contextlib.suppress(InferenceError, *TRANSPORT_ERRORS):
            await self._client.post(
                self._endpoint.url("/api/extra/abort"),
                json={"genkey": genkey},
                headers=self._endpoint.headers(),
                timeout=min(ABORT_TIMEOUT, self._endpoint.timeouts.request),
            )

    async def _count_prompt(self, request: GenerationRequest) -> int | None:
        if not isinstance(request.prompt, str):
            return None
        try:
            payload = await request_json(
                self._client,
                self._endpoint,
                "POST",
                "/api/extra/tokencount",
                {"prompt": request.prompt},
            )
        except InferenceError:
            return None
        value = payload.get("value") if isinstance(payload, dict) else None
        return value if isinstance(value, int) and value >= 0 else None


def parse_token_event(data: str, server: str) -> Chunk:
    """One streamed `{"token": ..., "finish_reason": ...}` event."""
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StreamInterrupted(f"{server} sent an event that is not JSON") from exc
    if not isinstance(payload, dict):
        raise StreamInterrupted(f"{server} sent an event that is not a JSON object")
    token = payload.get("token")
    finish = payload.get("finish_reason")
    return Chunk(
        text=token if isinstance(token, str) else "",
        finish_reason=finish if isinstance(finish, str) and finish != "null" else None,
    )


def parse_result(payload: Any) -> Chunk:
    """The whole answer of `/api/v1/generate`: `{"results": [{"text": ...}]}`."""
    results = payload.get("results") if isinstance(payload, dict) else None
    first = results[0] if isinstance(results, list) and results else None
    if not isinstance(first, dict) or not isinstance(first.get("text"), str):
        raise StreamInterrupted("the KoboldAI answer has no results[0].text")
    finish = first.get("finish_reason")
    return Chunk(text=first["text"], finish_reason=finish if isinstance(finish, str) else None)
