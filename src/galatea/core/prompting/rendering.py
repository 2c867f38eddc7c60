"""Rendering: prompt turns to labelled text segments, by an instruct template or a model's own.

A turn is a role and its labelled parts ("system", "character", "history", ...). Rendering
keeps the labels, so an assembled prompt can say how many tokens each section takes, and
every marker is attached to the part it opens or closes, so that changing a later part never
changes the text of an earlier one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from galatea.core.errors import TemplateError
from galatea.core.prompting.templates import InstructTemplate, TurnRole

ChatRole = Literal["system", "user", "assistant"]


class Part(NamedTuple):
    """A labelled piece of a turn's text (a tuple: thousands are built per assembly)."""

    label: str
    text: str
    volatile: bool = False
    """Its text may change from one turn of the chat to the next (time macros, lore hits)."""


class Turn(NamedTuple):
    """One turn of the prompt: who speaks, and its parts (joined by newlines)."""

    role: TurnRole
    parts: tuple[Part, ...]


class Segment(NamedTuple):
    """A piece of the prompt text and the section it belongs to."""

    label: str
    text: str
    volatile: bool = False


@dataclass(slots=True, frozen=True)
class ChatMessage:
    """A message as a model's chat template expects it."""

    role: ChatRole
    content: str


class ChatTemplateRenderer(Protocol):
    """Renders messages with a model's own chat template (the `gguf` template).

    Core cannot run Jinja; `galatea.formats.chat_templates` implements this in a sandbox.
    """

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool) -> str:
        """The prompt text for `messages`; TemplateError when the template fails."""
        ...

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Strings that end a reply with this template (the end-of-turn markers)."""
        ...


_CHAT_ROLES: dict[TurnRole, ChatRole] = {"system": "system", "user": "user", "model": "assistant"}


def render_turns(
    template: InstructTemplate,
    turns: Sequence[Turn],
    *,
    generation: str | None,
    open_last: bool = False,
) -> list[Segment]:
    """Render turns with a data template; `generation` (after the model's prefix) ends it.

    With `open_last` the last turn is left unclosed, so the model continues its text, and
    there is no generation prompt; `generation=None` also leaves it out.
    """
    groups = _group(template, turns)
    segments: list[Segment] = []
    for number, (role, pieces) in enumerate(groups):
        first = pieces[0]
        pieces[0] = Segment(first.label, template.prefix(role) + first.text, first.volatile)
        if not (open_last and number == len(groups) - 1):
            last = pieces[-1]
            pieces[-1] = Segment(last.label, last.text + template.suffix(role), last.volatile)
        segments.extend(pieces)
    if generation is not None and not open_last:
        segments.append(Segment("generation", template.model_prefix + generation))
    return segments


def _group(
    template: InstructTemplate, turns: Sequence[Turn]
) -> list[tuple[TurnRole, list[Segment]]]:
    """Map roles the template lacks, merge neighbours, and put separators into the parts."""
    groups: list[tuple[TurnRole, list[Segment]]] = []
    for turn in turns:
        if not turn.parts:
            continue
        role: TurnRole = turn.role if template.system_role or turn.role != "system" else "user"
        pieces = [Segment(p.label, p.text, p.volatile) for p in turn.parts]
        pieces[1:] = [Segment(p.label, "\n" + p.text, p.volatile) for p in pieces[1:]]
        if template.merge_consecutive and groups and groups[-1][0] == role:
            first = pieces[0]
            pieces[0] = Segment(first.label, template.turn_joiner + first.text, first.volatile)
            groups[-1][1].extend(pieces)
        else:
            groups.append((role, pieces))
    return groups


def chat_messages(turns: Sequence[Turn], *, merge: bool = False) -> list[ChatMessage]:
    """One chat message per turn, its parts joined by newlines; empty turns left out.

    With `merge`, neighbouring turns of one role become one message (blank line between), for
    servers whose chat templates insist that roles alternate.
    """
    messages: list[ChatMessage] = []
    for turn in turns:
        if not turn.parts:
            continue
        message = ChatMessage(_CHAT_ROLES[turn.role], "\n".join(part.text for part in turn.parts))
        if merge and messages and messages[-1].role == message.role:
            message = ChatMessage(message.role, messages[-1].content + "\n\n" + message.content)
            messages[-1] = message
        else:
            messages.append(message)
    return messages


def render_with_model_template(
    renderer: ChatTemplateRenderer, turns: Sequence[Turn], *, open_last: bool = False
) -> list[Segment]:
    """Render turns with a model's chat template and find each part in the result.

    Markers between parts go with the part they precede; what follows the last part is the
    generation prompt. If the template changed a part's text so that it cannot be found, the
    whole prompt is one "rendered" segment.
    """
    messages = chat_messages(turns)
    text = renderer.render(messages, add_generation_prompt=not open_last)
    if open_last and messages:
        # Leave the last reply open: cut the template's end-of-turn after its text.
        end = text.rfind(messages[-1].content)
        if end == -1:
            raise TemplateError("the model's chat template changed the message to continue")
        text = text[: end + len(messages[-1].content)]
    segments: list[Segment] = []
    cursor = 0
    for turn in turns:
        for part in turn.parts:
            found = text.find(part.text, cursor)
            if found == -1:
                return [Segment("rendered", text, any(p.volatile for t in turns for p in t.parts))]
            end = found + len(part.text)
            segments.append(Segment(part.label, text[cursor:end], part.volatile))
            cursor = end
    segments.append(Segment("generation", text[cursor:]))
    return [segment for segment in segments if segment.text]
