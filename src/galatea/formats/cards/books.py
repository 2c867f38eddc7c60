"""The `character_book` of V2/V3 cards <-> `core.Lorebook`, keeping every field and unknown key."""

from typing import Any

from galatea.core.json_types import JsonObject
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.formats.cards.fields import (
    UNREADABLE,
    ObjectReader,
    Unreadable,
    check_count,
    check_length,
    read_bool,
    read_int,
    read_number,
    read_object,
    read_text,
    read_text_list,
    restore_extra,
)
from galatea.formats.cards.limits import CardLimits

# SillyTavern's world-info positions 0 and 1 are the two the card spec names.
_POSITIONS = {0: "before_char", 1: "after_char"}

_ENTRY_DEFAULTS: JsonObject = {
    "keys": [],
    "content": "",
    "extensions": {},
    "enabled": True,
    "insertion_order": 0,
    "use_regex": False,
}
_BOOK_DEFAULTS: JsonObject = {"extensions": {}, "entries": []}


def read_lorebook(source: JsonObject, limits: CardLimits, warnings: list[str]) -> Lorebook:
    """A `character_book` object as a `Lorebook`."""
    reader = ObjectReader(source, "character_book.", warnings)
    book = Lorebook(
        name=reader.take("name", _optional_text, None),
        description=reader.take("description", _optional_text, None),
        scan_depth=reader.take("scan_depth", read_int, None),
        token_budget=reader.take("token_budget", read_int, None),
        recursive_scanning=reader.take("recursive_scanning", read_bool, None),
        extensions=reader.take("extensions", read_object, {}),
    )
    raw_entries: list[Any] = reader.take("entries", _entry_list, [])
    check_count("character_book.entries", len(raw_entries), limits.max_lore_entries)
    for index, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            warnings.append(f"character_book.entries[{index}] is not an object; left out")
            continue
        book.entries.append(_read_entry(raw, index, limits, warnings))
    book.extra = reader.extra()
    return book


def _read_entry(
    source: JsonObject, index: int, limits: CardLimits, warnings: list[str]
) -> LoreEntry:
    where = f"character_book.entries[{index}]."
    reader = ObjectReader(source, where, warnings)
    use_regex = reader.take("use_regex", read_bool, False)
    order: int | float = 0
    entry = LoreEntry(
        keys=reader.take("keys", _keys, []),
        content=reader.text("content", limits.max_text_chars),
        enabled=reader.take("enabled", read_bool, True),
        insertion_order=reader.take("insertion_order", read_number, order),
        use_regex=use_regex,
        case_sensitive=reader.take("case_sensitive", read_bool, None),
        constant=reader.take("constant", read_bool, None),
        selective=reader.take("selective", read_bool, None),
        secondary_keys=reader.take("secondary_keys", _optional_keys, None),
        position=reader.take("position", _position, None),
        name=reader.take("name", _optional_text, None),
        priority=reader.take("priority", read_number, None),
        id=reader.take("id", _entry_id, None),
        comment=reader.take("comment", _optional_text, None),
        extensions=reader.take("extensions", read_object, {}),
    )
    # Some editors write SillyTavern's world-info names instead; they stay in `extra` as well.
    if not reader.has("keys"):
        entry.keys = _fallback_keys(source.get("key"))
    if not reader.has("secondary_keys") and "keysecondary" in source:
        entry.secondary_keys = _fallback_keys(source["keysecondary"])
    entry.extra = reader.extra()
    if entry.use_regex:
        for key in entry.keys:
            check_length(f"{where}keys (a regular expression)", key, limits.max_regex_key_chars)
    return entry


def _fallback_keys(value: Any) -> list[str]:
    keys = _keys(value)
    return [] if isinstance(keys, Unreadable) else keys


def write_lorebook(book: Lorebook) -> JsonObject:
    """A `Lorebook` as a spec `character_book` object (V3 shape, a superset of V2)."""
    out: JsonObject = {}
    _put_optional(out, "name", book.name)
    _put_optional(out, "description", book.description)
    _put_optional(out, "scan_depth", book.scan_depth)
    _put_optional(out, "token_budget", book.token_budget)
    _put_optional(out, "recursive_scanning", book.recursive_scanning)
    out["extensions"] = book.extensions
    out["entries"] = [_write_entry(entry) for entry in book.entries]
    return restore_extra(out, book.extra, _BOOK_DEFAULTS)


def _write_entry(entry: LoreEntry) -> JsonObject:
    out: JsonObject = {
        "keys": list(entry.keys),
        "content": entry.content,
        "extensions": entry.extensions,
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
        "use_regex": entry.use_regex,
    }
    _put_optional(out, "case_sensitive", entry.case_sensitive)
    _put_optional(out, "constant", entry.constant)
    _put_optional(out, "name", entry.name)
    _put_optional(out, "priority", entry.priority)
    _put_optional(out, "id", entry.id)
    _put_optional(out, "comment", entry.comment)
    _put_optional(out, "selective", entry.selective)
    _put_optional(out, "secondary_keys", entry.secondary_keys)
    _put_optional(out, "position", entry.position)
    return restore_extra(out, entry.extra, _ENTRY_DEFAULTS)


def _put_optional(out: JsonObject, key: str, value: Any) -> None:
    if value is not None:
        out[key] = list(value) if isinstance(value, list) else value


def _optional_text(value: Any) -> str | Unreadable | None:
    return None if value is None else read_text(value)


def _keys(value: Any) -> list[str] | Unreadable:
    return read_text_list(value, split_commas=True)


def _optional_keys(value: Any) -> list[str] | Unreadable | None:
    return None if value is None else read_text_list(value, split_commas=True)


def _position(value: Any) -> str | Unreadable | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in _POSITIONS:
        return _POSITIONS[value]
    return UNREADABLE


def _entry_id(value: Any) -> int | str | Unreadable | None:
    if value is None or isinstance(value, str):
        return value
    number = read_int(value)
    return UNREADABLE if number is None else number


def _entry_list(value: Any) -> list[Any] | Unreadable:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        # SillyTavern world-info files key their entries by uid: {"0": {...}, "1": {...}}.
        return list(value.values())
    return UNREADABLE


def require_book(value: Any) -> JsonObject | Unreadable | None:
    """A `character_book` value: an object, `null`, or unreadable."""
    if value is None:
        return None
    return value if isinstance(value, dict) else UNREADABLE
