"""Characters: create, edit (through the card reader), delete, library, access, avatars."""

import dataclasses
import io

import pytest
from PIL import Image as PillowImage

from galatea.bootstrap import Services
from galatea.core.records import CharacterSort, Visibility
from galatea.core.users import Role, User
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.character_files import CardUpload
from galatea.services.characters import (
    CharacterChanges,
    CharacterService,
    card_data,
)
from galatea.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.conftest import FakeClock
from tests.formats.make_fixtures import fixture

PASSWORD = "correct horse battery staple"


def png_bytes(size: tuple[int, int] = (8, 12)) -> bytes:
    output = io.BytesIO()
    PillowImage.new("RGB", size, (200, 30, 90)).save(output, format="PNG")
    return output.getvalue()


@pytest.fixture
def characters(services: Services) -> CharacterService:
    return services.characters


@pytest.fixture
async def alice(services: Services) -> User:
    return await services.accounts.sign_up("alice", PASSWORD, address=None)


@pytest.fixture
async def bob(services: Services) -> User:
    return await services.accounts.sign_up("bob", PASSWORD, address=None)


@pytest.fixture
async def grown_up(services: Services) -> User:
    user = await services.accounts.sign_up("carol", PASSWORD, address=None)
    return await services.accounts.confirm_age(user)


async def test_a_new_character_keeps_every_field_it_was_given(
    characters: CharacterService, alice: User
) -> None:
    created = await characters.create(
        alice,
        {
            "name": "Wren",
            "nickname": "Wr",
            "first_mes": "Hello\r\nthere",
            "alternate_greetings": ["Hi", "Ho"],
            "tags": ["cozy", "lighthouse"],
            "character_book": {"entries": [{"keys": ["lamp"], "content": "The lamp is old."}]},
        },
        visibility=Visibility.UNLISTED,
    )
    loaded = await characters.get(alice, created.id)
    character = loaded.character
    assert (character.name, character.nickname, character.first_mes) == (
        "Wren",
        "Wr",
        "Hello\r\nthere",
    )
    assert character.alternate_greetings == ["Hi", "Ho"]
    assert character.character_book is not None
    assert character.character_book.entries[0].content == "The lamp is old."
    assert (loaded.owner_name, loaded.record.visibility) == ("alice", Visibility.UNLISTED)
    assert character.creation_date is not None


async def test_a_character_needs_a_name(characters: CharacterService, alice: User) -> None:
    with pytest.raises(InvalidInput, match=r"^name: must not be empty$"):
        await characters.create(alice, {"description": "nameless"})


async def test_an_edit_changes_only_what_it_names_and_keeps_unknown_card_data(
    services: Services, characters: CharacterService, alice: User
) -> None:
    details, _ = await services.character_files.import_one(
        alice, CardUpload("v3.json", fixture("v3.json"))
    )
    before = card_data(details.character)
    edited = await characters.update(
        alice, details.id, CharacterChanges(card={"description": "Rewritten."})
    )
    after = card_data(edited.character)
    assert after["description"] == "Rewritten."
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {"description", "modification_date"}


async def test_an_edit_can_remove_the_nickname_and_the_lorebook(
    characters: CharacterService, alice: User
) -> None:
    created = await characters.create(
        alice, {"name": "Wren", "nickname": "W", "character_book": {"entries": []}}
    )
    edited = await characters.update(
        alice, created.id, CharacterChanges(card={"nickname": None, "character_book": None})
    )
    assert (edited.character.nickname, edited.character.character_book) == (None, None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"owner_id": "x"}, "^owner_id: is not a card field that can be edited$"),
        ({"description": None}, "^description: must not be null$"),
        ({"description": "x" * 200_001}, r"^description: is 200001 characters long"),
        ({"tags": ["t"] * 65}, r"^tags: has 65 items"),
    ],
)
async def test_a_bad_edit_names_the_field_and_changes_nothing(
    characters: CharacterService, alice: User, changes: dict[str, object], message: str
) -> None:
    created = await characters.create(alice, {"name": "Wren", "description": "Kept."})
    with pytest.raises(InvalidInput, match=message):
        await characters.update(alice, created.id, CharacterChanges(card=changes))
    assert (await characters.get(alice, created.id)).character.description == "Kept."


async def test_a_lorebook_nested_too_deeply_is_refused(
    characters: CharacterService, alice: User
) -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(80):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="nested more than 64 levels"):
        await characters.create(alice, {"name": "Wren", "character_book": {"extensions": deep}})


async def test_others_see_a_private_character_as_missing(
    characters: CharacterService, alice: User, bob: User
) -> None:
    created = await characters.create(alice, {"name": "Secret"})
    with pytest.raises(NotFound):
        await characters.get(bob, created.id)
    with pytest.raises(NotFound):
        await characters.get(None, created.id)
    with pytest.raises(NotFound):
        await characters.update(bob, created.id, CharacterChanges(is_adult=True))
    with pytest.raises(NotFound):
        await characters.delete(bob, created.id)
    with pytest.raises(NotFound):
        await characters.set_avatar(bob, created.id, png_bytes())


async def test_a_public_character_is_readable_by_all_and_writable_by_its_owner(
    services: Services, characters: CharacterService, alice: User, bob: User
) -> None:
    created = await characters.create(alice, {"name": "Open"}, visibility=Visibility.PUBLIC)
    assert (await characters.get(None, created.id)).character.name == "Open"
    with pytest.raises(Forbidden):
        await characters.update(bob, created.id, CharacterChanges(card={"name": "Mine now"}))
    admin = await services.accounts.create_user(LOCAL_OPERATOR, "root2", PASSWORD, role=Role.ADMIN)
    renamed = await characters.update(admin, created.id, CharacterChanges(card={"name": "Fixed"}))
    assert renamed.character.name == "Fixed"


async def test_adult_characters_need_a_confirmed_age_to_be_listed_or_opened(
    characters: CharacterService, alice: User, bob: User, grown_up: User
) -> None:
    adult = await characters.create(
        alice, {"name": "Night"}, visibility=Visibility.PUBLIC, is_adult=True
    )
    await characters.create(alice, {"name": "Day"}, visibility=Visibility.PUBLIC)
    for viewer in (None, bob):
        page = await characters.library(viewer)
        assert [item.name for item in page.items] == ["Day"]
        with pytest.raises(NotFound):
            await characters.get(viewer, adult.id)
    page = await characters.library(grown_up)
    assert sorted(item.name for item in page.items) == ["Day", "Night"]
    assert (await characters.get(grown_up, adult.id)).character.name == "Night"
    # The owner always sees their own adult character.
    assert (await characters.get(alice, adult.id)).character.name == "Night"


async def test_the_library_searches_filters_by_tag_sorts_and_pages(
    characters: CharacterService, alice: User, clock: FakeClock
) -> None:
    for name, tags in [("Anna", ["sci-fi"]), ("Bert", ["fantasy"]), ("Cleo", ["Sci-Fi", "cat"])]:
        clock.advance(minutes=1)
        await characters.create(alice, {"name": name, "tags": tags}, visibility=Visibility.PUBLIC)
    await characters.create(alice, {"name": "Hidden", "tags": ["sci-fi"]})
    newest = await characters.library(None)
    assert [item.name for item in newest.items] == ["Cleo", "Bert", "Anna"]
    tagged = await characters.library(None, tag="SCI-FI", sort=CharacterSort.NAME)
    assert [item.name for item in tagged.items] == ["Anna", "Cleo"]
    found = await characters.library(None, text="cle")
    assert [item.name for item in found.items] == ["Cleo"]
    second = await characters.library(None, offset=2, limit=2)
    assert ([item.name for item in second.items], second.total) == (["Anna"], 3)
    mine = await characters.mine(alice)
    assert mine.total == 4


async def test_a_search_text_has_a_length_limit(characters: CharacterService) -> None:
    with pytest.raises(InvalidInput, match=r"^q: must be at most 200 characters$"):
        await characters.library(None, text="x" * 201)


async def test_a_user_may_keep_a_limited_number_of_characters(
    services: Services, alice: User
) -> None:
    policy = dataclasses.replace(services.characters.policy, max_characters_per_user=2)
    limited = CharacterService(services.uow, services.clock, policy)
    await limited.create(alice, {"name": "One"})
    await limited.create(alice, {"name": "Two"})
    with pytest.raises(Conflict, match="at most 2 characters"):
        await limited.create(alice, {"name": "Three"})


async def test_an_avatar_is_stored_re_encoded_and_can_be_removed(
    characters: CharacterService, alice: User, bob: User
) -> None:
    created = await characters.create(alice, {"name": "Wren"}, visibility=Visibility.PUBLIC)
    digest = await characters.set_avatar(alice, created.id, png_bytes() + b"<script>x</script>")
    image = await characters.get_avatar(None, created.id)
    assert image is not None and digest is not None
    assert image.media_type == "image/png" and b"<script>" not in image.data
    assert PillowImage.open(io.BytesIO(image.data)).size == (8, 12)
    with pytest.raises(Forbidden):
        await characters.set_avatar(bob, created.id, None)
    assert await characters.set_avatar(alice, created.id, None) is None
    assert await characters.get_avatar(alice, created.id) is None


async def test_an_edit_with_a_bad_avatar_changes_nothing(
    characters: CharacterService, alice: User
) -> None:
    created = await characters.create(alice, {"name": "Wren"})
    with pytest.raises(InvalidInput, match=r"^avatar: must be a PNG, JPEG or WebP image$"):
        await characters.update(
            alice,
            created.id,
            CharacterChanges(card={"name": "Renamed"}, avatar=b"<svg xmlns='x'></svg>"),
        )
    assert (await characters.get(alice, created.id)).character.name == "Wren"


async def test_deleting_a_character_removes_it_from_the_library(
    characters: CharacterService, alice: User
) -> None:
    created = await characters.create(alice, {"name": "Gone"}, visibility=Visibility.PUBLIC)
    await characters.delete(alice, created.id)
    with pytest.raises(NotFound):
        await characters.get(alice, created.id)
    assert (await characters.library(None)).total == 0


async def test_a_character_edited_by_form_keeps_its_stamps(
    characters: CharacterService, alice: User, clock: FakeClock
) -> None:
    created = await characters.create(alice, {"name": "Wren"})
    clock.advance(hours=1)
    edited = await characters.update(alice, created.id, CharacterChanges(card={"name": "Wren"}))
    assert edited.character.creation_date == created.character.creation_date
    assert edited.character.modification_date == int(clock.now().timestamp())
    assert edited.record.updated_at == clock.now()
