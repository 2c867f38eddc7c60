"""Checks of values users give, shared by the use cases; each failure names the field."""

from galatea.services.errors import InvalidInput

MAX_OFFSET = 10_000_000
"""Deepest position a listing may start at: far past any real list, and well inside the
64-bit integers databases compare offsets as (a larger one is an error there, not an empty
page)."""


def clean_text(field: str, value: str, *, max_length: int, required: bool = False) -> str:
    """The text trimmed of surrounding whitespace, or InvalidInput naming the problem."""
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidInput(field, "must not be empty")
    if len(cleaned) > max_length:
        raise InvalidInput(field, f"is {len(cleaned)} characters long; the limit is {max_length}")
    return cleaned


def check_page(offset: int, limit: int, *, max_limit: int) -> tuple[int, int]:
    """A valid (offset, limit) pair, or InvalidInput."""
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("offset", f"must be between 0 and {MAX_OFFSET}")
    if not 1 <= limit <= max_limit:
        raise InvalidInput("limit", f"must be between 1 and {max_limit}")
    return offset, limit
