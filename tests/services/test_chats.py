"""ChatService: starting chats, reading them, and every change that is not a generated reply."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import pytest

from galatea.bootstrap import Services
from galatea.core.records import Visibility
from galatea.services.characters import CharacterChanges
from galatea.services.chats import ChatChanges
from galatea.services.errors import Conflict, InvalidInput, NotFound
from tests.conftest import FakeClock
from tests.services.chat_setup import (  # noqa: F401
    Cast,
    cast,
    chat_services,
    events_of,
    scripted,
)


async def test_a_new_chat_opens_with_the_greeting_and_the_alternates_as_its_swipes(
    chat_services: Services, cast: Cast
) -> None:
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    [greeting] = view.messages
    assert greeting.message.role == "character"
    assert greeting.message.text == "Hello {{user}}, I am {{char}}."
    # Shown with the chat's persona (Alice's default, Sam) and the character's name.
    assert greeting.shown_text == "Hello Sam, I am Ava."
    assert (greeting.swipe_index, greeting.swipe_count) == (0, 2)
    swiped = await chat_services.chats.swipe(cast.alice, view.id, greeting.id, 1)
    assert swiped[0].shown_text == "Welcome back, Sam."
    assert (swiped[0].swipe_index, swiped[0].swipe_count) == (1, 2)
    # The choice is stored: opening the chat again shows the same greeting.
    reopened = await chat_services.chats.open(cast.alice, view.id)
    assert reopened.messages[0].shown_text == "Welcome back, Sam."
    wrapped = await chat_services.chats.swipe(cast.alice, view.id, swiped[0].id, 1)
    assert wrapped[0].shown_text == "Hello Sam, I am Ava."


async def test_another_persona_renames_the_user_everywhere_in_the_chat(
    chat_services: Services, cast: Cast
) -> None:
    robin = await chat_services.personas.create(cast.alice, "Robin")
    view = await chat_services.chats.start(cast.alice, cast.character.id, persona_id=robin.id)
    assert view.messages[0].shown_text == "Hello Robin, I am Ava."
    changed = await chat_services.chats.update(
        cast.alice, view.id, ChatChanges(persona_id=None, title="  Garden talk  ")
    )
    assert changed.messages[0].shown_text == "Hello Sam, I am Ava."
    assert changed.record.title == "Garden talk"


async def test_a_user_has_many_chats_listed_newest_activity_first(
    chat_services: Services, cast: Cast, clock: FakeClock
) -> None:
    first = await chat_services.chats.start(cast.alice, cast.character.id, title="one")
    clock.advance(minutes=1)
    second = await chat_services.chats.start(cast.alice, cast.character.id, title="two")
    clock.advance(minutes=1)
    await chat_services.chats.update(cast.alice, first.id, ChatChanges(title="one again"))
    listed = await chat_services.chats.list_chats(cast.alice)
    assert [c.record.title for c in listed] == ["one again", "two"]
    assert {c.character_name for c in listed} == {"Ava"}
    only = await chat_services.chats.list_chats(cast.alice, character_id=cast.character.id)
    assert {c.id for c in only} == {first.id, second.id}
    assert await chat_services.chats.list_chats(cast.bob) == []
    record = await chat_services.characters.get(cast.alice, cast.character.id)
    assert record.record.chat_count == 2


async def test_others_cannot_see_or_touch_a_chat(chat_services: Services, cast: Cast) -> None:
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    message_id = view.messages[0].id
    chats = chat_services.chats
    attempts = [
        chats.open(cast.bob, view.id),
        chats.messages(cast.bob, view.id),
        chats.update(cast.bob, view.id, ChatChanges(title="mine")),
        chats.delete(cast.bob, view.id),
        chats.edit_message(cast.bob, view.id, message_id, text="x"),
        chats.delete_message(cast.bob, view.id, message_id),
        chats.swipe(cast.bob, view.id, message_id, 1),
        chats.branch(cast.bob, view.id, message_id),
        chats.generation(cast.bob, view.id, message_id),
        chats.settings(cast.bob, view.id),
        chats.open(None, view.id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt
    assert (await chats.open(cast.alice, view.id)).messages[0].id == message_id


async def test_a_private_character_of_someone_else_cannot_start_a_chat(
    chat_services: Services, cast: Cast
) -> None:
    with pytest.raises(NotFound):
        await chat_services.chats.start(cast.bob, cast.character.id)
    await chat_services.characters.update(
        cast.alice, cast.character.id, CharacterChanges(visibility=Visibility.PUBLIC)
    )
    view = await chat_services.chats.start(cast.bob, cast.character.id)
    assert view.messages[0].shown_text == "Hello bob, I am Ava."


async def test_a_persona_or_preset_of_someone_else_is_refused(
    chat_services: Services, cast: Cast
) -> None:
    persona = await chat_services.personas.create(cast.bob, "Bobby")
    preset = await chat_services.presets.create(cast.bob, "Fast", {"max_reply_tokens": 50})
    with pytest.raises(NotFound):
        await chat_services.chats.start(cast.alice, cast.character.id, persona_id=persona.id)
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    with pytest.raises(NotFound):
        await chat_services.chats.update(cast.alice, view.id, ChatChanges(preset_id=preset.id))


async def test_editing_hiding_and_deleting_messages(chat_services: Services, cast: Cast) -> None:
    chats = chat_services.chats
    view = await chats.start(cast.alice, cast.character.id)
    turn = await chat_services.chat_turns.send(cast.alice, view.id, "Tell me about ferns.")
    await events_of(turn.stream)
    path = await chats.messages(cast.alice, view.id)
    assert [m.message.role for m in path] == ["character", "user", "character"]
    user_message, reply = path[1], path[2]

    edited = await chats.edit_message(cast.alice, view.id, reply.id, text="Ferns\r\nare old.")
    assert edited.message.text == "Ferns\nare old."
    hidden = await chats.edit_message(cast.alice, view.id, user_message.id, hidden=True)
    assert hidden.message.hidden
    path = await chats.messages(cast.alice, view.id)
    assert path[2].message.text == "Ferns\nare old."
    assert path[1].message.hidden

    # Deleting a message takes what follows it on the branch too.
    deleted = await chats.delete_message(cast.alice, view.id, user_message.id)
    assert set(deleted) == {user_message.id, reply.id}
    assert [m.id for m in await chats.messages(cast.alice, view.id)] == [path[0].id]


async def test_bad_edits_name_the_problem_and_change_nothing(
    chat_services: Services, cast: Cast
) -> None:
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    greeting = view.messages[0]
    with pytest.raises(InvalidInput, match="NUL"):
        await chat_services.chats.edit_message(cast.alice, view.id, greeting.id, text="a\x00b")
    with pytest.raises(InvalidInput, match="limit"):
        await chat_services.chats.edit_message(cast.alice, view.id, greeting.id, text="x" * 200_001)
    with pytest.raises(InvalidInput, match="title"):
        await chat_services.chats.update(cast.alice, view.id, ChatChanges(title="t" * 201))
    with pytest.raises(NotFound):
        await chat_services.chats.edit_message(cast.alice, view.id, "no-such-message", text="x")
    again = await chat_services.chats.open(cast.alice, view.id)
    assert again.messages[0].message.text == greeting.message.text
    assert again.record.title == ""


async def test_a_branch_copies_the_path_up_to_a_message_and_leaves_the_original(
    chat_services: Services, cast: Cast
) -> None:
    chats = chat_services.chats
    view = await chats.start(cast.alice, cast.character.id, title="Main")
    for text in ("First question", "Second question"):
        turn = await chat_services.chat_turns.send(cast.alice, view.id, text)
        await events_of(turn.stream)
    path = await chats.messages(cast.alice, view.id)
    assert len(path) == 5
    branch = await chats.branch(cast.alice, view.id, path[2].id)
    assert branch.id != view.id
    assert branch.record.title == "Main (branch)"
    assert [m.message.text for m in branch.messages] == [m.message.text for m in path[:3]]
    assert not {m.id for m in branch.messages} & {m.id for m in path}
    # Swipes came along: the greeting still has its alternate.
    assert branch.messages[0].swipe_count == 2
    # Writing in the branch leaves the original alone.
    await chats.delete_message(cast.alice, branch.id, branch.messages[1].id)
    assert len(await chats.messages(cast.alice, view.id)) == 5


async def test_deleting_a_chat_removes_it(chat_services: Services, cast: Cast) -> None:
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    await chat_services.chats.delete(cast.alice, view.id)
    with pytest.raises(NotFound):
        await chat_services.chats.open(cast.alice, view.id)


async def test_a_chat_outlives_its_character(chat_services: Services, cast: Cast) -> None:
    view = await chat_services.chats.start(cast.alice, cast.character.id)
    await chat_services.characters.delete(cast.alice, cast.character.id)
    kept = await chat_services.chats.open(cast.alice, view.id)
    assert kept.summary.character_name == "Ava"
    assert kept.messages[0].shown_text == "Hello Sam, I am Ava."
    with pytest.raises(Conflict, match="deleted"):
        await chat_services.chat_turns.send(cast.alice, view.id, "Are you there?")
    # Nothing was stored for the refused message.
    assert len((await chat_services.chats.open(cast.alice, view.id)).messages) == 1


async def test_a_character_without_a_greeting_starts_an_empty_chat(
    chat_services: Services, cast: Cast
) -> None:
    quiet = await chat_services.characters.create(cast.alice, {"name": "Quiet"})
    view = await chat_services.chats.start(cast.alice, quiet.id)
    assert view.messages == []
