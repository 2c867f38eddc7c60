"""The migration adding `messages.extra` and `chats.chat_metadata`, on a database holding chats:
every chat and message is kept, reads with empty kept data, takes new data at once, and going
back removes only the two columns."""

from sqlalchemy import inspect

from galatea.core.chats import Message
from galatea.storage import schema
from galatea.storage.db import Database
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.storage.factories import (
    add_character,
    add_first_schema_chat,
    add_user,
    chat_titles,
    later,
)

BEFORE = "7fa1ef925c0c"
REVISION = "92dfff330d6c"


async def _columns(database: Database, table: str) -> set[str]:
    async with database.engine.connect() as connection:
        found = await connection.run_sync(lambda sync: inspect(sync).get_columns(table))
    return {column["name"] for column in found}


async def test_upgrading_a_database_with_chats_keeps_them_and_adds_kept_data(
    empty_database_url: str,
) -> None:
    await schema.upgrade(empty_database_url, BEFORE)
    database = Database(empty_database_url)
    try:
        uow = SqlUnitOfWorkFactory(database)
        alice = await add_user(uow, "alice")
        wren = await add_character(uow, alice, "Wren")
        chat_id = await add_first_schema_chat(
            database, alice, wren, "Hello.", "Hi!", "How are you?", title="old"
        )
        assert "extra" not in await _columns(database, "messages")

        await schema.upgrade(empty_database_url, REVISION)
        assert await schema.current_revision(empty_database_url) == REVISION
        async with uow() as work:
            chat = await work.chats.get(chat_id)
            tree = await work.chats.load_tree(chat_id, with_extra=True)
            last = tree.active_path()[-1]
            await work.chats.set_extra(chat_id, last.id, {"extra": {"model": "m"}})
            reply = Message("character", "Wren", "Fine.", last.id, created_at=later(9))
            reply.extra = {"extra": {"token_count": 3}}
            await work.chats.add_message(chat_id, reply)
            await work.commit()
        assert chat is not None and chat.title == "old" and chat.metadata == {}
        assert [m.text for m in tree.active_path()] == ["Hello.", "Hi!", "How are you?"]
        assert all(m.extra == {} for m in tree.messages.values())
        async with uow(write=False) as work:
            again = await work.chats.load_tree(chat_id, with_extra=True)
        assert [m.extra for m in again.active_path()] == [
            {},
            {},
            {"extra": {"model": "m"}},
            {"extra": {"token_count": 3}},
        ]

        await schema.downgrade(empty_database_url, BEFORE)
        assert "extra" not in await _columns(database, "messages")
        assert "chat_metadata" not in await _columns(database, "chats")
        assert await chat_titles(database) == ["old"]
        async with uow(write=False) as work:
            assert await work.users.get(alice.id) == alice
    finally:
        await database.dispose()
