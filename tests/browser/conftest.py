"""Browser fixtures: a live Galatea server and Debian's Chromium driven by Playwright.

- `start_live_server(app)` runs any ASGI app with uvicorn in a thread, on a free port of
  127.0.0.1, until the `with` block ends; `live_server` is the default app on a temporary
  data directory (SQLite, a fast password hash, everything else real).
- `chromium` is one headless Chromium per test module (never `playwright install`: the
  system's `chromium`); without it the tests skip, or fail when
  GALATEA_TEST_REQUIRE_SERVICES=1. Not per session: while Playwright's sync API is active,
  its event loop counts as running in this thread, so `asyncio.run` and async tests elsewhere
  would fail until it stops.
- `page` is a fresh browser context (its own cookies) on the live server; it records console
  errors, and `assert_no_console_errors(page)` fails on any (a CSP violation shows up there).
- `screenshot(page, name)` keeps a picture in test-artifacts/screenshots/.
- `sign_up(page, username)` creates an account through the sign-up page.
"""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from galatea.bootstrap import build_services
from galatea.config import Settings
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.app import create_app
from tests.conftest import REQUIRE_ENV

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]
STARTUP_SECONDS = 30


@dataclass(frozen=True)
class LiveServer:
    """A running server and its address."""

    url: str

    def api(self, token: str | None = None) -> httpx.Client:
        """A real HTTP client of the server (with a Bearer token when given)."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def new_account(self, username: str) -> str:
        """Create an account through the API; returns an API token for it."""
        with self.api() as client:
            created = client.post(
                "/api/v1/users", json={"username": username, "password": PASSWORD}
            )
            assert created.status_code == 201, created.text
            token = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
            assert token.status_code == 201, token.text
            secret: str = token.json()["token"]
            return secret


@contextmanager
def start_live_server(app: Any) -> Iterator[LiveServer]:
    """Serve the app over real HTTP on 127.0.0.1 until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="none", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        listener.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Galatea on a fresh SQLite database in a temporary data directory."""
    settings = Settings(data_dir=tmp_path / "data")
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
    app = create_app(settings, services=build_services(settings, hasher=hasher))
    with start_live_server(app) as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for one test module."""
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"chromium is not installed (and {REQUIRE_ENV}=1 requires it)")
        pytest.skip("chromium is not installed (apt-get install chromium, or `make browser`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A new browser context (empty cookie jar) with a tab on the live server."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    tab = context.new_page()
    errors: list[str] = []

    def remember(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    tab.on("console", remember)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.console_errors = errors  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        context.close()


def assert_no_console_errors(page: Page, *, allow: tuple[str, ...] = ()) -> None:
    """Fail on console errors (script errors, CSP violations) other than expected ones."""
    errors = [e for e in page.console_errors if not any(a in e for a in allow)]  # type: ignore[attr-defined]
    assert errors == []


def screenshot(page: Page, name: str) -> None:
    """Keep a full-page picture of the current page as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_up(page: Page, username: str) -> None:
    """Create an account through the sign-up page (and end up signed in)."""
    page.goto("/sign-up")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/characters/mine")
