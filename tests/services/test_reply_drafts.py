"""A running reply keeps a draft of its text, and a process that dies mid-reply loses (almost)
nothing: its stale draft becomes an incomplete message, saved by whichever process sweeps."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from galatea.bootstrap import Services
from galatea.config import ChatSettings, Settings
from galatea.core.chats import ReplyDraft
from galatea.inference.scripted import ScriptedBackend
from tests.conftest import FakeClock
from tests.services.chat_setup import (  # noqa: F401
    Cast,
    cast,
    chat_services,
    events_of,
)

WORDS = " ".join(f"word{i}" for i in range(60))


@pytest.fixture
def scripted() -> ScriptedBackend:
    return ScriptedBackend(replies=[WORDS], token_delay=0.02)


@pytest.fixture
def services_settings(database_url: str, tmp_path: Path) -> Settings:
    """Replies write their draft every 0.05 s."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        chats=ChatSettings(draft_seconds=0.05),
    )


async def drafts(services: Services, clock: FakeClock) -> list[ReplyDraft]:
    async with services.uow(write=False) as uow:
        return await uow.reply_drafts.stale(clock.now() + timedelta(days=1))


async def test_a_running_reply_keeps_a_draft_until_it_is_saved(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    chat_id = (await chat_services.chats.start(cast.alice, cast.character.id)).id
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "Tell me everything.")
    seen: list[ReplyDraft] = []
    for _ in range(200):
        await asyncio.sleep(0.02)
        seen = await drafts(chat_services, clock)
        if seen and seen[0].text.count("word") >= 5:
            break
    [draft] = seen
    assert draft.chat_id == chat_id and draft.kind == "reply" and draft.name == "Ava"
    assert WORDS.startswith(draft.text) and draft.text != WORDS
    await events_of(turn.stream)
    assert await drafts(chat_services, clock) == []
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert path[-1].message.text == WORDS


async def test_a_stale_draft_becomes_an_incomplete_reply_once(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    chat_id = (await chat_services.chats.start(cast.alice, cast.character.id)).id
    greeting = (await chat_services.chats.messages(cast.alice, chat_id))[-1]
    # What a process killed mid-reply leaves behind: its draft, and no message.
    draft = ReplyDraft(
        chat_id=chat_id,
        kind="reply",
        name="Ava",
        parent_id=greeting.id,
        target_id=None,
        text="I was saying that the ferns",
        started_at=clock.now(),
        updated_at=clock.now(),
    )
    async with chat_services.uow() as uow:
        await uow.reply_drafts.save(draft)
        await uow.commit()
    turns = chat_services.chat_turns
    assert await turns.recover_drafts() == 0  # not stale yet: its process may be alive
    clock.advance(seconds=turns.policy.draft_stale_s + 1)
    assert await turns.recover_drafts() == 1
    assert await turns.recover_drafts() == 0
    path = await chat_services.chats.messages(cast.alice, chat_id)
    last = path[-1].message
    assert (last.text, last.status, last.parent_id) == (draft.text, "incomplete", greeting.id)
    assert await drafts(chat_services, clock) == []


async def test_a_stale_continue_draft_extends_its_message(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    chat_id = (await chat_services.chats.start(cast.alice, cast.character.id)).id
    greeting = (await chat_services.chats.messages(cast.alice, chat_id))[-1]
    draft = ReplyDraft(
        chat_id=chat_id,
        kind="continue",
        name="Ava",
        parent_id=None,
        target_id=greeting.id,
        text=" And the moss!",
        started_at=clock.now(),
        updated_at=clock.now(),
    )
    async with chat_services.uow() as uow:
        await uow.reply_drafts.save(draft)
        await uow.commit()
    clock.advance(minutes=5)
    assert await chat_services.chat_turns.recover_drafts() == 1
    [message] = await chat_services.chats.messages(cast.alice, chat_id)
    assert message.message.text == greeting.message.text + " And the moss!"
    assert message.message.status == "incomplete"


async def test_a_live_reply_is_not_taken_for_a_dead_one(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    chat_id = (await chat_services.chats.start(cast.alice, cast.character.id)).id
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "Go on.")
    for _ in range(500):
        if await drafts(chat_services, clock):
            break
        await asyncio.sleep(0.02)
    # Even with its draft looking old, the process writing it does not sweep it.
    clock.advance(minutes=5)
    assert await chat_services.chat_turns.recover_drafts() == 0
    await events_of(turn.stream)
    texts = [m.message.text for m in await chat_services.chats.messages(cast.alice, chat_id)]
    assert texts[-1] == WORDS and texts.count(WORDS) == 1
