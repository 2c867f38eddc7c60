"""Shared arrangements of the chat web tests: the app on a scripted backend, a character, and
reading event-stream answers. Test modules import the fixtures they use by name; importing
`app` replaces the web conftest's app (which would generate on the embedded engine)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from galatea.bootstrap import build_services
from galatea.config import Settings
from galatea.inference.scripted import ScriptedBackend
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.sse import parse_events
from tests.conftest import FakeClock
from tests.services.chat_setup import scripted_source
from tests.web.conftest import Browser, running_app

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]
CARD = {
    "name": "Ava",
    "description": "{{char}} is a botanist who talks to {{user}} about plants.",
    "first_mes": "Hello {{user}}, I am {{char}}.",
    "alternate_greetings": ["Welcome back, {{user}}."],
}


@pytest.fixture
def scripted() -> ScriptedBackend:
    """The backend replies come from (tests may change its replies and speed)."""
    return ScriptedBackend(replies=["The ferns are lovely today."])


@pytest.fixture
async def app(
    settings: Settings,
    clock: FakeClock,
    password_hasher: Argon2PasswordHasher,
    scripted: ScriptedBackend,
) -> AsyncIterator[FastAPI]:
    """The running app, generating with the scripted backend."""
    services = build_services(
        settings, clock=clock, hasher=password_hasher, backends=[scripted_source(scripted)]
    )
    async with running_app(settings, services) as running:
        yield running


async def make_character(browser: Browser, **fields: Any) -> str:
    """A character made through the API as the browser's user; returns its id."""
    response = await browser.call("POST", "/api/v1/characters", json={**CARD, **fields})
    assert response.status_code == 201, response.text
    character_id: str = response.json()["id"]
    return character_id


async def make_chat(browser: Browser, character_id: str) -> dict[str, Any]:
    """A new chat as the browser's user; returns the chat as JSON."""
    response = await browser.call("POST", "/api/v1/chats", json={"character_id": character_id})
    assert response.status_code == 201, response.text
    chat: dict[str, Any] = response.json()
    return chat


def events(response: httpx.Response) -> list[tuple[str, Any]]:
    """The events of an event-stream answer."""
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    return parse_events(response.text)


def event_kinds(response: httpx.Response) -> list[str]:
    """The kinds of an answer's events, tokens collapsed into one."""
    kinds: list[str] = []
    for kind, _ in events(response):
        if not (kind == "token" and kinds and kinds[-1] == "token"):
            kinds.append(kind)
    return kinds


def streamed(response: httpx.Response) -> str:
    """The text an answer's token events carried."""
    return "".join(data["text"] for kind, data in events(response) if kind == "token")
