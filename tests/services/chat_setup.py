"""Shared arrangements of the chat service tests: services on a scripted backend, two users and
a character, and a helper that follows a reply stream to its end.

Test modules import the fixtures they use by name (pytest finds fixtures in a module's
namespace).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.core.records import Visibility
from galatea.core.users import User
from galatea.inference.scripted import ScriptedBackend
from galatea.services.characters import CharacterDetails
from galatea.services.engines import BackendSource
from galatea.services.passwords import Argon2PasswordHasher
from galatea.services.reply_streams import ReplyStreamChannel, StreamEvent
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"
GREETING = "Hello {{user}}, I am {{char}}."
ALTERNATE = "Welcome back, {{user}}."


def scripted_source(backend: ScriptedBackend, slots: int = 4) -> BackendSource:
    """A backend source that hands out the given scripted backend."""
    return BackendSource("scripted", "default", slots, lambda: backend)


@pytest.fixture
def scripted() -> ScriptedBackend:
    """The backend replies come from (modules may override it)."""
    return ScriptedBackend(replies=["The ferns are lovely today."])


@pytest.fixture
async def chat_services(
    services_settings: Settings,
    clock: FakeClock,
    password_hasher: Argon2PasswordHasher,
    scripted: ScriptedBackend,
) -> AsyncIterator[Services]:
    """Every service on the test database, generating with the scripted backend."""
    wired = build_services(
        services_settings,
        clock=clock,
        hasher=password_hasher,
        backends=[scripted_source(scripted)],
    )
    await wired.start()
    try:
        yield wired
    finally:
        await wired.close()


@dataclass
class Cast:
    """Two users and a character the first one made."""

    alice: User
    bob: User
    character: CharacterDetails


@pytest.fixture
async def cast(chat_services: Services) -> Cast:
    """Alice with a private character called Ava, and Bob."""
    alice = await chat_services.accounts.sign_up("alice", PASSWORD, address=None)
    bob = await chat_services.accounts.sign_up("bob", PASSWORD, address=None)
    character = await chat_services.characters.create(
        alice,
        {
            "name": "Ava",
            "description": "{{char}} is a botanist who talks to {{user}} about plants.",
            "first_mes": GREETING,
            "alternate_greetings": [ALTERNATE],
        },
        visibility=Visibility.PRIVATE,
    )
    await chat_services.personas.create(alice, "Sam", "A curious gardener.")
    return Cast(alice, bob, character)


async def events_of(stream: ReplyStreamChannel, start: int = 0) -> list[StreamEvent]:
    """Every event of a reply stream from `start` until it closes."""
    return [event async for event in stream.follow(start)]


def kinds(events: list[StreamEvent]) -> list[str]:
    """The event kinds, tokens collapsed into one."""
    out: list[str] = []
    for event in events:
        if event.kind == "token" and out and out[-1] == "token":
            continue
        out.append(event.kind)
    return out


def streamed_text(events: list[StreamEvent]) -> str:
    """The text the token events carried."""
    return "".join(e.data["text"] for e in events if e.kind == "token")
