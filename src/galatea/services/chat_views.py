"""What a chat looks like to its reader: the active path with swipe positions and shown text.

Messages are stored as written, macros included (a greeting says `{{user}}`); they are shown
with `{{char}}` and `{{user}}` filled in from the chat's character and persona, so choosing
another persona for the chat renames the user everywhere, the greeting too.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from galatea.core.chats import ChatTree, Message
from galatea.core.personas import Persona
from galatea.core.prompting import MacroContext, expand_macros
from galatea.core.records import ChatRecord


@dataclass(frozen=True, slots=True)
class MessageView:
    """One message of the active path, as its reader sees it."""

    message: Message
    shown_text: str
    """The text with `{{char}}` and `{{user}}` filled in."""
    swipe_index: int
    """0-based position among its alternatives (swipes)."""
    swipe_count: int

    @property
    def id(self) -> str:
        """The message's id."""
        return self.message.id


@dataclass(frozen=True, slots=True)
class ChatSummary:
    """A chat in a list: its header and whom it is with."""

    record: ChatRecord
    character_name: str
    """Empty when the character was deleted."""
    character_avatar_digest: str | None = None

    @property
    def id(self) -> str:
        """The chat's id."""
        return self.record.id

    @property
    def updated_at(self) -> datetime:
        """When the chat last changed."""
        return self.record.updated_at


@dataclass(frozen=True, slots=True)
class ChatView:
    """A chat as its page shows it: header, names, the active path, and whether a reply runs."""

    summary: ChatSummary
    persona: Persona
    messages: list[MessageView]
    generating: bool = False

    @property
    def record(self) -> ChatRecord:
        """The chat's header."""
        return self.summary.record

    @property
    def id(self) -> str:
        """The chat's id."""
        return self.summary.record.id


def shown_text(text: str, character_name: str, persona: Persona) -> str:
    """Stored text as shown: `{{char}}`, `{{user}}` (and `<BOT>`, `<USER>`) filled in."""
    context = MacroContext(char=character_name or "Character", user=persona.name)
    return expand_macros(text, context, names_only=True).text


def view_message(
    tree: ChatTree,
    message: Message,
    character_name: str,
    persona: Persona,
) -> MessageView:
    """One message with its swipe position and shown text."""
    siblings = tree.siblings(message.id)
    index = next(i for i, other in enumerate(siblings) if other.id == message.id)
    return MessageView(
        message=message,
        shown_text=shown_text(message.text, character_name, persona),
        swipe_index=index,
        swipe_count=len(siblings),
    )


def view_path(tree: ChatTree, character_name: str, persona: Persona) -> list[MessageView]:
    """The active path, oldest first, each message with its swipe position."""
    siblings: dict[str | None, list[Message]] = {}
    for message in tree.messages.values():
        siblings.setdefault(message.parent_id, []).append(message)
    for group in siblings.values():
        group.sort(key=lambda m: m.created_at)
    views = []
    for message in tree.active_path():
        group = siblings[message.parent_id]
        index = next(i for i, other in enumerate(group) if other.id == message.id)
        views.append(
            MessageView(
                message=message,
                shown_text=shown_text(message.text, character_name, persona),
                swipe_index=index,
                swipe_count=len(group),
            )
        )
    return views


def message_data(view: MessageView) -> dict[str, object]:
    """A message as JSON data: the API's message shape, and the `saved` event of a stream."""
    message = view.message
    return {
        "id": message.id,
        "parent_id": message.parent_id,
        "role": message.role,
        "name": message.name,
        "text": message.text,
        "shown_text": view.shown_text,
        "status": message.status,
        "hidden": message.hidden,
        # As JSON APIs write UTC times ("...Z"), so both shapes of a message are equal.
        "created_at": message.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "swipe_index": view.swipe_index,
        "swipe_count": view.swipe_count,
    }
