"""Builders for stored objects in storage and service tests."""

from datetime import datetime, timedelta

from sqlalchemy import insert, select

from galatea.core.characters import Character
from galatea.core.ids import new_id
from galatea.core.records import CharacterRecord, ChatRecord, Visibility
from galatea.core.users import Role, User
from galatea.services.ports import UnitOfWorkFactory
from galatea.storage.db import Database
from galatea.storage.tables import ChatRow, MessageRow
from tests.conftest import START


async def add_user(
    uow: UnitOfWorkFactory, username: str, *, role: Role = Role.USER, adult: bool = False
) -> User:
    """Store a user (with a placeholder password hash)."""
    user = User(id=new_id(), username=username, created_at=START, role=role, age_confirmed=adult)
    async with uow() as work:
        assert await work.users.add(user, "not-a-real-hash")
        await work.commit()
    return user


async def add_character(
    uow: UnitOfWorkFactory,
    owner: User,
    name: str = "Wren",
    *,
    visibility: Visibility = Visibility.PUBLIC,
    adult: bool = False,
    tags: list[str] | None = None,
    created: datetime = START,
    chat_count: int = 0,
    **card: str,
) -> CharacterRecord:
    """Store a character owned by `owner`."""
    record = CharacterRecord(
        character=Character(name=name, tags=tags or [], **card),  # type: ignore[arg-type]
        owner_id=owner.id,
        created_at=created,
        updated_at=created,
        visibility=visibility,
        is_adult=adult,
        chat_count=chat_count,
    )
    async with uow() as work:
        await work.characters.add(record)
        await work.commit()
    return record


async def add_chat(
    uow: UnitOfWorkFactory, owner: User, character: CharacterRecord | None = None, **fields: str
) -> ChatRecord:
    """Store an empty chat."""
    chat = ChatRecord(
        owner_id=owner.id,
        character_id=None if character is None else character.id,
        created_at=START,
        updated_at=START,
        **fields,  # type: ignore[arg-type]
    )
    async with uow() as work:
        await work.chats.add(chat)
        await work.commit()
    return chat


def later(minutes: float) -> datetime:
    """A time this many minutes after the tests' start."""
    return START + timedelta(minutes=minutes)


async def add_first_schema_chat(
    database: Database, owner: User, character: CharacterRecord, *texts: str, title: str = ""
) -> str:
    """Store a chat with a line of messages through the columns of the first schema only, as
    a database made before later migrations holds it; returns the chat id. (Repositories write
    every column of the newest schema, which an older database does not have.)"""
    chat_id = new_id()
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(ChatRow).values(
                id=chat_id,
                owner_id=owner.id,
                character_id=character.id,
                title=title,
                settings={},
                last_position=len(texts),
                created_at=START,
                updated_at=START,
            )
        )
        parent: str | None = None
        for position, text in enumerate(texts, start=1):
            message_id = new_id()
            await connection.execute(
                insert(MessageRow).values(
                    id=message_id,
                    chat_id=chat_id,
                    parent_id=parent,
                    position=position,
                    role="user" if position % 2 == 0 else "character",
                    name="",
                    text=text,
                    status="complete",
                    hidden=False,
                    is_selected=True,
                    created_at=later(position),
                )
            )
            parent = message_id
    return chat_id


async def chat_titles(database: Database) -> list[str]:
    """Every chat's title, read through the one column every schema has."""
    async with database.engine.connect() as connection:
        return list((await connection.scalars(select(ChatRow.title).order_by(ChatRow.id))).all())
