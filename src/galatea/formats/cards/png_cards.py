"""Cards inside PNG/APNG images: `ccv3` and `chara` text chunks, and `chara-ext-asset_:` assets.

Reading walks the chunks (before or after the image data, any text chunk type, keywords in
any case) and offers the `ccv3` payload first, then `chara`. Writing replaces every card chunk
of the avatar with a `chara` (V2) and a `ccv3` (V3) chunk just before `IEND`, as SillyTavern
does and the V3 spec recommends.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from galatea.core.characters import Character
from galatea.formats.cards.card_json import write_card_object
from galatea.formats.cards.errors import CardTooLargeError, InvalidCardError, NotACardError
from galatea.formats.cards.images import convert_to_png, default_avatar_png, sniff_image
from galatea.formats.cards.limits import CardLimits
from galatea.formats.cards.payloads import decode_base64, encode_base64, encode_json
from galatea.formats.cards.png_chunks import (
    PngChunk,
    encode_text_chunk,
    rebuild_png,
    text_chunk_keyword,
    text_chunk_value,
    walk_png,
)

CARD_KEYWORDS = ("ccv3", "chara")
ASSET_KEYWORD_PREFIX = "chara-ext-asset_:"
# RisuAI reads (and once wrote) asset chunks without the colon too: `chara-ext-asset_3`.
_ASSET_KEYWORD_STEM = "chara-ext-asset_"
ASSET_URI_PREFIX = "__asset:"


@dataclass(slots=True)
class PngCardContents:
    """What a PNG card holds: card payloads by preference, the bare image and its assets."""

    payloads: list[tuple[str, Callable[[], bytes]]]
    """(where, load) pairs, best first; `load` decodes that payload's JSON bytes."""
    avatar: bytes
    assets: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_png_card(data: bytes, limits: CardLimits) -> PngCardContents:
    """Find the card payloads of a PNG; the avatar is the image without its card chunks."""
    image = walk_png(data, limits)
    found: dict[str, list[PngChunk]] = {keyword: [] for keyword in CARD_KEYWORDS}
    contents = PngCardContents(payloads=[], avatar=b"")
    asset_bytes = 0
    for chunk in image.chunks:
        keyword = (text_chunk_keyword(chunk) or "").lower()
        if keyword in found:
            found[keyword].append(chunk)
        elif keyword.startswith(_ASSET_KEYWORD_STEM):
            if len(contents.assets) >= limits.max_assets:
                raise CardTooLargeError(f"PNG has more than {limits.max_assets} embedded assets")
            path = _asset_path(text_chunk_keyword(chunk) or "")
            where = f"PNG asset chunk {path[:40]!r}"
            raw = text_chunk_value(chunk, limits.max_chunk_bytes)
            asset = decode_base64(raw, where, limits.max_zip_member_bytes)
            asset_bytes += len(asset)
            if asset_bytes > limits.max_zip_total_bytes:
                raise CardTooLargeError(
                    f"PNG assets add up to more than {limits.max_zip_total_bytes} bytes"
                )
            if sniff_image(asset) is None:
                contents.warnings.append(f"{where} is not an image; left out")
                continue
            contents.assets[ASSET_URI_PREFIX + path] = asset
    for keyword in CARD_KEYWORDS:
        chunks = found[keyword]
        if len(chunks) > 1:
            contents.warnings.append(f"PNG has {len(chunks)} {keyword!r} chunks; used the first")
        if chunks:
            where = f"the {keyword!r} chunk of the PNG"
            contents.payloads.append((where, partial(_load_payload, chunks[0], where, limits)))
    if not contents.payloads:
        raise NotACardError("PNG has no character card: no 'chara' or 'ccv3' text chunk")
    contents.avatar = rebuild_png(image, keep=lambda chunk: not _is_card_chunk(chunk))
    return contents


def _load_payload(chunk: PngChunk, where: str, limits: CardLimits) -> bytes:
    # Base64 grows data by 4/3; the rest is slack for the line breaks some encoders add.
    max_text = limits.max_card_json_bytes * 3 // 2 + 4096
    return payload_json(text_chunk_value(chunk, max_text), where, limits)


def payload_json(raw: bytes, where: str, limits: CardLimits) -> bytes:
    """Card JSON bytes from a text payload holding either base64 or the JSON itself."""
    text = raw.strip()
    if text.startswith((b"{", b"\xef\xbb\xbf{")):
        # Some editors store the JSON itself rather than its base64.
        return text
    return decode_base64(text, where, limits.max_card_json_bytes)


def _asset_path(keyword: str) -> str:
    path = keyword[len(_ASSET_KEYWORD_STEM) :]
    return path[1:] if path.startswith(":") else path


def _is_card_chunk(chunk: PngChunk) -> bool:
    keyword = (text_chunk_keyword(chunk) or "").lower()
    return keyword in CARD_KEYWORDS or keyword.startswith(_ASSET_KEYWORD_STEM)


def write_png_card(
    character: Character,
    avatar: bytes | None,
    assets: Mapping[str, bytes],
    limits: CardLimits,
) -> bytes:
    """A PNG card: the avatar (or a default image) with `chara` and `ccv3` chunks."""
    if avatar is None:
        avatar = default_avatar_png()
    elif sniff_image(avatar) != "png":
        avatar = convert_to_png(avatar, limits)
    image = walk_png(avatar, limits)
    v2 = encode_base64(encode_json(write_card_object(character, "v2", backfill_note=True)))
    v3 = encode_base64(encode_json(write_card_object(character, "v3")))
    for payload in (v2, v3):
        if len(payload) + 8 > limits.max_chunk_bytes:
            raise CardTooLargeError(
                f"the card is {len(payload)} bytes in base64; a PNG card chunk holds at most "
                f"{limits.max_chunk_bytes}"
            )
    added = [encode_text_chunk("chara", v2), encode_text_chunk("ccv3", v3)]
    referenced = {asset.uri for asset in character.assets or []}
    for uri, content in assets.items():
        if uri.startswith(ASSET_URI_PREFIX) and uri in referenced:
            keyword = ASSET_KEYWORD_PREFIX + uri[len(ASSET_URI_PREFIX) :]
            if not 0 < len(keyword.encode("utf-8")) < 80 or not keyword.isascii():
                raise InvalidCardError(f"asset {uri[:60]!r} cannot be named in a PNG chunk")
            added.append(encode_text_chunk(keyword, encode_base64(content)))
    result = rebuild_png(image, keep=lambda chunk: not _is_card_chunk(chunk), before_end=added)
    if len(result) > limits.max_image_file_bytes:
        raise CardTooLargeError(
            f"the PNG card would be {len(result)} bytes; at most "
            f"{limits.max_image_file_bytes} are allowed"
        )
    return result
