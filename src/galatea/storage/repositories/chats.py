"""Chats and their message trees in SQL: one row per message, the choice at each fork stored.

Every message statement filters on the chat id as well as the message id, so an id from
another chat is never read or changed through this chat.
"""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    case,
    delete,
    exists,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.chats import ChatTree, Message, MessageStatus, Role, UnknownMessage
from galatea.core.json_types import JsonObject
from galatea.core.records import ChatRecord
from galatea.storage.tables import ChatRow, MessageRow

# The generation and extra columns are left out: they can be large, and only the prompt
# inspector, export and branching read them.
_MESSAGE_COLUMNS = (
    MessageRow.id,
    MessageRow.parent_id,
    MessageRow.role,
    MessageRow.name,
    MessageRow.text,
    MessageRow.status,
    MessageRow.hidden,
    MessageRow.is_selected,
    MessageRow.created_at,
)


class ChatNotFound(LookupError):
    """A message was written to a chat that does not exist."""


class SqlChatRepository:
    """Chats in the `chats` table, their messages in `messages`."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, chat: ChatRecord) -> None:
        """Store a new, empty chat."""
        await self._session.execute(
            insert(ChatRow).values(
                id=chat.id,
                owner_id=chat.owner_id,
                character_id=chat.character_id,
                persona_id=chat.persona_id,
                preset_id=chat.preset_id,
                title=chat.title,
                settings=chat.settings,
                chat_metadata=chat.metadata,
                last_position=0,
                created_at=chat.created_at,
                updated_at=chat.updated_at,
            )
        )

    async def get(self, chat_id: str) -> ChatRecord | None:
        """The chat with this id, whoever owns it."""
        row = (await self._session.scalars(select(ChatRow).where(ChatRow.id == chat_id))).first()
        return None if row is None else _to_chat(row)

    async def update(self, chat: ChatRecord) -> None:
        """Store the title, persona, preset, settings and `updated_at` (not `metadata`, which
        is set when the chat is stored and never changes)."""
        await self._session.execute(
            update(ChatRow)
            .where(ChatRow.id == chat.id)
            .values(
                title=chat.title,
                persona_id=chat.persona_id,
                preset_id=chat.preset_id,
                settings=chat.settings,
                updated_at=chat.updated_at,
            )
        )

    async def delete(self, chat_id: str) -> None:
        """Delete the chat with all its messages."""
        await self._session.execute(delete(ChatRow).where(ChatRow.id == chat_id))

    async def list_for_owner(
        self, owner_id: str, *, character_id: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[ChatRecord]:
        """The user's chats (optionally with one character), most recently active first."""
        query = select(ChatRow).where(ChatRow.owner_id == owner_id)
        if character_id is not None:
            query = query.where(ChatRow.character_id == character_id)
        query = (
            query.order_by(ChatRow.updated_at.desc(), ChatRow.id)
            .offset(max(offset, 0))
            .limit(max(limit, 0))
        )
        return [_to_chat(row) for row in await self._session.scalars(query)]

    async def add_message(self, chat_id: str, message: Message, *, select: bool = True) -> None:
        """Append a message under its parent; selected at its fork unless told otherwise
        (the first child of a fork is always selected)."""
        # Taking the next position first locks the chat row on PostgreSQL until commit, so
        # concurrent appends to one chat see each other's selection below.
        position = await self._next_positions(chat_id, 1, message.created_at)
        parent_known, fork_taken = await self._fork_state(chat_id, message.parent_id)
        if not parent_known:
            raise UnknownMessage(message.parent_id)
        if select and fork_taken:
            await self._unselect_siblings(chat_id, message.parent_id)
        await self._session.execute(
            insert(MessageRow).values(
                _message_row(chat_id, message, position, select or not fork_taken)
            )
        )

    async def add_tree(self, chat_id: str, tree: ChatTree) -> None:
        """Store a whole tree in one go (an imported or branched chat with no messages yet)."""
        messages = list(tree.messages.values())
        if not messages:
            return
        if await self._session.scalar(select(exists().where(MessageRow.chat_id == chat_id))):
            raise ValueError(f"chat {chat_id} already has messages")
        ordered = _parents_first(tree)
        newest = max(message.created_at for message in messages)
        last = await self._next_positions(chat_id, len(messages), newest)
        first = last - len(messages) + 1
        # Positions follow the tree's own order, which breaks ties between equal timestamps.
        position = {message.id: first + index for index, message in enumerate(messages)}
        chosen = _selected_ids(tree)
        rows = [
            _message_row(chat_id, message, position[message.id], message.id in chosen)
            for message in ordered
        ]
        await self._session.execute(insert(MessageRow), rows)

    async def get_message(self, chat_id: str, message_id: str) -> Message | None:
        """One message of the chat."""
        query = select(*_MESSAGE_COLUMNS, MessageRow.extra).where(
            MessageRow.chat_id == chat_id, MessageRow.id == message_id
        )
        row = (await self._session.execute(query)).first()
        return None if row is None else _to_message(row, row.extra)

    async def update_message(self, chat_id: str, message: Message) -> None:
        """Store a message's text, name, status and hidden flag (`extra` has `set_extra`)."""
        await self._session.execute(
            update(MessageRow)
            .where(MessageRow.chat_id == chat_id, MessageRow.id == message.id)
            .values(
                text=message.text,
                name=message.name,
                status=message.status,
                hidden=message.hidden,
            )
            .execution_options(synchronize_session=False)
        )

    async def select_message(self, chat_id: str, message_id: str) -> None:
        """Choose this message at its fork (a swipe or a branch)."""
        message = await self.get_message(chat_id, message_id)
        if message is None:
            raise UnknownMessage(message_id)
        await self._session.execute(
            update(MessageRow)
            .where(_siblings(chat_id, message.parent_id))
            .values(is_selected=case((MessageRow.id == message_id, True), else_=False))
            .execution_options(synchronize_session=False)
        )

    async def delete_message(self, chat_id: str, message_id: str) -> list[str]:
        """Delete a message and everything below it; returns the deleted ids. When it was
        selected, its newest remaining sibling becomes selected."""
        target = (
            await self._session.execute(
                select(MessageRow.parent_id, MessageRow.is_selected).where(
                    MessageRow.chat_id == chat_id, MessageRow.id == message_id
                )
            )
        ).first()
        if target is None:
            return []
        tree = (
            select(MessageRow.id)
            .where(MessageRow.chat_id == chat_id, MessageRow.id == message_id)
            .cte("subtree", recursive=True)
        )
        tree = tree.union_all(
            select(MessageRow.id).where(
                MessageRow.chat_id == chat_id, MessageRow.parent_id == tree.c.id
            )
        )
        doomed = list(await self._session.scalars(select(tree.c.id)))
        # One statement for the whole subtree: the parent key is checked at its end.
        await self._session.execute(
            delete(MessageRow)
            .where(MessageRow.chat_id == chat_id, MessageRow.id.in_(select(tree.c.id)))
            .execution_options(synchronize_session=False)
        )
        if target.is_selected:
            await self._select_newest(chat_id, target.parent_id)
        return doomed

    async def load_tree(self, chat_id: str, *, with_extra: bool = False) -> ChatTree:
        """All the chat's messages and the selection at each fork; each message's `extra` is
        left empty unless `with_extra` (it can be large, and only export and branching use it).
        """
        columns = (*_MESSAGE_COLUMNS, MessageRow.extra) if with_extra else _MESSAGE_COLUMNS
        query = (
            select(*columns)
            .where(MessageRow.chat_id == chat_id)
            .order_by(MessageRow.created_at, MessageRow.position)
        )
        tree = ChatTree()
        for row in await self._session.execute(query):
            message = _to_message(row, row.extra if with_extra else None)
            tree.messages[message.id] = message
            if row.is_selected:
                tree.selected[message.parent_id] = message.id
        return tree

    async def set_extra(self, chat_id: str, message_id: str, extra: JsonObject) -> None:
        """Store the data a message keeps for export (`Message.extra`)."""
        await self._session.execute(
            update(MessageRow)
            .where(MessageRow.chat_id == chat_id, MessageRow.id == message_id)
            .values(extra=extra)
            .execution_options(synchronize_session=False)
        )

    async def set_generation(self, chat_id: str, message_id: str, info: JsonObject | None) -> None:
        """Store how a reply was generated (for the prompt inspector)."""
        await self._session.execute(
            update(MessageRow)
            .where(MessageRow.chat_id == chat_id, MessageRow.id == message_id)
            .values(generation=info)
            .execution_options(synchronize_session=False)
        )

    async def get_generation(self, chat_id: str, message_id: str) -> JsonObject | None:
        """How a reply was generated, if recorded."""
        query = select(MessageRow.generation).where(
            MessageRow.chat_id == chat_id, MessageRow.id == message_id
        )
        return (await self._session.scalars(query)).first()

    async def _next_positions(self, chat_id: str, count: int, at: datetime) -> int:
        last = await self._session.scalar(
            update(ChatRow)
            .where(ChatRow.id == chat_id)
            .values(last_position=ChatRow.last_position + count, updated_at=at)
            .returning(ChatRow.last_position)
            .execution_options(synchronize_session=False)
        )
        if last is None:
            raise ChatNotFound(chat_id)
        return int(last)

    async def _fork_state(self, chat_id: str, parent_id: str | None) -> tuple[bool, bool]:
        """Whether the parent is a message of this chat, and whether its fork has a selection."""
        parent_known: ColumnElement[bool] = (
            literal(True)
            if parent_id is None
            else exists().where(MessageRow.chat_id == chat_id, MessageRow.id == parent_id)
        )
        taken = exists().where(_siblings(chat_id, parent_id), MessageRow.is_selected.is_(True))
        row = (await self._session.execute(select(parent_known, taken))).one()
        return bool(row[0]), bool(row[1])

    async def _unselect_siblings(self, chat_id: str, parent_id: str | None) -> None:
        await self._session.execute(
            update(MessageRow)
            .where(_siblings(chat_id, parent_id), MessageRow.is_selected.is_(True))
            .values(is_selected=False)
            .execution_options(synchronize_session=False)
        )

    async def _select_newest(self, chat_id: str, parent_id: str | None) -> None:
        newest = await self._session.scalar(
            select(MessageRow.id)
            .where(_siblings(chat_id, parent_id))
            .order_by(MessageRow.created_at.desc(), MessageRow.position.desc())
            .limit(1)
        )
        if newest is not None:
            await self._session.execute(
                update(MessageRow)
                .where(MessageRow.id == newest)
                .values(is_selected=True)
                .execution_options(synchronize_session=False)
            )


def _siblings(chat_id: str, parent_id: str | None) -> ColumnElement[bool]:
    parent = (
        MessageRow.parent_id.is_(None) if parent_id is None else (MessageRow.parent_id == parent_id)
    )
    return (MessageRow.chat_id == chat_id) & parent


def _message_row(
    chat_id: str, message: Message, position: int, is_selected: bool
) -> dict[str, Any]:
    return {
        "id": message.id,
        "chat_id": chat_id,
        "parent_id": message.parent_id,
        "position": position,
        "role": message.role,
        "name": message.name,
        "text": message.text,
        "status": message.status,
        "hidden": message.hidden,
        "is_selected": is_selected,
        "created_at": message.created_at,
        "generation": None,
        "extra": message.extra,
    }


def _selected_ids(tree: ChatTree) -> set[str]:
    # A fork without a stored choice shows its newest child, so that child is the selection.
    chosen: set[str] = set()
    parents = {message.parent_id for message in tree.messages.values()}
    for parent in parents:
        choice = tree.selected.get(parent)
        if choice is None or choice not in tree.messages:
            choice = tree.children(parent)[-1].id
        chosen.add(choice)
    return chosen


def _parents_first(tree: ChatTree) -> list[Message]:
    """The messages ordered so each comes after its parent (rows are inserted in this order)."""
    children: dict[str | None, list[Message]] = {}
    for message in tree.messages.values():
        if message.parent_id is not None and message.parent_id not in tree.messages:
            raise UnknownMessage(message.parent_id)
        children.setdefault(message.parent_id, []).append(message)
    ordered: list[Message] = []
    waiting = list(children.get(None, []))
    while waiting:
        message = waiting.pop()
        ordered.append(message)
        waiting.extend(children.get(message.id, []))
    if len(ordered) != len(tree.messages):
        raise ValueError("the messages' parents form a cycle")
    return ordered


def _to_message(row: Row[*tuple[Any, ...]], extra: JsonObject | None) -> Message:
    return Message(
        id=row.id,
        parent_id=row.parent_id,
        role=cast(Role, row.role),
        name=row.name,
        text=row.text,
        status=cast(MessageStatus, row.status),
        hidden=row.hidden,
        created_at=row.created_at,
        extra={} if extra is None else extra,
    )


def _to_chat(row: ChatRow) -> ChatRecord:
    return ChatRecord(
        id=row.id,
        owner_id=row.owner_id,
        character_id=row.character_id,
        persona_id=row.persona_id,
        preset_id=row.preset_id,
        title=row.title,
        settings=row.settings,
        metadata=row.chat_metadata,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
