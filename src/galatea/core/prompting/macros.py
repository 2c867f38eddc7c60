"""Macros: our own small expander for `{{char}}`, `{{user}}`, `{{random::a::b}}` and friends.

Pure and bounded: one left-to-right pass over the text with an explicit stack, so nested macros
expand innermost first, the output of a macro is never scanned again (a name such as
`{{char}}` stays literal) and the work is linear in the input. Unknown macros stay as written.
Never Jinja, `str.format` or `eval` on user text.
"""

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

MAX_NESTING = 16
"""Deeper `{{` openings are kept as literal text."""
MAX_DICE = 100
MAX_SIDES = 1_000_000

_LEGACY = re.compile(r"<(user|bot)>", re.IGNORECASE)
_DICE = re.compile(
    r"\s*(?:(\d{1,3})?\s*d)?\s*(\d{1,7})\s*(?:([+-])\s*(\d{1,7}))?\s*", re.IGNORECASE
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(slots=True)
class MacroContext:
    """What macros expand to: names, the chat, an injected clock and random source."""

    char: str
    """`{{char}}`: the character's nickname when set, else the name."""
    user: str
    """`{{user}}`: the persona's name."""
    original: str = ""
    """`{{original}}`: the default text a card's override replaces."""
    chat_id: str = ""
    """Seeds `{{pick}}` so it chooses the same option for the whole chat."""
    clock: Callable[[], datetime] | None = None
    """Returns "now" for `{{time}}`, `{{date}}`, `{{weekday}}`, `{{idle_duration}}`."""
    rng: random.Random = field(default_factory=random.Random)
    """Draws `{{random}}` and `{{roll}}`."""
    last_user_message_at: datetime | None = None
    """When the user last wrote, for `{{idle_duration}}`."""


@dataclass(slots=True, frozen=True)
class Expansion:
    """Expanded text, and whether it used a macro whose value changes from turn to turn."""

    text: str
    volatile: bool


_VOLATILE = frozenset({"random", "roll", "time", "date", "weekday", "idle_duration"})


def expand_macros(
    text: str, context: MacroContext, *, field_name: str = "", names_only: bool = False
) -> Expansion:
    """Expand macros in `text`; `names_only` limits it to `{{char}}`, `{{user}}`, `<USER>`, `<BOT>`.

    `field_name` names the text being expanded (for example "description") so that
    `{{pick}}` at the same place of the same field picks the same option for the whole chat.
    """
    if "{{" not in text and "<" not in text:
        return Expansion(text, False)
    expander = _Expander(context, field_name, names_only)
    return Expansion(expander.run(text), expander.volatile)


class _Expander:
    def __init__(self, context: MacroContext, field_name: str, names_only: bool) -> None:
        self.context = context
        self.field_name = field_name
        self.names_only = names_only
        self.volatile = False

    def run(self, text: str) -> str:
        # Each frame: (offset of its "{{" in the source, pieces of its inner text).
        stack: list[tuple[int, list[str]]] = [(-1, [])]
        index = 0
        length = len(text)
        # Next "{{" and "}}" at or after `index`, found again only once passed (linear time).
        opening = closing = -2
        while index < length:
            if opening != -1 and opening < index:
                opening = text.find("{{", index)
            if closing != -1 and closing < index:
                closing = text.find("}}", index)
            if opening == -1 and closing == -1:
                stack[-1][1].append(self._legacy(text[index:]))
                break
            if opening != -1 and (closing == -1 or opening < closing):
                # In "{{{char}}}" the macro is the innermost pair; extra braces are text.
                start = opening
                while text.startswith("{", start + 2):
                    start += 1
                stack[-1][1].append(self._legacy(text[index:start]))
                if len(stack) > MAX_NESTING:
                    stack[-1][1].append("{{")
                else:
                    stack.append((start, []))
                index = start + 2
                continue
            stack[-1][1].append(self._legacy(text[index:closing]))
            index = closing + 2
            if len(stack) == 1:
                stack[-1][1].append("}}")
                continue
            offset, pieces = stack.pop()
            inner = "".join(pieces)
            value = self._evaluate(inner, offset)
            stack[-1][1].append("{{" + inner + "}}" if value is None else value)
        # Unclosed openings are literal text.
        while len(stack) > 1:
            _, pieces = stack.pop()
            stack[-1][1].append("{{" + "".join(pieces))
        return "".join(stack[0][1])

    def _legacy(self, chunk: str) -> str:
        if "<" not in chunk:
            return chunk
        return _LEGACY.sub(
            lambda m: self.context.user if m.group(1).lower() == "user" else self.context.char,
            chunk,
        )

    def _evaluate(self, inner: str, offset: int) -> str | None:
        name, separator, argument = _split_name(inner)
        key = name.lower()
        if key == "char":
            return self.context.char if not separator else None
        if key == "user":
            return self.context.user if not separator else None
        if self.names_only:
            return None
        if inner.startswith("//") or (key in ("comment", "hidden_key") and separator):
            return ""
        value = self._evaluate_full(key, separator, argument, offset)
        if value is not None and key in _VOLATILE:
            self.volatile = True
        return value

    def _evaluate_full(self, key: str, separator: str, argument: str, offset: int) -> str | None:
        if key == "original" and not separator:
            return self.context.original
        if key in ("random", "pick") and separator:
            options = _split_options(separator, argument)
            if key == "random":
                return self.context.rng.choice(options)
            return options[self._pick_index(offset, len(options))]
        if key == "roll" and separator:
            return _roll(argument, self.context.rng)
        if key == "reverse" and separator:
            return argument[::-1]
        if separator or self.context.clock is None:
            return None
        return _time_macro(key, self.context.clock(), self.context.last_user_message_at)

    def _pick_index(self, offset: int, count: int) -> int:
        seed = f"{self.context.chat_id}\x00{self.field_name}\x00{offset}".encode()
        digest = hashlib.sha256(seed).digest()
        return int.from_bytes(digest[:8], "big") % count


def _split_name(inner: str) -> tuple[str, str, str]:
    """`name::arg` or `name:arg` into (name, separator, argument)."""
    colon = inner.find(":")
    if colon == -1:
        return inner.strip(), "", ""
    separator = "::" if inner.startswith("::", colon) else ":"
    return inner[:colon].strip(), separator, inner[colon + len(separator) :]


def _split_options(separator: str, argument: str) -> list[str]:
    if separator == "::":
        return argument.split("::")
    # The V3 form: comma separated, `\,` is a literal comma.
    options: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(argument):
        char = argument[index]
        if char == "\\" and argument.startswith(",", index + 1):
            current.append(",")
            index += 2
            continue
        if char == ",":
            options.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    options.append("".join(current))
    return options


def _roll(argument: str, rng: random.Random) -> str | None:
    """`1d20`, `d6`, `6` or `2d6+3`: the sum of the dice; None when it is not a dice formula."""
    match = _DICE.fullmatch(argument)
    if match is None:
        return None
    dice = int(match.group(1) or "1")
    sides = int(match.group(2))
    if not 1 <= dice <= MAX_DICE or not 1 <= sides <= MAX_SIDES:
        return None
    total = sum(rng.randint(1, sides) for _ in range(dice))
    if match.group(3):
        modifier = int(match.group(4))
        total += modifier if match.group(3) == "+" else -modifier
    return str(total)


def _time_macro(key: str, now: datetime, last_user_message_at: datetime | None) -> str | None:
    if key == "time":
        return f"{now.hour:02d}:{now.minute:02d}"
    if key == "date":
        return f"{_MONTHS[now.month - 1]} {now.day}, {now.year}"
    if key == "weekday":
        return _WEEKDAYS[now.weekday()]
    if key == "idle_duration":
        if last_user_message_at is None:
            return "just now"
        return describe_duration((now - last_user_message_at).total_seconds())
    return None


def describe_duration(seconds: float) -> str:
    """A rough human duration: "just now", "5 minutes", "an hour", "3 days"."""
    units = (("day", 86_400), ("hour", 3_600), ("minute", 60))
    for unit, size in units:
        amount = int(seconds // size)
        if amount >= 1:
            if amount == 1:
                return f"an {unit}" if unit == "hour" else f"a {unit}"
            return f"{amount} {unit}s"
    return "just now"
