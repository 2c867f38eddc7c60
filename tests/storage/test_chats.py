"""Chats in SQL: one row per message, swipes as siblings, the selection at each fork stored,
and a stored tree that behaves exactly like the in-memory `ChatTree`."""

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from galatea.core.chats import ChatTree, Message, UnknownMessage
from galatea.core.json_types import JsonObject
from galatea.core.records import ChatRecord
from galatea.core.users import User
from galatea.storage.repositories.chats import ChatNotFound
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import add_chat, add_user, later
from tests.storage.strategies import json_objects


@pytest.fixture
async def owner(uow: SqlUnitOfWorkFactory) -> User:
    return await add_user(uow, "owner")


@pytest.fixture
async def chat(uow: SqlUnitOfWorkFactory, owner: User) -> ChatRecord:
    return await add_chat(uow, owner)


def _message(
    text: str, parent: Message | None = None, *, minute: float = 0, **fields: object
) -> Message:
    return Message(
        role="character" if parent and parent.is_user else "user",
        name="Wren",
        text=text,
        parent_id=None if parent is None else parent.id,
        created_at=later(minute),
        **fields,  # type: ignore[arg-type]
    )


async def _add(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord, *messages: Message, select: bool = True
) -> None:
    async with uow() as work:
        for message in messages:
            await work.chats.add_message(chat.id, message, select=select)
        await work.commit()


async def _tree(uow: SqlUnitOfWorkFactory, chat: ChatRecord) -> ChatTree:
    async with uow(write=False) as work:
        return await work.chats.load_tree(chat.id)


def _texts(tree: ChatTree) -> list[str]:
    return [message.text for message in tree.active_path()]


async def test_a_conversation_with_swipes_is_stored_and_the_latest_swipe_shown(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello", minute=0)
    first = _message("first reply", hello, minute=1)
    second = _message("second reply", hello, minute=2)
    await _add(uow, chat, hello, first, second)
    tree = await _tree(uow, chat)
    assert _texts(tree) == ["hello", "second reply"]
    assert [m.text for m in tree.siblings(first.id)] == ["first reply", "second reply"]
    assert tree.get(first.id) == first


async def test_selecting_a_swipe_changes_the_active_path(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    first = _message("first", hello, minute=1)
    second = _message("second", hello, minute=2)
    follow_up = _message("more", first, minute=3)
    await _add(uow, chat, hello, first, second)
    await _add(uow, chat, follow_up, select=False)
    async with uow() as work:
        await work.chats.select_message(chat.id, first.id)
        await work.commit()
    assert _texts(await _tree(uow, chat)) == ["hello", "first", "more"]


async def test_an_unselected_message_is_still_selected_when_it_is_the_first_at_its_fork(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    reply = _message("reply", hello, minute=1)
    alternative = _message("alternative", hello, minute=2)
    await _add(uow, chat, hello, reply, alternative, select=False)
    assert _texts(await _tree(uow, chat)) == ["hello", "reply"]


async def test_messages_with_equal_timestamps_keep_their_insertion_order(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    swipes = [_message(f"swipe {i}", hello) for i in range(5)]
    await _add(uow, chat, hello, *swipes)
    tree = await _tree(uow, chat)
    assert [m.text for m in tree.siblings(swipes[0].id)] == [m.text for m in swipes]


async def test_deleting_a_message_deletes_its_branch_and_selects_the_newest_sibling(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    old = _message("old", hello, minute=1)
    middle = _message("middle", hello, minute=2)
    new = _message("new", hello, minute=3)
    below = _message("below", new, minute=4)
    deeper = _message("deeper", below, minute=5)
    await _add(uow, chat, hello, old, new, below, deeper)
    await _add(uow, chat, middle, select=False)
    async with uow() as work:
        deleted = await work.chats.delete_message(chat.id, new.id)
        await work.commit()
    assert sorted(deleted) == sorted([new.id, below.id, deeper.id])
    assert _texts(await _tree(uow, chat)) == ["hello", "middle"]


async def test_deleting_an_unselected_swipe_keeps_the_selection(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    kept = _message("kept", hello, minute=1)
    dropped = _message("dropped", hello, minute=2)
    await _add(uow, chat, hello, dropped, kept)
    async with uow() as work:
        assert await work.chats.delete_message(chat.id, dropped.id) == [dropped.id]
        await work.commit()
    assert _texts(await _tree(uow, chat)) == ["hello", "kept"]


async def test_message_ids_from_another_chat_are_never_read_or_changed(
    uow: SqlUnitOfWorkFactory, owner: User, chat: ChatRecord
) -> None:
    other_chat = await add_chat(uow, owner)
    secret = _message("secret")
    await _add(uow, other_chat, secret)
    async with uow() as work:
        assert await work.chats.get_message(chat.id, secret.id) is None
        assert await work.chats.delete_message(chat.id, secret.id) == []
        await work.chats.update_message(chat.id, Message("user", "x", "changed", id=secret.id))
        with pytest.raises(UnknownMessage):
            await work.chats.select_message(chat.id, secret.id)
        with pytest.raises(UnknownMessage):
            await work.chats.add_message(chat.id, _message("child", secret))
        await work.commit()
    assert _texts(await _tree(uow, other_chat)) == ["secret"]
    assert _texts(await _tree(uow, chat)) == []


async def test_a_message_for_a_missing_chat_is_refused(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        with pytest.raises(ChatNotFound):
            await work.chats.add_message("no-such-chat", _message("hello"))


async def test_editing_a_message_stores_text_name_status_and_hidden(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    await _add(uow, chat, hello)
    hello.text, hello.name, hello.status, hello.hidden = "edited", "Ada", "incomplete", True
    async with uow() as work:
        await work.chats.update_message(chat.id, hello)
        await work.commit()
        assert await work.chats.get_message(chat.id, hello.id) == hello


async def test_generation_details_are_kept_per_message(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("hello")
    reply = _message("reply", hello, minute=1)
    await _add(uow, chat, hello, reply)
    info = {"sections": [{"label": "system", "tokens": 12, "text": "You are Wren."}], "seed": 7}
    async with uow() as work:
        await work.chats.set_generation(chat.id, reply.id, info)
        await work.commit()
        assert await work.chats.get_generation(chat.id, reply.id) == info
        assert await work.chats.get_generation(chat.id, hello.id) is None


async def test_a_nul_character_in_generated_text_is_stored_as_a_replacement_character(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    await _add(uow, chat, _message("a\x00b"))
    assert _texts(await _tree(uow, chat)) == ["a\ufffdb"]


async def test_long_chats_can_be_cut_and_deleted(
    uow: SqlUnitOfWorkFactory, owner: User, chat: ChatRecord
) -> None:
    # SQLite stops cascading after 1000 levels; a chat is a chain far longer than that.
    tree = ChatTree()
    parent: str | None = None
    for index in range(1500):
        parent = tree.add(
            Message("user", "u", f"m{index}", parent_id=parent, created_at=later(index))
        ).id
    async with uow() as work:
        await work.chats.add_tree(chat.id, tree)
        await work.commit()
    tenth = tree.active_path()[10]
    async with uow() as work:
        deleted = await work.chats.delete_message(chat.id, tenth.id)
        await work.commit()
    assert len(deleted) == 1490
    assert len(_texts(await _tree(uow, chat))) == 10
    async with uow() as work:
        await work.chats.delete(chat.id)
        await work.commit()
        assert await work.chats.get(chat.id) is None
        assert (await work.chats.load_tree(chat.id)).messages == {}


async def test_a_whole_tree_is_stored_at_once_with_its_selections(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    tree = ChatTree()
    hello = tree.add(_message("hello"))
    first = tree.add(_message("first", hello, minute=1))
    tree.add(_message("second", hello, minute=2))
    # Children added before their parent's siblings, to check rows go in parents first.
    tree.add(_message("under first", first, minute=3), select=False)
    tree.select(first.id)
    async with uow() as work:
        await work.chats.add_tree(chat.id, tree)
        await work.commit()
    stored = await _tree(uow, chat)
    assert stored.messages == tree.messages
    assert stored.selected == tree.selected
    assert _texts(stored) == ["hello", "first", "under first"]
    async with uow() as work:
        with pytest.raises(ValueError, match="already has messages"):
            await work.chats.add_tree(chat.id, tree)


async def test_a_tree_whose_parents_form_a_cycle_is_refused(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    tree = ChatTree()
    tree.messages["a"] = Message("user", "u", "a", parent_id="b", id="a")
    tree.messages["b"] = Message("user", "u", "b", parent_id="a", id="b")
    async with uow() as work:
        with pytest.raises(ValueError, match="cycle"):
            await work.chats.add_tree(chat.id, tree)


async def test_a_tree_with_a_dangling_parent_is_refused(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    tree = ChatTree()
    tree.messages["orphan"] = Message("user", "u", "orphan", parent_id="missing", id="orphan")
    async with uow() as work:
        with pytest.raises(UnknownMessage):
            await work.chats.add_tree(chat.id, tree)


async def test_chat_headers_round_trip_and_list_most_recent_first(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    first = await add_chat(uow, owner, title="first")
    second = await add_chat(uow, owner, title="second")
    second.settings = {"temperature": 0.7, "nested": {"a": [1, 2]}}
    second.updated_at = later(5)
    async with uow() as work:
        await work.chats.update(second)
        await work.chats.add_message(first.id, _message("bump", minute=10))
        await work.commit()
        listed = await work.chats.list_for_owner(owner.id)
        stored = await work.chats.get(second.id)
    assert [chat.title for chat in listed] == ["first", "second"]
    assert stored == second


Operation = tuple[str, int, bool]
operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "add", "select", "delete"]),
        st.integers(0, 30),
        st.booleans(),
    ),
    max_size=14,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=operations)
async def test_the_stored_tree_behaves_like_the_in_memory_tree(
    uow: SqlUnitOfWorkFactory, owner: User, steps: list[Operation]
) -> None:
    chat = await add_chat(uow, owner)
    model = ChatTree()
    for number, (action, pick, flag) in enumerate(steps):
        ids = list(model.messages)
        async with uow() as work:
            if action == "add":
                parent = None if not ids or flag else ids[pick % len(ids)]
                # Two operations share each timestamp, so ties are exercised too.
                message = Message(
                    "user",
                    "u",
                    f"m{number}",
                    parent_id=parent,
                    created_at=START + timedelta(seconds=number // 2),
                )
                model.add(
                    Message(**{k: getattr(message, k) for k in message.__slots__}),
                    select=pick % 2 == 0,
                )
                await work.chats.add_message(chat.id, message, select=pick % 2 == 0)
            elif action == "select" and ids:
                model.select(ids[pick % len(ids)])
                await work.chats.select_message(chat.id, ids[pick % len(ids)])
            elif action == "delete" and ids:
                expected = model.remove(ids[pick % len(ids)])
                assert sorted(
                    await work.chats.delete_message(chat.id, ids[pick % len(ids)])
                ) == sorted(expected)
            await work.commit()
            stored = await work.chats.load_tree(chat.id)
        assert stored.messages == model.messages
        assert stored.selected == model.selected
        assert [m.id for m in stored.active_path()] == [m.id for m in model.active_path()]


async def test_kept_data_is_stored_with_each_message_and_read_when_asked(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    hello = _message("Hello.", extra={"extra": {"api": "openai"}, "send_date": 1})
    reply = _message("Hi.", hello, minute=1, extra={"swipe_info": None, "extra": {}})
    await _add(uow, chat, hello, reply)
    async with uow() as work:
        # Turns load trees without it: it can be large and only export and branching read it.
        assert all(m.extra == {} for m in (await work.chats.load_tree(chat.id)).messages.values())
        kept = await work.chats.load_tree(chat.id, with_extra=True)
        assert [m.extra for m in kept.active_path()] == [hello.extra, reply.extra]
        stored = await work.chats.get_message(chat.id, reply.id)
        assert stored is not None and stored.extra == reply.extra
        # An edit of a message loaded without its data leaves the data alone.
        plain = (await work.chats.load_tree(chat.id)).get(hello.id)
        plain.text = "Hello there."
        await work.chats.update_message(chat.id, plain)
        await work.chats.set_extra(chat.id, reply.id, {"gen_started": "x"})
        await work.commit()
        kept = await work.chats.load_tree(chat.id, with_extra=True)
    assert [(m.text, m.extra) for m in kept.active_path()] == [
        ("Hello there.", hello.extra),
        ("Hi.", {"gen_started": "x"}),
    ]


async def test_a_whole_tree_is_stored_with_its_kept_data(
    uow: SqlUnitOfWorkFactory, chat: ChatRecord
) -> None:
    tree = ChatTree()
    first = tree.add(_message("a", extra={"title": "", "swipe_id": 0}))
    tree.add(_message("b", first, minute=1, extra={"force_avatar": "x.png"}))
    async with uow() as work:
        await work.chats.add_tree(chat.id, tree)
        await work.commit()
        stored = await work.chats.load_tree(chat.id, with_extra=True)
    assert stored.messages == tree.messages


async def test_chat_metadata_is_stored_with_the_chat_and_kept_through_updates(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    metadata = {"note_prompt": "Rain.", "note_depth": 4, "variables": {"mood": "calm"}}
    chat = await add_chat(uow, owner)
    kept = ChatRecord(owner.id, None, START, START, metadata=metadata)
    async with uow() as work:
        await work.chats.add(kept)
        await work.commit()
        loaded = await work.chats.get(kept.id)
        assert loaded is not None and loaded.metadata == metadata
        loaded.title = "renamed"
        loaded.metadata = {}
        await work.chats.update(loaded)
        await work.commit()
        again = await work.chats.get(kept.id)
        listed = await work.chats.list_for_owner(owner.id)
    assert again is not None and (again.title, again.metadata) == ("renamed", metadata)
    assert {c.id: c.metadata for c in listed} == {chat.id: {}, kept.id: metadata}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extra=json_objects, metadata=json_objects)
async def test_any_json_survives_storage(
    uow: SqlUnitOfWorkFactory, owner: User, extra: JsonObject, metadata: JsonObject
) -> None:
    chat = ChatRecord(owner.id, None, START, START, metadata=metadata)
    message = _message("x", extra=extra)
    async with uow() as work:
        await work.chats.add(chat)
        await work.chats.add_message(chat.id, message)
        await work.commit()
        stored = await work.chats.get(chat.id)
        tree = await work.chats.load_tree(chat.id, with_extra=True)
    assert stored is not None
    assert json.dumps(stored.metadata) == json.dumps(metadata)
    assert json.dumps(tree.get(message.id).extra) == json.dumps(extra)
