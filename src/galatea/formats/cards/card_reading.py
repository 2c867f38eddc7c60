"""Reading any card file: sniff the container by content, then decode the best payload.

Containers: JSON, PNG/APNG, WebP, CharX zip, and a JPEG with a CharX zip appended. The file
name plays no part. When a file holds several payloads (a PNG with `ccv3` and `chara`), the
preferred one is used; if it cannot be read the next one is, with a warning.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from galatea.core.characters import Asset, Character
from galatea.formats.cards.card_json import Spec, read_card_object
from galatea.formats.cards.charx import find_zip_start, read_charx
from galatea.formats.cards.errors import (
    CardError,
    CardTooLargeError,
    NotACardError,
    describe_bytes,
)
from galatea.formats.cards.limits import DEFAULT_LIMITS, CardLimits
from galatea.formats.cards.payloads import parse_json_object
from galatea.formats.cards.png_cards import read_png_card
from galatea.formats.cards.webp_cards import read_webp_card

Container = Literal["json", "png", "webp", "charx", "jpeg+charx"]
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(slots=True)
class ImportedCard:
    """A card read from a file: the character, its avatar and assets, and how it was stored."""

    character: Character
    avatar: bytes | None
    """The image the card came in (card chunks removed) or its main icon asset; None if none."""
    assets: dict[str, bytes] = field(default_factory=dict)
    """Embedded image assets keyed by the URI the card uses (`embeded://...`, `__asset:...`)."""
    container: Container = "json"
    spec: Spec = "chara_card_v3"
    warnings: list[str] = field(default_factory=list)
    """Things the user may want to know: fallbacks taken, values kept unread, files left out."""


Payloads = list[tuple[str, Callable[[], bytes]]]


def read_card(data: bytes, limits: CardLimits = DEFAULT_LIMITS) -> ImportedCard:
    """Read a character card from the bytes of any supported file."""
    if len(data) > limits.max_file_bytes():
        raise CardTooLargeError(
            f"the file is {len(data)} bytes; at most {limits.max_file_bytes()} are allowed"
        )
    container = sniff_container(data)
    if container is None:
        raise NotACardError(describe_unknown(data))
    _check_file_size(container, len(data), limits)
    warnings: list[str] = []
    avatar: bytes | None = None
    assets: dict[str, bytes] = {}
    payloads: Payloads
    if container == "png":
        png = read_png_card(data, limits)
        payloads, avatar, assets, warnings = png.payloads, png.avatar, png.assets, png.warnings
    elif container == "webp":
        webp = read_webp_card(data, limits)
        payloads, avatar, warnings = webp.payloads, webp.avatar, webp.warnings
    elif container == "json":
        payloads = [("the card JSON", lambda: data)]
    else:
        charx = read_charx(data, limits)
        card_json = charx.card_json
        payloads, assets, warnings = (
            [("card.json", lambda: card_json)],
            charx.assets,
            charx.warnings,
        )
        avatar = charx.prefix or None
    character, spec = _read_first(payloads, limits, warnings)
    icon = main_icon(character.assets)
    if icon is not None and icon.uri in assets and container in ("charx", "jpeg+charx"):
        avatar = assets[icon.uri]
    return ImportedCard(character, avatar, assets, container, spec, warnings)


def sniff_container(data: bytes) -> Container | None:
    """The kind of card file from its first bytes; None when it is none we read."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "charx"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg+charx" if find_zip_start(data) else None
    text = data
    for bom in _BOMS:
        text = text.removeprefix(bom)
    if data.startswith(_BOMS[1:]):
        text = text.replace(b"\x00", b"")
    if text.lstrip(b" \t\r\n").startswith(b"{"):
        return "json"
    return None


def describe_unknown(data: bytes) -> str:
    """Why a file is not read as a card, naming what it looks like."""
    head = data[:1024].lstrip().lower()
    if not data:
        return "the file is empty"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "this is an SVG image, not a character card"
    if head.startswith((b"<!doctype html", b"<html")):
        return "this is an HTML page, not a character card"
    if head.startswith(b"["):
        return "the JSON is an array, not a character card object"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF images do not carry character cards"
    if data.startswith(b"\xff\xd8\xff"):
        return "this JPEG image holds no character card (only a CharX zip appended to it is read)"
    if data.startswith(b"%PDF"):
        return "this is a PDF document, not a character card"
    if head.startswith(b"name:") or b"\ncontext:" in head or b"\ngreeting:" in head:
        return "this looks like a text-generation-webui YAML character; only JSON cards are read"
    return (
        "unrecognised file: not a PNG, WebP, JSON or CharX character card "
        f"(it starts with {describe_bytes(data)})"
    )


def main_icon(assets: list[Asset] | None) -> Asset | None:
    """The character's main icon asset: the `icon` named `main`, else the first `icon`."""
    icons = [asset for asset in assets or [] if asset.type == "icon"]
    for icon in icons:
        if icon.name == "main":
            return icon
    return icons[0] if icons else None


def _check_file_size(container: Container, size: int, limits: CardLimits) -> None:
    allowed = {
        "json": limits.max_json_file_bytes,
        "png": limits.max_image_file_bytes,
        "webp": limits.max_image_file_bytes,
        "charx": limits.max_charx_file_bytes,
        "jpeg+charx": limits.max_charx_file_bytes,
    }[container]
    if size > allowed:
        raise CardTooLargeError(
            f"the {container.upper()} file is {size} bytes; at most {allowed} are allowed"
        )


def _read_first(
    payloads: Payloads, limits: CardLimits, warnings: list[str]
) -> tuple[Character, Spec]:
    for index, (where, load) in enumerate(payloads):
        attempt: list[str] = []
        try:
            card = parse_json_object(load(), where, limits)
            character, spec = read_card_object(card, limits, attempt)
        except CardTooLargeError:
            raise
        except CardError as error:
            if index == len(payloads) - 1:
                raise
            warnings.append(f"{where} cannot be read ({error}); used {payloads[index + 1][0]}")
            continue
        warnings.extend(attempt)
        return character, spec
    raise NotACardError("the file holds no character card")
