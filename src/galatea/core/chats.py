"""Chats as message trees: swipes are siblings, branches are forks, one path is active.

Every message has a parent (`None` for the first). At each fork the tree remembers which
child is selected, so the active path is a walk from the first message along selected children.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from galatea.core.ids import new_id
from galatea.core.json_types import JsonObject

Role = Literal["user", "character", "system"]
MessageStatus = Literal["complete", "incomplete"]
"""`incomplete`: generation stopped or failed part way; the text is what was produced."""


@dataclass(slots=True)
class Message:
    """One message of a chat."""

    role: Role
    name: str
    text: str
    parent_id: str | None = None
    id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    hidden: bool = False
    """Kept in the chat but left out of the prompt."""
    status: MessageStatus = "complete"
    extra: JsonObject = field(default_factory=dict)
    """Data about this message that Galatea keeps for export but does not use itself, by
    SillyTavern's field names: its `extra` object (model, api, token counts, reasoning, ...),
    `gen_started`, `gen_finished`, avatars, unknown fields of an imported file (see
    `formats/sillytavern_chats.py` for the mapping). It comes from files and other tools, so it
    is never shown unsanitised and never put into a prompt."""

    @property
    def is_user(self) -> bool:
        """Whether the user wrote this message (as opposed to the character or the system)."""
        return self.role == "user"


class UnknownMessage(KeyError):
    """A message id that is not part of this chat."""


@dataclass(slots=True)
class ChatTree:
    """The messages of one chat and the choice made at each fork."""

    messages: dict[str, Message] = field(default_factory=dict)
    selected: dict[str | None, str] = field(default_factory=dict)
    """Parent id (None for the root level) to the id of the chosen child."""

    def get(self, message_id: str) -> Message:
        """The message with this id, or UnknownMessage."""
        try:
            return self.messages[message_id]
        except KeyError:
            raise UnknownMessage(message_id) from None

    def children(self, parent_id: str | None) -> list[Message]:
        """Messages under `parent_id`, oldest first (swipes of one turn are siblings)."""
        kids = [m for m in self.messages.values() if m.parent_id == parent_id]
        kids.sort(key=lambda m: m.created_at)
        return kids

    def siblings(self, message_id: str) -> list[Message]:
        """The message and its alternatives (swipes), oldest first."""
        return self.children(self.get(message_id).parent_id)

    def add(self, message: Message, *, select: bool = True) -> Message:
        """Add a message under its parent; it becomes the selected child unless told otherwise."""
        if message.parent_id is not None and message.parent_id not in self.messages:
            raise UnknownMessage(message.parent_id)
        self.messages[message.id] = message
        if select or message.parent_id not in self.selected:
            self.selected[message.parent_id] = message.id
        return message

    def select(self, message_id: str) -> None:
        """Choose this message at its fork (and so the branch below it)."""
        message = self.get(message_id)
        self.selected[message.parent_id] = message.id

    def swipe(self, message_id: str, step: int) -> Message:
        """Select the sibling `step` places away (wrapping around); returns it."""
        siblings = self.siblings(message_id)
        index = next(i for i, m in enumerate(siblings) if m.id == message_id)
        chosen = siblings[(index + step) % len(siblings)]
        self.select(chosen.id)
        return chosen

    def active_path(self) -> list[Message]:
        """The conversation as shown: from the first message along the selected children."""
        return list(self._walk())

    def _walk(self) -> Iterator[Message]:
        parent: str | None = None
        seen: set[str] = set()
        while True:
            chosen = self.selected.get(parent)
            if chosen is None or chosen in seen or chosen not in self.messages:
                kids = self.children(parent)
                if not kids:
                    return
                chosen = kids[-1].id
            seen.add(chosen)
            yield self.messages[chosen]
            parent = chosen

    def last(self) -> Message | None:
        """The last message of the active path."""
        path = self.active_path()
        return path[-1] if path else None

    def remove(self, message_id: str) -> list[str]:
        """Delete a message and everything below it; returns the removed ids."""
        root = self.get(message_id)
        doomed = [root.id]
        index = 0
        while index < len(doomed):
            doomed.extend(m.id for m in self.messages.values() if m.parent_id == doomed[index])
            index += 1
        for mid in doomed:
            del self.messages[mid]
            self.selected.pop(mid, None)
        if self.selected.get(root.parent_id) == root.id:
            del self.selected[root.parent_id]
            remaining = self.children(root.parent_id)
            if remaining:
                self.selected[root.parent_id] = remaining[-1].id
        return doomed

    def path_to(self, message_id: str) -> list[Message]:
        """The messages from the first one down to `message_id` (for branching)."""
        path: list[Message] = []
        current: str | None = message_id
        while current is not None:
            message = self.get(current)
            path.append(message)
            current = message.parent_id
        path.reverse()
        return path


DraftKind = Literal["reply", "regenerate", "continue"]


@dataclass(slots=True)
class ReplyDraft:
    """A reply still being written, saved as it grows: if the process dies, what was written
    becomes an incomplete message instead of being lost."""

    chat_id: str
    kind: DraftKind
    name: str
    """The speaker's name, as the message will carry it."""
    parent_id: str | None
    """The message the new reply answers (reply, regenerate)."""
    target_id: str | None
    """The message being extended (continue)."""
    text: str
    started_at: datetime
    updated_at: datetime
    """Refreshed while the reply runs; a draft left unrefreshed belongs to a dead process."""
