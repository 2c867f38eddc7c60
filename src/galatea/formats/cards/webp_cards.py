"""TavernAI-style WebP cards: the card JSON in the EXIF `UserComment` (or an XMP `chara` field).

TavernAI stored cards as WebP with the JSON's UTF-8 bytes written as comma-separated decimals
in `UserComment`; other tools put the JSON itself or its base64 there. We walk the RIFF chunks
with the same bounds as PNG, read the image size from the header to refuse pixel floods, and
never decode the image.
"""

import html
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError, NotACardError
from galatea.formats.cards.exif import decode_user_comment, find_user_comment, is_big_endian
from galatea.formats.cards.limits import CardLimits
from galatea.formats.cards.payloads import decode_base64

_EXIF_FLAG = 0x08
_XMP_FLAG = 0x04
# Characters only: a repeated group would cost the regex engine memory for every item.
_BYTE_LIST = re.compile(r"\d[\d,\s]*")
# The keyword is found first and the value cut out by hand: a pattern that also matched the
# namespace prefix would backtrack over every long run of letters.
_XMP_FIELD = re.compile(r"(ccv3|chara)\s*(?:=\s*([\"'])|>)", re.IGNORECASE)


@dataclass(slots=True)
class WebpCardContents:
    """What a WebP card holds: card payloads by preference and the image itself."""

    payloads: list[tuple[str, Callable[[], bytes]]]
    """(where, load) pairs, best first; `load` decodes that payload's JSON bytes."""
    avatar: bytes
    """The image without its EXIF and XMP metadata."""
    warnings: list[str] = field(default_factory=list)


def read_webp_card(data: bytes, limits: CardLimits) -> WebpCardContents:
    """Find the card JSON of a WebP image in its EXIF or XMP metadata."""
    spans = _walk_riff(data, limits)
    chunks: dict[str, bytes] = {}
    for fourcc, start, end in spans:
        chunks.setdefault(fourcc, data[start + 8 : end])
    payloads: list[tuple[str, Callable[[], bytes]]] = []
    _check_pixels(chunks, limits)
    exif = chunks.get("EXIF")
    if exif is not None:
        comment = find_user_comment(exif)
        if comment is not None:
            where = "the EXIF UserComment of the WebP"
            text = decode_user_comment(comment, is_big_endian(exif))
            payloads.append((where, partial(comment_json, text, where, limits)))
    xmp = chunks.get("XMP ")
    if xmp is not None:
        field = _xmp_field(xmp.decode("utf-8", errors="replace"))
        if field is not None:
            keyword, text = field
            where = f"the XMP {keyword} field of the WebP"
            payloads.append((where, partial(comment_json, text, where, limits)))
    if not payloads:
        raise NotACardError("WebP image has no character card in its EXIF or XMP metadata")
    return WebpCardContents(payloads=payloads, avatar=_without_metadata(data, spans))


def _xmp_field(xmp: str) -> tuple[str, str] | None:
    found = _XMP_FIELD.search(xmp)
    if found is None:
        return None
    quote = found.group(2)
    end = xmp.find(quote if quote else "<", found.end())
    if end < 0:
        return None
    return found.group(1).lower(), html.unescape(xmp[found.end() : end])


def comment_json(text: str, where: str, limits: CardLimits) -> bytes:
    """Card JSON bytes from metadata text: the JSON, its bytes as decimals, or its base64."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return stripped.encode("utf-8")
    if _BYTE_LIST.fullmatch(stripped):
        if stripped.count(",") + 1 > limits.max_card_json_bytes:
            raise CardTooLargeError(
                f"{where} holds more than {limits.max_card_json_bytes} bytes of card data"
            )
        return _decimal_bytes(stripped, where)
    return decode_base64(
        stripped.encode("ascii", errors="replace"), where, limits.max_card_json_bytes
    )


def _decimal_bytes(text: str, where: str) -> bytes:
    # Decoded a block at a time so a long list never exists as millions of Python objects.
    output = bytearray()
    start = 0
    while start < len(text):
        end = text.find(",", start + 65_536)
        end = len(text) if end < 0 else end
        try:
            output += bytes(json.loads("[" + text[start:end] + "]"))
        except ValueError:
            raise CorruptCardError(f"{where} is not a list of byte values 0 to 255") from None
        start = end + 1
    return bytes(output)


def _walk_riff(data: bytes, limits: CardLimits) -> list[tuple[str, int, int]]:
    """Each chunk as (fourcc, start of its header, end of its body)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise NotACardError("not a WebP file: the RIFF/WEBP header is missing")
    declared_end = 8 + struct.unpack_from("<I", data, 4)[0]
    if declared_end > len(data):
        raise CorruptCardError(
            f"WebP is truncated: its header declares {declared_end} bytes but it has {len(data)}"
        )
    if len(data) - declared_end > limits.max_trailing_bytes:
        raise CorruptCardError(
            f"WebP has {len(data) - declared_end} bytes of unknown data after its end"
        )
    spans: list[tuple[str, int, int]] = []
    position, count = 12, 0
    while position < declared_end:
        if position + 8 > declared_end:
            raise CorruptCardError(f"WebP chunk header at byte {position} is cut short")
        fourcc = data[position : position + 4].decode("latin-1")
        size = struct.unpack_from("<I", data, position + 4)[0]
        count += 1
        if count > limits.max_container_chunks:
            raise CardTooLargeError(f"WebP has more than {limits.max_container_chunks} chunks")
        if size > limits.max_chunk_bytes:
            raise CardTooLargeError(
                f"WebP chunk {fourcc!r} at byte {position} is {size} bytes; "
                f"at most {limits.max_chunk_bytes} are allowed"
            )
        end = position + 8 + size
        if end > declared_end:
            raise CorruptCardError(f"WebP chunk {fourcc!r} at byte {position} is truncated")
        spans.append((fourcc, position, end))
        position = end + (size & 1)
    return spans


def _without_metadata(data: bytes, spans: list[tuple[str, int, int]]) -> bytes:
    # The card lives in the metadata; the avatar keeps only the image, as PNG avatars do.
    parts = []
    for fourcc, start, end in spans:
        if fourcc in ("EXIF", "XMP "):
            continue
        chunk = bytearray(data[start:end] + (b"\x00" if (end - start) % 2 else b""))
        if fourcc == "VP8X" and len(chunk) > 8:
            chunk[8] &= ~(_EXIF_FLAG | _XMP_FLAG) & 0xFF
        parts.append(bytes(chunk))
    body = b"WEBP" + b"".join(parts)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _check_pixels(chunks: dict[str, bytes], limits: CardLimits) -> None:
    width, height = _image_size(chunks)
    if width * height > limits.max_image_pixels:
        raise CardTooLargeError(
            f"WebP image is {width}x{height} pixels; at most {limits.max_image_pixels} are allowed"
        )


def _image_size(chunks: dict[str, bytes]) -> tuple[int, int]:
    header = chunks.get("VP8X")
    if header is not None and len(header) >= 10:
        return (
            int.from_bytes(header[4:7], "little") + 1,
            int.from_bytes(header[7:10], "little") + 1,
        )
    lossless = chunks.get("VP8L")
    if lossless is not None and len(lossless) >= 5 and lossless[0] == 0x2F:
        bits = int.from_bytes(lossless[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    lossy = chunks.get("VP8 ")
    if lossy is not None and len(lossy) >= 10 and lossy[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", lossy, 6)
        return width & 0x3FFF, height & 0x3FFF
    raise CorruptCardError("WebP has no readable image header (VP8X, VP8L or VP8)")
