"""A bounded EXIF (TIFF) reader that finds the `UserComment` tag, where WebP cards keep their JSON.

TavernAI wrote WebP cards with sharp, putting the card in `UserComment` of IFD0 as the
comma-separated decimal values of its UTF-8 bytes; other tools put the JSON itself there, with
or without the 8-byte character-code prefix EXIF defines. We read IFD0 and the Exif IFD only,
with every offset checked against the block and a cap on entries.
"""

import struct

from galatea.formats.cards.errors import CorruptCardError

USER_COMMENT_TAG = 0x9286
_EXIF_IFD_TAG = 0x8769
_MAX_ENTRIES = 512
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_CHARSET_PREFIXES = (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"JIS\x00\x00\x00\x00\x00", b"\x00" * 8)


def find_user_comment(block: bytes) -> bytes | None:
    """The raw `UserComment` of an EXIF block (`Exif\\0\\0` prefix optional); None if absent."""
    if block.startswith(b"Exif\x00\x00"):
        block = block[6:]
    if block[:4] == b"II*\x00":
        order = "<"
    elif block[:4] == b"MM\x00*":
        order = ">"
    else:
        raise CorruptCardError("EXIF data does not start with a TIFF header")
    first_ifd = _unpack(block, order + "I", 4)
    entries = _read_ifd(block, order, first_ifd)
    comment = entries.get(USER_COMMENT_TAG)
    if comment is None and _EXIF_IFD_TAG in entries:
        exif_ifd = _unpack(entries[_EXIF_IFD_TAG], order + "I", 0)
        comment = _read_ifd(block, order, exif_ifd).get(USER_COMMENT_TAG)
    return comment


def decode_user_comment(raw: bytes, big_endian: bool = False) -> str:
    """The text of a `UserComment`: its character-code prefix removed, trailing NULs dropped."""
    prefix = raw[:8]
    body = raw[8:] if prefix in _CHARSET_PREFIXES else raw
    try:
        if prefix != b"UNICODE\x00":
            text = body.decode("utf-8")
        elif body.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = body.decode("utf-16")
        else:
            text = body.decode("utf-16-be" if big_endian else "utf-16-le")
    except UnicodeDecodeError as error:
        raise CorruptCardError(
            f"EXIF UserComment is not valid text at byte {error.start}"
        ) from None
    return text.rstrip("\x00")


def is_big_endian(block: bytes) -> bool:
    """Whether an EXIF block stores numbers big-endian (`MM`)."""
    return block.removeprefix(b"Exif\x00\x00")[:2] == b"MM"


def _read_ifd(block: bytes, order: str, offset: int) -> dict[int, bytes]:
    count = _unpack(block, order + "H", offset)
    if count > _MAX_ENTRIES:
        raise CorruptCardError(f"EXIF directory at byte {offset} claims {count} entries")
    values: dict[int, bytes] = {}
    for index in range(count):
        entry = offset + 2 + index * 12
        tag, kind, items = struct.unpack_from(order + "HHI", _slice(block, entry, 12))
        size = _TYPE_SIZES.get(kind, 1) * items
        if size <= 4:
            values[tag] = block[entry + 8 : entry + 8 + size]
        else:
            start = _unpack(block, order + "I", entry + 8)
            values[tag] = _slice(block, start, size)
    return values


def _slice(block: bytes, start: int, size: int) -> bytes:
    if start < 0 or size < 0 or start + size > len(block):
        raise CorruptCardError(f"EXIF data points outside itself (byte {start}, {size} bytes)")
    return block[start : start + size]


def _unpack(block: bytes, layout: str, offset: int) -> int:
    value: int = struct.unpack_from(layout, _slice(block, offset, struct.calcsize(layout)))[0]
    return value
