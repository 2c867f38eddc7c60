"""The migration that adds the shown summary to text search, on a database holding characters
stored before it: they become findable by their summary, and going back restores the old text."""

from sqlalchemy import select, update

from galatea.core.records import CharacterQuery
from galatea.storage import schema
from galatea.storage.db import Database
from galatea.storage.tables import CharacterRow
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.storage.factories import add_character, add_user

BEFORE = "92dfff330d6c"
REVISION = "62af828c0eb2"


async def _search_texts(database: Database) -> dict[str, str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(CharacterRow.name, CharacterRow.search_text))
        return {row.name: row.search_text for row in rows.all()}


async def test_characters_stored_before_are_found_by_their_summary_after_upgrading(
    empty_database_url: str,
) -> None:
    await schema.upgrade(empty_database_url, BEFORE)
    database = Database(empty_database_url)
    try:
        uow = SqlUnitOfWorkFactory(database)
        owner = await add_user(uow, "owner")
        await add_character(uow, owner, "Reed", creator_notes="Keeps the LIGHTHOUSE.")
        await add_character(uow, owner, "Oak", creator="Ada", tags=["Tree"])
        await add_character(uow, owner, "Moss", nickname="Mossy", description="Grows on stones.")
        written_now = await _search_texts(database)
        # What the repository wrote before this revision: name, nickname, creator and tags.
        old = {"Reed": "reed", "Oak": "oak\nada\ntree", "Moss": "moss\nmossy"}
        async with database.engine.begin() as connection:
            for name, text in old.items():
                await connection.execute(
                    update(CharacterRow).where(CharacterRow.name == name).values(search_text=text)
                )

        await schema.upgrade(empty_database_url, REVISION)
        assert await _search_texts(database) == written_now
        async with uow(write=False) as work:
            found = await work.characters.search(CharacterQuery(text="lighthouse"))
        assert [item.name for item in found.items] == ["Reed"]

        await schema.downgrade(empty_database_url, BEFORE)
        assert await _search_texts(database) == old
    finally:
        await database.dispose()
