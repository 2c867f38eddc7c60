import base64
import io
import json
from dataclasses import replace

import pytest
from PIL import Image

from galatea.core.characters import Asset, Character
from galatea.formats.cards import read_card
from galatea.formats.cards.card_json import V3_BACKFILL_NOTE
from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError, NotACardError
from galatea.formats.cards.images import default_avatar_png
from galatea.formats.cards.limits import DEFAULT_LIMITS
from galatea.formats.cards.png_cards import write_png_card
from galatea.formats.cards.png_chunks import text_chunk_keyword, text_chunk_value, walk_png
from tests.formats.make_fixtures import (
    V1_CARD,
    V2_CARD,
    V3_CARD,
    b64_card,
    fixture,
    jpeg,
    png,
    text_chunk,
)


def card_chunks(data: bytes) -> list[tuple[str, dict[str, object]]]:
    found = []
    for chunk in walk_png(data, DEFAULT_LIMITS).chunks:
        keyword = text_chunk_keyword(chunk)
        if keyword in ("chara", "ccv3"):
            payload = base64.b64decode(text_chunk_value(chunk, 10**7))
            found.append((keyword, json.loads(payload)))
    return found


@pytest.mark.parametrize(
    ("name", "character_name", "spec"),
    [
        ("v2_after_idat.png", "Maren Holt", "chara_card_v2"),
        ("v2_before_idat.png", "Maren Holt", "chara_card_v2"),
        ("v2_and_v3.png", "Ixchel", "chara_card_v3"),
        ("v3_in_chara.png", "Ixchel", "chara_card_v3"),
        ("v2_ztxt.png", "Maren Holt", "chara_card_v2"),
        ("v3_itxt.png", "Ixchel", "chara_card_v3"),
        ("v2_apng.png", "Maren Holt", "chara_card_v2"),
    ],
)
def test_cards_are_found_wherever_and_however_they_are_stored(
    name: str, character_name: str, spec: str
) -> None:
    card = read_card(fixture(name))
    assert (card.container, card.character.name, card.spec) == ("png", character_name, spec)
    assert card.warnings == []


def test_the_avatar_is_the_image_without_card_chunks_and_unchanged_pixels() -> None:
    data = fixture("v2_and_v3.png")
    card = read_card(data)
    assert card.avatar is not None
    assert card_chunks(card.avatar) == []
    with Image.open(io.BytesIO(card.avatar)) as avatar, Image.open(io.BytesIO(data)) as original:
        assert avatar.tobytes() == original.tobytes()


def test_duplicate_card_chunks_use_the_first_and_say_so() -> None:
    other = dict(V1_CARD, name="Second")
    data = png(
        after_idat=[text_chunk("chara", b64_card(V1_CARD)), text_chunk("chara", b64_card(other))]
    )
    card = read_card(data)
    assert card.character.name == "Old Tom"
    assert card.warnings == ["PNG has 2 'chara' chunks; used the first"]


def test_a_broken_ccv3_chunk_falls_back_to_chara() -> None:
    data = png(after_idat=[text_chunk("ccv3", b"%%%"), text_chunk("chara", b64_card(V2_CARD))])
    card = read_card(data)
    assert card.character.name == "Maren Holt"
    assert card.warnings[0].startswith("the 'ccv3' chunk of the PNG cannot be read")
    assert card.warnings[0].endswith("used the 'chara' chunk of the PNG")


def test_a_chunk_holding_json_instead_of_base64_still_reads() -> None:
    data = png(after_idat=[text_chunk("chara", json.dumps(V1_CARD).encode())])
    assert read_card(data).character.name == "Old Tom"


def test_v3_asset_chunks_become_assets_under_their_uri() -> None:
    icon = png(size=(2, 2))
    card = json.loads(json.dumps(V3_CARD))
    card["data"]["assets"] = [{"type": "emotion", "uri": "__asset:0", "name": "joy", "ext": "png"}]
    data = png(
        after_idat=[
            text_chunk("ccv3", b64_card(card)),
            text_chunk("chara-ext-asset_:0", base64.b64encode(icon)),
        ]
    )
    imported = read_card(data)
    assert imported.assets == {"__asset:0": icon}
    assert imported.avatar is not None
    assert b"chara-ext-asset_" not in imported.avatar


@pytest.mark.parametrize("keyword", ["chara-ext-asset_:1", "chara-ext-asset_1"])
def test_asset_chunks_are_read_with_or_without_the_colon(keyword: str) -> None:
    # RisuAI reads both spellings, so cards in the wild name the URI `__asset:1` either way.
    icon = png(size=(2, 2))
    card = json.loads(json.dumps(V3_CARD))
    card["data"]["assets"] = [{"type": "emotion", "uri": "__asset:1", "name": "joy", "ext": "png"}]
    data = png(
        after_idat=[
            text_chunk("ccv3", b64_card(card)),
            text_chunk(keyword, base64.b64encode(icon)),
        ]
    )
    imported = read_card(data)
    assert imported.assets == {"__asset:1": icon}
    assert imported.avatar is not None
    assert keyword.encode() not in imported.avatar


def test_asset_chunks_that_are_not_images_are_left_out() -> None:
    data = png(
        after_idat=[
            text_chunk("chara", b64_card(V1_CARD)),
            text_chunk("chara-ext-asset_:script", base64.b64encode(b"alert(1)")),
        ]
    )
    imported = read_card(data)
    assert imported.assets == {}
    assert imported.warnings == ["PNG asset chunk 'script' is not an image; left out"]


def test_a_png_without_card_chunks_is_not_a_card() -> None:
    with pytest.raises(NotACardError, match="PNG has no character card"):
        read_card(fixture("no_card.png"))


def test_writing_replaces_every_old_card_chunk_and_keeps_other_metadata() -> None:
    avatar = png(
        before_idat=[text_chunk("chara", b64_card(V1_CARD)), text_chunk("Software", b"painter")],
        after_idat=[
            text_chunk("CCV3", b64_card(V3_CARD)),
            text_chunk("chara-ext-asset_:9", b"AAAA"),
        ],
    )
    character = Character(name="Fresh", description="new")
    written = write_png_card(character, avatar, {}, DEFAULT_LIMITS)
    chunks = card_chunks(written)
    assert [keyword for keyword, _ in chunks] == ["chara", "ccv3"]
    assert chunks[0][1]["spec"] == "chara_card_v2"
    assert chunks[1][1]["spec"] == "chara_card_v3"
    types = [
        (chunk.type, text_chunk_keyword(chunk))
        for chunk in walk_png(written, DEFAULT_LIMITS).chunks
    ]
    assert ("tEXt", "Software") in types
    assert types[-3:] == [("tEXt", "chara"), ("tEXt", "ccv3"), ("IEND", None)]
    assert b"chara-ext-asset_:9" not in written
    assert read_card(written).character == character


def test_without_an_avatar_a_valid_default_image_is_used() -> None:
    written = write_png_card(Character(name="Nobody"), None, {}, DEFAULT_LIMITS)
    with Image.open(io.BytesIO(written)) as picture:
        picture.load()
        assert picture.size == (400, 600)
    assert read_card(written).avatar == default_avatar_png()


def test_a_jpeg_avatar_is_converted_to_png() -> None:
    written = write_png_card(Character(name="Photo"), jpeg((10, 12)), {}, DEFAULT_LIMITS)
    with Image.open(io.BytesIO(written)) as picture:
        assert (picture.format, picture.size) == ("PNG", (10, 12))


def test_a_broken_avatar_is_a_card_error() -> None:
    with pytest.raises(CorruptCardError, match="avatar image"):
        write_png_card(Character(name="x"), b"\xff\xd8\xff" + b"\x00" * 50, {}, DEFAULT_LIMITS)


def test_the_v2_chunk_warns_v2_readers_only_when_v3_data_would_be_missed() -> None:
    nick = Character(name="Nicole", nickname="Nic", creator_notes="hello")
    chunks = dict(card_chunks(write_png_card(nick, None, {}, DEFAULT_LIMITS)))
    assert chunks["chara"]["data"]["creator_notes"] == V3_BACKFILL_NOTE + "\n\nhello"  # type: ignore[index]
    assert chunks["ccv3"]["data"]["creator_notes"] == "hello"  # type: ignore[index]
    plain = dict(
        card_chunks(
            write_png_card(Character(name="P", creator_notes="hi"), None, {}, DEFAULT_LIMITS)
        )
    )
    assert plain["chara"]["data"]["creator_notes"] == "hi"  # type: ignore[index]


def test_png_asset_chunks_are_written_back_for_assets_the_card_uses() -> None:
    icon = png(size=(3, 3))
    character = Character(
        name="A", assets=[Asset(type="emotion", uri="__asset:joy", name="joy", ext="png")]
    )
    written = write_png_card(
        character, None, {"__asset:joy": icon, "__asset:unused": b"x"}, DEFAULT_LIMITS
    )
    imported = read_card(written)
    assert imported.assets == {"__asset:joy": icon}


def test_a_card_too_large_for_a_chunk_is_refused_when_writing() -> None:
    limits = replace(DEFAULT_LIMITS, max_chunk_bytes=1000)
    with pytest.raises(CardTooLargeError, match="a PNG card chunk holds at most 1000"):
        write_png_card(Character(name="Big", description="x" * 2000), png(), {}, limits)
