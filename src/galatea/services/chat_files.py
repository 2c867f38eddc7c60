"""Chat files: export a chat as SillyTavern JSONL (swipes included) and import one as a new chat.

An export writes the active path with every message's swipes, names filled in as the chat
shows them, and the data other tools keep (each message's `extra`, the chat's `metadata`) as
it was imported, so a chat from SillyTavern goes back with its data. An import reads the file
within its size bounds (`ChatFileLimits`) and stores it, whole, as a new chat with a character
the user may open; a file that cannot be read is refused with the reader's one-line reason and
nothing is stored.
"""

import re
from dataclasses import dataclass, replace

from galatea.core.chats import ChatTree
from galatea.core.records import ChatRecord
from galatea.core.users import User
from galatea.formats.sillytavern_chats import (
    ChatFileError,
    ChatFileLimits,
    ChatTranscript,
    read_chat_jsonl,
    write_chat_jsonl,
)
from galatea.services import access
from galatea.services.chat_state import load_chat
from galatea.services.chat_views import ChatView, shown_text
from galatea.services.errors import InvalidInput, TooLarge
from galatea.services.ports import Clock, UnitOfWorkFactory
from galatea.services.validation import clean_text

JSONL_MEDIA_TYPE = "application/jsonl"
_UNSAFE_NAME = re.compile(r"[^\w .-]+")


@dataclass(frozen=True, slots=True)
class ChatFile:
    """An exported chat: its bytes and the name to save it under."""

    data: bytes
    filename: str
    media_type: str = JSONL_MEDIA_TYPE


class ChatFileService:
    """Chat export and import."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, limits: ChatFileLimits | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.limits = limits or ChatFileLimits()

    async def export(self, viewer: User | None, chat_id: str) -> ChatFile:
        """The chat as a SillyTavern JSONL file."""
        async with self._uow(write=False) as uow:
            state = await load_chat(uow, viewer, chat_id, with_extra=True)
        name = state.character_name
        tree = ChatTree(selected=dict(state.tree.selected))
        for message in state.tree.messages.values():
            tree.messages[message.id] = replace(
                message,
                text=shown_text(message.text, name, state.persona),
                name=message.name or (state.persona.name if message.is_user else name),
            )
        transcript = ChatTranscript(
            tree=tree,
            user_name=state.persona.name,
            character_name=name,
            created_at=state.chat.created_at,
            metadata=state.chat.metadata,
        )
        stamp = state.chat.created_at.strftime("%Y-%m-%d %H-%M")
        filename = _safe_name(f"{name} - {state.chat.title or stamp}") + ".jsonl"
        return ChatFile(write_chat_jsonl(transcript), filename)

    async def import_chat(
        self, user: User, character_id: str, data: bytes, *, title: str = ""
    ) -> ChatView:
        """A new chat with the character, holding the file's messages and swipes."""
        if len(data) > self.limits.max_bytes:
            raise TooLarge(
                "file", f"is {len(data)} bytes; the limit is {self.limits.max_bytes} bytes"
            )
        try:
            transcript = read_chat_jsonl(data, self.limits)
        except ChatFileError as error:
            raise InvalidInput("file", str(error)) from None
        now = self._clock.now()
        title = clean_text("title", title, max_length=200) or _import_title(transcript)
        async with self._uow() as uow:
            character = access.visible_character(user, await uow.characters.get(character_id))
            chat = ChatRecord(
                owner_id=user.id,
                character_id=character.id,
                created_at=transcript.created_at or now,
                updated_at=now,
                title=title,
                metadata=transcript.metadata,
            )
            await uow.chats.add(chat)
            await uow.chats.add_tree(chat.id, transcript.tree)
            await uow.characters.increment_chat_count(character.id)
            await uow.commit()
            state = await load_chat(uow, user, chat.id)
        return state.view()


def _import_title(transcript: ChatTranscript) -> str:
    count = len(transcript.tree.active_path())
    return f"Imported chat ({count} message{'' if count == 1 else 's'})"


def _safe_name(name: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", name).strip(" .") or "chat"
    return cleaned[:120]
