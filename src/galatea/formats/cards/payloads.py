"""Card payloads: bounded base64 and JSON decoding, and the JSON encoding we write.

A card travels as UTF-8 JSON, often base64-encoded inside an image. Decoding checks sizes
before allocating, rejects what JSON parsers disagree on (NaN, unpaired surrogates) and caps
nesting, so every failure is a `CardError` with a one-line reason.
"""

import base64
import binascii
import json
import re
from typing import Any

from galatea.core.json_types import JsonObject
from galatea.formats.cards.errors import (
    CardError,
    CardTooLargeError,
    CorruptCardError,
    InvalidCardError,
    NotACardError,
)
from galatea.formats.cards.limits import CardLimits

_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/=_\-]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_CONTAINERS = (dict, list)
# A single repeated character class: a repeated group would make the regex engine keep state
# for every repetition, megabytes for a hostile string of escapes.
_PLAIN_STRING = re.compile(r'"[^"]*"')
_WHITESPACE = b" \t\r\n\x0b\x0c"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
_CHAT_KEYS = frozenset({"user_name", "character_name", "chat_metadata", "mes", "is_user"})


def decode_base64(text: bytes, what: str, max_bytes: int) -> bytes:
    """Decode base64 (standard or URL-safe, padding optional, whitespace ignored)."""
    # Deleting whitespace in place; split() would make one object per word of a hostile text.
    compact = text.translate(None, _WHITESPACE)
    decoded_size = len(compact) // 4 * 3
    if decoded_size > max_bytes + 3:
        raise CardTooLargeError(
            f"{what} decodes to about {decoded_size} bytes; at most {max_bytes} are allowed"
        )
    if b"-" in compact or b"_" in compact:
        compact = compact.translate(bytes.maketrans(b"-_", b"+/"))
    compact = compact.rstrip(b"=")
    if len(compact) % 4 == 1:
        raise CorruptCardError(f"{what} is not valid base64: its length is impossible")
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except binascii.Error:
        junk = _BASE64_JUNK.search(compact)
        where = f": byte {junk.group()!r} at position {junk.start()}" if junk else ""
        raise CorruptCardError(f"{what} is not valid base64{where}") from None


def decode_text(raw: bytes, what: str) -> str:
    """Strict UTF-8 (or UTF-16 when a byte order mark says so); a UTF-8 BOM is dropped."""
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    elif raw.startswith(_UTF16_BOMS):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise CorruptCardError(f"{what} is not valid UTF-16 at byte {error.start}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptCardError(f"{what} is not valid UTF-8 at byte {error.start}") from None


def _reject_constant(name: str) -> Any:
    raise CorruptCardError(f"card JSON uses {name}, which is not valid JSON")


def parse_json_object(raw: bytes, what: str, limits: CardLimits) -> JsonObject:
    """Decode card JSON bytes into a dict, within the size and depth limits."""
    if len(raw) > limits.max_card_json_bytes:
        raise CardTooLargeError(
            f"{what} is {len(raw)} bytes; at most {limits.max_card_json_bytes} are allowed"
        )
    text = decode_text(raw, what)
    _check_value_count(text, what, limits)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and _starts_like_a_chat(text):
            raise NotACardError("this is a chat file (JSON lines), not a character card") from None
        raise CorruptCardError(
            f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except CardError:
        raise
    except RecursionError:
        raise CardTooLargeError(
            f"{what} is nested more than {limits.max_json_depth} levels deep"
        ) from None
    except ValueError as error:
        # CPython refuses integers of more than 4300 digits with a plain ValueError.
        raise CardTooLargeError(f"{what} holds a number that is too long: {error}") from None
    if not isinstance(value, dict):
        raise InvalidCardError(f"{what} is a JSON {_json_kind(value)}, not an object")
    check_json_shape(value, what, limits, text)
    return value


def _starts_like_a_chat(text: str) -> bool:
    # The text already passed the value count, so decoding its first line is cheap.
    try:
        first, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except ValueError:
        return False
    return isinstance(first, dict) and not _CHAT_KEYS.isdisjoint(first)


def _check_value_count(text: str, what: str, limits: CardLimits) -> None:
    # Counting characters is cheap and over-counts (commas and quotes inside strings); only a
    # text over the limit by that count is measured exactly, skipping its strings.
    limit = limits.max_json_values
    if text.count('"') // 2 + _structure_marks(text, 0, len(text)) <= limit:
        return
    # Escaped backslashes first, so that what remains of `\\"` is an escaped quote.
    plain = text.replace("\\\\", "").replace('\\"', "")
    values, position = 1, 0
    for string in _PLAIN_STRING.finditer(plain):
        start, end = string.span()
        values += _structure_marks(plain, position, start)
        if values > limit:
            raise CardTooLargeError(f"{what} holds more than {limit} values")
        position = end
    if values + _structure_marks(plain, position, len(plain)) > limit:
        raise CardTooLargeError(f"{what} holds more than {limit} values")


def _structure_marks(text: str, start: int, end: int) -> int:
    return text.count(",", start, end) + text.count("{", start, end) + text.count("[", start, end)


def check_json_shape(value: JsonObject, what: str, limits: CardLimits, text: str = "") -> None:
    """Refuse nesting deeper than the limit and strings holding unpaired surrogates.

    Strict UTF-8 and UTF-16 decoding already refuse raw surrogates, so they can only come
    from `\\uD800`-style escapes; when `text` (the JSON source) has none, strings are not
    searched.
    """
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > limits.max_json_depth:
            raise CardTooLargeError(
                f"{what} is nested more than {limits.max_json_depth} levels deep"
            )
        deeper: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            deeper.extend(child for child in children if type(child) in _CONTAINERS)
        level = deeper
        depth += 1
    if not text or _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value, what)


def _check_surrogates(value: JsonObject, what: str) -> None:
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, child in items:
            for text in (key, child):
                found = (
                    _SURROGATE.search(text) if type(text) is str and not text.isascii() else None
                )
                if found is not None:
                    raise CorruptCardError(
                        f"{what} holds an unpaired UTF-16 surrogate "
                        f"(\\u{ord(found.group()):04x}), which is not text"
                    )
            if type(child) in _CONTAINERS:
                stack.append(child)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def encode_json(value: JsonObject, *, indent: int | None = None) -> bytes:
    """UTF-8 JSON as we write it: no ASCII escaping, compact unless an indent is given."""
    separators = (",", ": ") if indent is not None else (",", ":")
    try:
        text = json.dumps(
            value, ensure_ascii=False, indent=indent, separators=separators, allow_nan=False
        )
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidCardError(
            f"the card text holds an unpaired UTF-16 surrogate at position {error.start}"
        ) from None
    except ValueError as error:
        raise InvalidCardError(f"the card cannot be written as JSON: {error}") from None


def encode_base64(raw: bytes) -> bytes:
    """Standard base64 with padding, as every card reader expects."""
    return base64.b64encode(raw)
