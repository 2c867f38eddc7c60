"""Lorebook activation: which entries enter the prompt this turn, where, and why.

Pure. Entries fire when one of their keys appears in the last `scan_depth` messages, when
they are constant, or when `@@activate` says so; secondary keys, V3 decorators and
SillyTavern's entry extensions can then hold them back. Content of fired entries can trigger
further entries (recursive scanning, to a depth limit). Every decision that a user might ask
about ("why did it fire?", "why not?") is recorded as a `LoreHit`.

Cards exported by SillyTavern set `use_regex` on every entry whatever its keys hold, and
SillyTavern itself ignores the flag: a key is a regex only when written `/pattern/flags`, and
constant and secondary keys always apply. Entries carrying SillyTavern's world-info extensions
are read that way, so such books behave here as they do where they were written.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeGuard

from galatea.core.lore_decorators import Decorators, parse_decorators
from galatea.core.lore_keys import (
    STEP_BUDGET,
    RegexKey,
    ScanText,
    UnsafePattern,
    is_slash_pattern,
    parse_regex_key,
)
from galatea.core.lorebooks import Lorebook, LoreEntry

_ST_LOGIC = {0: "and_any", 1: "not_all", 2: "not_any", 3: "and_all"}
_ST_ROLES = {0: "system", 1: "user", 2: "assistant"}
_ST_AT_DEPTH = 4
# Extension keys only SillyTavern's world-info exporter writes (it has written the first three
# since it began exporting `use_regex`).
_ST_EXPORT_MARKS = frozenset(
    {"display_index", "selectiveLogic", "useProbability", "group_override", "automation_id"}
)


@dataclass(slots=True, frozen=True)
class LoreOptions:
    """How lore is scanned where a lorebook does not say."""

    scan_depth: int = 4
    """Recent messages scanned for keys."""
    recursion_depth: int = 3
    """Rounds of fired content triggering further entries (0: no recursion)."""
    case_sensitive: bool = False
    whole_words: bool = True
    """Keys match whole words ("cat" does not fire on "category")."""
    max_scan_chars: int = 65_536
    """Keys are looked for in at most this many of the most recent characters."""
    regex_step_budget: int = 4 * STEP_BUDGET
    """Worst-case regex work for one activation; regex keys beyond it are skipped."""


@dataclass(slots=True, frozen=True)
class LoreHit:
    """One entry that fired, or that matched but was held back, and why."""

    book: int
    entry: int
    label: str
    fired: bool
    reason: str
    content: str = ""
    """The content without decorator lines (macros not yet expanded)."""
    position: str = "before_char"
    """"before_char", "after_char", a story position, or "depth"."""
    depth: int | None = None
    role: str = "system"
    insertion_order: float = 0
    priority: float = 0
    constant: bool = False
    decorators: Decorators = field(default_factory=Decorators)

    @property
    def dynamic(self) -> bool:
        """Whether it may fire on one turn and not the next (so it belongs late in a prompt)."""
        return not self.constant or self.decorators.conditional


@dataclass(slots=True, frozen=True)
class LoreActivation:
    """The outcome of scanning: every recorded decision, fired entries in prompt order."""

    hits: tuple[LoreHit, ...]

    @property
    def fired(self) -> list[LoreHit]:
        """Entries that fired, ordered by insertion_order (lower first)."""
        return [hit for hit in self.hits if hit.fired]


def activate_lore(
    books: Sequence[Lorebook],
    texts: Sequence[str],
    *,
    character_messages: int,
    options: LoreOptions | None = None,
) -> LoreActivation:
    """Scan `texts` (message texts, oldest first) and decide which entries fire."""
    options = options or LoreOptions()
    scan = _Scanner(texts, options)
    hits: list[LoreHit] = []
    for book_index, book in enumerate(books):
        hits.extend(_activate_book(book_index, book, scan, character_messages, options))
    hits.sort(key=lambda h: (not h.fired, h.insertion_order, h.book, h.entry))
    return LoreActivation(tuple(hits))


def apply_lore_budget(fired: Sequence[LoreHit], costs: Sequence[int], budget: int) -> list[bool]:
    """Which fired entries to keep within `budget` tokens, dropping the lowest priority first.

    Entries marked `@@ignore_on_max_context` go first; among equals, the one inserted last
    goes first. Priority defaults to insertion_order, as the V3 spec suggests.
    """
    keep = [True] * len(fired)
    total = sum(costs)
    order = sorted(
        range(len(fired)),
        key=lambda i: (
            not fired[i].decorators.ignore_on_max_context,
            fired[i].priority,
            -fired[i].insertion_order,
            -i,
        ),
    )
    for index in order:
        if total <= budget:
            break
        keep[index] = False
        total -= costs[index]
    return keep


def fit_lore_budgets(
    fired: Sequence[LoreHit],
    costs: Sequence[int],
    book_budgets: Sequence[int | None],
    overall: int,
) -> list[bool]:
    """Which fired entries stay: each book within its own `token_budget`, then all together
    within `overall`, dropping the lowest priority first each time."""
    keep = [True] * len(fired)
    for book, budget in enumerate(book_budgets):
        members = [i for i, hit in enumerate(fired) if hit.book == book]
        if budget is not None and budget > 0 and members:
            kept = apply_lore_budget(
                [fired[i] for i in members], [costs[i] for i in members], budget
            )
            for index, stays in zip(members, kept, strict=True):
                keep[index] = stays
    survivors = [i for i in range(len(fired)) if keep[i]]
    kept = apply_lore_budget([fired[i] for i in survivors], [costs[i] for i in survivors], overall)
    for index, stays in zip(survivors, kept, strict=True):
        keep[index] = stays
    return keep


def mark_dropped(activation: LoreActivation, dropped: Sequence[LoreHit]) -> tuple[LoreHit, ...]:
    """Every decision, with the dropped entries turned into "held back by the budget"."""
    gone = {(hit.book, hit.entry) for hit in dropped}
    return tuple(
        replace(hit, fired=False, reason=f"{hit.reason}, dropped: over the lore token budget")
        if (hit.book, hit.entry) in gone
        else hit
        for hit in activation.hits
    )


@dataclass(slots=True)
class _Prepared:
    index: int
    entry: LoreEntry
    decorators: Decorators
    content: str
    label: str
    rules: "_Rules"
    keys: Sequence[str]


class _Scanner:
    """Scan texts per depth, built once, and the regex work budget of this activation."""

    def __init__(self, texts: Sequence[str], options: LoreOptions) -> None:
        self.texts = texts
        self.options = options
        self.regex_budget = options.regex_step_budget
        self._by_depth: dict[int, ScanText] = {}
        self._regex: dict[tuple[str, bool], RegexKey | str] = {}

    def recent(self, depth: int) -> ScanText:
        depth = max(0, min(depth, len(self.texts)))
        scan = self._by_depth.get(depth)
        if scan is None:
            joined = "\n".join(self.texts[len(self.texts) - depth :]) if depth else ""
            scan = ScanText(joined[-self.options.max_scan_chars :])
            self._by_depth[depth] = scan
        return scan

    def find(self, keys: Sequence[str], scan: ScanText, rules: "_Rules") -> tuple[str | None, str]:
        """The first key found, or None and why nothing could be found ("" when simply absent)."""
        problem = ""
        for key in keys:
            if not isinstance(key, str) or not key.strip():
                continue
            if not rules.regex and not is_slash_pattern(key):
                if scan.contains_plain(
                    key, case_sensitive=rules.case_sensitive, whole_words=rules.whole_words
                ):
                    return key, ""
                continue
            compiled = self._compile(key, rules.case_sensitive)
            if isinstance(compiled, str):
                problem = compiled
                continue
            cost = compiled.cost(len(scan.text))
            if cost > self.regex_budget:
                problem = "the regex work budget of this turn is used up"
                continue
            self.regex_budget -= cost
            if compiled.search(scan.text):
                return key, ""
        return None, problem

    def _compile(self, key: str, case_sensitive: bool) -> RegexKey | str:
        cached = self._regex.get((key, case_sensitive))
        if cached is None:
            try:
                cached = parse_regex_key(key, case_sensitive=case_sensitive)
            except UnsafePattern as exc:
                cached = str(exc)
            self._regex[(key, case_sensitive)] = cached
        return cached


@dataclass(slots=True, frozen=True)
class _Rules:
    """How an entry's keys match. With `regex` off, only keys written `/pattern/flags` are
    regexes, and constant and secondary keys apply; with it on (V3 `use_regex`) they do not."""

    regex: bool
    case_sensitive: bool
    whole_words: bool


def _activate_book(
    book_index: int,
    book: Lorebook,
    scan: _Scanner,
    character_messages: int,
    options: LoreOptions,
) -> list[LoreHit]:
    book_depth = book.scan_depth if _is_count(book.scan_depth) else options.scan_depth
    prepared = [_prepare(i, e, options) for i, e in enumerate(book.entries) if e.enabled]
    prepared = [p for p in prepared if p.content.strip()]
    decided: dict[int, LoreHit] = {}
    for item in prepared:
        hit = _decide_direct(item, book_index, book_depth, scan, character_messages)
        if hit is not None:
            decided[item.index] = hit
    recursive = book.recursive_scanning is not False
    newly = [h for h in decided.values() if h.fired]
    for _ in range(options.recursion_depth if recursive else 0):
        sources = [h for h in newly if not _extension_flag(h, book, "prevent_recursion")]
        if not sources:
            break
        recursion_text = ScanText("\n".join(h.content for h in sources))
        newly = []
        for item in prepared:
            if item.index in decided or _flag(item.entry, "exclude_recursion"):
                continue
            hit = _decide_keys(
                item, book_index, recursion_text, scan, character_messages, "recursion"
            )
            if hit is not None:
                decided[item.index] = hit
                if hit.fired:
                    newly.append(hit)
    return list(decided.values())


def _decide_direct(
    item: _Prepared,
    book_index: int,
    book_depth: int,
    scan: _Scanner,
    character_messages: int,
) -> LoreHit | None:
    decorators = item.decorators
    depth = decorators.scan_depth
    if depth is None:
        extension_depth = item.entry.extensions.get("scan_depth")
        depth = extension_depth if _is_count(extension_depth) else book_depth
    text = scan.recent(depth)
    if decorators.activate:
        return _gate(item, book_index, "@@activate", scan, character_messages)
    if item.entry.constant and not item.rules.regex:
        # Constant ignores keys and secondary keys, but decorator keys still apply.
        return _gate(item, book_index, "constant", scan, character_messages, text, keyed=False)
    return _decide_keys(item, book_index, text, scan, character_messages, "key")


def _decide_keys(
    item: _Prepared,
    book_index: int,
    text: ScanText,
    scan: _Scanner,
    character_messages: int,
    via: str,
) -> LoreHit | None:
    rules = item.rules
    key, problem = scan.find(item.keys, text, rules)
    if key is None:
        if problem:
            return _hit(item, book_index, fired=False, reason=f"not scanned: {problem}")
        return None
    where = "recent messages" if via == "key" else "fired lore"
    reason = f"key {key!r} found in {where}"
    return _gate(item, book_index, reason, scan, character_messages, text)


def _gate(
    item: _Prepared,
    book_index: int,
    reason: str,
    scan: _Scanner,
    character_messages: int,
    text: ScanText | None = None,
    *,
    keyed: bool = True,
) -> LoreHit:
    """Apply what can hold a triggered entry back; the hit says which rule did."""
    decorators = item.decorators
    blocked = ""
    after, every = decorators.activate_only_after, decorators.activate_only_every
    if decorators.dont_activate:
        blocked = "@@dont_activate"
    elif after is not None and character_messages < after:
        blocked = f"@@activate_only_after {after}: the character has {character_messages} messages"
    elif every is not None and character_messages % every:
        blocked = f"@@activate_only_every {every}: the character has {character_messages} messages"
    elif text is not None and not decorators.activate:
        blocked = _secondary_block(item, text, scan, keyed=keyed)
    if blocked:
        return _hit(item, book_index, fired=False, reason=f"{reason}, held back by {blocked}")
    return _hit(item, book_index, fired=True, reason=reason)


def _secondary_block(item: _Prepared, text: ScanText, scan: _Scanner, *, keyed: bool) -> str:
    entry, decorators = item.entry, item.decorators
    rules = item.rules
    plain = replace(rules, regex=False)
    secondary = _as_list(entry.secondary_keys)
    if keyed and entry.selective and secondary and not rules.regex:
        logic = _ST_LOGIC.get(_int_extension(entry, "selectiveLogic") or 0, "and_any")
        present = [scan.find([key], text, plain)[0] is not None for key in secondary]
        allowed = {
            "and_any": any(present),
            "and_all": all(present),
            "not_any": not any(present),
            "not_all": not all(present),
        }[logic]
        if not allowed:
            return f"secondary keys ({logic.replace('_', ' ')})"
    if decorators.additional_keys and scan.find(decorators.additional_keys, text, rules)[0] is None:
        return "@@additional_keys (none found)"
    if not rules.regex and decorators.exclude_keys:
        excluded = scan.find(decorators.exclude_keys, text, plain)[0]
        if excluded is not None:
            return f"@@exclude_keys ({excluded!r} found)"
    return ""


def _hit(item: _Prepared, book_index: int, *, fired: bool, reason: str) -> LoreHit:
    entry, decorators = item.entry, item.decorators
    position, depth, role = _placement(entry, decorators)
    order = float(entry.insertion_order) if _is_number(entry.insertion_order) else 0.0
    priority = float(entry.priority) if _is_number(entry.priority) else order
    return LoreHit(
        book=book_index,
        entry=item.index,
        label=item.label,
        fired=fired,
        reason=reason,
        content=item.content if fired else "",
        position=position,
        depth=depth,
        role=role,
        insertion_order=order,
        priority=priority,
        constant=bool(entry.constant) or decorators.activate,
        decorators=decorators,
    )


def _placement(entry: LoreEntry, decorators: Decorators) -> tuple[str, int | None, str]:
    role = decorators.role or "system"
    if decorators.position is not None:
        return decorators.position, None, role
    if decorators.depth is not None:
        return "depth", decorators.depth, role
    if _int_extension(entry, "position") == _ST_AT_DEPTH:
        depth = _int_extension(entry, "depth")
        st_role = _ST_ROLES.get(_int_extension(entry, "role") or 0, "system")
        return "depth", depth if depth is not None else 4, decorators.role or st_role
    position = entry.position if entry.position in ("before_char", "after_char") else None
    return position or "before_char", None, role


def _prepare(index: int, entry: LoreEntry, options: LoreOptions) -> _Prepared:
    content = entry.content if isinstance(entry.content, str) else ""
    decorators, content = parse_decorators(content)
    keys = _as_list(entry.keys)
    first_key = next((k for k in keys if isinstance(k, str) and k.strip()), "")
    label = entry.name or entry.comment or (f"#{entry.id}" if entry.id is not None else "")
    return _Prepared(
        index,
        entry,
        decorators,
        content,
        label or first_key or f"entry {index}",
        _rules(entry, options),
        keys,
    )


def _as_list(keys: object) -> list[str]:
    """Keys as a list, also when a leniently imported card gave one string."""
    if isinstance(keys, str):
        return [keys]
    return [key for key in keys if isinstance(key, str)] if isinstance(keys, list) else []


def _rules(entry: LoreEntry, options: LoreOptions) -> _Rules:
    case = entry.case_sensitive
    if case is None:
        case = _bool_extension(entry, "case_sensitive")
    whole = _bool_extension(entry, "match_whole_words")
    return _Rules(
        regex=bool(entry.use_regex) and not _exported_by_sillytavern(entry),
        case_sensitive=options.case_sensitive if case is None else case,
        whole_words=options.whole_words if whole is None else whole,
    )


def _exported_by_sillytavern(entry: LoreEntry) -> bool:
    return not _ST_EXPORT_MARKS.isdisjoint(entry.extensions)


def _flag(entry: LoreEntry, name: str) -> bool:
    return _bool_extension(entry, name) is True


def _extension_flag(hit: LoreHit, book: Lorebook, name: str) -> bool:
    return _flag(book.entries[hit.entry], name)


def _bool_extension(entry: LoreEntry, name: str) -> bool | None:
    value = entry.extensions.get(name)
    return value if isinstance(value, bool) else None


def _int_extension(entry: LoreEntry, name: str) -> int | None:
    value = entry.extensions.get(name)
    return value if _is_count(value) else None


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
