"""ChatTurns on a scripted backend: replies as server-side jobs, saved however they end."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from galatea.bootstrap import Services, build_services
from galatea.config import ChatSettings, Settings
from galatea.core.records import Visibility
from galatea.inference.backend import GenerationRequest
from galatea.inference.errors import BackendHTTPError, StreamInterrupted
from galatea.inference.scheduling import QueueFull
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure
from galatea.services.characters import CharacterChanges
from galatea.services.chat_turns import Turn
from galatea.services.chats import ChatChanges
from galatea.services.errors import Conflict, InvalidInput
from galatea.services.passwords import Argon2PasswordHasher
from galatea.services.reply_streams import StreamEvent
from tests.conftest import FakeClock
from tests.services.chat_setup import (  # noqa: F401
    PASSWORD,
    Cast,
    cast,
    chat_services,
    events_of,
    kinds,
    scripted,
    scripted_source,
    streamed_text,
)

LONG_REPLY = " ".join(f"word{i}" for i in range(200))


async def start_chat(services: Services, cast: Cast) -> str:
    return (await services.chats.start(cast.alice, cast.character.id)).id


def sent_id(turn: Turn) -> str:
    assert turn.user_message is not None
    return turn.user_message.id


def last_prompt(backend: ScriptedBackend) -> str:
    prompt = backend.requests[-1].prompt
    assert isinstance(prompt, str)
    return prompt


async def wait_for_token(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    seen = []
    async for event in events:
        seen.append(event)
        if event.kind == "token":
            return seen
    raise AssertionError("the stream ended without a token")


async def test_a_sent_message_is_stored_and_the_reply_streams_then_is_saved(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    chat_id = await start_chat(chat_services, cast)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "  Hello there!  ")
    assert turn.user_message is not None
    assert turn.user_message.message.text == "Hello there!"
    assert turn.user_message.message.name == "Sam"
    events = await events_of(turn.stream)
    assert kinds(events) == ["started", "token", "saved", "done"]
    assert streamed_text(events) == "The ferns are lovely today."
    saved = next(e.data for e in events if e.kind == "saved")
    assert saved["text"] == "The ferns are lovely today."
    assert saved["status"] == "complete"
    assert saved["role"] == "character"
    assert events[-1].data == {"status": "complete", "reason": "stop"}
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert [m.message.text for m in path[1:]] == ["Hello there!", "The ferns are lovely today."]
    assert path[2].id == saved["id"]
    # The prompt was built from the chat: persona and character names filled in.
    prompt = scripted.requests[-1].prompt
    assert isinstance(prompt, str)
    assert "Ava is a botanist who talks to Sam about plants." in prompt
    assert "Hello there!" in prompt
    assert scripted.requests[-1].cache_key == chat_id


async def test_the_prompt_inspector_has_the_prompt_by_section_with_counts_and_usage(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    chat_id = await start_chat(chat_services, cast)
    await events_of((await chat_services.chat_turns.send(cast.alice, chat_id, "Hi")).stream)
    reply = (await chat_services.chats.messages(cast.alice, chat_id))[-1]
    info = await chat_services.chats.generation(cast.alice, chat_id, reply.id)
    [run] = info["runs"]
    prompt = run["prompt"]
    sent = scripted.requests[-1].prompt
    assert "".join(s["text"] for s in prompt["sections"]) == sent
    assert {"system", "character", "history"} <= {s["label"] for s in prompt["sections"]}
    assert all(s["tokens"] > 0 for s in prompt["sections"])
    assert prompt["total_tokens"] == len(scripted.tokenizer.split(sent))
    assert prompt["template"] == "chatml"
    assert run["usage"]["generated_tokens"] == 5
    assert run["usage"]["prompt_tokens"] == prompt["total_tokens"]
    assert run["finish"] == {"reason": "stop", "error": None}
    assert run["request"]["max_tokens"] == 250
    assert run["budget"]["max_reply_tokens"] == 250


async def test_a_second_generation_in_the_same_chat_is_refused_while_one_runs(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.token_delay = 0.01
    scripted.replies = [LONG_REPLY]
    chat_id = await start_chat(chat_services, cast)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "First")
    for attempt in (
        chat_services.chat_turns.send(cast.alice, chat_id, "Second"),
        chat_services.chat_turns.regenerate(cast.alice, chat_id),
        chat_services.chat_turns.impersonate(cast.alice, chat_id),
    ):
        with pytest.raises(Conflict, match="already being written"):
            await attempt
    with pytest.raises(Conflict, match="stop it first"):
        await chat_services.chats.delete_message(cast.alice, chat_id, sent_id(turn))
    await chat_services.chat_turns.stop_for(cast.alice, chat_id)
    await events_of(turn.stream)
    texts = [m.message.text for m in await chat_services.chats.messages(cast.alice, chat_id)]
    assert texts.count("Second") == 0


async def test_stop_saves_the_text_so_far_as_incomplete(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.token_delay = 0.01
    scripted.replies = [LONG_REPLY]
    chat_id = await start_chat(chat_services, cast)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "Talk a lot")
    await wait_for_token(turn.stream.follow())
    assert await chat_services.chat_turns.stop_for(cast.alice, chat_id)
    events = await events_of(turn.stream)
    assert events[-1].data == {"status": "incomplete", "reason": "stopped"}
    reply = (await chat_services.chats.messages(cast.alice, chat_id))[-1]
    assert reply.message.status == "incomplete"
    assert reply.message.text == streamed_text(events)
    assert 0 < len(reply.message.text) < len(LONG_REPLY)
    assert scripted.finished[-1].reason == "cancelled"
    assert not await chat_services.chat_turns.stop_for(cast.alice, chat_id)


async def test_a_failure_mid_reply_keeps_the_partial_text_and_says_so_in_words(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    secret = "backend answered HTTP 500: internal at 10.0.0.7 with key sk-123"
    scripted.replies = [
        ScriptedFailure(BackendHTTPError(500, secret), "Once upon a"),
        " time there was a fern.",
    ]
    chat_id = await start_chat(chat_services, cast)
    events = await events_of(
        (await chat_services.chat_turns.send(cast.alice, chat_id, "Story?")).stream
    )
    assert kinds(events) == ["started", "token", "saved", "error", "done"]
    error = next(e.data["message"] for e in events if e.kind == "error")
    assert error == "the text generator reported an error"
    assert "10.0.0.7" not in json.dumps([e.data for e in events])
    reply = (await chat_services.chats.messages(cast.alice, chat_id))[-1]
    assert (reply.message.text, reply.message.status) == ("Once upon a", "incomplete")
    info = await chat_services.chats.generation(cast.alice, chat_id, reply.id)
    assert info["runs"][0]["finish"]["reason"] == "error"

    # Continuing finishes the same message.
    events = await events_of(
        (await chat_services.chat_turns.continue_reply(cast.alice, chat_id)).stream
    )
    assert streamed_text(events) == " time there was a fern."
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert path[-1].id == reply.id
    assert path[-1].message.text == "Once upon a time there was a fern."
    assert path[-1].message.status == "complete"
    # The continue was asked to leave the character's message open.
    assert last_prompt(scripted).endswith("Once upon a")
    info = await chat_services.chats.generation(cast.alice, chat_id, reply.id)
    assert [run["kind"] for run in info["runs"]] == ["reply", "continue"]


async def test_regenerate_adds_a_swipe_and_keeps_the_earlier_reply(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["First answer.", "Second answer."]
    chat_id = await start_chat(chat_services, cast)
    await events_of((await chat_services.chat_turns.send(cast.alice, chat_id, "Q")).stream)
    events = await events_of(
        (await chat_services.chat_turns.regenerate(cast.alice, chat_id)).stream
    )
    saved = next(e.data for e in events if e.kind == "saved")
    assert (saved["text"], saved["swipe_index"], saved["swipe_count"]) == ("Second answer.", 1, 2)
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert path[-1].message.text == "Second answer."
    back = await chat_services.chats.swipe(cast.alice, chat_id, path[-1].id, -1)
    assert back[-1].message.text == "First answer."
    # Both versions were generated from the same prompt.
    assert scripted.requests[0].prompt == scripted.requests[1].prompt


async def test_a_failed_regenerate_never_replaces_the_reply_shown_before(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["A good answer.", ScriptedFailure(StreamInterrupted("cut"), "Half of")]
    chat_id = await start_chat(chat_services, cast)
    await events_of((await chat_services.chat_turns.send(cast.alice, chat_id, "Q")).stream)
    events = await events_of(
        (await chat_services.chat_turns.regenerate(cast.alice, chat_id)).stream
    )
    assert next(e.data["message"] for e in events if e.kind == "error") == (
        "the connection to the text generator broke off"
    )
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert path[-1].message.text == "A good answer."
    assert path[-1].message.status == "complete"
    # The partial version is kept as a swipe the user can still open and continue.
    assert path[-1].swipe_count == 2
    other = await chat_services.chats.swipe(cast.alice, chat_id, path[-1].id, 1)
    assert (other[-1].message.text, other[-1].message.status) == ("Half of", "incomplete")


async def test_regenerate_after_the_users_message_writes_a_first_reply(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.replies = [ScriptedFailure(StreamInterrupted("cut")), "Now it works."]
    chat_id = await start_chat(chat_services, cast)
    events = await events_of((await chat_services.chat_turns.send(cast.alice, chat_id, "Q")).stream)
    assert "saved" not in kinds(events)  # nothing was written, so nothing was stored
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert path[-1].message.text == "Q"
    await events_of((await chat_services.chat_turns.regenerate(cast.alice, chat_id)).stream)
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert [m.message.text for m in path[-2:]] == ["Q", "Now it works."]


async def test_a_greeting_cannot_be_regenerated_nor_a_users_message_continued(
    chat_services: Services, cast: Cast
) -> None:
    chat_id = await start_chat(chat_services, cast)
    with pytest.raises(InvalidInput, match="greeting"):
        await chat_services.chat_turns.regenerate(cast.alice, chat_id)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "Q")
    await events_of(turn.stream)
    with pytest.raises(InvalidInput, match="continued"):
        await chat_services.chat_turns.continue_reply(
            cast.alice,
            chat_id,
            sent_id(turn),
        )


async def test_impersonation_streams_a_draft_for_the_user_and_stores_nothing(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["Sam: I would love to see your greenhouse."]
    chat_id = await start_chat(chat_services, cast)
    events = await events_of(
        (await chat_services.chat_turns.impersonate(cast.alice, chat_id)).stream
    )
    assert "saved" not in kinds(events)
    assert events[-1].data["text"] == "I would love to see your greenhouse."
    assert streamed_text(events) == "I would love to see your greenhouse."
    assert len(await chat_services.chats.messages(cast.alice, chat_id)) == 1
    # The model was asked to speak as the persona, to the character.
    prompt = scripted.requests[-1].prompt
    assert isinstance(prompt, str)
    assert "A curious gardener." in prompt
    assert prompt.rstrip().endswith("Sam:")


async def test_a_speaker_prefix_the_model_writes_is_not_shown_twice(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["Ava: Good morning!"]
    chat_id = await start_chat(chat_services, cast)
    events = await events_of(
        (await chat_services.chat_turns.send(cast.alice, chat_id, "Hi")).stream
    )
    assert streamed_text(events) == "Good morning!"


async def test_the_reply_is_saved_when_nobody_follows_the_stream(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.token_delay = 0.001
    chat_id = await start_chat(chat_services, cast)
    await chat_services.chat_turns.send(cast.alice, chat_id, "Anyone?")
    for _ in range(500):
        if not await chat_services.chat_turns.running(chat_id):
            break
        await asyncio.sleep(0.01)
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert path[-1].message.text == "The ferns are lovely today."


async def test_a_late_viewer_rejoins_the_stream_from_the_start(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.token_delay = 0.005
    chat_id = await start_chat(chat_services, cast)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "Hi")
    await wait_for_token(turn.stream.follow())
    rejoined = await chat_services.chat_turns.follow(cast.alice, chat_id)
    assert rejoined is turn.stream
    assert streamed_text(await events_of(rejoined)) == "The ferns are lovely today."
    with pytest.raises(Exception, match="chat not found"):
        await chat_services.chat_turns.follow(cast.bob, chat_id)


async def test_settings_from_the_preset_and_the_chat_reach_the_request(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    preset = await chat_services.presets.create(
        cast.alice, "Calm", {"temperature": 0.3, "max_reply_tokens": 3, "template": "pygmalion"}
    )
    chat_id = await start_chat(chat_services, cast)
    await chat_services.chats.update(
        cast.alice, chat_id, ChatChanges(preset_id=preset.id, settings={"top_k": 20})
    )
    events = await events_of(
        (await chat_services.chat_turns.send(cast.alice, chat_id, "Hi")).stream
    )
    request = scripted.requests[-1]
    assert (request.sampling.temperature, request.sampling.top_k) == (0.3, 20)
    assert request.max_tokens == 3
    assert isinstance(request.prompt, str) and request.prompt.endswith("Ava:")
    assert events[-1].data == {"status": "complete", "reason": "length"}
    assert streamed_text(events) == "The ferns are"


async def test_hidden_messages_stay_out_of_the_prompt(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    chat_id = await start_chat(chat_services, cast)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "My secret is tulips")
    await events_of(turn.stream)
    await chat_services.chats.edit_message(
        cast.alice,
        chat_id,
        sent_id(turn),
        hidden=True,
    )
    await events_of((await chat_services.chat_turns.send(cast.alice, chat_id, "Next")).stream)
    assert "tulips" not in last_prompt(scripted)


async def test_a_message_has_bounds(chat_services: Services, cast: Cast) -> None:
    chat_id = await start_chat(chat_services, cast)
    for text, problem in (("   ", "empty"), ("x" * 32_001, "limit"), ("a\x00", "NUL")):
        with pytest.raises(InvalidInput, match=problem):
            await chat_services.chat_turns.send(cast.alice, chat_id, text)
    assert len(await chat_services.chats.messages(cast.alice, chat_id)) == 1


async def test_a_prompt_that_cannot_fit_is_explained_and_the_message_kept(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.context_length = 300
    huge = await chat_services.characters.create(
        cast.alice, {"name": "Verbose", "description": "words " * 2000}
    )
    chat_id = (await chat_services.chats.start(cast.alice, huge.id)).id
    events = await events_of(
        (await chat_services.chat_turns.send(cast.alice, chat_id, "Hi")).stream
    )
    message = next(e.data["message"] for e in events if e.kind == "error")
    assert message.startswith("the prompt cannot be built: the character definition needs")
    assert [m.message.text for m in await chat_services.chats.messages(cast.alice, chat_id)] == [
        "Hi"
    ]


# -- tiers, queueing and shutdown: services built here with their own settings ---------------


@pytest.fixture
def tiers_file(tmp_path: Path) -> Path:
    tier = {
        "weight": 1.0,
        "max_context_tokens": 2048,
        "max_reply_tokens": 4,
        "messages_per_day": None,
        "concurrency": 1,
        "queue_cap": 1,
        "queued_per_user": 1,
        "ageing_bound_s": 600.0,
    }
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps({"free": tier}))
    return path


async def test_a_tier_limits_the_reply_queues_and_refuses_when_the_queue_is_full(
    database_url: str,
    tmp_path: Path,
    tiers_file: Path,
    clock: FakeClock,
    password_hasher: Argon2PasswordHasher,
) -> None:
    backend = ScriptedBackend(replies=[LONG_REPLY], token_delay=0.02)
    settings = Settings(database_url=database_url, data_dir=tmp_path / "d", tiers_file=tiers_file)
    services = build_services(
        settings, clock=clock, hasher=password_hasher, backends=[scripted_source(backend, 1)]
    )
    await services.start()
    try:
        users = [
            await services.accounts.sign_up(name, PASSWORD, address=None)
            for name in ("ann", "ben", "cat")
        ]
        character = await services.characters.create(users[0], {"name": "Ava"})
        await services.characters.update(
            users[0], character.id, CharacterChanges(visibility=Visibility.PUBLIC)
        )
        chats = [(await services.chats.start(u, character.id)).id for u in users]
        first = await services.chat_turns.send(users[0], chats[0], "one")
        second = await services.chat_turns.send(users[1], chats[1], "two")
        with pytest.raises(QueueFull):
            await services.chat_turns.send(users[2], chats[2], "three")
        # The refused message was not stored, so sending again later is all it takes.
        assert await services.chats.messages(users[2], chats[2]) == []
        second_events = await events_of(second.stream)
        assert second_events[0] == StreamEvent("queued", {"position": 1})
        first_events = await events_of(first.stream)
        # The tier's reply budget capped the request whatever the settings asked for.
        assert all(r.max_tokens == 4 for r in backend.requests)
        assert first_events[-1].data["reason"] == "length"
    finally:
        await services.close()


async def test_shutdown_saves_a_running_reply_as_interrupted(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    password_hasher: Argon2PasswordHasher,
) -> None:
    backend = ScriptedBackend(replies=[LONG_REPLY], token_delay=0.01)
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "d",
        chats=ChatSettings(shutdown_grace_seconds=0),
    )
    services = build_services(
        settings, clock=clock, hasher=password_hasher, backends=[scripted_source(backend)]
    )
    await services.start()
    alice = await services.accounts.sign_up("alice", PASSWORD, address=None)
    character = await services.characters.create(alice, {"name": "Ava"})
    chat_id = (await services.chats.start(alice, character.id)).id
    turn = await services.chat_turns.send(alice, chat_id, "Go on")
    await wait_for_token(turn.stream.follow())
    await services.chat_turns.close()
    events = await events_of(turn.stream)
    assert events[-1].data == {"status": "incomplete", "reason": "interrupted"}
    assert "shutting down" in next(e.data["message"] for e in events if e.kind == "error")
    async with services.uow(write=False) as uow:
        tree = await uow.chats.load_tree(chat_id)
    last = tree.last()
    assert last is not None and last.status == "incomplete" and last.text
    with pytest.raises(Conflict, match="shutting down"):
        await services.chat_turns.send(alice, chat_id, "more")
    await services.close()


async def test_stop_pressed_while_the_reply_is_being_set_up_still_stops_it(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend
) -> None:
    scripted.replies = [LONG_REPLY]
    scripted.token_delay = 0.01
    chat_id = await start_chat(chat_services, cast)
    sending = asyncio.create_task(chat_services.chat_turns.send(cast.alice, chat_id, "Hi"))
    for _ in range(1000):
        if await chat_services.chat_turns.running(chat_id):
            break
        await asyncio.sleep(0)
    assert await chat_services.chat_turns.stop(chat_id)
    turn = await sending
    events = await events_of(turn.stream)
    assert events[-1].data["reason"] == "stopped"
    # The message was sent (it stays); no reply was written.
    path = await chat_services.chats.messages(cast.alice, chat_id)
    assert [m.message.text for m in path[1:]] == ["Hi"]


async def test_the_backend_is_asked_only_once_the_users_message_is_committed(
    chat_services: Services, cast: Cast, scripted: ScriptedBackend, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file from another connection")
    path = database_url.split("///", 1)[1]
    seen: list[int] = []

    def reply(request: GenerationRequest) -> str:
        # A separate connection sees only committed rows.
        with contextlib.closing(sqlite3.connect(path)) as connection:
            rows = connection.execute(
                "SELECT count(*) FROM messages WHERE text = 'stored before the reply'"
            ).fetchone()
        seen.append(rows[0])
        return "ok"

    scripted.replies = reply
    chat_id = await start_chat(chat_services, cast)
    turn = await chat_services.chat_turns.send(cast.alice, chat_id, "stored before the reply")
    await events_of(turn.stream)
    assert seen == [1]
