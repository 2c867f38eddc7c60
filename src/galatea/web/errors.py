"""Errors to HTTP, in one place: service, domain and inference errors, validation, the rest.

API paths (`/api/...`) answer JSON `{"error": "...", ...}`; pages answer an HTML page (a
signed-out visitor asking for a page that needs an account is sent to sign in). A user sees
words, never a stack trace, and never a generation backend's own error text: that can hold
internal addresses or a prompt. Unexpected errors are logged with the request id, which the
500 answer carries.
"""

import logging
import math
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from galatea.core.errors import DomainError
from galatea.inference.errors import (
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailable,
    InferenceError,
    RequestRejected,
    StreamInterrupted,
    StreamStalled,
)
from galatea.inference.scheduling.errors import QueueFull, QueueTimeout
from galatea.services.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ServiceError,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)
from galatea.web.middleware.headers import SECURITY_HEADERS
from galatea.web.templating import render_error

logger = logging.getLogger("galatea.web")

SERVICE_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (TooLarge, 413),
    (UnsupportedMedia, 415),
    (InvalidInput, 422),
    (RateLimited, 429),
    (AuthenticationFailed, 401),
    (Unavailable, 503),
)
"""Most specific first: the first class the error is an instance of decides the status."""
MAX_MESSAGE = 500
_HTTP_MESSAGES = {
    400: "the request is malformed",
    404: "there is nothing here",
    405: "this address does not accept that method",
    413: "the request is too large",
}


def describe_inference_error(error: InferenceError) -> tuple[int, str, dict[str, str]]:
    """The status, message and headers a user gets for a failed generation (also for SSE)."""
    if isinstance(error, QueueFull):
        wait = max(1, math.ceil(error.retry_after))
        return 429, f"the server is busy; try again in {wait} seconds", {"Retry-After": str(wait)}
    if isinstance(error, QueueTimeout):
        return 503, "the server is busy: no text generator was free in time", {}
    if isinstance(error, BackendUnavailable):
        return 503, "the text generator cannot be reached right now", {}
    if isinstance(error, BackendTimeout):
        return 504, "the text generator did not answer in time", {}
    if isinstance(error, StreamStalled):
        return 504, "the text generator stopped sending text", {}
    if isinstance(error, StreamInterrupted):
        return 502, "the connection to the text generator broke off", {}
    if isinstance(error, BackendHTTPError):
        return 502, "the text generator reported an error", {}
    if isinstance(error, RequestRejected):
        # Our own checks wrote these messages (prompt too long, unknown tier, ...).
        return 422, _one_line(error.message), {}
    return 502, "the text generator failed", {}


def service_status(error: ServiceError) -> int:
    """The HTTP status of a service error."""
    for kind, status in SERVICE_STATUS:
        if isinstance(error, kind):
            return status
    return 400


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API (else for a page)."""
    return request.url.path.startswith("/api/")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(InferenceError, _inference_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    status = service_status(error)
    if status in (401, 403, 429):
        _log_refusal(request, status, str(error))
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(math.ceil(error.retry_after))
        extra["retry_after"] = math.ceil(error.retry_after)
    if isinstance(error, InvalidInput):
        extra["field"] = error.field
    if isinstance(error, AuthenticationFailed):
        if is_api(request):
            headers["WWW-Authenticate"] = "Bearer"
        elif request.method == "GET":
            return _to_sign_in(request)
    return await _respond(request, status, str(error), headers, extra)


async def _inference_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, InferenceError)
    status, message, headers = describe_inference_error(error)
    logger.warning("generation failed (%s): %s", type(error).__name__, error)
    return await _respond(request, status, message, headers)


async def _domain_error(request: Request, error: Exception) -> Response:
    return await _respond(request, 422, _one_line(str(error)))


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors()[:20]:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append({"field": location, "message": _one_line(str(item.get("msg", "")))})
    first = problems[0] if problems else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return await _respond(request, 422, message, {}, {"errors": problems})


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 403:
        _log_refusal(request, 403, str(error.detail))
    message = error.detail if isinstance(error.detail, str) and error.detail else ""
    if not message or message == _default_phrase(error.status_code):
        message = _HTTP_MESSAGES.get(error.status_code, "the request cannot be served")
    return await _respond(request, error.status_code, message, dict(error.headers or {}))


async def _unexpected_error(request: Request, error: Exception) -> Response:
    request_id = getattr(request.state, "request_id", "")
    logger.error("request %s failed", request_id, exc_info=error)
    # ServerErrorMiddleware sends this answer outside the header middleware.
    return await _respond(
        request,
        500,
        "something went wrong on the server",
        {**SECURITY_HEADERS, "Cache-Control": "no-store", "X-Request-ID": request_id},
        {"request_id": request_id},
    )


async def _respond(
    request: Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    message = _one_line(message)
    if is_api(request):
        return JSONResponse({"error": message, **(extra or {})}, status, headers=headers)
    return await render_error(request, status, message, headers or {})


def _log_refusal(request: Request, status: int, reason: str) -> None:
    # %r keeps a hostile path or message on one line of the log (no forged entries).
    client = request.client.host if request.client else "-"
    logger.info(
        "refused %s %r from %s: %d %r", request.method, request.url.path, client, status, reason
    )


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _default_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
