"""Turn plans: what one generation in a chat is for, and the prompt request it is built from.

Kinds of turn:
- reply: the character answers a message the user just sent;
- regenerate: another version of a reply (a new swipe beside the old ones), or a first reply
  to a message that has none;
- continue: the character's message is extended where it stopped;
- impersonate: a draft of the user's next message, shown in the input box and never stored.

Impersonation swaps the sides: the persona is written as the character the model plays and the
character as the one it talks to, with the history's roles swapped to match. Names in stored
texts are filled in before the swap so `{{user}}` keeps meaning the user.
"""

from dataclasses import dataclass, field
from typing import Literal

from galatea.core.characters import Character
from galatea.core.chats import Message
from galatea.core.personas import Persona
from galatea.core.prompting import PromptRequest
from galatea.services.chat_views import shown_text
from galatea.services.generation import GenerationSettings, PreparedGeneration
from galatea.services.ports import Clock

TurnKind = Literal["reply", "regenerate", "continue", "impersonate"]


@dataclass(slots=True)
class TurnPlan:
    """One generation in a chat: its kind, its prompt's ingredients, and where its text goes."""

    kind: TurnKind
    chat_id: str
    character: Character
    persona: Persona
    history: list[Message]
    """The messages the prompt is built from, oldest first (hidden ones are left out later)."""
    settings: GenerationSettings
    parent_id: str | None = None
    """reply/regenerate: the message the new reply answers."""
    target: Message | None = None
    """continue: the message extended; regenerate: the reply a new version is made of."""
    prepared: PreparedGeneration | None = field(default=None, repr=False)
    """The prompt and request, once the scheduler asked for them."""
    pool: str = ""
    """The model pool the scheduler chose (set with `prepared`)."""

    @property
    def speaker(self) -> str:
        """Who writes the generated text (the prefix a model may repeat)."""
        if self.kind == "impersonate":
            return self.persona.name
        return self.character.display_name

    @property
    def continues(self) -> bool:
        """Whether the text extends an existing message (the prompt leaves it open)."""
        return self.kind == "continue"

    def prompt_request(self) -> PromptRequest:
        """The request prompt assembly takes for this turn."""
        if self.kind == "impersonate":
            return _swapped(self)
        return PromptRequest(
            character=self.character,
            history=self.history,
            persona=self.persona,
            chat_id=self.chat_id,
        )


def new_user_message(parent: Message | None, persona: Persona, text: str, clock: Clock) -> Message:
    """The user's message, written under the last message of the active path."""
    return Message(
        role="user",
        name=persona.name,
        text=text,
        parent_id=None if parent is None else parent.id,
        created_at=clock.now(),
    )


def _swapped(plan: TurnPlan) -> PromptRequest:
    character = plan.character
    user = plan.persona
    name = character.display_name
    # The model plays the user; the character becomes the one it talks to.
    playing = Character(
        name=user.name,
        description=user.description,
        scenario=shown_text(character.scenario, name, user),
    )
    partner_text = "\n".join(
        text for text in (character.description, character.personality) if text.strip()
    )
    partner = Persona(name=name, description=shown_text(partner_text, name, user))
    history = []
    for message in plan.history:
        role = message.role
        if role != "system":
            role = "character" if role == "user" else "user"
        speaker = user.name if message.role == "user" else message.name or name
        history.append(
            Message(
                role=role,
                name=speaker,
                text=shown_text(message.text, name, user),
                parent_id=message.parent_id,
                id=message.id,
                created_at=message.created_at,
                hidden=message.hidden,
                status=message.status,
            )
        )
    books = [] if character.character_book is None else [character.character_book]
    return PromptRequest(
        character=playing,
        history=history,
        persona=partner,
        lorebooks=books,
        # Its own cache key: the swapped prompt shares no prefix with the chat's replies.
        chat_id=f"{plan.chat_id}:impersonate",
    )


class SpeakerPrefix:
    """Drops a leading "Name:" the model writes before its text (and the space after it).

    Text is held back only while it could still be the start of such a prefix.
    """

    def __init__(self, speaker: str) -> None:
        self._prefix = f"{speaker}:"
        self._held = ""
        self._settled = False

    def push(self, text: str) -> str:
        """The part of `text` that can be shown now."""
        if self._settled:
            return text
        self._held += text
        stripped = self._held.lstrip()
        if not stripped:
            return ""
        if stripped.startswith(self._prefix):
            rest = stripped[len(self._prefix) :].lstrip()
            if not rest:
                return ""
            self._settled = True
            return rest
        if self._prefix.startswith(stripped):
            return ""
        self._settled = True
        return stripped

    def flush(self) -> str:
        """What is still held back once the text has ended."""
        if self._settled:
            return ""
        self._settled = True
        stripped = self._held.lstrip()
        if stripped.startswith(self._prefix):
            return stripped[len(self._prefix) :].lstrip()
        return stripped
