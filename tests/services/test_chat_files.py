"""Chat files: SillyTavern JSONL export and import, swipes included."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from galatea.bootstrap import Services
from galatea.services.errors import InvalidInput, NotFound, TooLarge
from tests.conftest import FakeClock
from tests.formats.sillytavern_files import chat_files, encode
from tests.services.chat_setup import (  # noqa: F401
    Cast,
    cast,
    chat_services,
    events_of,
    scripted,
)


async def test_an_exported_chat_imports_back_with_its_swipes(
    chat_services: Services, cast: Cast
) -> None:
    chats, turns = chat_services.chats, chat_services.chat_turns
    view = await chats.start(cast.alice, cast.character.id, title="Garden")
    await events_of((await turns.send(cast.alice, view.id, "Do you like moss?")).stream)
    await events_of((await turns.regenerate(cast.alice, view.id)).stream)
    exported = await chat_services.chat_files.export(cast.alice, view.id)
    assert exported.filename == "Ava - Garden.jsonl"
    lines = [json.loads(line) for line in exported.data.decode().splitlines()]
    assert lines[0]["character_name"] == "Ava"
    assert lines[0]["user_name"] == "Sam"
    # Names are written as the chat shows them; the greeting's alternates are its swipes.
    assert lines[1]["mes"] == "Hello Sam, I am Ava."
    assert lines[1]["swipes"] == ["Hello Sam, I am Ava.", "Welcome back, Sam."]
    assert (lines[2]["is_user"], lines[2]["mes"]) == (True, "Do you like moss?")
    assert len(lines[3]["swipes"]) == 2 and lines[3]["swipe_id"] == 1

    imported = await chat_services.chat_files.import_chat(
        cast.alice, cast.character.id, exported.data
    )
    assert imported.id != view.id
    original = await chats.messages(cast.alice, view.id)
    assert [m.shown_text for m in imported.messages] == [m.shown_text for m in original]
    assert [m.swipe_count for m in imported.messages] == [2, 1, 2]
    assert imported.messages[-1].swipe_index == 1
    assert imported.record.title == "Imported chat (3 messages)"


async def test_a_bad_chat_file_is_refused_with_its_reason_and_nothing_stored(
    chat_services: Services, cast: Cast
) -> None:
    files = chat_services.chat_files
    with pytest.raises(InvalidInput, match="line 2 is not valid JSON"):
        await files.import_chat(cast.alice, cast.character.id, b'{"user_name": "x"}\n{oops\n')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        await files.import_chat(cast.alice, cast.character.id, b"\xff\xfe")
    files.limits = type(files.limits)(max_bytes=100)
    with pytest.raises(TooLarge):
        await files.import_chat(cast.alice, cast.character.id, b"{}" * 60)
    assert await chat_services.chats.list_chats(cast.alice) == []


async def test_nobody_exports_or_imports_into_what_they_cannot_see(
    chat_services: Services, cast: Cast
) -> None:
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    with pytest.raises(NotFound):
        await chat_services.chat_files.export(cast.bob, view.id)
    data = (await chat_services.chat_files.export(cast.alice, view.id)).data
    with pytest.raises(NotFound):
        await chat_services.chat_files.import_chat(cast.bob, cast.character.id, data)


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().split("\n")]


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=chat_files(max_messages=5))
async def test_a_sillytavern_chat_goes_back_with_all_its_data(
    chat_services: Services, cast: Cast, lines: list[dict[str, Any]]
) -> None:
    files = chat_services.chat_files
    imported = await files.import_chat(cast.alice, cast.character.id, encode(lines))
    header, *messages = _lines((await files.export(cast.alice, imported.id)).data)
    assert [_canonical(line) for line in messages] == [_canonical(line) for line in lines[1:]]
    assert header["chat_metadata"] == lines[0]["chat_metadata"]
    assert header["create_date"] == lines[0]["create_date"]
    # The header names the chat's own persona and character.
    assert (header["user_name"], header["character_name"]) == ("Sam", "Ava")


async def test_generated_replies_export_their_model_token_count_and_times(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    turns = chat_services.chat_turns
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    await events_of((await turns.send(cast.alice, view.id, "Do you like moss?")).stream)
    clock.advance(seconds=30)
    await events_of((await turns.continue_reply(cast.alice, view.id)).stream)
    *_, user, reply = _lines((await chat_services.chat_files.export(cast.alice, view.id)).data)
    assert user["extra"] == {} and "gen_started" not in user
    # The scripted backend counts words: five for the reply, five more for its continuation.
    assert reply["extra"] == {"model": "default", "token_count": 10}
    assert reply["gen_finished"] == "2025-01-01T12:00:30.000Z"  # when the continuation ended
    assert reply["swipe_info"] == [
        {
            "send_date": reply["send_date"],
            "gen_started": reply["gen_started"],
            "gen_finished": reply["gen_finished"],
            "extra": reply["extra"],
        }
    ]


async def test_a_branch_keeps_the_data_of_the_messages_it_copies(
    chat_services: Services, cast: Cast
) -> None:
    line = {
        "name": "Ava",
        "is_user": False,
        "send_date": "May 1, 2024 2:03pm",
        "mes": "Hello.",
        "extra": {"api": "koboldcpp", "model": "m", "reasoning": "r"},
        "force_avatar": "a.png",
    }
    files = chat_services.chat_files
    data = encode([{"chat_metadata": {"note_depth": 2}}, line])
    imported = await files.import_chat(cast.alice, cast.character.id, data)
    copy = await chat_services.chats.branch(cast.alice, imported.id, imported.messages[0].id)
    _, exported = _lines((await files.export(cast.alice, copy.id)).data)
    assert exported == line


async def test_kept_data_over_its_bound_is_refused_naming_the_line_and_nothing_stored(
    chat_services: Services, cast: Cast
) -> None:
    files = chat_services.chat_files
    big = {"mes": "Hi.", "send_date": 1, "extra": {"reasoning": "x" * 70_000}}
    with pytest.raises(InvalidInput, match="line 2: a message's extra data"):
        await files.import_chat(cast.alice, cast.character.id, encode([{}, big]))
    assert await chat_services.chats.list_chats(cast.alice) == []
