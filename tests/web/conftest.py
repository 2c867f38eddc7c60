"""Web fixtures: the app on the parametrised test database, and browsers and API clients.

Every test gets a fresh app on `database_url` (SQLite, and PostgreSQL when configured), run
through its lifespan, with the fake clock and a fast password hash. `Browser` is a cookie jar
that remembers the CSRF token of the last page it loaded, as a real browser's forms would;
`api_client` is a script with a Bearer token. Each browser comes from its own address, so the
per-address sign-up limit does not get in the way of tests that make several accounts.

A module can change the settings by defining its own `settings` fixture.
"""

import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.app import create_app
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"
BASE_URL = "http://localhost"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_addresses = (f"10.1.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@asynccontextmanager
async def running_app(settings: Settings, services: Services) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered (ASGI test transports do not run lifespans)."""
    app = create_app(settings, services=services)
    async with app.router.lifespan_context(app):
        yield app


def client_for(
    app: FastAPI, *, address: str | None = None, raise_errors: bool = True, **options: Any
) -> httpx.AsyncClient:
    """An in-process HTTP client of the app, connecting from `address`."""
    transport = httpx.ASGITransport(
        app=app, client=(address or next(_addresses), 40000), raise_app_exceptions=raise_errors
    )
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, **options)


@dataclass
class Browser:
    """A browser: a cookie jar, and the CSRF token of the last page it loaded."""

    client: httpx.AsyncClient
    csrf: str = ""
    username: str = ""
    address: str = field(default="")

    async def page(self, path: str, **options: Any) -> httpx.Response:
        """Load a page (GET), remembering the CSRF token its forms carry."""
        response = await self.client.get(path, **options)
        found = _CSRF_FIELD.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def submit(
        self, path: str, data: dict[str, Any] | None = None, **options: Any
    ) -> httpx.Response:
        """Send a form as the page would, with its CSRF token."""
        return await self.client.post(
            path, data={"csrf_token": self.csrf, **(data or {})}, **options
        )

    async def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Call the API as the page's own scripts would (cookie and X-CSRF-Token)."""
        headers = {"X-CSRF-Token": self.csrf, **options.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **options)

    async def sign_up(self, username: str, password: str = PASSWORD) -> None:
        """Create an account through the sign-up page and stay signed in."""
        await self.page("/sign-up")
        response = await self.submit(
            "/sign-up", {"username": username, "password": password, "password_again": password}
        )
        assert response.status_code == 303, response.text
        self.username = username
        await self.page("/settings")

    async def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        """Sign in through the sign-in page."""
        await self.page("/sign-in")
        response = await self.submit("/sign-in", {"username": username, "password": password})
        await self.page("/settings")
        return response


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The app's settings (modules may override this fixture)."""
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, password_hasher: Argon2PasswordHasher
) -> AsyncIterator[FastAPI]:
    """The running app."""
    services = build_services(settings, clock=clock, hasher=password_hasher)
    async with running_app(settings, services) as running:
        yield running


@pytest.fixture
def services_of_app(app: FastAPI) -> Services:
    """The services the app runs on, to arrange data directly."""
    services: Services = app.state.services
    return services


@pytest.fixture
async def new_browser(app: FastAPI) -> AsyncIterator[Callable[[], Browser]]:
    """Makes browsers with empty cookie jars, each from its own address."""
    clients: list[httpx.AsyncClient] = []

    def make() -> Browser:
        address = next(_addresses)
        client = client_for(app, address=address)
        clients.append(client)
        return Browser(client, address=address)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def anonymous(new_browser: Callable[[], Browser]) -> Browser:
    """A visitor who is not signed in."""
    return new_browser()


@pytest.fixture
async def alice(new_browser: Callable[[], Browser]) -> Browser:
    """A signed-in user."""
    browser = new_browser()
    await browser.sign_up("alice")
    return browser


@pytest.fixture
async def bob(new_browser: Callable[[], Browser]) -> Browser:
    """Another signed-in user."""
    browser = new_browser()
    await browser.sign_up("bob")
    return browser


@pytest.fixture
async def api_client(app: FastAPI) -> AsyncIterator[Callable[[str], Awaitable[httpx.AsyncClient]]]:
    """Makes a script's client holding a Bearer token of an existing account."""
    clients: list[httpx.AsyncClient] = []

    async def make(username: str, password: str = PASSWORD) -> httpx.AsyncClient:
        anonymous = client_for(app)
        clients.append(anonymous)
        response = await anonymous.post(
            "/api/v1/tokens", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        client = client_for(app, headers={"Authorization": f"Bearer {response.json()['token']}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
