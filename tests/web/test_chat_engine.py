"""Chats against the real embedded engine (the bundled SmolLM2), wired from settings as
`make run` wires it: short greedy replies of a few tokens, on SQLite and PostgreSQL."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from galatea.bootstrap import build_services
from galatea.config import EngineSettings, Settings
from galatea.services.passwords import Argon2PasswordHasher
from tests.conftest import FakeClock
from tests.web.chat_setup import event_kinds, events, make_character, make_chat, streamed
from tests.web.conftest import Browser, running_app

REPLY_TOKENS = 6


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The embedded engine from the engine settings, small and without re-packing."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        engine=EngineSettings(context_length=1024, max_sequences=2, repack="off"),
    )


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, password_hasher: Argon2PasswordHasher
) -> AsyncIterator[FastAPI]:
    """The app as configured by settings alone (no test backend)."""
    services = build_services(settings, clock=clock, hasher=password_hasher)
    async with running_app(settings, services) as running:
        yield running


async def greedy_chat(alice: Browser) -> str:
    chat = await make_chat(alice, await make_character(alice))
    changed = await alice.call(
        "PATCH",
        f"/api/v1/chats/{chat['id']}",
        json={"settings": {"temperature": 0, "max_reply_tokens": REPLY_TOKENS}},
    )
    assert changed.status_code == 200
    chat_id: str = chat["id"]
    return chat_id


async def test_a_reply_streams_from_the_embedded_engine_and_is_saved(alice: Browser) -> None:
    chat_id = await greedy_chat(alice)
    url = f"/api/v1/chats/{chat_id}"
    answer = await alice.call("POST", f"{url}/messages", json={"text": "What do you grow?"})
    kinds = event_kinds(answer)
    assert kinds[:3] == ["accepted", "started", "token"]
    assert kinds[-2:] == ["saved", "done"]
    text = streamed(answer)
    assert text.strip()
    saved = dict(events(answer))["saved"]
    assert saved["text"] == text
    assert saved["status"] == "complete"
    info = (await alice.call("GET", f"{url}/messages/{saved['id']}/generation")).json()
    [run] = info["runs"]
    assert 0 < run["usage"]["generated_tokens"] <= REPLY_TOKENS
    assert run["usage"]["prompt_tokens"] >= run["prompt"]["total_tokens"] - 2
    # The model's own chat template is ChatML, so the name-prefixed ChatML is used.
    assert run["prompt"]["template"] == "chatml"
    assert run["usage"]["time_to_first_token_s"] > 0


async def test_greedy_regenerate_repeats_and_the_next_turn_reuses_the_cache(
    alice: Browser,
) -> None:
    chat_id = await greedy_chat(alice)
    url = f"/api/v1/chats/{chat_id}"
    first = await alice.call("POST", f"{url}/messages", json={"text": "Tell me about moss."})
    again = await alice.call("POST", f"{url}/regenerate", json={})
    assert streamed(again) == streamed(first)
    assert dict(events(again))["saved"]["swipe_count"] == 2
    follow_up = await alice.call("POST", f"{url}/messages", json={"text": "And ferns?"})
    saved = dict(events(follow_up))["saved"]
    info = (await alice.call("GET", f"{url}/messages/{saved['id']}/generation")).json()
    usage = info["runs"][0]["usage"]
    # The chat's earlier prompt is still in the engine's KV cache: most of it is reused.
    assert usage["cached_prompt_tokens"] > usage["prompt_tokens"] // 2
