"""Errors raised while reading or writing character cards.

CardError                 any card file that cannot be read or written; one-line message
 ├── CardTooLargeError    a size, count or ratio limit of `CardLimits` was exceeded
 ├── CorruptCardError     the container is damaged: bad CRC, truncated, invalid base64 or JSON
 ├── UnsafeCardError      a hostile structure: zip path tricks, symlinks, encryption
 ├── NotACardError        a readable file that holds no character card
 └── InvalidCardError     a card whose content breaks a rule we rely on (no name, ...)
"""


class CardError(ValueError):
    """A card file that cannot be read or written; the message names what is wrong."""

    def __init__(self, message: str) -> None:
        # Messages end up on one line of a terminal or in a JSON error body.
        super().__init__(" ".join(message.split()) if "\n" in message else message)


class CardTooLargeError(CardError):
    """A limit on size, count, depth or compression ratio was exceeded."""


class CorruptCardError(CardError):
    """The file is damaged or not what its header claims."""


class UnsafeCardError(CardError):
    """The file uses a structure that is refused outright (path tricks, links, encryption)."""


class NotACardError(CardError):
    """The file is readable but holds no character card."""


class InvalidCardError(CardError):
    """The card was decoded but its content is unusable."""


def describe_bytes(sample: bytes, limit: int = 16) -> str:
    """A short printable rendering of raw bytes for an error message."""
    text = repr(sample[:limit])
    return text + ("..." if len(sample) > limit else "")
