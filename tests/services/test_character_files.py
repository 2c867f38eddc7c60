"""Card files: import one or many (each on its own), export with the round-trip guarantee."""

import dataclasses

import pytest

from galatea.bootstrap import Services
from galatea.core.records import Visibility
from galatea.core.users import User
from galatea.formats.cards import CardLimits
from galatea.services.cards import import_card
from galatea.services.character_files import (
    CardUpload,
    CharacterFileService,
    export_filename,
)
from galatea.services.characters import CharacterChanges, CharacterService, card_data
from galatea.services.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from tests.formats.make_fixtures import fixture

PASSWORD = "correct horse battery staple"


@pytest.fixture
def files(services: Services) -> CharacterFileService:
    return services.character_files


@pytest.fixture
async def alice(services: Services) -> User:
    return await services.accounts.sign_up("alice", PASSWORD, address=None)


@pytest.fixture
async def bob(services: Services) -> User:
    return await services.accounts.sign_up("bob", PASSWORD, address=None)


@pytest.mark.parametrize(
    ("name", "character", "has_avatar"),
    [
        ("v2_after_idat.png", "Maren Holt", True),
        ("v3.json", "Ixchel", False),
        ("card.charx", "Ixchel", True),
        ("tavernai.webp", None, True),
    ],
)
async def test_each_card_format_imports_with_its_picture(
    services: Services,
    files: CharacterFileService,
    alice: User,
    name: str,
    character: str | None,
    has_avatar: bool,
) -> None:
    details, _warnings = await files.import_one(alice, CardUpload(name, fixture(name)))
    if character is not None:
        assert details.character.name == character
    stored = await services.characters.get(alice, details.id)
    assert card_data(stored.character) == card_data(import_card(fixture(name)).character)
    avatar = await services.characters.get_avatar(alice, details.id)
    assert (avatar is not None) == has_avatar
    assert details.record.visibility is Visibility.PRIVATE


async def test_an_imported_lorebook_stays_with_the_character(
    services: Services, files: CharacterFileService, alice: User
) -> None:
    details, _ = await files.import_one(alice, CardUpload("c.png", fixture("v2_after_idat.png")))
    stored = await services.characters.get(alice, details.id)
    book = stored.character.character_book
    assert book is not None and len(book.entries) > 0


@pytest.mark.parametrize("fmt", ["png", "json", "json_v2", "charx"])
async def test_an_export_reads_back_as_the_stored_card(
    services: Services, files: CharacterFileService, alice: User, fmt: str
) -> None:
    details, _ = await files.import_one(alice, CardUpload("c.charx", fixture("card.charx")))
    exported = await files.export(alice, details.id, fmt)
    again = import_card(exported.data)
    stored = await services.characters.get(alice, details.id)
    if fmt == "json_v2":
        # V2 has no place for V3-only fields; the V2 card carries the rest.
        assert again.character.name == stored.character.name
        assert again.character.character_book == stored.character.character_book
    else:
        # Asset entries differ by design: a file names only the embedded files it carries.
        without_assets = dataclasses.replace(stored.character, assets=again.character.assets)
        assert card_data(again.character) == card_data(without_assets)
    assert exported.filename == f"Ixchel.{'json' if fmt.startswith('json') else fmt}"
    if fmt in ("png", "charx"):
        assert again.avatar is not None


async def test_an_edited_character_exports_its_edit(
    services: Services, files: CharacterFileService, alice: User
) -> None:
    details, _ = await files.import_one(alice, CardUpload("c.png", fixture("v2_after_idat.png")))
    await services.characters.update(
        alice, details.id, CharacterChanges(card={"scenario": "A new storm."})
    )
    exported = await files.export(alice, details.id, "png")
    assert import_card(exported.data).character.scenario == "A new storm."


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("svg_named.png", UnsupportedMedia, "this is an SVG image, not a character card"),
        ("html_named.png", UnsupportedMedia, "this is an HTML page"),
        ("bad_crc.png", InvalidInput, "bad CRC"),
        ("truncated.png", InvalidInput, "^file: "),
        ("zip_slip.charx", InvalidInput, "^file: "),
        ("no_card.png", InvalidInput, "^file: "),
    ],
)
async def test_a_bad_file_gives_one_line_and_stores_nothing(
    services: Services,
    files: CharacterFileService,
    alice: User,
    name: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message) as raised:
        await files.import_one(alice, CardUpload(name, fixture(name)))
    assert "\n" not in str(raised.value)
    assert (await services.characters.mine(alice)).total == 0


async def test_a_card_over_a_limit_is_too_large(services: Services, alice: User) -> None:
    policy = dataclasses.replace(
        services.characters.policy, card_limits=CardLimits(max_json_file_bytes=100)
    )
    characters = CharacterService(services.uow, services.clock, policy)
    limited = CharacterFileService(services.uow, services.clock, characters)
    with pytest.raises(TooLarge, match="at most 100 are allowed"):
        await limited.import_one(alice, CardUpload("v3.json", fixture("v3.json")))


async def test_a_batch_reports_each_file_and_keeps_the_good_ones(
    services: Services, files: CharacterFileService, alice: User
) -> None:
    outcomes = await files.import_many(
        alice,
        [
            CardUpload("one.json", fixture("v2.json")),
            CardUpload("broken.png", fixture("bad_crc.png")),
            CardUpload("two.charx", fixture("card.charx")),
        ],
        visibility=Visibility.PUBLIC,
    )
    assert [o.filename for o in outcomes] == ["one.json", "broken.png", "two.charx"]
    assert [o.details is not None for o in outcomes] == [True, False, True]
    assert outcomes[1].error is not None and "bad CRC" in outcomes[1].error
    assert not outcomes[1].error.startswith(("file:", "broken.png"))
    library = await services.characters.library(None)
    assert sorted(item.name for item in library.items) == ["Ixchel", "Maren Holt"]


async def test_a_batch_has_a_size(files: CharacterFileService, alice: User) -> None:
    limit = files.policy.max_import_files
    too_many = [CardUpload(f"{i}.json", fixture("v2.json")) for i in range(limit + 1)]
    with pytest.raises(InvalidInput, match=f"at most {limit} files"):
        await files.import_many(alice, too_many)
    with pytest.raises(InvalidInput, match="choose at least one"):
        await files.import_many(alice, [])


async def test_a_card_tagged_nsfw_is_flagged_adult_unless_told_otherwise(
    files: CharacterFileService, alice: User
) -> None:
    card = fixture("v3.json").replace(b'"sci-fi"', b'"NSFW"')
    flagged, _ = await files.import_one(alice, CardUpload("a.json", card))
    unflagged, _ = await files.import_one(alice, CardUpload("b.json", card), is_adult=False)
    plain, _ = await files.import_one(alice, CardUpload("c.json", fixture("v3.json")))
    assert (flagged.record.is_adult, unflagged.record.is_adult, plain.record.is_adult) == (
        True,
        False,
        False,
    )


async def test_others_cannot_export_a_private_character(
    files: CharacterFileService, alice: User, bob: User
) -> None:
    details, _ = await files.import_one(alice, CardUpload("c.json", fixture("v3.json")))
    with pytest.raises(NotFound):
        await files.export(bob, details.id, "json")
    with pytest.raises(NotFound):
        await files.export(None, details.id, "png")


async def test_an_unknown_export_format_is_refused(
    files: CharacterFileService, alice: User
) -> None:
    details, _ = await files.import_one(alice, CardUpload("c.json", fixture("v3.json")))
    with pytest.raises(InvalidInput, match=r"^format: must be one of png, json, json_v2, charx$"):
        await files.export(alice, details.id, "yaml")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Wren", "Wren.png"),
        ("../../etc/passwd", "etc_passwd.png"),
        ('a"b\r\nc', "a_b_c.png"),
        ("...", "character.png"),
        ("Émilie 日本", "Émilie 日本.png"),
    ],
)
def test_an_export_file_name_is_safe(name: str, expected: str) -> None:
    assert export_filename(name, "png") == expected
