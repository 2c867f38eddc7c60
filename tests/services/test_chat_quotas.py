"""Quotas and metering in chats: the daily allowance is checked before a message is stored,
every reply is metered when it ends, and one that wrote nothing costs no message."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import json
from pathlib import Path

import pytest

from galatea.bootstrap import Services
from galatea.config import Settings
from galatea.core.usage import UsageCounts
from galatea.inference.errors import BackendUnavailable
from galatea.inference.scheduling import default_tiers
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure
from galatea.services.quotas import QuotaExceeded
from tests.conftest import FakeClock
from tests.services.chat_setup import (  # noqa: F401
    Cast,
    cast,
    chat_services,
    events_of,
)

REPLY = "The ferns are lovely today."


@pytest.fixture
def scripted() -> ScriptedBackend:
    return ScriptedBackend(replies=[REPLY, ScriptedFailure(BackendUnavailable("down"))])


@pytest.fixture
def services_settings(database_url: str, tmp_path: Path) -> Settings:
    """The platform with a free tier of three messages a day."""
    tiers = default_tiers().to_mapping()
    tiers["free"]["messages_per_day"] = 3
    tiers_file = tmp_path / "tiers.json"
    tiers_file.write_text(json.dumps(tiers))
    return Settings(database_url=database_url, data_dir=tmp_path / "data", tiers_file=tiers_file)


async def test_the_daily_allowance_is_checked_before_a_message_is_stored(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    chat_id = (await chat_services.chats.start(cast.alice, cast.character.id)).id
    sent = 0
    for text in ("one", "two", "three", "four", "five"):
        turn = await chat_services.chat_turns.send(cast.alice, chat_id, text)
        await events_of(turn.stream)
        sent += 1
        report = await chat_services.quotas.report(cast.alice)
        if report.messages_left == 0:
            break
    # Every second reply fails before writing anything: it gives its message back.
    assert sent == 5
    with pytest.raises(QuotaExceeded, match="all 3 messages the free tier allows") as refused:
        await chat_services.chat_turns.send(cast.alice, chat_id, "six")
    assert refused.value.retry_after > 0
    texts = [view.message.text for view in await chat_services.chats.messages(cast.alice, chat_id)]
    assert "six" not in texts
    assert not await chat_services.chat_turns.running(chat_id)
    clock.advance(days=1)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "six")
    await events_of(turn.stream)


async def test_finished_replies_are_metered_with_their_tokens(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    chat_id = (await chat_services.chats.start(cast.alice, cast.character.id)).id
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "Hello there")
    await events_of(turn.stream)
    finished = scripted.finished[-1]
    report = await chat_services.quotas.report(cast.alice)
    assert report.today == UsageCounts(
        messages=1,
        prompt_tokens=finished.usage.prompt_tokens,
        cached_prompt_tokens=finished.usage.cached_prompt_tokens,
        generated_tokens=finished.usage.generated_tokens,
    )
    assert report.today.generated_tokens == len(REPLY.split())
    assert report.in_progress == 0
