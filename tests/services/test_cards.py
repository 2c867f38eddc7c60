import json

import pytest

from galatea.core.characters import Character
from galatea.services.cards import (
    CardError,
    card_as_v3_json,
    export_card,
    format_for_filename,
    import_card,
    unexported_assets,
)
from tests.formats.make_fixtures import fixture


def test_import_reads_by_content_whatever_the_name_says() -> None:
    imported = import_card(fixture("v2_after_idat.png"), "definitely-a-card.json")
    assert (imported.container, imported.character.name) == ("png", "Maren Holt")
    assert imported.avatar is not None


def test_a_mislabelled_upload_names_the_file_in_its_error() -> None:
    with pytest.raises(
        CardError, match=r"^avatar\.png: this is an SVG image, not a character card$"
    ):
        import_card(fixture("svg_named.png"), "uploads/avatar.png")


def test_errors_inside_a_recognised_file_are_not_prefixed() -> None:
    with pytest.raises(CardError, match=r"^PNG chunk 'tEXt' at byte \d+ has a bad CRC$"):
        import_card(fixture("bad_crc.png"), "x.png")


@pytest.mark.parametrize("fmt", ["png", "json", "json_v2", "charx"])
def test_export_then_import_gives_the_same_character(fmt: str) -> None:
    imported = import_card(fixture("card.charx"))
    exported = export_card(imported.character, fmt, imported.avatar, imported.assets)
    assert import_card(exported).character.name == "Ixchel"
    assert import_card(exported).character.nickname == "Ix"


def test_export_refuses_an_unknown_format() -> None:
    with pytest.raises(CardError, match="unknown card format 'yaml'"):
        export_card(Character(name="x"), "yaml")


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [("out.png", "png"), ("OUT.JSON", "json"), ("dir/card.charx", "charx")],
)
def test_format_follows_the_file_extension(filename: str, fmt: str) -> None:
    assert format_for_filename(filename) == fmt


def test_an_extension_we_cannot_write_is_an_error() -> None:
    with pytest.raises(CardError, match=r"cannot tell the card format from 'card\.webp'"):
        format_for_filename("card.webp")


def test_v3_json_for_display_is_indented_and_unescaped() -> None:
    text = card_as_v3_json(Character(name="Zoë"))
    assert text.startswith('{\n  "spec": "chara_card_v3",\n  "spec_version": "3.0",\n  "data": {')
    assert json.loads(text)["data"]["name"] == "Zoë"


def test_assets_a_format_cannot_carry_are_reported() -> None:
    imported = import_card(fixture("card.charx"))
    assert unexported_assets(imported.character, "json", imported.assets) == [
        "embeded://assets/icon/images/main.png",
        "embeded://assets/emotion/images/happy.webp",
    ]
    assert unexported_assets(imported.character, "charx", imported.assets) == []
