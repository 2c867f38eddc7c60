from dataclasses import replace

import pytest

from galatea.formats.cards import read_card, sniff_container
from galatea.formats.cards.errors import (
    CardError,
    CardTooLargeError,
    CorruptCardError,
    NotACardError,
)
from galatea.formats.cards.limits import DEFAULT_LIMITS
from tests.formats.make_fixtures import LARGE_FIXTURES, fixture


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("v1.json", "json"),
        ("messy.json", "json"),
        ("v2_after_idat.png", "png"),
        ("tavernai.webp", "webp"),
        ("card.charx", "charx"),
        ("card_charx.jpg", "jpeg+charx"),
        ("svg_named.png", None),
    ],
)
def test_the_container_is_sniffed_from_content(name: str, container: str | None) -> None:
    assert sniff_container(fixture(name)) == container


def test_utf16_json_is_sniffed_as_json() -> None:
    assert sniff_container('{"name": "x"}'.encode("utf-16")) == "json"
    assert read_card('{"name": "Sixteen"}'.encode("utf-16")).character.name == "Sixteen"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"  <svg xmlns='http://www.w3.org/2000/svg'/>", "this is an SVG image"),
        (b"<!DOCTYPE html><p>hi", "this is an HTML page"),
        (b'[{"name": "a"}]', "the JSON is an array"),
        (b"GIF89a\x01\x00", "GIF images do not carry character cards"),
        (b"\xff\xd8\xff\xe0 plain jpeg", "this JPEG image holds no character card"),
        (b"%PDF-1.7", "this is a PDF document"),
        (b"name: Aqua\ngreeting: Hi\ncontext: ...", "text-generation-webui YAML character"),
        (b"\x00\x01binary", r"unrecognised file: .* \(it starts with b'\\x00\\x01binary'\)"),
        # A SillyTavern chat and world-info book, the files most often mistaken for cards.
        (
            b'{"user_name":"You","character_name":"Mo","create_date":1}\n'
            b'{"name":"Mo","is_user":false,"mes":"Hi"}\n',
            r"this is a chat file \(JSON lines\), not a character card",
        ),
        (
            b'{"entries":{"0":{"uid":0,"key":["moon"],"content":"Pale."}}}',
            r"this is a lorebook \(world info\) file",
        ),
        (b'{"entries":[{"keys":["moon"],"content":"Pale."}]}', "this is a lorebook"),
    ],
)
def test_files_that_are_not_cards_are_named_for_what_they_are(data: bytes, message: str) -> None:
    with pytest.raises(NotACardError, match=message):
        read_card(data)


@pytest.mark.parametrize(
    ("name", "limit_field"),
    [
        ("v1.json", "max_json_file_bytes"),
        ("v2_after_idat.png", "max_image_file_bytes"),
        ("card.charx", "max_charx_file_bytes"),
    ],
)
def test_each_container_has_its_own_file_size_cap(name: str, limit_field: str) -> None:
    limits = replace(DEFAULT_LIMITS, **{limit_field: 100})
    with pytest.raises(CardTooLargeError, match=r"file is .* bytes; at most 100 are allowed"):
        read_card(fixture(name), limits)


def test_the_largest_cap_applies_before_sniffing() -> None:
    limits = replace(
        DEFAULT_LIMITS, max_json_file_bytes=10, max_image_file_bytes=10, max_charx_file_bytes=10
    )
    with pytest.raises(CardTooLargeError, match="the file is 11 bytes; at most 10"):
        read_card(b"x" * 11, limits)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("bad_crc.png", CorruptCardError, "has a bad CRC"),
        ("truncated.png", CorruptCardError, "is truncated"),
        ("huge_chunk_length.png", CorruptCardError, "more than PNG allows"),
        ("pixel_flood.png", CardTooLargeError, "20000x20000 pixels"),
        ("base64_junk.png", CorruptCardError, "not valid base64"),
        ("svg_named.png", NotACardError, "SVG image"),
        ("html_named.png", NotACardError, "HTML page"),
        ("many_chunks.png", CardTooLargeError, "more than 2000 chunks"),
        ("ztxt_bomb.png", CardTooLargeError, "inflates to more than"),
        ("member_bomb.charx", CardTooLargeError, "larger than 33554432 bytes uncompressed"),
        ("overlap_bomb.charx", CardTooLargeError, "expands more than 100 times"),
        ("many_members.charx", CardTooLargeError, "10001 members; at most 1000"),
        ("deep.json", CardTooLargeError, "nested more than 64 levels"),
        ("huge_description.json", CardTooLargeError, "JSON file is 52428835 bytes"),
        ("many_values.json", CardTooLargeError, "the card JSON holds more than 500000 values"),
        ("byte_list.webp", CorruptCardError, "UserComment of the WebP is not valid JSON"),
        ("escapes.json", CardTooLargeError, "holds more than 500000 values"),
        ("xmp_word_run.webp", NotACardError, "no character card in its EXIF or XMP"),
    ],
)
def test_hostile_fixtures_are_refused_with_a_one_line_reason(
    name: str, error: type[CardError], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        read_card(fixture(name))
    assert "\n" not in str(raised.value)


def test_every_large_fixture_is_covered() -> None:
    covered = {
        "many_chunks.png",
        "ztxt_bomb.png",
        "member_bomb.charx",
        "overlap_bomb.charx",
        "many_members.charx",
        "deep.json",
        "huge_description.json",
        "many_values.json",
        "byte_list.webp",
        "escapes.json",
        "xmp_word_run.webp",
    }
    assert covered == set(LARGE_FIXTURES)


def test_a_jpeg_whose_bytes_merely_contain_a_zip_marker_is_not_a_charx() -> None:
    fake = b"\xff\xd8\xff\xe0" + b"\x11" * 100 + b"PK\x05\x06" + b"\x00" * 18
    assert sniff_container(fake) is None
    with pytest.raises(NotACardError, match="this JPEG image holds no character card"):
        read_card(fake)
