"""Assembled prompts: the text sent to the model, in labelled sections with token counts."""

from collections.abc import Sequence
from dataclasses import dataclass

from galatea.core.lore_activation import LoreHit
from galatea.core.prompting.rendering import ChatMessage, Segment


@dataclass(slots=True, frozen=True)
class PromptSection:
    """A run of the prompt from one source: "system", "character", "history", "lore", ..."""

    label: str
    text: str
    tokens: int
    """Tokens of this text counted on its own (the prompt's total is counted whole)."""
    volatile: bool = False
    """Its text may change between turns of the chat (time macros, lore that fired on keys)."""


@dataclass(slots=True, frozen=True)
class AssembledPrompt:
    """The prompt for the next reply, how it was made, and what the model should stop on."""

    text: str
    sections: tuple[PromptSection, ...]
    """In prompt order; their texts join to `text`. A label can occur more than once."""
    total_tokens: int
    context_length: int
    reply_reserve: int
    stop_strings: tuple[str, ...]
    lore: tuple[LoreHit, ...]
    """Every lore decision: entries that fired, and entries that matched but were held back."""
    template: str
    history_start: int
    """Index (among the non-hidden messages) of the first message kept."""
    history_kept: int
    examples_kept: int
    examples_total: int
    messages: tuple[ChatMessage, ...] = ()
    """The same prompt as chat messages without template markers, for a server that applies
    its own chat template (neighbouring turns of one role merged)."""

    def tokens_by_label(self) -> dict[str, int]:
        """Tokens per section label, in order of first appearance."""
        totals: dict[str, int] = {}
        for section in self.sections:
            totals[section.label] = totals.get(section.label, 0) + section.tokens
        return totals

    @property
    def fired_lore(self) -> list[LoreHit]:
        """The lore entries in the prompt."""
        return [hit for hit in self.lore if hit.fired]

    def stable_prefix(self) -> str:
        """The text before the first section that may change from turn to turn."""
        parts: list[str] = []
        for section in self.sections:
            if section.volatile:
                break
            parts.append(section.text)
        return "".join(parts)


def merge_segments(segments: Sequence[Segment], counts: Sequence[int]) -> list[PromptSection]:
    """Join neighbouring segments with the same label and volatility into sections."""
    runs: list[tuple[str, bool, list[str], list[int]]] = []
    for segment, tokens in zip(segments, counts, strict=True):
        if runs and runs[-1][:2] == (segment.label, segment.volatile):
            runs[-1][2].append(segment.text)
            runs[-1][3].append(tokens)
        else:
            runs.append((segment.label, segment.volatile, [segment.text], [tokens]))
    return [
        PromptSection(label, "".join(texts), sum(numbers), volatile)
        for label, volatile, texts, numbers in runs
    ]
