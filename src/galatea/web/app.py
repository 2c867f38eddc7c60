"""The web application: `create_app(settings)` builds it; nothing is created at import.

The lifespan starts the services (`bootstrap.build_services`, or the ones passed in) and
closes them. Routers come from `api.api_routers()` (mounted under /api/v1) and
`pages.page_routers()`; a new area registers there. Every route gets the CSRF check
(`csrf.protect`, an app-wide dependency) and the error handlers of `errors.py`; every
response passes the security-header, body-limit, trusted-proxy and Host checks.

Middleware order, outermost first: Host check, trusted proxy (client address and scheme),
security headers and request id, body limits, then the app.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import Depends, FastAPI
from starlette.staticfiles import StaticFiles

from galatea import __version__
from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.web.api import API_PREFIX, api_routers
from galatea.web.csrf import protect
from galatea.web.errors import install_error_handlers
from galatea.web.middleware.headers import SecurityHeadersMiddleware
from galatea.web.middleware.hosts import HostCheckMiddleware
from galatea.web.middleware.limits import BodyLimitMiddleware
from galatea.web.middleware.proxies import TrustedProxyMiddleware
from galatea.web.pages import page_routers
from galatea.web.schemas.errors import ERROR_RESPONSES
from galatea.web.templating import build_renderer

OPENAPI_URL = f"{API_PREFIX}/openapi.json"


class CachedStaticFiles(StaticFiles):
    """Static files browsers may keep for a day (their URLs carry a content version)."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        """The file, with a cache lifetime."""
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def create_app(settings: Settings, *, services: Services | None = None) -> FastAPI:
    """The Galatea web app; `services` lets tests pass their own wiring (fake clock, ...)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = services or build_services(settings)
        await running.start()
        app.state.services = running
        try:
            yield
        finally:
            await running.close()

    app = FastAPI(
        title="Galatea",
        version=__version__,
        description="Character roleplay chat: accounts, characters, personas and chats.",
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(protect)],
    )
    app.state.settings = settings
    app.state.pages = build_renderer()
    if services is not None:
        app.state.services = services
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for router in page_routers():
        app.include_router(router, include_in_schema=False)
    static = files("galatea.web").joinpath("static")
    app.mount("/static", CachedStaticFiles(directory=str(static)), name="static")
    install_error_handlers(app)
    web = settings.web
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=web.max_body_bytes,
        max_upload_bytes=web.max_upload_bytes,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TrustedProxyMiddleware, trusted_proxies=web.trusted_proxies)
    app.add_middleware(HostCheckMiddleware, allowed_hosts=web.allowed_hosts)
    return app
