"""Who is asking: a Bearer API token, a session cookie, or nobody.

The session cookie holds an opaque random token (the server keeps only its hash). It is
HttpOnly and SameSite=Lax, and over HTTPS it is Secure with the `__Host-` prefix, which
also pins it to this host and path `/`. A request with an Authorization header is judged by
that header alone: a bad token is a 401 even where anonymous access would be allowed, so a
script never silently runs as nobody.
"""

from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from starlette.responses import Response

from galatea.bootstrap import Services
from galatea.core.users import User, UserSession
from galatea.services.errors import AuthenticationFailed

SESSION_COOKIE = "galatea_session"
SECURE_SESSION_COOKIE = "__Host-galatea_session"


@dataclass(frozen=True, slots=True)
class Auth:
    """The caller of one request and how they proved it."""

    user: User | None
    session: UserSession | None = None
    """The cookie's session, when signed in through the browser."""
    via: Literal["session", "token", "none"] = "none"


ANONYMOUS = Auth(user=None)


def services_of(request: Request) -> Services:
    """The wired services the app's lifespan started."""
    services: Services = request.app.state.services
    return services


def is_secure(request: Request) -> bool:
    """Whether cookies of this request's response get the Secure flag."""
    mode: str = request.app.state.settings.web.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def session_token(request: Request) -> str | None:
    """The session token the browser sent, under either cookie name."""
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)


async def authenticate(request: Request) -> Auth:
    """The caller of this request (resolved once per request)."""
    cached: Auth | None = getattr(request.state, "auth", None)
    if cached is not None:
        return cached
    auth = await _resolve(request)
    request.state.auth = auth
    return auth


async def _resolve(request: Request) -> Auth:
    services = services_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationFailed("use the header 'Authorization: Bearer <token>'")
        user = await services.api_tokens.resolve(secret.strip())
        if user is None:
            raise AuthenticationFailed("the API token is unknown, revoked or expired")
        return Auth(user=user, via="token")
    token = session_token(request)
    if token:
        active = await services.sessions.resolve(token)
        if active is not None:
            return Auth(user=active.user, session=active.session, via="session")
    return ANONYMOUS


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """Give the browser its session token (replacing any older one)."""
    secure = is_secure(request)
    lifetime = services_of(request).sessions.policy.lifetime
    if secure:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    response.set_cookie(
        SECURE_SESSION_COOKIE if secure else SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    """Make the browser forget its session token, under both names."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    response.delete_cookie(
        SECURE_SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax"
    )


def client_address(request: Request) -> str | None:
    """The client's address (from a trusted proxy's header when there is one)."""
    return None if request.client is None else request.client.host
