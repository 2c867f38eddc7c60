"""Character cards: read V1/V2/V3 and Pygmalion cards from JSON, PNG, WebP and CharX files into
`core.Character`, and write them back as PNG, JSON or CharX without losing data."""

from galatea.formats.cards.card_json import read_card_object, write_card_object
from galatea.formats.cards.card_reading import ImportedCard, read_card, sniff_container
from galatea.formats.cards.card_writing import (
    CARD_FORMATS,
    CardFormat,
    assets_left_out,
    write_card,
)
from galatea.formats.cards.errors import (
    CardError,
    CardTooLargeError,
    CorruptCardError,
    InvalidCardError,
    NotACardError,
    UnsafeCardError,
)
from galatea.formats.cards.limits import DEFAULT_LIMITS, CardLimits
from galatea.formats.cards.payloads import encode_json

__all__ = [
    "CARD_FORMATS",
    "DEFAULT_LIMITS",
    "CardError",
    "CardFormat",
    "CardLimits",
    "CardTooLargeError",
    "CorruptCardError",
    "ImportedCard",
    "InvalidCardError",
    "NotACardError",
    "UnsafeCardError",
    "assets_left_out",
    "encode_json",
    "read_card",
    "read_card_object",
    "sniff_container",
    "write_card",
    "write_card_object",
]
