"""Reading a remote server's answers: bounded bodies, its own error messages, typed failures.

Every HTTP failure of a remote backend goes through here and leaves as one of the errors in
`galatea.inference.errors`:

    connection refused, DNS, bad URL          -> BackendUnavailable
    connect / read timeout                    -> BackendTimeout
    connection lost after the stream started  -> StreamInterrupted
    HTTP 4xx / 5xx                            -> BackendHTTPError (with the server's message)
    unreadable or oversized body              -> BackendHTTPError / StreamInterrupted
"""

import json
import re
from typing import Any

import httpx

from galatea.inference.errors import (
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailable,
    InferenceError,
    StreamInterrupted,
)
from galatea.inference.remote.endpoints import Endpoint

MAX_BODY_BYTES = 16 << 20
"""Largest non-streamed JSON answer read (model lists, token lists, whole completions)."""
MAX_ERROR_BODY_BYTES = 64 << 10
"""Largest error body read to find the server's message."""
MAX_MESSAGE_CHARS = 300
"""Server messages are cut to this length: they end up in logs and one-line errors."""

_SPACES = re.compile(r"\s+")


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed response, failing once it grows past `limit` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BackendHTTPError(response.status_code, f"answer larger than {limit} bytes")
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > limit:
            raise BackendHTTPError(response.status_code, f"answer larger than {limit} bytes")
    return bytes(body)


async def read_json(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> Any:
    """The JSON body of a streamed response: typed error on HTTP errors or bad JSON."""
    if response.status_code >= 400:
        raise await error_from_response(response)
    body = await read_bounded(response, limit)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BackendHTTPError(response.status_code, "the answer is not valid JSON") from exc


async def error_from_response(response: httpx.Response) -> BackendHTTPError:
    """A `BackendHTTPError` carrying the message the server put in its error body."""
    try:
        body = await read_bounded(response, MAX_ERROR_BODY_BYTES)
    except (BackendHTTPError, httpx.HTTPError):
        body = b""
    message = extract_message(body) or response.reason_phrase or "no message"
    return BackendHTTPError(response.status_code, message)


def extract_message(body: bytes) -> str | None:
    """The human-readable message in an error body, whatever the server's shape for it."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        first_line = next((line for line in text.splitlines() if line.strip()), "")
        return clean_message(first_line) or None
    found = _message_in(parsed, depth=0)
    return clean_message(found) if found else None


def _message_in(value: Any, depth: int) -> str | None:
    """Walk the shapes servers use: OpenAI/llama.cpp/vLLM `error`, FastAPI `detail`, Kobold."""
    if depth > 4:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [_message_in(item, depth + 1) for item in value[:5]]
        joined = "; ".join(part for part in parts if part)
        return joined or None
    if not isinstance(value, dict):
        return None
    for key in ("message", "msg", "error", "detail", "err"):
        if key in value:
            found = _message_in(value[key], depth + 1)
            if found:
                if key == "msg" and isinstance(value.get("loc"), list):
                    where = ".".join(str(part) for part in value["loc"])
                    return f"{where}: {found}"
                return found
    return None


def clean_message(message: str) -> str:
    """One line, no control characters, at most `MAX_MESSAGE_CHARS` characters."""
    line = _SPACES.sub(" ", "".join(ch if ch.isprintable() else " " for ch in message)).strip()
    if len(line) > MAX_MESSAGE_CHARS:
        line = line[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return line


TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError)
"""What httpx raises when talking to a server fails (`StreamError`: the stream was closed)."""


def error_from_transport(
    exc: httpx.HTTPError | httpx.StreamError, *, server: str, streaming: bool = False
) -> InferenceError:
    """The typed error for a transport failure; `streaming` means the answer had started."""
    detail = clean_message(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return BackendTimeout(f"could not connect to {server} in time")
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(f"{server} did not answer in time")
    if isinstance(exc, httpx.ConnectError):
        return BackendUnavailable(f"cannot reach {server}: {detail}")
    if streaming:
        return StreamInterrupted(f"the connection to {server} dropped mid-stream: {detail}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return BackendUnavailable(f"the address of {server} is not usable: {detail}")
    return BackendUnavailable(f"{server} closed the connection without answering: {detail}")


async def request_json(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> Any:
    """Send a short request to the server and return its JSON answer, or a typed error."""
    timeout = httpx.Timeout(endpoint.timeouts.request, connect=endpoint.timeouts.connect)
    try:
        async with client.stream(
            method, endpoint.url(path), json=body, headers=endpoint.headers(), timeout=timeout
        ) as response:
            return await read_json(response)
    except TRANSPORT_ERRORS as exc:
        raise error_from_transport(exc, server=endpoint.label) from exc
