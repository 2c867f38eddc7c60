"""Chats: start, list, open, rename, delete; and every change to messages that is not a reply.

Generating replies is `chat_turns.ChatTurns`; chat files are `chat_files.ChatFileService`.
Every change is one message-level write in its own transaction, never a rewrite of the chat
from a client's copy. Changes that would pull the ground from under a running reply (deleting
messages, swiping) wait until it ends: they answer Conflict while it runs.
"""

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from galatea.core.chats import ChatTree, Message, UnknownMessage
from galatea.core.ids import new_id
from galatea.core.json_types import JsonObject
from galatea.core.records import ChatRecord
from galatea.core.users import User
from galatea.services import access
from galatea.services.chat_state import ChatState, load_chat, summarize
from galatea.services.chat_views import ChatSummary, ChatView, MessageView, view_message
from galatea.services.errors import Conflict, InvalidInput, NotFound
from galatea.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from galatea.services.presets import (
    chat_preset_values,
    check_settings,
    effective_values,
    resolve_settings,
)
from galatea.services.validation import check_page, clean_text

MAX_TITLE_LENGTH = 200
MAX_EDIT_LENGTH = 200_000
"""Longest text a message may be edited to (replies can be long; a user's own message is
limited when it is sent)."""
MAX_CHATS_PAGE = 200
BUSY = "a reply is being written in this chat; wait for it or stop it first"
UNSET: Any = object()
"""Marks a change that was not asked for (None is a value: "use the default")."""


class RunningReplies(Protocol):
    """What the chat use cases need to know about generations in progress."""

    async def running(self, chat_id: str) -> bool:
        """Whether a reply is being generated in the chat."""
        ...

    async def stop(self, chat_id: str) -> bool:
        """Stop the chat's generation, if one runs; returns whether one did."""
        ...


@dataclass(frozen=True, slots=True)
class ChatChanges:
    """A change to a chat's header; UNSET fields stay as they are."""

    title: Any = UNSET
    persona_id: Any = UNSET
    """A persona of the owner, or None for their default."""
    preset_id: Any = UNSET
    """A preset of the owner, or None for their "Default" preset or the built-in defaults."""
    settings: Any = UNSET
    """Overrides of the preset for this chat (replaces the previous overrides)."""


@dataclass(frozen=True, slots=True)
class ChatSettingsView:
    """A chat's generation settings: the preset's values, the chat's overrides, the result."""

    preset_id: str | None
    preset_values: JsonObject
    overrides: JsonObject
    effective: JsonObject


class ChatService:
    """Chat use cases other than generating replies; every id is checked against the caller."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, replies: RunningReplies) -> None:
        self._uow = uow
        self._clock = clock
        self._replies = replies

    async def start(
        self,
        user: User,
        character_id: str,
        *,
        persona_id: str | None = None,
        title: str = "",
    ) -> ChatView:
        """A new chat with a character the user may open; it begins with the greeting, and
        the alternate greetings are swipes of it."""
        now = self._clock.now()
        async with self._uow() as uow:
            character = access.visible_character(user, await uow.characters.get(character_id))
            if persona_id is not None:
                access.readable_persona(user, await uow.personas.get(persona_id))
            chat = ChatRecord(
                owner_id=user.id,
                character_id=character.id,
                created_at=now,
                updated_at=now,
                title=_title(title),
                persona_id=persona_id,
            )
            await uow.chats.add(chat)
            tree = ChatTree()
            card = character.character
            for index, greeting in enumerate(g for g in card.greetings() if g.strip()):
                # Greetings share a moment; microseconds keep their order as swipes.
                at = now + timedelta(microseconds=index)
                tree.add(
                    Message("character", card.display_name, greeting, created_at=at),
                    select=index == 0,
                )
            await uow.chats.add_tree(chat.id, tree)
            await uow.characters.increment_chat_count(character.id)
            await uow.commit()
            state = await load_chat(uow, user, chat.id)
        return state.view()

    async def list_chats(
        self,
        user: User,
        *,
        character_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[ChatSummary]:
        """The user's chats (optionally with one character), most recently active first."""
        offset, limit = check_page(offset, limit, max_limit=MAX_CHATS_PAGE)
        async with self._uow(write=False) as uow:
            chats = await uow.chats.list_for_owner(
                user.id, character_id=character_id, offset=offset, limit=limit
            )
            return await summarize(uow, chats)

    async def open(self, viewer: User | None, chat_id: str) -> ChatView:
        """The chat with its active path, and whether a reply is being generated."""
        async with self._uow(write=False) as uow:
            state = await load_chat(uow, viewer, chat_id)
        return state.view(generating=await self._replies.running(chat_id))

    async def messages(self, viewer: User | None, chat_id: str) -> list[MessageView]:
        """The active path, oldest first."""
        return (await self.open(viewer, chat_id)).messages

    async def update(self, user: User, chat_id: str, changes: ChatChanges) -> ChatView:
        """Rename the chat, choose its persona or preset, or set its own settings."""
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            chat = state.chat
            if changes.title is not UNSET:
                chat.title = _title(changes.title)
            if changes.persona_id is not UNSET:
                if changes.persona_id is not None:
                    access.readable_persona(user, await uow.personas.get(changes.persona_id))
                chat.persona_id = changes.persona_id
            if changes.preset_id is not UNSET:
                if changes.preset_id is not None:
                    access.readable_preset(user, await uow.presets.get(changes.preset_id))
                chat.preset_id = changes.preset_id
            if changes.settings is not UNSET:
                chat.settings = check_settings(changes.settings or {})
            chat.updated_at = self._clock.now()
            await uow.chats.update(chat)
            await uow.commit()
            state = await load_chat(uow, user, chat_id)
        return state.view(generating=await self._replies.running(chat_id))

    async def settings(self, viewer: User | None, chat_id: str) -> ChatSettingsView:
        """What the chat's replies use, and where each value comes from."""
        async with self._uow(write=False) as uow:
            state = await load_chat(uow, viewer, chat_id)
            preset = await chat_preset_values(uow, state.chat) or {}
        return ChatSettingsView(
            preset_id=state.chat.preset_id,
            preset_values=dict(preset),
            overrides=dict(state.chat.settings),
            effective=effective_values(resolve_settings(preset, state.chat.settings)),
        )

    async def delete(self, user: User, chat_id: str) -> None:
        """Delete the chat and all its messages (a running reply is stopped first)."""
        async with self._uow(write=False) as uow:
            await load_chat(uow, user, chat_id, write=True)
        await self._replies.stop(chat_id)
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            await uow.chats.delete(state.chat.id)
            await uow.commit()

    async def edit_message(
        self,
        user: User,
        chat_id: str,
        message_id: str,
        *,
        text: str | None = None,
        hidden: bool | None = None,
    ) -> MessageView:
        """Change a message's text, or hide it from the prompt (it stays in the chat)."""
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            await self._refuse_while_running(chat_id)
            message = state.message(message_id)
            if text is not None:
                message.text = _message_text(text)
            if hidden is not None:
                message.hidden = hidden
            await uow.chats.update_message(state.chat.id, message)
            await self._touch(uow, state)
            await uow.commit()
        return view_message(state.tree, message, state.character_name, state.persona)

    async def delete_message(self, user: User, chat_id: str, message_id: str) -> list[str]:
        """Delete a message and what follows it on its branch; returns the deleted ids."""
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            await self._refuse_while_running(chat_id)
            state.message(message_id)
            deleted = await uow.chats.delete_message(state.chat.id, message_id)
            await self._touch(uow, state)
            await uow.commit()
        return deleted

    async def swipe(
        self, user: User, chat_id: str, message_id: str, step: int
    ) -> list[MessageView]:
        """Show the alternative `step` places away (wrapping around); returns the new path."""
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            await self._refuse_while_running(chat_id)
            state.message(message_id)
            chosen = state.tree.swipe(message_id, step)
            await uow.chats.select_message(state.chat.id, chosen.id)
            await uow.commit()
        return state.view().messages

    async def select(self, user: User, chat_id: str, message_id: str) -> list[MessageView]:
        """Show this message (and the branch below it) at its fork; returns the new path."""
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            await self._refuse_while_running(chat_id)
            state.message(message_id)
            state.tree.select(message_id)
            await uow.chats.select_message(state.chat.id, message_id)
            await uow.commit()
        return state.view().messages

    async def branch(self, user: User, chat_id: str, message_id: str, title: str = "") -> ChatView:
        """A new chat holding this chat's path up to the message (with each message's swipes);
        the original chat is not changed."""
        now = self._clock.now()
        async with self._uow() as uow:
            state = await load_chat(uow, user, chat_id, write=True, with_extra=True)
            state.message(message_id)
            source = state.chat
            chat = replace(
                source,
                id=new_id(),
                title=_title(title or _branch_title(source.title)),
                created_at=now,
                updated_at=now,
                settings=dict(source.settings),
            )
            await uow.chats.add(chat)
            await uow.chats.add_tree(chat.id, _copy_path(state.tree, message_id))
            await uow.commit()
            branched = await load_chat(uow, user, chat.id)
        return branched.view()

    async def generation(self, viewer: User | None, chat_id: str, message_id: str) -> JsonObject:
        """How a reply was generated: its prompt by section with token counts, and more."""
        async with self._uow(write=False) as uow:
            state = await load_chat(uow, viewer, chat_id)
            state.message(message_id)
            info = await uow.chats.get_generation(state.chat.id, message_id)
        if info is None:
            raise NotFound("prompt record")
        return info

    async def _refuse_while_running(self, chat_id: str) -> None:
        if await self._replies.running(chat_id):
            raise Conflict(BUSY)

    async def _touch(self, uow: UnitOfWork, state: ChatState) -> None:
        state.chat.updated_at = self._clock.now()
        await uow.chats.update(state.chat)


def _title(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("title", "must be text")
    return clean_text("title", value, max_length=MAX_TITLE_LENGTH)


def _message_text(value: str) -> str:
    if "\x00" in value:
        raise InvalidInput("text", "must not contain NUL characters")
    text = value.replace("\r\n", "\n")
    if len(text) > MAX_EDIT_LENGTH:
        raise InvalidInput(
            "text", f"is {len(text)} characters long; the limit is {MAX_EDIT_LENGTH}"
        )
    return text


def _branch_title(title: str) -> str:
    base = title.strip() or "Chat"
    return f"{base} (branch)"[:MAX_TITLE_LENGTH]


def _copy_path(tree: ChatTree, message_id: str) -> ChatTree:
    """The path down to `message_id` with each step's swipes, under fresh ids."""
    copy = ChatTree()
    parent: str | None = None
    try:
        path = tree.path_to(message_id)
    except UnknownMessage:
        raise NotFound("message", message_id) from None
    for message in path:
        chosen = ""
        for sibling in tree.siblings(message.id):
            duplicate = replace(sibling, id=new_id(), parent_id=parent)
            copy.add(duplicate, select=sibling.id == message.id)
            if sibling.id == message.id:
                chosen = duplicate.id
        parent = chosen
    return copy
