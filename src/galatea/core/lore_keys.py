"""Lore keys: finding plain keys (whole words) and card-written regular expressions in chat text.

Regex keys come from untrusted cards, and Python's `re` backtracks and cannot be interrupted.
We bound the work instead of timing it out, so that the outcome depends only on the inputs
(a time limit would make lore, and so the prompt, depend on the machine's load). Before a
pattern runs, its parse tree gives a worst-case count of backtracking paths and of characters
consumed per start position; the text is then searched in overlapping windows just small
enough that the worst case stays under a fixed step budget. Patterns over budget even in the
smallest window (nested or chained quantifiers such as `(a+)+` or `a.*b.*c`), backreferences
and patterns over 1,000 characters are rejected: the entry does not fire, with the reason.
"""

import importlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_PATTERN_CHARS = 1_000
"""Longest regex key accepted (the card field limit of our security notes)."""
MAX_REGEX_TEXT = 8_000
"""Regex keys see at most this many characters of a text, the most recent ones."""
STEP_BUDGET = 8_000_000
"""Worst-case steps one regex key may take on one text (about 50 ms here)."""
MIN_WINDOW = 64
_CAP = 1 << 62

_WORD = re.compile(r"\w")
_WORDS = re.compile(r"\w+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+")
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "u": 0, "g": 0, "y": 0}
_CLASS_FLAGS = re.IGNORECASE | re.DOTALL | re.ASCII
_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_SINGLE = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN"})
_ZERO_WIDTH = frozenset({"AT", "ASSERT", "ASSERT_NOT"})
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


class UnsafePattern(ValueError):
    """A regex key we will not run; the message says why."""


@dataclass(slots=True, frozen=True)
class RegexKey:
    """A compiled regex key and the window its text is searched in."""

    source: str
    pattern: re.Pattern[str]
    window: int
    """Characters per search window; matches up to a quarter of it are always found."""
    paths: int
    """Worst-case backtracking paths per start position within one window."""
    width: int
    """Most characters one path consumes within one window."""

    def cost(self, length: int) -> int:
        """Worst-case steps to search a text of `length` characters."""
        length = min(length, MAX_REGEX_TEXT)
        return _windows(length, self.window) * min(length, self.window) * (self.paths + self.width)

    def search(self, text: str) -> bool:
        """Whether the pattern matches in `text` (its last MAX_REGEX_TEXT characters)."""
        text = text[-MAX_REGEX_TEXT:]
        if len(text) <= self.window:
            return self.pattern.search(text) is not None
        step = self.window - self.window // 4
        start = 0
        while True:
            end = min(start + self.window, len(text))
            for match in self.pattern.finditer(text, start, end):
                # At a window's end `$` and `\b` see a false end of text; the next window
                # overlaps it and decides matches that touch the edge.
                if match.end() < end or end == len(text):
                    return True
            if end == len(text):
                return False
            start += step


def parse_regex_key(key: str, *, case_sensitive: bool) -> RegexKey:
    """Compile a regex key (`/pattern/flags` or a bare pattern); UnsafePattern says why not."""
    if len(key) > MAX_PATTERN_CHARS:
        raise UnsafePattern(f"regex key is {len(key)} characters; the limit is {MAX_PATTERN_CHARS}")
    body, flags = _split_slashes(key, case_sensitive)
    body = _JS_NAMED_GROUP.sub("(?P<", body)
    try:
        pattern = re.compile(body, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise UnsafePattern(f"regex key {key!r} is not a valid pattern: {exc}") from None
    window = MAX_REGEX_TEXT
    while window >= MIN_WINDOW:
        paths, width = _measure(body, flags, window)
        if _windows(MAX_REGEX_TEXT, window) * window * (paths + width) <= STEP_BUDGET:
            return RegexKey(key, pattern, window, paths, width)
        window //= 2
    raise UnsafePattern(
        f"regex key {key!r} could backtrack catastrophically (nested or chained quantifiers)"
    )


def is_slash_pattern(key: str) -> bool:
    """Whether a key is written `/pattern/flags`, the form SillyTavern reads as a regex."""
    if len(key) < 3 or not key.startswith("/"):
        return False
    closing = key.rfind("/")
    return closing > 1 and all(letter in _FLAGS for letter in key[closing + 1 :])


def _split_slashes(key: str, case_sensitive: bool) -> tuple[str, int]:
    default = 0 if case_sensitive else re.IGNORECASE
    if len(key) < 2 or not key.startswith("/"):
        return key, default
    closing = key.rfind("/")
    letters = key[closing + 1 :]
    if closing == 0 or any(letter not in _FLAGS for letter in letters):
        return key, default
    flags = 0
    for letter in letters:
        flags |= _FLAGS[letter]
    return key[1:closing], flags


def _windows(length: int, window: int) -> int:
    if length <= window:
        return 1
    step = window - window // 4
    return math.ceil((length - window) / step) + 1


@lru_cache(maxsize=1024)
def _measure(body: str, flags: int, window: int) -> tuple[int, int]:
    # The parser `re.compile` itself uses (private, but part of the pinned Python 3.11): the
    # pattern compiled already, so it parses the same way here.
    parser: Any = importlib.import_module("re._parser")
    tree = parser.parse(body, flags)
    return _Analysis(window).sequence(tree.data, tree.state.flags, at_end=True)


class _Analysis:
    """Worst-case paths and width of a parsed pattern (both saturate at a large cap)."""

    def __init__(self, window: int) -> None:
        self.window = window

    def sequence(self, items: Sequence[Any], flags: int, *, at_end: bool) -> tuple[int, int]:
        paths, width = 1, 0
        for index, (op, argument) in enumerate(items):
            last = at_end and index == len(items) - 1
            name = str(op)
            if name in _SINGLE:
                count, size = 1, 1
            elif name in _ZERO_WIDTH:
                count = self.sequence(argument[1], flags, at_end=True)[0] if name != "AT" else 1
                size = 0
            elif name == "SUBPATTERN":
                inner_flags = (flags | argument[1]) & ~argument[2]
                count, size = self.sequence(argument[3], inner_flags, at_end=last)
            elif name == "ATOMIC_GROUP":
                count, size = self.sequence(argument, flags, at_end=True)
            elif name == "BRANCH":
                measured = [self.sequence(branch, flags, at_end=last) for branch in argument[1]]
                count = min(_CAP, sum(c for c, _ in measured))
                size = max((s for _, s in measured), default=0)
            elif name in _REPEATS:
                count, size = self.repeat(name, argument, flags, items[index + 1 :], last)
            elif name in ("GROUPREF", "GROUPREF_EXISTS"):
                raise UnsafePattern("regex keys may not use backreferences")
            else:
                raise UnsafePattern(f"regex keys may not use {name.lower()}")
            paths = min(_CAP, paths * count)
            width = min(self.window, width + size)
        return paths, width

    def repeat(
        self, name: str, argument: Any, flags: int, rest: Sequence[Any], last: bool
    ) -> tuple[int, int]:
        low, high, body = argument
        most = min(int(high), self.window)
        if most < low:
            return 1, 0
        inner, size = self.sequence(body, flags, at_end=False)
        width = min(self.window, most * size)
        if inner == 1 and self._forced(name, body, flags, rest, last):
            return 1, width
        choices = most - low + 1
        if inner == 1:
            return choices, width
        if most * math.log2(inner) + math.log2(choices) >= 62:
            return _CAP, width
        return min(_CAP, choices * inner**most), width

    def _forced(self, name: str, body: Any, flags: int, rest: Sequence[Any], last: bool) -> bool:
        """Whether backtracking into this repeat can never help, so it costs one path.

        True for a possessive repeat, for a repeat nothing follows (a search succeeds at its
        first try), and for a one-character repeat followed by a literal it cannot match (the
        continuation fails at once everywhere but after the run).
        """
        if name == "POSSESSIVE_REPEAT" or last:
            return True
        if len(body) != 1 or str(body[0][0]) not in _SINGLE:
            return False
        following = _first_items(rest)
        if following is None:
            return False
        return all(_disjoint(body[0], item, flags) for item in following)


def _first_items(items: Sequence[Any]) -> list[Any] | None:
    """The one-character items a match of `items` can start with, when that is certain."""
    for op, argument in items:
        name = str(op)
        if name in _ZERO_WIDTH:
            continue
        if name in _SINGLE:
            return [(op, argument)]
        if name == "SUBPATTERN":
            return _first_items(argument[3])
        if name == "BRANCH":
            found: list[Any] = []
            for branch in argument[1]:
                first = _first_items(branch)
                if first is None:
                    return None
                found.extend(first)
            return found
        if name in _REPEATS and argument[0] >= 1:
            return _first_items(argument[2])
        return None
    return None


# Pairs of classes no character belongs to both of (\d is inside \w; spaces are neither).
_DISJOINT_CATEGORIES = {
    frozenset(pair)
    for pair in (
        ("CATEGORY_DIGIT", "CATEGORY_SPACE"),
        ("CATEGORY_WORD", "CATEGORY_SPACE"),
        ("CATEGORY_DIGIT", "CATEGORY_NOT_DIGIT"),
        ("CATEGORY_SPACE", "CATEGORY_NOT_SPACE"),
        ("CATEGORY_WORD", "CATEGORY_NOT_WORD"),
        ("CATEGORY_DIGIT", "CATEGORY_NOT_WORD"),
    )
}


def _disjoint(first: Any, second: Any, flags: int) -> bool:
    """Whether no character matches both one-character items (False when unsure)."""
    first_class, second_class = _class_pattern(first, flags), _class_pattern(second, flags)
    if first_class is None or second_class is None:
        return False
    first_atoms, second_atoms = _atoms(first), _atoms(second)
    for atoms, other in ((second_atoms, first_class), (first_atoms, second_class)):
        if atoms is not None and all(kind == "chars" for kind, _ in atoms):
            return not any(other.fullmatch(chr(code)) for _, codes in atoms for code in codes)
    if first_atoms is None or second_atoms is None:
        return False
    for kind, value in first_atoms:
        for other_kind, other_value in second_atoms:
            if kind == "chars" and any(second_class.fullmatch(chr(code)) for code in value):
                return False
            if other_kind == "chars" and any(first_class.fullmatch(chr(c)) for c in other_value):
                return False
            if kind == other_kind == "category" and (
                frozenset((value, other_value)) not in _DISJOINT_CATEGORIES
            ):
                return False
    return True


def _atoms(item: Any) -> list[tuple[str, Any]] | None:
    """A non-negated class as ("chars", codes) and ("category", name) atoms, else None."""
    op, argument = item
    name = str(op)
    if name == "LITERAL":
        return [("chars", (argument,))]
    if name != "IN":
        return None
    atoms: list[tuple[str, Any]] = []
    for atom_op, atom in argument:
        atom_name = str(atom_op)
        if atom_name == "LITERAL":
            atoms.append(("chars", (atom,)))
        elif atom_name == "RANGE" and atom[1] - atom[0] < 256:
            atoms.append(("chars", range(atom[0], atom[1] + 1)))
        elif atom_name == "CATEGORY" and str(atom) in _CATEGORIES:
            atoms.append(("category", str(atom)))
        else:
            return None
    return atoms


@lru_cache(maxsize=1024)
def _class_source(item: Any) -> str | None:
    op, argument = item
    name = str(op)
    if name == "ANY":
        return "."
    if name == "LITERAL":
        return re.escape(chr(argument))
    if name == "NOT_LITERAL":
        return "[^" + re.escape(chr(argument)) + "]"
    atoms: list[str] = []
    for atom_op, atom in argument:
        atom_name = str(atom_op)
        if atom_name == "NEGATE":
            atoms.insert(0, "^")
        elif atom_name == "LITERAL":
            atoms.append(re.escape(chr(atom)))
        elif atom_name == "RANGE":
            atoms.append(re.escape(chr(atom[0])) + "-" + re.escape(chr(atom[1])))
        elif atom_name == "CATEGORY" and str(atom) in _CATEGORIES:
            atoms.append(_CATEGORIES[str(atom)])
        else:
            return None
    return "[" + "".join(atoms) + "]"


def _class_pattern(item: Any, flags: int) -> re.Pattern[str] | None:
    """A pattern matching exactly the characters a one-character item matches."""
    source = _class_source(_hashable(item))
    return None if source is None else re.compile(source, flags & _CLASS_FLAGS)


def _hashable(item: Any) -> Any:
    op, argument = item
    if isinstance(argument, list):
        return op, tuple(argument)
    return op, argument


@lru_cache(maxsize=4096)
def _plain_pattern(key: str, case_sensitive: bool, whole_words: bool) -> re.Pattern[str]:
    escaped = re.escape(key)
    if whole_words and _needs_boundary(key[0]):
        escaped = r"(?<!\w)" + escaped
    if whole_words and _needs_boundary(key[-1]):
        escaped += r"(?!\w)"
    return re.compile(escaped, 0 if case_sensitive else re.IGNORECASE)


def _needs_boundary(char: str) -> bool:
    """Whole-word matching applies to scripts that separate words with spaces."""
    if not _WORD.match(char):
        return False
    code = ord(char)
    unspaced = 0x0E00 <= code <= 0x0EFF or 0x1000 <= code <= 0x109F or 0x1780 <= code <= 0x17FF
    return not unspaced and code < 0x2E80


class ScanText:
    """A text to find keys in; its case-folded form and word sets are computed once."""

    __slots__ = ("_folded", "_words", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._folded: str | None = None
        self._words: dict[bool, frozenset[str]] = {}

    def contains_plain(self, key: str, *, case_sensitive: bool, whole_words: bool) -> bool:
        """Whether `key` occurs as written (whole words unless told otherwise)."""
        if not key:
            return False
        if whole_words and _ASCII_WORD.fullmatch(key):
            # A one-word key matches exactly when it is one of the text's words: a set lookup
            # instead of a search, which keeps books of thousands of entries cheap.
            return (key if case_sensitive else key.casefold()) in self._word_set(case_sensitive)
        if case_sensitive:
            if key not in self.text:
                return False
        elif key.isascii() and key.casefold() not in self._casefolded():
            # A cheap filter first: casefold never hides a case-insensitive match of ASCII.
            return False
        return _plain_pattern(key, case_sensitive, whole_words).search(self.text) is not None

    def _casefolded(self) -> str:
        if self._folded is None:
            self._folded = self.text.casefold()
        return self._folded

    def _word_set(self, case_sensitive: bool) -> frozenset[str]:
        words = self._words.get(case_sensitive)
        if words is None:
            source = self.text if case_sensitive else self._casefolded()
            words = frozenset(_WORDS.findall(source))
            self._words[case_sensitive] = words
        return words
