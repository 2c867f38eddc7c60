import json
from dataclasses import replace

import pytest

from galatea.core.characters import Asset, Character
from galatea.formats.cards import (
    CARD_FORMATS,
    CardFormat,
    assets_left_out,
    read_card,
    write_card,
)
from galatea.formats.cards.errors import CardTooLargeError, InvalidCardError
from galatea.formats.cards.limits import DEFAULT_LIMITS
from tests.formats.make_fixtures import fixture, png

READABLE = [
    "v1.json",
    "v2.json",
    "v3.json",
    "pygmalion.json",
    "messy.json",
    "v2_after_idat.png",
    "v2_and_v3.png",
    "v3_itxt.png",
    "tavernai.webp",
    "card.charx",
    "card_charx.jpg",
]


def embedded_uris(character: Character) -> list[str]:
    return [
        asset.uri
        for asset in character.assets or []
        if asset.uri.startswith(("embeded://", "__asset:"))
    ]


@pytest.mark.parametrize("name", READABLE)
@pytest.mark.parametrize("fmt", ["json", "json_v2", "png"])
def test_every_card_survives_conversion_to_json_and_png(name: str, fmt: str) -> None:
    imported = read_card(fixture(name))
    written = write_card(imported.character, fmt, imported.avatar, imported.assets)  # type: ignore[arg-type]
    again = read_card(written).character
    assert replace(again, assets=None) == replace(imported.character, assets=None)
    if not embedded_uris(imported.character):
        assert again.assets == imported.character.assets


@pytest.mark.parametrize("name", READABLE)
@pytest.mark.parametrize("fmt", CARD_FORMATS)
def test_written_cards_name_only_embedded_files_they_carry(name: str, fmt: CardFormat) -> None:
    # RisuAI refuses a whole card when an `embeded://` or `__asset:` file it names is missing.
    imported = read_card(fixture(name))
    again = read_card(write_card(imported.character, fmt, imported.avatar, imported.assets))
    assert set(embedded_uris(again.character)) <= set(again.assets)


@pytest.mark.parametrize("name", READABLE)
def test_every_card_survives_conversion_to_charx(name: str) -> None:
    imported = read_card(fixture(name))
    written = read_card(write_card(imported.character, "charx", imported.avatar, imported.assets))
    assert replace(written.character, assets=None) == replace(imported.character, assets=None)
    assert written.avatar == imported.avatar


def test_charx_to_png_and_back_keeps_icon_and_card() -> None:
    imported = read_card(fixture("card.charx"))
    as_png = read_card(write_card(imported.character, "png", None, imported.assets))
    # The PNG is the icon; the emotion image and the module it cannot carry are left out.
    assert as_png.character.assets == [Asset(type="icon", uri="ccdefault:", name="main", ext="png")]
    assert as_png.avatar == imported.avatar
    back = read_card(write_card(as_png.character, "charx", as_png.avatar, as_png.assets))
    assert replace(back.character, assets=None) == replace(imported.character, assets=None)
    assert back.character.assets == (imported.character.assets or [])[:1]
    assert back.avatar == as_png.avatar


def test_entries_for_files_a_card_never_had_are_left_out_of_every_format() -> None:
    character = Character(
        name="A",
        assets=[
            Asset(type="icon", uri="embeded://assets/icon/images/main.png", name="main", ext="png"),
            Asset(type="x_audio", uri="embeded://assets/other/audio/rain.mp3", name="r", ext="mp3"),
            Asset(type="emotion", uri="__asset:7", name="sad", ext="png"),
            Asset(type="background", uri="https://example.org/bg.png", name="main", ext="png"),
        ],
    )
    icon = png(size=(3, 3))
    assets = {"embeded://assets/icon/images/main.png": icon}
    remote = character.assets[3:]  # type: ignore[index]
    for fmt in CARD_FORMATS:
        written = read_card(write_card(character, fmt, None, assets)).character
        kept = {
            "charx": character.assets[:1] + remote,  # type: ignore[index]
            "png": [Asset(type="icon", uri="ccdefault:", name="main", ext="png"), *remote],
            "json": remote,
            "json_v2": remote,
        }[fmt]
        assert written.assets == kept, fmt


def test_json_output_is_indented_utf8_v3() -> None:
    written = write_card(Character(name="Zoë", description="a\r\nb"), "json")
    assert written.startswith(b'{\n  "spec": "chara_card_v3",\n  "spec_version": "3.0",')
    assert "Zoë".encode() in written
    assert json.loads(written)["data"]["description"] == "a\r\nb"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidCardError, match="unknown card format 'gif'; use one of png, json"):
        write_card(Character(name="x"), "gif")  # type: ignore[arg-type]
    assert CARD_FORMATS == ("png", "json", "json_v2", "charx")


def test_a_json_card_larger_than_we_would_read_is_refused() -> None:
    limits = replace(DEFAULT_LIMITS, max_json_file_bytes=200)
    with pytest.raises(CardTooLargeError, match=r"JSON card would be .* bytes; at most 200"):
        write_card(Character(name="x", description="d" * 300), "json", limits=limits)


def test_a_charx_card_larger_than_we_would_read_is_refused() -> None:
    limits = replace(DEFAULT_LIMITS, max_card_json_bytes=200)
    with pytest.raises(CardTooLargeError, match=r"card\.json would be .* bytes; at most 200"):
        write_card(Character(name="x", description="d" * 300), "charx", limits=limits)


def test_formats_name_the_assets_they_cannot_carry() -> None:
    character = Character(
        name="A",
        assets=[
            Asset(type="icon", uri="embeded://icon.png", name="main", ext="png"),
            Asset(type="emotion", uri="embeded://joy.png", name="joy", ext="png"),
            Asset(type="emotion", uri="__asset:1", name="sad", ext="png"),
            Asset(type="background", uri="https://example.org/bg.png", name="main", ext="png"),
        ],
    )
    assets = {"embeded://icon.png": png(), "embeded://joy.png": png(), "__asset:1": png()}
    assert assets_left_out(character, "charx", assets) == []
    assert assets_left_out(character, "png", assets) == ["embeded://joy.png"]
    assert assets_left_out(character, "json", assets) == [
        "embeded://icon.png",
        "embeded://joy.png",
        "__asset:1",
    ]
