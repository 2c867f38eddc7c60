"""Builds the card fixtures of the test suite; run it to rewrite tests/formats/fixtures/.

    .venv/bin/python -m tests.formats.make_fixtures

Small fixtures are committed (a test checks they match these builders). Large hostile inputs
(bombs, floods, 50 MB fields) are built on demand by `build_fixture`, never stored. Every card
text here is written for these tests.
"""

import base64
import io
import json
import struct
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GIB = 1024**3
MIB = 1024**2

# Text that must survive byte for byte: CRLF, trailing spaces, tabs, NBSP, emoji with a ZWJ,
# combining accents (not normalised), right-to-left text.
TRICKY_TEXT = "Line one\r\nLine two  \r\n\tindented\u00a0nbsp 👩‍🚀 Cafe\u0301 שלום \n"

V1_CARD: dict[str, Any] = {
    "name": "Old Tom",
    "description": "A retired ferryman who counts the river's moods.",
    "personality": "gruff, kind underneath",
    "scenario": "{{user}} waits for the last ferry.",
    "first_mes": "Last boat's gone, but I might row you over. *He squints.*",
    "mes_example": "<START>\n{{user}}: How much?\n{{char}}: A story. I take payment in stories.",
    "creatorcomment": "Made for a river campaign.",
    "avatar": "none",
    "chat": "Old Tom - 2023-5-1 @10h 00m 00s 000ms",
    "talkativeness": "0.4",
    "fav": False,
    "create_date": "2023-5-1 @10h 00m 00s 000ms",
}

V2_DATA: dict[str, Any] = {
    "name": "Maren Holt",
    "description": "Captain of the airship *Kestrel*.\r\n" + TRICKY_TEXT,
    "personality": "bold, loyal, allergic to paperwork",
    "scenario": "The Kestrel is short one navigator, and {{user}} applied.",
    "first_mes": "You're the navigator? *She looks you up and down.* Can you read a storm?",
    "mes_example": (
        "<START>\r\n{{user}}: Where are we headed?\r\n{{char}}: Wherever the wind owes us money."
    ),
    "creator_notes": "Works best with a sense of adventure.",
    "system_prompt": "{{original}}\nKeep replies under 150 words.",
    "post_history_instructions": "",
    "alternate_greetings": ["*The deck lurches.* Hold on to something!", ""],
    "character_book": {
        "name": "Kestrel lore",
        "description": "",
        "scan_depth": 5,
        "token_budget": 512,
        "recursive_scanning": False,
        "extensions": {},
        "entries": [
            {
                "keys": ["Kestrel", "airship"],
                "content": "The Kestrel is a patched cargo airship with a brass figurehead.",
                "extensions": {
                    "position": 0,
                    "depth": 4,
                    "probability": 100,
                    "useProbability": True,
                },
                "enabled": True,
                "insertion_order": 100,
                "case_sensitive": False,
                "name": "ship",
                "priority": 10,
                "id": 0,
                "comment": "the ship",
                "selective": True,
                "secondary_keys": ["deck"],
                "constant": False,
                "position": "before_char",
            },
            {
                "keys": ["storm"],
                "content": "Storms over the Shattered Sea glow green.",
                "extensions": {},
                "enabled": False,
                "insertion_order": 5.5,
                "id": 1,
                "position": "after_char",
            },
        ],
    },
    "tags": ["adventure", "airship", "female"],
    "creator": "fixture-writer",
    "character_version": "1.2",
    "extensions": {
        "talkativeness": "0.5",
        "fav": False,
        "world": "Shattered Sea",
        "depth_prompt": {"prompt": "Maren never leaves the helm.", "depth": 4, "role": "system"},
    },
}

# Shaped like SillyTavern's export: V1 copies and its own bookkeeping beside `data`.
V2_CARD: dict[str, Any] = {
    **{key: V2_DATA[key] for key in ("name", "description", "personality", "scenario")},
    "first_mes": V2_DATA["first_mes"],
    "mes_example": V2_DATA["mes_example"],
    "creatorcomment": V2_DATA["creator_notes"],
    "avatar": "none",
    "talkativeness": "0.5",
    "fav": False,
    "tags": V2_DATA["tags"],
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": V2_DATA,
    "create_date": "2024-5-1 @14h 03m 21s 123ms",
}

V3_DATA: dict[str, Any] = {
    "name": "Ixchel",
    "description": "An astronomer-priestess who maps the stars. " + TRICKY_TEXT,
    "tags": ["sci-fi", "mystery"],
    "creator": "fixture-writer",
    "character_version": "3",
    "mes_example": (
        "<START>\n{{user}}: What do you see?\n{{char}}: A door, if you know how to count."
    ),
    "extensions": {"x_app": {"nested": [1, 2, {"deep": None}]}, "flag": True},
    "system_prompt": "",
    "post_history_instructions": "Stay in character as {{char}}.",
    "first_mes": "*She doesn't look up from the telescope.* You're late. The comet isn't.",
    "alternate_greetings": ["Ah. A visitor. Sit, and mind the charts."],
    "personality": "precise, patient, secretive",
    "scenario": "An observatory carved into a mountain.",
    "creator_notes": "English notes.",
    "character_book": {
        "name": "Observatory",
        "extensions": {"x_book": 1},
        "entries": [
            {
                "keys": ["/comet\\s+\\w+/i"],
                "content": "@@depth 4\n@@role system\nThe comet returns every 76 years.",
                "extensions": {},
                "enabled": True,
                "insertion_order": 1,
                "use_regex": True,
                "constant": False,
                "id": "c-1",
                "x_entry": "kept",
            },
            {
                "keys": ["telescope"],
                "content": "The telescope's lens was ground from river crystal.",
                "extensions": {},
                "enabled": True,
                "insertion_order": 2,
                "use_regex": False,
            },
        ],
        "x_book_field": [1, 2],
    },
    "assets": [
        {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
        {
            "type": "background",
            "uri": "https://example.org/bg.webp",
            "name": "main",
            "ext": "webp",
            "x_asset": "kept",
        },
    ],
    "nickname": "Ix",
    "creator_notes_multilingual": {"en": "English notes.", "ja": "日本語のメモ"},
    "source": ["https://example.org/cards/ixchel"],
    "group_only_greetings": ["*Ixchel nods to the group.* All of you? Fine."],
    "creation_date": 1700000000,
    "modification_date": 1700000500.5,
    "x_custom": {"kept": True},
}
V3_CARD: dict[str, Any] = {"spec": "chara_card_v3", "spec_version": "3.0", "data": V3_DATA}

PYGMALION_CARD: dict[str, Any] = {
    "char_name": "Bramble",
    "char_persona": "A hedge witch who talks to her herbs.",
    "char_greeting": "Mind the nettles, dear. They bite back.",
    "world_scenario": "A cottage at the edge of a wood.",
    "example_dialogue": "You: Is that tea safe?\nBramble: Safer than the last one.",
}

# Everything a sloppy editor might write, after a UTF-8 byte order mark.
MESSY_CARD_TEXT = "\ufeff" + json.dumps(
    {
        "spec": "chara_card_v2",
        "data": {
            "name": "Messy",
            "description": None,
            "personality": 42,
            "first_mes": "Hi!\r\n",
            "tags": "one, two , ,three",
            "alternate_greetings": "only one",
            "extensions": None,
            "creator": {"weird": True},
            "creation_date": "1700000000",
            "character_book": {
                "scan_depth": "3",
                "entries": [
                    {
                        "keys": "k1, k2",
                        "content": "first",
                        "enabled": "false",
                        "insertion_order": "5",
                        "id": "7",
                        "position": 0,
                        "priority": "high",
                    },
                    "not an entry",
                    {"key": ["legacy"], "content": "second", "constant": 1, "position": 4},
                ],
            },
        },
    }
)


def png_chunk(chunk_type: bytes, body: bytes) -> bytes:
    """A PNG chunk with a correct CRC."""
    return (
        struct.pack(">I", len(body))
        + chunk_type
        + body
        + struct.pack(">I", zlib.crc32(chunk_type + body))
    )


def text_chunk(keyword: str, text: bytes) -> bytes:
    """A tEXt chunk."""
    return png_chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + text)


def ztxt_chunk(keyword: str, text: bytes) -> bytes:
    """A zTXt chunk (deflate)."""
    return png_chunk(b"zTXt", keyword.encode("latin-1") + b"\x00\x00" + zlib.compress(text))


def itxt_chunk(keyword: str, text: bytes, *, compressed: bool) -> bytes:
    """An iTXt chunk, compressed or not, with empty language tag and translated keyword."""
    body = zlib.compress(text) if compressed else text
    flag = b"\x01\x00" if compressed else b"\x00\x00"
    return png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00" + flag + b"\x00\x00" + body)


def png(
    before_idat: list[bytes] | None = None,
    after_idat: list[bytes] | None = None,
    size: tuple[int, int] = (4, 4),
    extra_image_chunks: list[bytes] | None = None,
) -> bytes:
    """A small RGB PNG (horizontal bands) with chunks placed before and after its image data."""
    width, height = size
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([(40 + y * 30) % 256]) * (3 * width) for y in range(height))
    return b"".join(
        [
            PNG_SIGNATURE,
            png_chunk(b"IHDR", header),
            *(before_idat or []),
            *(extra_image_chunks or []),
            png_chunk(b"IDAT", zlib.compress(rows, 9)),
            *(after_idat or []),
            png_chunk(b"IEND", b""),
        ]
    )


def png_header(width: int, height: int) -> bytes:
    """The PNG signature and an IHDR chunk for an RGB image of this size."""
    return PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def b64_card(card: dict[str, Any]) -> bytes:
    """Base64 of the card's UTF-8 JSON, as card chunks hold it."""
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))


def apng_control_chunks() -> list[bytes]:
    """acTL and fcTL chunks making a one-frame APNG."""
    actl = png_chunk(b"acTL", struct.pack(">II", 1, 0))
    fctl = png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 4, 4, 0, 0, 1, 10, 0, 0))
    return [actl, fctl]


def tiff_with_user_comment(
    comment: bytes, *, big_endian: bool = False, in_exif_ifd: bool = False
) -> bytes:
    """An EXIF block (TIFF) holding `UserComment` in IFD0 or in the Exif IFD."""
    order = ">" if big_endian else "<"
    header = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8)
    if not in_exif_ifd:
        data_offset = 8 + 2 + 12 + 4
        ifd = struct.pack(order + "H", 1) + struct.pack(
            order + "HHII", 0x9286, 7, len(comment), data_offset
        )
        return header + ifd + struct.pack(order + "I", 0) + comment
    exif_ifd_offset = 8 + 2 + 12 + 4
    data_offset = exif_ifd_offset + 2 + 12 + 4
    ifd0 = struct.pack(order + "H", 1) + struct.pack(order + "HHII", 0x8769, 4, 1, exif_ifd_offset)
    exif = struct.pack(order + "H", 1) + struct.pack(
        order + "HHII", 0x9286, 7, len(comment), data_offset
    )
    return (
        header + ifd0 + struct.pack(order + "I", 0) + exif + struct.pack(order + "I", 0) + comment
    )


def riff_chunk(fourcc: bytes, body: bytes) -> bytes:
    """A RIFF chunk, padded to an even length."""
    return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def webp(
    exif: bytes | None = None, xmp: bytes | None = None, size: tuple[int, int] = (4, 4)
) -> bytes:
    """An extended WebP (VP8X) with a real lossless image and optional EXIF and XMP chunks."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, "WEBP", lossless=True)
    simple = buffer.getvalue()
    image_chunk = simple[12:]
    flags = (0x08 if exif is not None else 0) | (0x04 if xmp is not None else 0)
    width, height = size
    vp8x = (
        bytes([flags, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + riff_chunk(b"VP8X", vp8x) + image_chunk
    if exif is not None:
        body += riff_chunk(b"EXIF", exif)
    if xmp is not None:
        body += riff_chunk(b"XMP ", xmp)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg(size: tuple[int, int] = (8, 8)) -> bytes:
    """A small JPEG image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 60)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def zip_archive(members: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip written by zipfile with fixed timestamps."""
    output = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate-name fixture
        with zipfile.ZipFile(output, "w") as archive:
            for name, content in members:
                archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), content, method)
    return output.getvalue()


def raw_zip(members: list[dict[str, Any]]) -> bytes:
    """A zip built by hand, for structures zipfile will not write.

    Each member: name (bytes), data (stored/compressed bytes), size, crc, method (0/8),
    flags, external_attr, and optionally `offset_of` (index of a member whose local data this
    central entry reuses, for overlapping entries).
    """
    local = io.BytesIO()
    offsets: list[int] = []
    for member in members:
        if "offset_of" in member:
            offsets.append(offsets[member["offset_of"]])
            continue
        offsets.append(local.tell())
        name = member["name"]
        local.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                member.get("flags", 0),
                member.get("method", 0),
                0,
                0x21,
                member["crc"],
                len(member["data"]),
                member["size"],
                len(name),
                0,
            )
            + name
            + member["data"]
        )
    directory = io.BytesIO()
    for member, offset in zip(members, offsets, strict=True):
        source = members[member["offset_of"]] if "offset_of" in member else member
        name = member["name"]
        directory.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                0x031E,
                20,
                member.get("flags", 0),
                source.get("method", 0),
                0,
                0x21,
                source["crc"],
                len(source["data"]),
                source["size"],
                len(name),
                0,
                0,
                0,
                0,
                member.get("external_attr", 0),
                offset,
            )
            + name
        )
    start = local.tell()
    central = directory.getvalue()
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0
    )
    return local.getvalue() + central + end


def stored(name: str, content: bytes, **extra: Any) -> dict[str, Any]:
    """A raw-zip member stored without compression."""
    return {
        "name": name.encode("utf-8"),
        "data": content,
        "size": len(content),
        "crc": zlib.crc32(content),
        **extra,
    }


def zeros_deflate(total: int, *, raw: bool) -> tuple[bytes, int]:
    """Deflate data that inflates to `total` zero bytes, built without inflating it.

    One megabyte of zeros is compressed and flushed to a byte boundary; that block is
    repeated, so a gigabyte costs about a megabyte and a few milliseconds.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15 if raw else 15)
    head = compressor.compress(b"\x00" * MIB) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeat.compress(b"\x00" * MIB)
    block = repeat.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    body = head + block * (total // MIB - 1) + tail
    if raw:
        return body, 0
    adler = ((total % 65521) << 16) | 1
    return body + struct.pack(">I", adler), adler


def crc_of_zeros(total: int) -> int:
    """CRC-32 of `total` zero bytes."""
    crc, block = 0, b"\x00" * MIB
    for _ in range(total // MIB):
        crc = zlib.crc32(block, crc)
    return crc


def charx_with_assets() -> bytes:
    """A CharX in the RisuAI shape: card, icon, an emotion, and members that are not images."""
    icon = png(size=(6, 6))
    happy = webp()
    card = json.loads(json.dumps(V3_CARD))
    card["data"]["assets"] = [
        {
            "type": "icon",
            "uri": "embeded://assets/icon/images/main.png",
            "name": "main",
            "ext": "png",
        },
        {
            "type": "emotion",
            "uri": "embeded://assets/emotion/images/happy.webp",
            "name": "happy",
            "ext": "webp",
        },
        {
            "type": "x_risu_module",
            "uri": "embeded://module.risum",
            "name": "module",
            "ext": "risum",
        },
    ]
    return zip_archive(
        [
            ("card.json", json.dumps(card, ensure_ascii=False).encode("utf-8")),
            ("assets/icon/images/main.png", icon),
            ("assets/emotion/images/happy.webp", happy),
            ("module.risum", b"\x00RISU binary module"),
            ("x_meta/1.json", b'{"type": "emotion"}'),
            ("assets/other/code/script.js", b"alert(1)"),
        ]
    )


SMALL_FIXTURES: dict[str, Callable[[], bytes]] = {
    "v1.json": lambda: json.dumps(V1_CARD, indent=1).encode(),
    "v2.json": lambda: json.dumps(V2_CARD, ensure_ascii=False).encode(),
    "v3.json": lambda: json.dumps(V3_CARD, ensure_ascii=False, indent=2).encode(),
    "pygmalion.json": lambda: json.dumps(PYGMALION_CARD).encode(),
    "messy.json": lambda: MESSY_CARD_TEXT.encode("utf-8"),
    "v2_after_idat.png": lambda: png(after_idat=[text_chunk("chara", b64_card(V2_CARD))]),
    "v2_before_idat.png": lambda: png(before_idat=[text_chunk("chara", b64_card(V2_CARD))]),
    "v2_and_v3.png": lambda: png(
        after_idat=[text_chunk("chara", b64_card(V2_CARD)), text_chunk("ccv3", b64_card(V3_CARD))]
    ),
    "v3_in_chara.png": lambda: png(after_idat=[text_chunk("Chara", b64_card(V3_CARD))]),
    "v2_ztxt.png": lambda: png(before_idat=[ztxt_chunk("chara", b64_card(V2_CARD))]),
    "v3_itxt.png": lambda: png(after_idat=[itxt_chunk("CCV3", b64_card(V3_CARD), compressed=True)]),
    "v2_apng.png": lambda: png(
        extra_image_chunks=apng_control_chunks(),
        after_idat=[text_chunk("chara", b64_card(V2_CARD))],
    ),
    "tavernai.webp": lambda: webp(
        exif=b"Exif\x00\x00"
        + tiff_with_user_comment(
            b"ASCII\x00\x00\x00" + ",".join(str(b) for b in json.dumps(V1_CARD).encode()).encode()
        )
    ),
    "card.charx": charx_with_assets,
    "card_charx.jpg": lambda: jpeg() + charx_with_assets(),
    "bad_crc.png": lambda: _corrupt_crc(png(after_idat=[text_chunk("chara", b64_card(V1_CARD))])),
    "truncated.png": lambda: png(after_idat=[text_chunk("chara", b64_card(V2_CARD))])[:-200],
    "huge_chunk_length.png": lambda: (
        png()[:33] + struct.pack(">I", 0xFFFFFFF0) + b"tEXt" + b"x" * 64
    ),
    "pixel_flood.png": lambda: (
        png_header(20_000, 20_000)
        + png_chunk(b"IDAT", zlib.compress(b"\x00"))
        + text_chunk("chara", b64_card(V1_CARD))
        + png_chunk(b"IEND", b"")
    ),
    "base64_junk.png": lambda: png(
        after_idat=[text_chunk("chara", b"eyJuYW1lIjoi!!!not base64$$$")]
    ),
    "no_card.png": lambda: png(after_idat=[text_chunk("Software", b"an ordinary image")]),
    "svg_named.png": lambda: (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    ),
    "html_named.png": lambda: b"<!DOCTYPE html><html><body>not a card</body></html>",
    "zip_slip.charx": lambda: zip_archive(
        [("card.json", json.dumps(V3_CARD).encode()), ("../evil.png", png())]
    ),
    "absolute_path.charx": lambda: zip_archive(
        [("card.json", json.dumps(V3_CARD).encode()), ("/etc/evil.png", png())]
    ),
    "backslash_path.charx": lambda: raw_zip(
        [stored("card.json", json.dumps(V3_CARD).encode()), stored("..\\evil.png", png())]
    ),
    "symlink.charx": lambda: raw_zip(
        [
            stored("card.json", json.dumps(V3_CARD).encode()),
            stored("link.png", b"/etc/passwd", external_attr=0o120777 << 16),
        ]
    ),
    "encrypted.charx": lambda: raw_zip(
        [stored("card.json", json.dumps(V3_CARD).encode(), flags=0x1)]
    ),
    "duplicate_names.charx": lambda: zip_archive(
        [("card.json", json.dumps(V3_CARD).encode()), ("card.json", json.dumps(V1_CARD).encode())]
    ),
    "nested_zip.charx": lambda: zip_archive(
        [
            ("card.json", json.dumps(V3_CARD).encode()),
            ("inner.png", zip_archive([("card.json", b"{}")])),
        ]
    ),
    "no_card_json.charx": lambda: zip_archive([("cards/card.json", json.dumps(V3_CARD).encode())]),
    "truncated_directory.charx": lambda: zip_archive([("card.json", json.dumps(V3_CARD).encode())])[
        :-30
    ],
}


def _corrupt_crc(data: bytes) -> bytes:
    position = data.index(b"tEXt")
    length = struct.unpack(">I", data[position - 4 : position])[0]
    crc_at = position + 4 + length
    return data[:crc_at] + bytes([data[crc_at] ^ 0xFF]) + data[crc_at + 1 :]


def many_chunks_png() -> bytes:
    """100 000 empty ancillary chunks before the image data."""
    empty = png_chunk(b"tIME", b"")
    return png(before_idat=[empty * 100_000])


def ztxt_bomb_png() -> bytes:
    """A `chara` zTXt chunk of about 1 MB that inflates to 1 GB."""
    bomb, _ = zeros_deflate(GIB, raw=False)
    return png(before_idat=[png_chunk(b"zTXt", b"chara\x00\x00" + bomb)])


def member_bomb_charx() -> bytes:
    """A CharX whose image member inflates from about 1 MB to 1 GB."""
    body, _ = zeros_deflate(GIB, raw=True)
    card = stored("card.json", json.dumps(V3_CARD).encode())
    bomb = {
        "name": b"assets/icon/images/main.png",
        "data": body,
        "size": GIB,
        "crc": crc_of_zeros(GIB),
        "method": 8,
    }
    return raw_zip([card, bomb])


def overlap_bomb_charx() -> bytes:
    """Many central entries sharing one local 30 MB-inflating member (the 'overlap' bomb)."""
    body, _ = zeros_deflate(30 * MIB, raw=True)
    card = stored("card.json", json.dumps(V3_CARD).encode())
    first = {
        "name": b"a0.png",
        "data": body,
        "size": 30 * MIB,
        "crc": crc_of_zeros(30 * MIB),
        "method": 8,
    }
    copies = [{"name": f"a{i}.png".encode(), "offset_of": 1} for i in range(1, 40)]
    return raw_zip([card, first, *copies])


def many_members_charx() -> bytes:
    """10 000 tiny members."""
    return zip_archive(
        [("card.json", json.dumps(V3_CARD).encode())] + [(f"m{i}.txt", b"") for i in range(10_000)],
        method=zipfile.ZIP_STORED,
    )


def deep_json() -> bytes:
    """JSON nested 100 000 levels deep inside a card."""
    return b'{"name": "Deep", "description": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def huge_description_json() -> bytes:
    """A V1 card with a 50 MB description."""
    return b'{"name": "Huge", "description": "' + b"a" * (50 * MIB) + b'"}'


def many_values_json() -> bytes:
    """An 8 MB card whose tags are 1.6 million tiny strings (JSON that parses 12 times larger)."""
    return b'{"name": "Tags", "tags": [' + b'"ab",' * 1_600_000 + b'"ab"]}'


def byte_list_webp() -> bytes:
    """A WebP whose UserComment lists half a million decimal byte values."""
    return webp(exif=tiff_with_user_comment(b"1," * 500_000 + b"1"))


def escapes_json() -> bytes:
    """A 7 MB card with 2.5 million escapes in one string and 550 000 tags."""
    description = b"\\n" * 2_500_000
    return (
        b'{"name": "E", "description": "'
        + description
        + b'", "tags": ['
        + b'"a",' * 550_000
        + b'"a"]}'
    )


def xmp_word_run_webp() -> bytes:
    """A WebP whose XMP is one 4 MB run of letters (slow for a backtracking pattern)."""
    return webp(xmp=b"x" * 4 * MIB)


LARGE_FIXTURES: dict[str, Callable[[], bytes]] = {
    "escapes.json": escapes_json,
    "xmp_word_run.webp": xmp_word_run_webp,
    "many_values.json": many_values_json,
    "byte_list.webp": byte_list_webp,
    "many_chunks.png": many_chunks_png,
    "ztxt_bomb.png": ztxt_bomb_png,
    "member_bomb.charx": member_bomb_charx,
    "overlap_bomb.charx": overlap_bomb_charx,
    "many_members.charx": many_members_charx,
    "deep.json": deep_json,
    "huge_description.json": huge_description_json,
}


def fixture(name: str) -> bytes:
    """A fixture's bytes: committed ones from disk, large ones built now."""
    if name in LARGE_FIXTURES:
        return LARGE_FIXTURES[name]()
    return (FIXTURES / name).read_bytes()


def main() -> None:
    """Rewrite the committed fixtures."""
    FIXTURES.mkdir(exist_ok=True)
    for name, build in SMALL_FIXTURES.items():
        (FIXTURES / name).write_bytes(build())
    sys.stdout.write(f"wrote {len(SMALL_FIXTURES)} fixtures to {FIXTURES}\n")


if __name__ == "__main__":
    main()
