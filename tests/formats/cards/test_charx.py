import io
import json
import zipfile
from dataclasses import replace

import pytest

from galatea.core.characters import Asset, Character
from galatea.formats.cards import read_card, write_card
from galatea.formats.cards.errors import (
    CardError,
    CardTooLargeError,
    CorruptCardError,
    NotACardError,
    UnsafeCardError,
)
from galatea.formats.cards.limits import DEFAULT_LIMITS
from tests.formats.make_fixtures import V3_CARD, fixture, jpeg, png, webp, zip_archive

CARD_JSON = json.dumps(V3_CARD).encode()


def test_charx_gives_the_card_its_images_and_the_main_icon_as_avatar() -> None:
    card = read_card(fixture("card.charx"))
    assert (card.container, card.spec, card.character.name) == ("charx", "chara_card_v3", "Ixchel")
    assert set(card.assets) == {
        "embeded://assets/icon/images/main.png",
        "embeded://assets/emotion/images/happy.webp",
    }
    assert card.avatar == card.assets["embeded://assets/icon/images/main.png"]
    # RisuAI's per-asset metadata (x_meta/1.json) is not worth a mention.
    assert card.warnings == [
        "CharX members that are not images were left out: 'module.risum', "
        "'assets/other/code/script.js'"
    ]


def test_jpeg_with_an_appended_charx_reads_like_the_charx() -> None:
    card = read_card(fixture("card_charx.jpg"))
    assert card.container == "jpeg+charx"
    assert card.character == read_card(fixture("card.charx")).character


def test_jpeg_with_charx_and_no_icon_uses_the_jpeg_as_avatar() -> None:
    photo = jpeg()
    card = read_card(photo + zip_archive([("card.json", CARD_JSON)]))
    assert card.avatar == photo


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("zip_slip.charx", UnsafeCardError, r"'\.\./evil\.png' uses '\.' or '\.\.'"),
        ("absolute_path.charx", UnsafeCardError, "'/etc/evil.png' has an absolute path"),
        ("backslash_path.charx", UnsafeCardError, "has a backslash in its path"),
        ("symlink.charx", UnsafeCardError, "'link.png' is a symbolic link"),
        ("encrypted.charx", UnsafeCardError, "'card.json' is encrypted"),
        ("duplicate_names.charx", UnsafeCardError, "two members named 'card.json'"),
        ("no_card_json.charx", NotACardError, "card.json is missing from the CharX file"),
        ("truncated_directory.charx", CorruptCardError, "no end record"),
    ],
)
def test_hostile_archives_are_refused_with_the_reason(
    name: str, error: type[CardError], message: str
) -> None:
    with pytest.raises(error, match=message):
        read_card(fixture(name))


def test_a_zip_hidden_as_an_image_is_never_opened() -> None:
    card = read_card(fixture("nested_zip.charx"))
    assert card.assets == {}
    assert "'inner.png'" in card.warnings[0]


def test_member_count_is_bounded_before_zipfile_parses_the_directory() -> None:
    limits = replace(DEFAULT_LIMITS, max_zip_members=5)
    data = zip_archive([("card.json", CARD_JSON)] + [(f"{i}.txt", b"") for i in range(6)])
    with pytest.raises(CardTooLargeError, match="CharX has 7 members; at most 5"):
        read_card(data, limits)


def test_member_total_and_ratio_caps_count_real_bytes() -> None:
    image = png(size=(64, 64))
    data = zip_archive([("card.json", CARD_JSON), ("a.png", image), ("b.png", image)])
    with pytest.raises(CardTooLargeError, match="larger than 100 bytes uncompressed"):
        read_card(data, replace(DEFAULT_LIMITS, max_zip_member_bytes=100))
    with pytest.raises(CardTooLargeError, match="add up to more than"):
        read_card(
            data, replace(DEFAULT_LIMITS, max_zip_total_bytes=len(CARD_JSON) + len(image) + 10)
        )
    zeros = zip_archive([("card.json", CARD_JSON), ("z.png", b"\x00" * 3 * 1024 * 1024)])
    with pytest.raises(CardTooLargeError, match=r"'z\.png' expands more than 100 times"):
        read_card(zeros)


def test_a_damaged_member_is_corrupt() -> None:
    data = bytearray(zip_archive([("card.json", CARD_JSON)], method=zipfile.ZIP_STORED))
    data[40] ^= 0xFF
    with pytest.raises(CorruptCardError, match=r"'card\.json' is damaged"):
        read_card(bytes(data))


def test_written_charx_has_card_json_first_and_the_same_bytes_every_time() -> None:
    character = read_card(fixture("card.charx")).character
    assets = read_card(fixture("card.charx")).assets
    first = write_card(character, "charx", None, assets)
    assert first == write_card(character, "charx", None, assets)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == [
            "card.json",
            "assets/icon/images/main.png",
            "assets/emotion/images/happy.webp",
        ]
    again = read_card(first)
    # The module entry names a file the reader left out; the rest of the card is unchanged.
    assert again.character.assets == character.assets[:2]  # type: ignore[index]
    assert replace(again.character, assets=None) == replace(character, assets=None)
    assert again.assets == assets


def test_the_avatar_becomes_the_main_icon_of_a_card_without_assets() -> None:
    avatar = png(size=(5, 5))
    written = write_card(Character(name="Plain"), "charx", avatar)
    card = read_card(written)
    assert card.character.assets == [
        Asset(type="icon", uri="embeded://assets/icon/images/main.png", name="main", ext="png")
    ]
    assert card.avatar == avatar


def test_the_avatar_replaces_a_default_icon_and_fills_a_missing_embedded_one() -> None:
    avatar = webp()
    default = Character(
        name="D", assets=[Asset(type="icon", uri="ccdefault:", name="main", ext="png")]
    )
    card = read_card(write_card(default, "charx", avatar))
    assert card.character.assets == [
        Asset(type="icon", uri="embeded://assets/icon/images/main.webp", name="main", ext="webp")
    ]
    missing = Character(
        name="M",
        assets=[Asset(type="icon", uri="embeded://art/face.webp", name="main", ext="webp")],
    )
    card = read_card(write_card(missing, "charx", avatar))
    assert card.character.assets == missing.assets
    assert card.assets == {"embeded://art/face.webp": avatar}


def test_png_asset_chunks_move_into_the_zip() -> None:
    joy = png(size=(2, 2))
    character = Character(
        name="A", assets=[Asset(type="emotion", uri="__asset:0", name="joy", ext="png")]
    )
    card = read_card(write_card(character, "charx", None, {"__asset:0": joy}))
    assert card.character.assets == [
        Asset(type="emotion", uri="embeded://assets/emotion/images/joy.png", name="joy", ext="png")
    ]
    assert card.assets == {"embeded://assets/emotion/images/joy.png": joy}


@pytest.mark.parametrize(
    "uri", ["embeded://../escape.png", "embeded:///abs.png", "embeded://a\\b.png"]
)
def test_an_asset_path_we_would_refuse_to_read_is_refused_when_writing(uri: str) -> None:
    character = Character(name="A", assets=[Asset(type="icon", uri=uri, name="main", ext="png")])
    with pytest.raises(UnsafeCardError):
        write_card(character, "charx", None, {uri: png()})
