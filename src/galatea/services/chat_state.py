"""A chat loaded for a use case: its header, message tree, character and persona, access checked.

Shared by the chat use cases (reading, editing, generating, files) so that every one of them
loads a chat the same way: through `services.access`, an id the caller may not see being
NotFound, and a chat whose character was deleted still readable under its last name.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from galatea.core.chats import ChatTree, Message
from galatea.core.personas import Persona
from galatea.core.records import CharacterRecord, ChatRecord
from galatea.core.users import User
from galatea.services import access
from galatea.services.chat_views import ChatSummary, ChatView, view_path
from galatea.services.errors import Conflict, NotFound
from galatea.services.ports import UnitOfWork

UNKNOWN_CHARACTER = "Character"
"""What a chat whose character was deleted calls it."""


@dataclass(slots=True)
class ChatState:
    """One chat as a use case works on it."""

    chat: ChatRecord
    tree: ChatTree
    character: CharacterRecord | None
    """None when the character was deleted."""
    persona: Persona

    @property
    def character_name(self) -> str:
        """The name `{{char}}` stands for in this chat."""
        if self.character is None:
            return self._last_character_name()
        return self.character.character.display_name

    def summary(self) -> ChatSummary:
        """The chat as a list shows it."""
        digest = None if self.character is None else self.character.avatar_digest
        return ChatSummary(self.chat, self.character_name, digest)

    def view(self, *, generating: bool = False) -> ChatView:
        """The chat as its page shows it."""
        messages = view_path(self.tree, self.character_name, self.persona)
        return ChatView(self.summary(), self.persona, messages, generating)

    def message(self, message_id: str) -> Message:
        """A message of this chat, or NotFound."""
        found = self.tree.messages.get(message_id)
        if found is None:
            raise NotFound("message", message_id)
        return found

    def _last_character_name(self) -> str:
        for message in reversed(list(self.tree.messages.values())):
            if message.role == "character" and message.name:
                return message.name
        return UNKNOWN_CHARACTER


async def load_chat(
    uow: UnitOfWork,
    viewer: User | None,
    chat_id: str,
    *,
    write: bool = False,
    with_extra: bool = False,
) -> ChatState:
    """The chat, if the viewer may read it (or, with `write`, change it), with its tree (and
    with each message's `extra` when asked: only export and branching need it)."""
    record = await uow.chats.get(chat_id)
    chat = access.writable_chat(viewer, record) if write else access.readable_chat(viewer, record)
    tree = await uow.chats.load_tree(chat.id, with_extra=with_extra)
    character = None
    if chat.character_id is not None:
        character = await uow.characters.get(chat.character_id)
    return ChatState(chat, tree, character, await chat_persona(uow, chat))


async def chat_persona(uow: UnitOfWork, chat: ChatRecord) -> Persona:
    """The persona of a chat: its own if still the owner's, else the owner's default, else
    one named after the owner."""
    if chat.persona_id is not None:
        record = await uow.personas.get(chat.persona_id)
        if record is not None and record.owner_id == chat.owner_id:
            return record.persona
    for record in await uow.personas.list_for_owner(chat.owner_id):
        if record.is_default:
            return record.persona
    owner = await uow.users.get(chat.owner_id)
    return Persona(name=owner.username if owner is not None else "User")


def usable_character(viewer: User, state: ChatState) -> CharacterRecord:
    """The chat's character, if it still exists and the user may still open it; replies need
    it (an owner may have made their character private since the chat began)."""
    character = state.character
    if character is None:
        raise Conflict("the character of this chat was deleted, so it cannot reply any more")
    if not access.can_view_character(viewer, character):
        raise Conflict("the character of this chat is no longer available, so it cannot reply")
    return character


async def summarize(uow: UnitOfWork, chats: Sequence[ChatRecord]) -> list[ChatSummary]:
    """List entries for chats, naming their characters (one lookup per character)."""
    names: dict[str, tuple[str, str | None]] = {}
    summaries = []
    for chat in chats:
        name, digest = "", None
        if chat.character_id is not None:
            if chat.character_id not in names:
                record = await uow.characters.get(chat.character_id)
                names[chat.character_id] = (
                    ("", None)
                    if record is None
                    else (record.character.display_name, record.avatar_digest)
                )
            name, digest = names[chat.character_id]
        summaries.append(ChatSummary(chat, name, digest))
    return summaries
