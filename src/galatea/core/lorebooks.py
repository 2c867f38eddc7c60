"""Lorebooks (world info): entries of text that enter the prompt when their keys appear."""

from dataclasses import dataclass, field

from galatea.core.json_types import JsonObject


@dataclass(slots=True)
class LoreEntry:
    """One lorebook entry, with every field of the V2/V3 card specs.

    Optional fields are `None` when the source file did not have them, so an export writes back
    exactly what was read. `extra` holds keys outside the spec, kept for export.
    """

    keys: list[str]
    content: str
    enabled: bool = True
    insertion_order: int | float = 0
    """Lower values are inserted higher in the prompt."""
    use_regex: bool = False
    """V3: the keys are regular expressions (`/pattern/flags` or a bare pattern)."""
    case_sensitive: bool | None = None
    constant: bool | None = None
    """Always inserted (within the token budget)."""
    selective: bool | None = None
    """Also require one of `secondary_keys`."""
    secondary_keys: list[str] | None = None
    position: str | None = None
    """'before_char' or 'after_char' (the character definition)."""
    name: str | None = None
    priority: int | float | None = None
    """Under a token budget, lower priority is dropped first."""
    id: int | str | None = None
    comment: str | None = None
    extensions: JsonObject = field(default_factory=dict)
    extra: JsonObject = field(default_factory=dict)


@dataclass(slots=True)
class Lorebook:
    """A set of lore entries with its scanning settings (a card's `character_book`)."""

    entries: list[LoreEntry] = field(default_factory=list)
    name: str | None = None
    description: str | None = None
    scan_depth: int | None = None
    """How many recent messages are scanned for keys."""
    token_budget: int | None = None
    """Most tokens all fired entries may take together."""
    recursive_scanning: bool | None = None
    """Whether the content of fired entries can trigger other entries."""
    extensions: JsonObject = field(default_factory=dict)
    extra: JsonObject = field(default_factory=dict)
