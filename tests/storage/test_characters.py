"""The character library in SQL: exact round trips, the listing's filters and orders,
avatars, assets and what deleting a character leaves behind."""

import pytest
from hypothesis import HealthCheck, given, settings

from galatea.core.characters import Character
from galatea.core.records import CharacterQuery, CharacterSort, Image, Visibility
from galatea.core.users import User
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.storage.factories import add_character, add_chat, add_user, later
from tests.storage.strategies import characters

# Each example stores a new character under a new id, so one database serves all examples.
ONE_DATABASE_PER_TEST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
async def owner(uow: SqlUnitOfWorkFactory) -> User:
    return await add_user(uow, "owner")


@ONE_DATABASE_PER_TEST
@given(character=characters)
async def test_a_stored_character_comes_back_exactly(
    uow: SqlUnitOfWorkFactory, owner: User, character: Character
) -> None:
    record = await add_character(uow, owner)
    record.character = character
    async with uow() as work:
        await work.characters.update(record)
        await work.commit()
    async with uow(write=False) as work:
        stored = await work.characters.get(record.id)
    assert stored is not None
    assert stored.character == character
    assert (stored.visibility, stored.owner_id) == (record.visibility, owner.id)


async def test_record_fields_round_trip(uow: SqlUnitOfWorkFactory, owner: User) -> None:
    record = await add_character(
        uow, owner, visibility=Visibility.UNLISTED, adult=True, chat_count=7, created=later(3)
    )
    async with uow(write=False) as work:
        stored = await work.characters.get(record.id)
    assert stored == record


async def _search(uow: SqlUnitOfWorkFactory, **query: object) -> list[str]:
    async with uow(write=False) as work:
        page = await work.characters.search(CharacterQuery(**query))  # type: ignore[arg-type]
    return [item.name for item in page.items]


async def test_the_public_library_lists_only_public_characters(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    await add_character(uow, owner, "Open", visibility=Visibility.PUBLIC)
    await add_character(uow, owner, "Link", visibility=Visibility.UNLISTED)
    await add_character(uow, owner, "Mine", visibility=Visibility.PRIVATE)
    assert await _search(uow) == ["Open"]
    assert sorted(await _search(uow, owner_id=owner.id)) == ["Link", "Mine", "Open"]


async def test_adult_characters_are_listed_only_when_asked_for(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    await add_character(uow, owner, "Tame")
    await add_character(uow, owner, "Spicy", adult=True)
    assert await _search(uow) == ["Tame"]
    assert sorted(await _search(uow, include_adult=True)) == ["Spicy", "Tame"]
    assert await _search(uow, owner_id=owner.id) == ["Tame"]


async def test_text_search_matches_name_nickname_creator_tags_and_summary_ignoring_case(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    await add_character(uow, owner, "Captain Wren", creator="Ada")
    await add_character(uow, owner, "Moss", nickname="Wrenlet")
    await add_character(uow, owner, "Fern", tags=["wrenish"])
    await add_character(uow, owner, "Reed", creator_notes="A lighthouse keeper who loves WRENS.")
    # Without creator notes the summary is the start of the description.
    await add_character(uow, owner, "Oak", description="Oak watches wrens from the orchard.")
    # Deep in a long definition is not what the library shows: no match there.
    await add_character(uow, owner, "Elm", description="Elm is a tree. " * 30 + "A wren nests.")
    assert sorted(await _search(uow, text="WREN")) == [
        "Captain Wren",
        "Fern",
        "Moss",
        "Oak",
        "Reed",
    ]
    assert await _search(uow, text="ada") == ["Captain Wren"]
    assert await _search(uow, text="lighthouse keeper") == ["Reed"]


async def test_text_search_treats_like_wildcards_as_plain_characters(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    await add_character(uow, owner, "100% Sure")
    await add_character(uow, owner, "1000 Sure")
    await add_character(uow, owner, "snake_case")
    await add_character(uow, owner, "snakeXcase")
    assert await _search(uow, text="100%") == ["100% Sure"]
    assert await _search(uow, text="e_c") == ["snake_case"]


async def test_the_tag_filter_matches_whole_tags_ignoring_case_and_spaces(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    await add_character(uow, owner, "A", tags=["Fantasy", "Elf"])
    await add_character(uow, owner, "B", tags=[" fantasy "])
    await add_character(uow, owner, "C", tags=["fantasy-ish"])
    assert sorted(await _search(uow, tag="FANTASY")) == ["A", "B"]
    assert await _search(uow, tag="elf") == ["A"]


async def test_sort_orders(uow: SqlUnitOfWorkFactory, owner: User) -> None:
    await add_character(uow, owner, "bravo", created=later(1), chat_count=5)
    await add_character(uow, owner, "Alpha", created=later(2), chat_count=1)
    await add_character(uow, owner, "charlie", created=later(3), chat_count=5)
    assert await _search(uow, sort=CharacterSort.NEW) == ["charlie", "Alpha", "bravo"]
    assert await _search(uow, sort=CharacterSort.POPULAR) == ["charlie", "bravo", "Alpha"]
    assert await _search(uow, sort=CharacterSort.NAME) == ["Alpha", "bravo", "charlie"]


async def test_pages_split_the_listing_and_report_the_total(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    for minute in range(7):
        await add_character(uow, owner, f"c{minute}", created=later(minute))
    async with uow(write=False) as work:
        first = await work.characters.search(CharacterQuery(limit=3))
        last = await work.characters.search(CharacterQuery(offset=6, limit=3))
    assert [item.name for item in first.items] == ["c6", "c5", "c4"]
    assert [item.name for item in last.items] == ["c0"]
    assert first.total == last.total == 7


async def test_summaries_carry_what_a_library_card_shows(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    record = await add_character(
        uow, owner, "Wren", tags=["Birds", "Cozy"], creator="Ada", creator_notes="  A tiny bard. "
    )
    async with uow(write=False) as work:
        (item,) = (await work.characters.search(CharacterQuery())).items
    assert (item.id, item.owner_name, item.creator, item.tags) == (
        record.id,
        "owner",
        "Ada",
        ["Birds", "Cozy"],
    )
    assert item.summary == "A tiny bard."


async def test_editing_replaces_the_tags_used_for_filtering(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    record = await add_character(uow, owner, "Wren", tags=["old"])
    record.character.tags = ["new"]
    async with uow() as work:
        await work.characters.update(record)
        await work.commit()
    assert await _search(uow, tag="old") == []
    assert await _search(uow, tag="new") == ["Wren"]


async def test_chat_count_increments(uow: SqlUnitOfWorkFactory, owner: User) -> None:
    record = await add_character(uow, owner)
    async with uow() as work:
        await work.characters.increment_chat_count(record.id)
        await work.characters.increment_chat_count(record.id)
        await work.commit()
        stored = await work.characters.get(record.id)
    assert stored is not None
    assert stored.chat_count == 2


async def test_avatar_set_replace_and_remove(uow: SqlUnitOfWorkFactory, owner: User) -> None:
    record = await add_character(uow, owner)
    async with uow() as work:
        first = await work.characters.set_avatar(record.id, Image(b"png-1", "image/png"))
        second = await work.characters.set_avatar(record.id, Image(b"webp-2", "image/webp"))
        await work.commit()
    async with uow(write=False) as work:
        image = await work.characters.get_avatar(record.id)
        stored = await work.characters.get(record.id)
    assert first != second
    assert image == Image(b"webp-2", "image/webp")
    assert stored is not None
    assert stored.avatar_digest == second
    async with uow() as work:
        assert await work.characters.set_avatar(record.id, None) is None
        await work.commit()
        assert await work.characters.get_avatar(record.id) is None


async def test_assets_are_replaced_as_a_whole(uow: SqlUnitOfWorkFactory, owner: User) -> None:
    record = await add_character(uow, owner)
    async with uow() as work:
        await work.characters.set_assets(record.id, {"embeded://a.png": b"a", "b": b"\x00b"})
        await work.characters.set_assets(record.id, {"embeded://c.png": b"c"})
        await work.commit()
        assert await work.characters.get_assets(record.id) == {"embeded://c.png": b"c"}


async def test_deleting_a_character_keeps_the_chats_people_had_with_it(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    other = await add_user(uow, "other")
    record = await add_character(uow, owner, tags=["t"])
    chat = await add_chat(uow, other, record)
    async with uow() as work:
        await work.characters.set_avatar(record.id, Image(b"x", "image/png"))
        await work.characters.delete(record.id)
        await work.commit()
    async with uow(write=False) as work:
        assert await work.characters.get(record.id) is None
        kept = await work.chats.get(chat.id)
    assert kept is not None
    assert kept.character_id is None
    assert await _search(uow, tag="t") == []


async def test_unstorable_characters_in_names_do_not_break_the_listing(
    uow: SqlUnitOfWorkFactory, owner: User
) -> None:
    record = await add_character(uow, owner, "Nul\x00and\ud800lone", tags=["t\x00g"])
    assert await _search(uow) == ["Nul\ufffdand\ufffdlone"]
    async with uow(write=False) as work:
        stored = await work.characters.get(record.id)
    assert stored is not None
    assert stored.character.name == "Nul\x00and\ud800lone"
