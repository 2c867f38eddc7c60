"""The story: the character definition, the user's persona and example dialogues as prompt text.

These are the stable parts at the top of every prompt. They are built once per assembly from
the card, with macros expanded, as labelled parts so the budget can count and drop them.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from galatea.core.characters import Character
from galatea.core.personas import Persona
from galatea.core.prompting.macros import Expansion
from galatea.core.prompting.rendering import Part
from galatea.core.prompting.templates import InstructTemplate, fill

_START = re.compile(r"<start>", re.IGNORECASE)

Expand = Callable[[str, str], Expansion]
"""Expands macros in a text; the second argument names the field (for a stable `{{pick}}`)."""


@dataclass(slots=True, frozen=True)
class PositionedLore:
    """Lore text placed inside the story (before or after the definition, or next to a field)."""

    text: str
    position: str
    """"before_char", "after_char", "before_desc", "after_desc", "personality" or "scenario"."""
    volatile: bool = False


def split_examples(mes_example: str) -> list[str]:
    """Example dialogue blocks: the text between `<START>` markers, blank edges removed."""
    blocks = (block.strip() for block in _START.split(mes_example))
    return [block for block in blocks if block]


ANCHOR = "anchor"
"""Label of the empty parts marking where positioned lore may go (see `place_lore`)."""


def build_story(
    character: Character, persona: Persona, template: InstructTemplate, expand: Expand
) -> list[Part]:
    """The character definition and persona as labelled parts, with anchors for lore."""
    layout = template.story
    char = character.display_name
    user = persona.name
    parts: list[Part] = []

    def anchor(position: str) -> None:
        parts.append(Part(ANCHOR, position))

    def add_field(label: str, fmt: str, value: str, source: str) -> None:
        expansion = expand(value, source)
        text = expansion.text.strip()
        if text:
            parts.append(
                Part(label, fill(fmt, char=char, user=user, text=text), expansion.volatile)
            )

    anchor("before_char")
    anchor("before_desc")
    add_field("character", layout.description, character.description, "description")
    anchor("after_desc")
    add_field("character", layout.personality, character.personality, "personality")
    anchor("personality")
    add_field("character", layout.scenario, character.scenario, "scenario")
    anchor("scenario")
    anchor("after_char")
    add_field("persona", layout.persona, persona.description, "persona")
    return parts


def place_lore(story: Sequence[Part], lore: Sequence[PositionedLore] = ()) -> list[Part]:
    """The story with each anchor replaced by the lore placed there (in the given order)."""
    placed: list[Part] = []
    for part in story:
        if part.label != ANCHOR:
            placed.append(part)
            continue
        placed.extend(
            Part("lore", item.text, item.volatile) for item in lore if item.position == part.text
        )
    return placed


def build_examples(character: Character, template: InstructTemplate, expand: Expand) -> list[Part]:
    """Each example dialogue block as a part, preceded by the template's separator line."""
    separator = template.story.example_separator
    expansion = expand(character.mes_example, "mes_example")
    return [
        Part("examples", f"{separator}\n{block}" if separator else block, expansion.volatile)
        for block in split_examples(expansion.text)
    ]
