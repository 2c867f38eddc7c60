"""A bounded PNG chunk walker and writer: finds text chunks without decoding any pixels.

Every chunk's length, type and CRC are checked, the chunk count and sizes are capped, and the
image size is read from `IHDR` only to refuse pixel floods before anyone decodes them.
Compressed text (`zTXt`, compressed `iTXt`) is inflated with an output cap.
"""

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError, NotACardError
from galatea.formats.cards.limits import CardLimits

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNK_TYPES = frozenset({"tEXt", "zTXt", "iTXt"})
_MAX_PNG_LENGTH = 2**31 - 1


@dataclass(frozen=True, slots=True)
class PngChunk:
    """One chunk of a PNG file: its type, its body and where it starts in the file."""

    type: str
    body: memoryview
    offset: int

    @property
    def end(self) -> int:
        """Offset just past this chunk's CRC."""
        return self.offset + 12 + len(self.body)


@dataclass(frozen=True, slots=True)
class PngImage:
    """A walked PNG: its chunks in file order and its size in pixels."""

    chunks: list[PngChunk]
    width: int
    height: int
    source: memoryview
    """The whole file, so kept chunks are copied as they are rather than re-encoded."""


def walk_png(data: bytes, limits: CardLimits) -> PngImage:
    """Check a whole PNG file chunk by chunk and return its chunks."""
    if not data.startswith(PNG_SIGNATURE):
        raise NotACardError("not a PNG file: the PNG signature is missing")
    view = memoryview(data)
    chunks: list[PngChunk] = []
    position = len(PNG_SIGNATURE)
    while True:
        chunk = _read_chunk(view, position, limits)
        chunks.append(chunk)
        if len(chunks) > limits.max_container_chunks:
            raise CardTooLargeError(f"PNG has more than {limits.max_container_chunks} chunks")
        if len(chunks) == 1 and chunk.type != "IHDR":
            raise CorruptCardError(f"PNG starts with a {chunk.type!r} chunk instead of 'IHDR'")
        position = chunk.end
        if chunk.type == "IEND":
            break
    trailing = len(data) - position
    if trailing > limits.max_trailing_bytes:
        raise CorruptCardError(f"PNG has {trailing} bytes of unknown data after its IEND chunk")
    width, height = _image_size(chunks[0])
    if width * height > limits.max_image_pixels:
        raise CardTooLargeError(
            f"PNG image is {width}x{height} pixels; at most {limits.max_image_pixels} are allowed"
        )
    return PngImage(chunks, width, height, view)


def _read_chunk(view: memoryview, position: int, limits: CardLimits) -> PngChunk:
    total = len(view)
    if position >= total:
        raise CorruptCardError(f"PNG is truncated: it ends at byte {total} without an IEND chunk")
    if position + 8 > total:
        raise CorruptCardError(f"PNG is truncated at byte {position}: a chunk header is cut short")
    length = struct.unpack_from(">I", view, position)[0]
    raw_type = bytes(view[position + 4 : position + 8])
    if not raw_type.isalpha() or not raw_type.isascii():
        raise CorruptCardError(f"PNG chunk at byte {position} has an invalid type {raw_type!r}")
    chunk_type = raw_type.decode("ascii")
    if length > _MAX_PNG_LENGTH:
        raise CorruptCardError(
            f"PNG chunk {chunk_type!r} at byte {position} declares {length} bytes, "
            "more than PNG allows"
        )
    if length > limits.max_chunk_bytes:
        raise CardTooLargeError(
            f"PNG chunk {chunk_type!r} at byte {position} is {length} bytes; "
            f"at most {limits.max_chunk_bytes} are allowed"
        )
    end = position + 12 + length
    if end > total:
        raise CorruptCardError(
            f"PNG chunk {chunk_type!r} at byte {position} is truncated: it declares {length} "
            f"bytes but the file ends {total - position - 8} bytes later"
        )
    body = view[position + 8 : position + 8 + length]
    stored_crc = struct.unpack_from(">I", view, position + 8 + length)[0]
    if zlib.crc32(body, zlib.crc32(raw_type)) != stored_crc:
        raise CorruptCardError(f"PNG chunk {chunk_type!r} at byte {position} has a bad CRC")
    return PngChunk(chunk_type, body, position)


def _image_size(header: PngChunk) -> tuple[int, int]:
    if len(header.body) != 13:
        raise CorruptCardError(f"PNG IHDR chunk is {len(header.body)} bytes instead of 13")
    width, height = struct.unpack_from(">II", header.body)
    if width == 0 or height == 0:
        raise CorruptCardError(f"PNG image has an impossible size of {width}x{height} pixels")
    return width, height


def text_chunk_keyword(chunk: PngChunk) -> str | None:
    """The keyword of a `tEXt`, `zTXt` or `iTXt` chunk; None for other chunks or no keyword."""
    if chunk.type not in TEXT_CHUNK_TYPES:
        return None
    body = chunk.body
    # Keywords are 1 to 79 Latin-1 bytes followed by a NUL.
    end = bytes(body[:80]).find(b"\x00")
    if end < 1:
        return None
    return bytes(body[:end]).decode("latin-1")


def text_chunk_value(chunk: PngChunk, max_bytes: int) -> bytes:
    """The text of a text chunk as raw bytes, inflated when compressed, at most `max_bytes`."""
    body = bytes(chunk.body)
    start = body.find(b"\x00") + 1
    where = f"PNG {chunk.type} chunk at byte {chunk.offset}"
    if chunk.type == "tEXt":
        value = body[start:]
    elif chunk.type == "zTXt":
        if body[start : start + 1] != b"\x00":
            raise CorruptCardError(f"{where} uses an unknown compression method")
        return inflate(body[start + 1 :], max_bytes, where)
    else:
        compressed, method = body[start : start + 1], body[start + 1 : start + 2]
        language_end = body.find(b"\x00", start + 2)
        translated_end = body.find(b"\x00", language_end + 1) if language_end >= 0 else -1
        if len(method) != 1 or translated_end < 0:
            raise CorruptCardError(f"{where} is malformed")
        value = body[translated_end + 1 :]
        if compressed == b"\x01":
            if method != b"\x00":
                raise CorruptCardError(f"{where} uses an unknown compression method")
            return inflate(value, max_bytes, where)
    if len(value) > max_bytes:
        raise CardTooLargeError(
            f"{where} holds {len(value)} bytes; at most {max_bytes} are allowed"
        )
    return value


def inflate(compressed: bytes, max_bytes: int, where: str) -> bytes:
    """Inflate zlib data, refusing output beyond `max_bytes` without producing it."""
    inflater = zlib.decompressobj()
    try:
        value = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as error:
        raise CorruptCardError(f"{where} holds damaged compressed data: {error}") from None
    if len(value) > max_bytes or inflater.unconsumed_tail:
        raise CardTooLargeError(f"{where} inflates to more than {max_bytes} bytes")
    if not inflater.eof:
        raise CorruptCardError(f"{where} holds truncated compressed data")
    return value


def encode_chunk(chunk_type: str, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and CRC."""
    raw_type = chunk_type.encode("ascii")
    crc = zlib.crc32(body, zlib.crc32(raw_type))
    return struct.pack(">I", len(body)) + raw_type + body + struct.pack(">I", crc)


def encode_text_chunk(keyword: str, text: bytes) -> bytes:
    """An uncompressed `tEXt` chunk."""
    return encode_chunk("tEXt", keyword.encode("latin-1") + b"\x00" + text)


def rebuild_png(
    image: PngImage, keep: Callable[[PngChunk], bool], before_end: Iterable[bytes] = ()
) -> bytes:
    """The PNG with only the chunks `keep` accepts, plus encoded chunks added before `IEND`."""
    parts: list[bytes | memoryview] = [PNG_SIGNATURE]
    for chunk in image.chunks:
        if chunk.type == "IEND":
            parts.extend(before_end)
        if keep(chunk) or chunk.type == "IEND":
            parts.append(image.source[chunk.offset : chunk.end])
    return b"".join(parts)
