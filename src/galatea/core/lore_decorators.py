"""Character Card V3 lorebook decorators: `@@name value` lines at the top of an entry's content.

Decorators steer when and where an entry enters the prompt (`@@depth 4`, `@@role system`,
`@@activate_only_after 3`, ...). A line starting with `@@@` is a fallback, read only when
the decorator above it was not recognised or had an invalid value. Unknown decorators are
ignored, as the spec asks. Parsing removes the decorator lines (and the blank lines around
them) and leaves the rest of the content byte for byte.
"""

import re
from dataclasses import dataclass, field

MAX_DECORATOR_LINES = 64
_LINE = re.compile(r"(@@@?)([A-Za-z_]{1,64})(?:[ \t]+(.*))?")
_NUMBER = re.compile(r"\d{1,6}")
ROLES = frozenset({"system", "user", "assistant"})
POSITIONS = frozenset({"before_desc", "after_desc", "personality", "scenario"})
_COUNTS = frozenset({"depth", "scan_depth", "activate_only_after", "activate_only_every"})
_FLAGS = frozenset({"activate", "dont_activate", "ignore_on_max_context"})
_KEY_LISTS = frozenset({"additional_keys", "exclude_keys"})


@dataclass(slots=True, frozen=True)
class Decorators:
    """The decorators of one entry that Galatea honours (None: not given)."""

    depth: int | None = None
    """Insert this many messages up from the newest one."""
    role: str | None = None
    """Write the inserted text as this role: system, user or assistant."""
    scan_depth: int | None = None
    """Scan this many recent messages for this entry's keys."""
    position: str | None = None
    """Inside the story: before_desc, after_desc, personality or scenario."""
    activate_only_after: int | None = None
    """Only once the character has written at least this many messages."""
    activate_only_every: int | None = None
    """Only when the character's message count is a multiple of this."""
    activate: bool = False
    """Always fires."""
    dont_activate: bool = False
    """Never fires (unless `activate` is also given)."""
    ignore_on_max_context: bool = False
    """Dropped first when the lore budget is short."""
    additional_keys: tuple[str, ...] = ()
    """One of these must also appear."""
    exclude_keys: tuple[str, ...] = ()
    """None of these may appear."""
    ignored: tuple[str, ...] = field(default=())
    """Names of decorators that were not recognised or had invalid values."""

    @property
    def conditional(self) -> bool:
        """Whether the entry fires only on some turns even when it is constant."""
        return self.activate_only_after is not None or self.activate_only_every is not None


def parse_decorators(content: str) -> tuple[Decorators, str]:
    """Decorators from the top of `content`, and the content without them."""
    lines = content.splitlines(keepends=True)
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    parsed: list[tuple[bool, str, str]] = []
    while index < len(lines) and len(parsed) < MAX_DECORATOR_LINES:
        match = _LINE.fullmatch(lines[index].strip())
        if match is None:
            break
        parsed.append((match.group(1) == "@@@", match.group(2).lower(), match.group(3) or ""))
        index += 1
    if not parsed:
        return Decorators(), content
    while index < len(lines) and not lines[index].strip():
        index += 1
    return _interpret(parsed), "".join(lines[index:])


def _interpret(parsed: list[tuple[bool, str, str]]) -> Decorators:
    values: dict[str, object] = {}
    keys: dict[str, list[str]] = {"additional_keys": [], "exclude_keys": []}
    ignored: list[str] = []
    # A fallback is read only while every decorator above it in its chain was rejected.
    chain_open = False
    for is_fallback, name, value in parsed:
        if is_fallback and not chain_open:
            continue
        accepted = _accept(name, value.strip(), values, keys)
        if not accepted:
            ignored.append(name)
        chain_open = not accepted
    return Decorators(
        depth=_int(values.get("depth")) if "position" not in values else None,
        role=_str(values.get("role")),
        scan_depth=_int(values.get("scan_depth")),
        position=_str(values.get("position")),
        activate_only_after=_int(values.get("activate_only_after")),
        activate_only_every=_int(values.get("activate_only_every")),
        activate="activate" in values,
        dont_activate="dont_activate" in values and "activate" not in values,
        ignore_on_max_context="ignore_on_max_context" in values,
        additional_keys=tuple(keys["additional_keys"]),
        exclude_keys=tuple(keys["exclude_keys"]),
        ignored=tuple(ignored),
    )


def _accept(name: str, value: str, values: dict[str, object], keys: dict[str, list[str]]) -> bool:
    if name in _KEY_LISTS:
        found = [key.strip() for key in value.split(",") if key.strip()]
        keys[name].extend(found)
        return bool(found)
    if name in values:
        return True  # only the first of a name counts; a repeat is not an error
    if name in _COUNTS:
        if not _NUMBER.fullmatch(value) or (name == "activate_only_every" and int(value) == 0):
            return False
        values[name] = int(value)
        return True
    if name in _FLAGS:
        if value:
            return False
        values[name] = True
        return True
    if name == "role" and value.lower() in ROLES:
        values[name] = value.lower()
        return True
    if name == "position" and value.lower() in POSITIONS:
        values[name] = value.lower()
        return True
    return False


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
