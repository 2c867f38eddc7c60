"""Cross-site request forgery defences, applied to every route of the app.

A state-changing request (any method but GET, HEAD, OPTIONS) is refused with 403 when:
- its Origin is another site's, or the browser marks it `Sec-Fetch-Site: cross-site`;
- it rides on a session cookie without echoing that session's CSRF token, in the
  `X-CSRF-Token` header (HTMX, scripts) or the `csrf_token` form field (plain forms);
- it is a page form sent without a session (sign-in, sign-up) and does not echo the
  pre-session token of the `galatea_csrf` cookie, which prevents signing a victim in to the
  attacker's account.
Bearer-token requests carry no ambient credentials and need no token; neither do JSON API
calls made without any session (they act as nobody). JSON bodies are parsed only when sent as
`application/json`, which a cross-site form cannot send.
"""

import secrets
from urllib.parse import urlsplit

from fastapi import Request
from starlette.exceptions import HTTPException

from galatea.web.auth import authenticate, is_secure
from galatea.web.media import read_form

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
PRESESSION_COOKIE = "galatea_csrf"
SECURE_PRESESSION_COOKIE = "__Host-galatea_csrf"
API_PREFIX = "/api/"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class CsrfRejected(HTTPException):
    """A state-changing request failed the cross-site checks."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message)


async def protect(request: Request) -> None:
    """App-wide dependency: refuse forged state-changing requests (see the module docstring)."""
    if request.method in SAFE_METHODS:
        return
    _check_origin(request)
    auth = await authenticate(request)
    if auth.via == "token":
        return
    if auth.session is not None:
        expected: str | None = auth.session.csrf_token
    elif request.url.path.startswith(API_PREFIX):
        return
    else:
        expected = presession_cookie(request)
    if not expected:
        raise CsrfRejected("this form has expired: reload the page and try again")
    supplied = request.headers.get(CSRF_HEADER) or await _form_token(request)
    if not supplied or not secrets.compare_digest(supplied.encode(), expected.encode()):
        raise CsrfRejected(
            "the request did not carry this session's CSRF token: reload the page and try again"
        )


def token_for(request: Request) -> str:
    """The CSRF token a page rendered for this request must embed in its forms.

    Signed-in: the session's token. Otherwise the pre-session cookie's, made (and set on the
    response by the page renderer) when the browser has none yet.
    """
    auth = getattr(request.state, "auth", None)
    if auth is not None and auth.session is not None:
        token: str = auth.session.csrf_token
        return token
    existing = presession_cookie(request) or getattr(request.state, "new_csrf_cookie", None)
    if existing:
        return existing
    fresh = secrets.token_urlsafe(32)
    request.state.new_csrf_cookie = fresh
    return fresh


def presession_cookie(request: Request) -> str | None:
    """The pre-session token the browser holds, if it looks like one of ours."""
    value = request.cookies.get(SECURE_PRESESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE)
    if value and 20 <= len(value) <= 100 and value.isascii():
        return value
    return None


def presession_cookie_name(request: Request) -> str:
    """The name the pre-session cookie gets on this request's response."""
    return SECURE_PRESESSION_COOKIE if is_secure(request) else PRESESSION_COOKIE


def _check_origin(request: Request) -> None:
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise CsrfRejected("cross-site requests are not accepted")
    origin = request.headers.get("origin")
    if origin is None:
        return
    if _netloc(origin) != _netloc(f"{request.url.scheme}://{request.headers.get('host', '')}"):
        raise CsrfRejected("requests from other sites are not accepted")


def _netloc(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip().lower())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    # The scheme is left out on purpose: behind a TLS proxy that is not configured as
    # trusted, the page is https to the browser but http here.
    port_text = str(port) if port is not None else ""
    if port_text in _DEFAULT_PORTS.values():
        port_text = ""
    return f"{host}:{port_text}"


async def _form_token(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith(_FORM_TYPES):
        return None
    form = await read_form(request)
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None
