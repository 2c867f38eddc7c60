"""Lenient reading of card JSON fields, keeping what cannot be read so export can restore it.

Real cards are messy: numbers as strings, a string where a list belongs, `null` for "empty".
A value we can read is converted (numbers and numeric strings, "true"/"false", 0/1, a lone
string as a one-item list, `null` as the default). A value we cannot make sense of (an object
where text belongs, a word where a number belongs) is kept verbatim in the object's `extra`
under its own key; `restore_extra` writes it back on export unless the field was set since.
"""

import math
import re
from collections.abc import Callable
from typing import Any, Final, TypeVar

from galatea.core.json_types import JsonObject
from galatea.formats.cards.errors import CardTooLargeError


class Unreadable:
    """Marker returned by a field reader when a value cannot be converted without loss."""

    __slots__ = ()


UNREADABLE: Final = Unreadable()
T = TypeVar("T")
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_DECIMAL = re.compile(r"[+-]?(\d{1,18}(\.\d{0,18})?|\.\d{1,18})([eE][+-]?\d{1,3})?")


def read_text(value: Any) -> str | Unreadable:
    """A string; numbers become their decimal text; `null` is the empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    return UNREADABLE


def read_text_list(value: Any, *, split_commas: bool = False) -> list[str] | Unreadable:
    """A list of strings; a lone string is one item, or split on commas for keys and tags."""
    if value is None:
        return []
    if isinstance(value, str):
        if not split_commas:
            return [value]
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        return UNREADABLE
    items: list[str] = []
    for item in value:
        if item is None:
            continue
        text = read_text(item)
        if isinstance(text, Unreadable):
            return UNREADABLE
        items.append(text)
    return items


def read_bool(value: Any) -> bool | Unreadable | None:
    """A boolean; also "true"/"false"/"yes"/"no" in any case and the numbers 0 and 1."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "1", "on"):
            return True
        if word in ("false", "no", "0", "off", ""):
            return False
    return UNREADABLE


def read_number(value: Any) -> int | float | Unreadable | None:
    """A finite number; numeric strings are parsed (integers stay integers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return UNREADABLE
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else UNREADABLE
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) else UNREADABLE
    return UNREADABLE


def read_int(value: Any) -> int | Unreadable | None:
    """A whole number; integral floats and numeric strings are accepted."""
    number = read_number(value)
    if isinstance(number, float):
        return int(number) if number.is_integer() else UNREADABLE
    return number


def read_object(value: Any) -> JsonObject | Unreadable:
    """A JSON object; `null` is the empty object."""
    if value is None:
        return {}
    return value if isinstance(value, dict) else UNREADABLE


class ObjectReader:
    """Reads the known keys of one JSON object and collects the rest for `extra`."""

    def __init__(self, source: JsonObject, where: str, warnings: list[str]) -> None:
        self.source = source
        self.where = where
        self.warnings = warnings
        self._known: set[str] = set()
        self._unreadable: set[str] = set()
        self._nulls: set[str] = set()

    def has(self, key: str) -> bool:
        """Whether the source object has this key at all."""
        return key in self.source

    def take(self, key: str, reader: Callable[[Any], T | Unreadable | None], default: T) -> T:
        """The value under `key` read with `reader`; the default when absent or unreadable."""
        self._known.add(key)
        if key not in self.source:
            return default
        raw = self.source[key]
        if raw is None and default is None:
            # An optional field written as `null` (Chub writes "character_book": null) is kept
            # as such, so the export writes the key back instead of dropping it.
            self._nulls.add(key)
            return default
        result = reader(raw)
        if isinstance(result, Unreadable):
            self._unreadable.add(key)
            self.warnings.append(
                f"{self.where}{key} holds a {type(raw).__name__} we cannot use; "
                "kept unchanged for export"
            )
            return default
        if result is None:
            return default
        return result

    def text(self, key: str, max_chars: int) -> str:
        """A text field, refused when longer than `max_chars`."""
        value = self.take(key, read_text, "")
        check_length(f"{self.where}{key}", value, max_chars)
        return value

    def mark_known(self, *keys: str) -> None:
        """Keys handled by the caller directly, so they do not land in `extra`."""
        self._known.update(keys)

    def extra(self) -> JsonObject:
        """Unknown keys, unreadable known keys and optional keys set to null, in source order."""
        return {
            key: value
            for key, value in self.source.items()
            if key not in self._known or key in self._unreadable or key in self._nulls
        }


def check_length(what: str, text: str, max_chars: int) -> None:
    """Refuse a text longer than `max_chars` characters."""
    if len(text) > max_chars:
        raise CardTooLargeError(
            f"{what} is {len(text)} characters long; at most {max_chars} are allowed"
        )


def check_count(what: str, count: int, max_items: int) -> None:
    """Refuse a list with more than `max_items` items."""
    if count > max_items:
        raise CardTooLargeError(f"{what} has {count} items; at most {max_items} are allowed")


def restore_extra(out: JsonObject, extra: JsonObject, defaults: JsonObject) -> JsonObject:
    """Add `extra` to an exported object; a kept raw value replaces a field left at default."""
    for key, value in extra.items():
        if key not in out or (key in defaults and out[key] == defaults[key]):
            out[key] = value
    return out
