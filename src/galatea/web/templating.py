"""Server-rendered pages: the Jinja2 environment and the one function that renders a page.

Autoescaping is on for every template; user text reaches HTML only escaped, or through the
`markdown` filter (sanitised). Every page gets the signed-in user, the CSRF token its forms
must carry, and versioned URLs for static files.
"""

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import PurePosixPath
from typing import Any

from fastapi import Request
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

from galatea.core.users import User
from galatea.services.errors import AuthenticationFailed
from galatea.web.auth import authenticate, is_secure, services_of
from galatea.web.csrf import presession_cookie_name, token_for
from galatea.web.markup import render_markdown

PRESESSION_COOKIE_SECONDS = 7 * 24 * 3600
NOTICES = {
    "signed-out": "You are signed out.",
    "password-changed": "Your password is changed; your other sessions have ended.",
    "sessions-ended": "Your other sessions have ended.",
    "age-confirmed": "Adult characters are now shown to you.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "token-revoked": "The token is revoked.",
}
"""Messages a redirect can ask the next page to show (by key, so no text is reflected)."""


@dataclass(frozen=True, slots=True)
class PageRenderer:
    """The template environment of one app, and the versions of its static files."""

    environment: Environment
    asset_versions: dict[str, str]

    def static_url(self, path: str) -> str:
        """The URL of a static file, with a version that changes when the file does."""
        version = self.asset_versions.get(path)
        return f"/static/{path}" + (f"?v={version}" if version else "")


def build_renderer() -> PageRenderer:
    """The Jinja2 environment for the page templates (autoescape on, strict undefined)."""
    environment = Environment(
        loader=PackageLoader("galatea.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters["markdown"] = render_markdown
    renderer = PageRenderer(environment, _asset_versions())
    environment.globals["static_url"] = renderer.static_url
    return renderer


def _asset_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    root = files("galatea.web").joinpath("static")
    pending = [(root, PurePosixPath())]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, prefix / entry.name))
            elif entry.is_file():
                digest = hashlib.sha256(entry.read_bytes()).hexdigest()[:12]
                versions[str(prefix / entry.name)] = digest
    return versions


async def viewer_of(request: Request) -> User | None:
    """The signed-in user for a page (a bad API token counts as nobody here)."""
    try:
        return (await authenticate(request)).user
    except AuthenticationFailed:
        return None


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page template with the common context."""
    renderer: PageRenderer = request.app.state.pages
    services = services_of(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    page_context = {
        "request": request,
        "user": await viewer_of(request),
        "csrf_token": token_for(request),
        "signup_open": services.accounts.policy.signup_open,
        "notice": notice,
        "is_htmx": request.headers.get("hx-request") == "true",
        **(context or {}),
    }
    body = renderer.environment.get_template(template).render(page_context)
    response = HTMLResponse(body, status_code=status, headers=headers)
    fresh = getattr(request.state, "new_csrf_cookie", None)
    if fresh:
        response.set_cookie(
            presession_cookie_name(request),
            fresh,
            max_age=PRESESSION_COOKIE_SECONDS,
            path="/",
            secure=is_secure(request),
            httponly=True,
            samesite="lax",
        )
    return response


async def render_error(
    request: Request, status: int, message: str, headers: dict[str, str]
) -> HTMLResponse:
    """The error page: the status and a message in words (escaped like all user text)."""
    return await render(
        request,
        "error.html",
        {"status": status, "message": message},
        status=status,
        headers=headers,
    )
