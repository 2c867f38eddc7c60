import io
import struct
import zlib
from dataclasses import replace

import pytest
from PIL import Image

from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError, NotACardError
from galatea.formats.cards.limits import DEFAULT_LIMITS
from galatea.formats.cards.png_chunks import (
    encode_text_chunk,
    rebuild_png,
    text_chunk_keyword,
    text_chunk_value,
    walk_png,
)
from tests.formats.make_fixtures import (
    itxt_chunk,
    png,
    png_chunk,
    png_header,
    text_chunk,
    zeros_deflate,
    ztxt_chunk,
)


def test_walk_lists_chunks_in_file_order_with_the_image_size() -> None:
    image = walk_png(
        png(before_idat=[text_chunk("a", b"1")], after_idat=[text_chunk("b", b"2")], size=(7, 3)),
        DEFAULT_LIMITS,
    )
    assert [chunk.type for chunk in image.chunks] == ["IHDR", "tEXt", "IDAT", "tEXt", "IEND"]
    assert (image.width, image.height) == (7, 3)


def test_a_file_that_is_not_png_is_not_a_card() -> None:
    with pytest.raises(NotACardError, match="PNG signature is missing"):
        walk_png(b"GIF89a....", DEFAULT_LIMITS)


def test_the_first_chunk_must_be_the_header() -> None:
    data = png()
    swapped = data[:8] + text_chunk("a", b"1") + data[8:]
    with pytest.raises(CorruptCardError, match="starts with a 'tEXt' chunk instead of 'IHDR'"):
        walk_png(swapped, DEFAULT_LIMITS)


def test_bad_crc_names_the_chunk_and_its_offset() -> None:
    data = bytearray(png(after_idat=[text_chunk("chara", b"abc")]))
    position = data.index(b"tEXt") - 4
    data[position + 8 + 9] ^= 0x01
    with pytest.raises(
        CorruptCardError, match=f"PNG chunk 'tEXt' at byte {position} has a bad CRC"
    ):
        walk_png(bytes(data), DEFAULT_LIMITS)


def test_invalid_chunk_type_is_refused() -> None:
    data = png()
    broken = data[:33] + struct.pack(">I", 0) + b"t3Xt" + struct.pack(">I", 0) + data[33:]
    with pytest.raises(CorruptCardError, match=r"at byte 33 has an invalid type b't3Xt'"):
        walk_png(broken, DEFAULT_LIMITS)


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (10, "chunk header is cut short"),
        (45, "is truncated: it declares"),
        (-12, "without an IEND"),
    ],
)
def test_truncation_anywhere_is_reported(cut: int, message: str) -> None:
    with pytest.raises(CorruptCardError, match=message):
        walk_png(png()[:cut], DEFAULT_LIMITS)


def test_a_forged_huge_length_is_refused_without_allocating() -> None:
    data = png()[:33] + struct.pack(">I", 0xFFFFFFF0) + b"tEXt" + b"x" * 16
    with pytest.raises(CorruptCardError, match="declares 4294967280 bytes, more than PNG allows"):
        walk_png(data, DEFAULT_LIMITS)


def test_chunk_larger_than_the_cap_is_refused() -> None:
    data = png(after_idat=[text_chunk("chara", b"x" * 2000)])
    with pytest.raises(
        CardTooLargeError, match=r"PNG chunk 'tEXt' at byte .* is 2006 bytes; at most 1000"
    ):
        walk_png(data, replace(DEFAULT_LIMITS, max_chunk_bytes=1000))


def test_too_many_chunks_are_refused() -> None:
    data = png(before_idat=[png_chunk(b"tIME", b"")] * 50)
    with pytest.raises(CardTooLargeError, match="more than 20 chunks"):
        walk_png(data, replace(DEFAULT_LIMITS, max_container_chunks=20))


def test_pixel_flood_is_refused_from_the_header() -> None:
    with pytest.raises(CardTooLargeError, match="20000x20000 pixels; at most 16777216"):
        walk_png(png_header(20_000, 20_000) + png_chunk(b"IEND", b""), DEFAULT_LIMITS)


def test_trailing_bytes_are_tolerated_up_to_the_allowance() -> None:
    walk_png(png() + b"\x00" * 100, DEFAULT_LIMITS)
    with pytest.raises(CorruptCardError, match="5000 bytes of unknown data after its IEND"):
        walk_png(png() + b"\x00" * 5000, DEFAULT_LIMITS)


def test_text_chunks_of_every_kind_give_keyword_and_text() -> None:
    chunks = [
        text_chunk("chara", b"plain"),
        ztxt_chunk("Chara", b"deflated"),
        itxt_chunk("ccv3", b"international", compressed=False),
        itxt_chunk("CCV3", b"international, deflated", compressed=True),
    ]
    image = walk_png(png(after_idat=chunks), DEFAULT_LIMITS)
    found = [
        (text_chunk_keyword(chunk), text_chunk_value(chunk, 100)) for chunk in image.chunks[2:6]
    ]
    assert found == [
        ("chara", b"plain"),
        ("Chara", b"deflated"),
        ("ccv3", b"international"),
        ("CCV3", b"international, deflated"),
    ]
    assert text_chunk_keyword(image.chunks[0]) is None


def test_compressed_text_is_inflated_only_up_to_the_cap() -> None:
    bomb, _ = zeros_deflate(64 * 1024 * 1024, raw=False)
    image = walk_png(png(after_idat=[png_chunk(b"zTXt", b"chara\x00\x00" + bomb)]), DEFAULT_LIMITS)
    with pytest.raises(CardTooLargeError, match="inflates to more than 1000 bytes"):
        text_chunk_value(image.chunks[2], 1000)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"chara\x00\x00" + b"not zlib", "damaged compressed data"),
        (b"chara\x00\x00" + zlib.compress(b"x" * 100)[:10], "truncated compressed data"),
        (b"chara\x00\x07" + zlib.compress(b"x"), "unknown compression method"),
    ],
)
def test_broken_compressed_text_is_reported(body: bytes, message: str) -> None:
    image = walk_png(png(after_idat=[png_chunk(b"zTXt", body)]), DEFAULT_LIMITS)
    with pytest.raises(CorruptCardError, match=message):
        text_chunk_value(image.chunks[2], 1000)


def test_rebuild_drops_chunks_and_adds_new_ones_before_the_end_as_a_valid_png() -> None:
    original = png(
        before_idat=[text_chunk("chara", b"old")], after_idat=[text_chunk("Software", b"x")]
    )
    image = walk_png(original, DEFAULT_LIMITS)
    rebuilt = rebuild_png(
        image,
        keep=lambda chunk: text_chunk_keyword(chunk) != "chara",
        before_end=[encode_text_chunk("chara", b"new")],
    )
    types = [
        (chunk.type, text_chunk_keyword(chunk))
        for chunk in walk_png(rebuilt, DEFAULT_LIMITS).chunks
    ]
    assert types == [
        ("IHDR", None),
        ("IDAT", None),
        ("tEXt", "Software"),
        ("tEXt", "chara"),
        ("IEND", None),
    ]
    with Image.open(io.BytesIO(rebuilt)) as picture:
        picture.load()
        assert picture.size == (4, 4)
        assert picture.text["chara"] == "new"
