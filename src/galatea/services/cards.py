"""Importing and exporting character cards: the use case the web platform and the CLI share.

`import_card` reads any supported card file (the content decides the format, never the name)
and `export_card` writes a character back as PNG, JSON (V3, or V2 on request) or CharX.
Every failure is a `CardError` whose message is one line naming the problem.
"""

from collections.abc import Mapping
from pathlib import PurePath

from galatea.core.characters import Character
from galatea.formats.cards import (
    CARD_FORMATS,
    DEFAULT_LIMITS,
    CardError,
    CardFormat,
    CardLimits,
    ImportedCard,
    InvalidCardError,
    NotACardError,
    assets_left_out,
    encode_json,
    read_card,
    sniff_container,
    write_card,
    write_card_object,
)

__all__ = [
    "CARD_FORMATS",
    "CardError",
    "CardFormat",
    "CardLimits",
    "ImportedCard",
    "card_as_v3_json",
    "export_card",
    "format_for_filename",
    "import_card",
    "unexported_assets",
]

_EXTENSIONS: dict[str, CardFormat] = {".png": "png", ".json": "json", ".charx": "charx"}


def import_card(
    data: bytes, filename: str | None = None, limits: CardLimits = DEFAULT_LIMITS
) -> ImportedCard:
    """Read a card upload; `filename` only sharpens the error for a mislabelled file."""
    try:
        return read_card(data, limits)
    except NotACardError as error:
        if filename and sniff_container(data) is None:
            raise NotACardError(f"{PurePath(filename).name[:80]}: {error}") from None
        raise


def export_card(
    character: Character,
    fmt: CardFormat | str,
    avatar: bytes | None = None,
    assets: Mapping[str, bytes] | None = None,
    limits: CardLimits = DEFAULT_LIMITS,
) -> bytes:
    """Write the character as a card file: "png", "json" (V3), "json_v2" or "charx"."""
    for known in CARD_FORMATS:
        if fmt == known:
            return write_card(character, known, avatar, assets, limits)
    raise InvalidCardError(f"unknown card format {fmt!r}; use one of {', '.join(CARD_FORMATS)}")


def format_for_filename(filename: str) -> CardFormat:
    """The card format a file name asks for by its extension (.png, .json, .charx)."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InvalidCardError(
            f"cannot tell the card format from {PurePath(filename).name[:80]!r}: "
            "use a .png, .json or .charx file name"
        )
    return _EXTENSIONS[suffix]


def card_as_v3_json(character: Character) -> str:
    """The normalised V3 card JSON (UTF-8 text, indented by 2) for display."""
    return encode_json(write_card_object(character, "v3"), indent=2).decode("utf-8")


def unexported_assets(
    character: Character, fmt: CardFormat, assets: Mapping[str, bytes]
) -> list[str]:
    """Embedded assets the chosen format cannot carry (their URIs), to warn the user."""
    return assets_left_out(character, fmt, assets)
