import base64
import io
import json
import struct
from dataclasses import replace

import pytest
from PIL import Image

from galatea.formats.cards import read_card
from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError, NotACardError
from galatea.formats.cards.limits import DEFAULT_LIMITS
from tests.formats.make_fixtures import (
    V1_CARD,
    V3_CARD,
    fixture,
    riff_chunk,
    tiff_with_user_comment,
    webp,
)

JSON = json.dumps(V1_CARD, ensure_ascii=False).encode("utf-8")


def test_tavernai_webp_card_reads_and_is_a_real_webp() -> None:
    data = fixture("tavernai.webp")
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        assert picture.format == "WEBP"
    card = read_card(data)
    assert (card.container, card.spec, card.character.name) == ("webp", "chara_card_v1", "Old Tom")


def test_the_avatar_is_the_image_without_the_card_metadata() -> None:
    data = fixture("tavernai.webp")
    avatar = read_card(data).avatar
    assert avatar is not None
    with Image.open(io.BytesIO(avatar)) as picture, Image.open(io.BytesIO(data)) as original:
        assert "exif" in original.info
        assert "exif" not in picture.info
        assert picture.tobytes() == original.tobytes()
    with pytest.raises(NotACardError, match="WebP image has no character card"):
        read_card(avatar)


@pytest.mark.parametrize(
    "comment",
    [
        JSON,
        b"ASCII\x00\x00\x00" + JSON,
        b"\x00" * 8 + base64.b64encode(JSON),
        b"UNICODE\x00" + JSON.decode().encode("utf-16-le"),
        ",".join(str(byte) for byte in JSON).encode() + b"\x00",
    ],
    ids=["bare json", "ascii prefix", "base64", "utf-16", "decimal bytes"],
)
def test_user_comment_encodings_seen_in_the_wild(comment: bytes) -> None:
    data = webp(exif=tiff_with_user_comment(comment))
    assert read_card(data).character.description == V1_CARD["description"]


def test_big_endian_exif_with_the_comment_in_the_exif_directory() -> None:
    comment = b"UNICODE\x00" + JSON.decode().encode("utf-16-be")
    data = webp(
        exif=b"Exif\x00\x00" + tiff_with_user_comment(comment, big_endian=True, in_exif_ifd=True)
    )
    assert read_card(data).character.name == "Old Tom"


def test_card_in_xmp_metadata() -> None:
    payload = base64.b64encode(json.dumps(V3_CARD).encode()).decode()
    xmp = f'<x:xmpmeta><rdf:Description xmlns:tav="urn:x" tav:chara="{payload}"/></x:xmpmeta>'
    card = read_card(webp(xmp=xmp.encode()))
    assert card.character.name == "Ixchel"


def test_webp_without_metadata_is_not_a_card() -> None:
    with pytest.raises(NotACardError, match="WebP image has no character card"):
        read_card(webp())


def test_exif_pointing_outside_itself_is_corrupt() -> None:
    block = bytearray(tiff_with_user_comment(JSON))
    struct.pack_into("<I", block, 8 + 2 + 8, 10**6)
    with pytest.raises(CorruptCardError, match="EXIF data points outside itself"):
        read_card(webp(exif=bytes(block)))


def test_a_byte_list_with_values_above_255_is_corrupt() -> None:
    with pytest.raises(CorruptCardError, match="not a list of byte values 0 to 255"):
        read_card(webp(exif=tiff_with_user_comment(b"123,999,34")))


def test_truncated_webp_is_corrupt() -> None:
    with pytest.raises(CorruptCardError, match="WebP is truncated"):
        read_card(fixture("tavernai.webp")[:-40])


def test_webp_pixel_flood_is_refused_from_its_header() -> None:
    data = bytearray(webp(exif=tiff_with_user_comment(JSON)))
    data[24:30] = (19_999).to_bytes(3, "little") + (19_999).to_bytes(3, "little")
    with pytest.raises(CardTooLargeError, match="20000x20000 pixels"):
        read_card(bytes(data))


def test_too_many_riff_chunks_are_refused() -> None:
    data = webp(exif=tiff_with_user_comment(JSON))
    body = data[12:] + riff_chunk(b"JUNK", b"") * 30
    flooded = b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
    with pytest.raises(CardTooLargeError, match="more than 10 chunks"):
        read_card(flooded, replace(DEFAULT_LIMITS, max_container_chunks=10))
