"""The usage and billing migration on a database holding data: nothing stored is lost, the
new tables work at once, and going back removes only them."""

from datetime import date

from sqlalchemy import inspect

from galatea.core.billing import BillingEvent
from galatea.core.usage import UsageCounts
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

BEFORE = "f5ba19a8e3f3"
REVISION = "28ca88d530db"
NEW_TABLES = {"usage_days", "billing_events"}


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def test_upgrading_a_database_with_accounts_and_chats_keeps_them(
    empty_database_url: str,
) -> None:
    await schema.upgrade(empty_database_url, BEFORE)
    database = Database(empty_database_url)
    try:
        uow = SqlUnitOfWorkFactory(database)
        alice = await add_user(uow, "alice")
        character = await add_character(uow, alice, "Wren", description="a ranger")
        await add_first_schema_chat(database, alice, character, "Hello.", title="first")
        assert not NEW_TABLES & await _tables(database)

        await schema.upgrade(empty_database_url, REVISION)
        assert await schema.current_revision(empty_database_url) == REVISION
        async with uow() as work:
            kept_user = await work.users.get(alice.id)
            kept_character = await work.characters.get(character.id)
            await work.usage.add(alice.id, date(2025, 1, 1), UsageCounts(1, 10, 0, 5))
            assert await work.billing_events.add(
                BillingEvent("evt_1", "tier.changed", alice.id, "plus", later(1)), later(1)
            )
            await work.commit()
        assert kept_user == alice
        assert kept_character is not None
        assert kept_character.character.description == "a ranger"
        assert await chat_titles(database) == ["first"]

        await schema.downgrade(empty_database_url, BEFORE)
        assert not NEW_TABLES & await _tables(database)
        async with uow(write=False) as work:
            assert await work.users.get(alice.id) == alice
    finally:
        await database.dispose()
