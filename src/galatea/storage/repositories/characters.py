"""The character library in SQL: the card as a JSON document plus columns to filter and sort."""

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.characters import Character
from galatea.core.records import (
    CharacterPage,
    CharacterQuery,
    CharacterRecord,
    CharacterSort,
    CharacterSummary,
    Image,
    Visibility,
)
from galatea.storage.documents import character_from_document, character_to_document
from galatea.storage.tables import (
    CharacterAssetRow,
    CharacterAvatarRow,
    CharacterCardRow,
    CharacterRow,
    CharacterTagRow,
    UserRow,
)

SUMMARY_LENGTH = 300
NAME_KEY_LENGTH = 256
TAG_KEY_LENGTH = 100
MAX_PAGE_SIZE = 200

_SUMMARY_COLUMNS = (
    CharacterRow.id,
    CharacterRow.name,
    CharacterRow.owner_id,
    CharacterRow.creator,
    CharacterRow.tags,
    CharacterRow.summary,
    CharacterRow.visibility,
    CharacterRow.is_adult,
    CharacterRow.chat_count,
    CharacterRow.created_at,
    CharacterRow.updated_at,
    CharacterRow.avatar_digest,
)


def tag_key(tag: str) -> str:
    """How tags are compared: trimmed and case-folded."""
    return tag.strip().casefold()[:TAG_KEY_LENGTH]


def _search_text(character: Character) -> str:
    """What text search looks in: the name, nickname, creator and tags, and the summary the
    library shows (not the whole definition, whose prompt text would make every search noisy)."""
    parts = [
        character.name,
        character.nickname or "",
        character.creator,
        *character.tags,
        _summary(character),
    ]
    return "\n".join(part.casefold() for part in parts if part)


def _summary(character: Character) -> str:
    source = character.creator_notes.strip() or character.description.strip()
    return source[:SUMMARY_LENGTH]


def _derived_columns(record: CharacterRecord) -> dict[str, Any]:
    character = record.character
    return {
        "name": character.name,
        "name_key": character.name.casefold()[:NAME_KEY_LENGTH],
        "search_text": _search_text(character),
        "creator": character.creator,
        "summary": _summary(character),
        "tags": list(character.tags),
        "visibility": record.visibility.value,
        "is_adult": record.is_adult,
        "updated_at": record.updated_at,
    }


def _image_digest(image: Image) -> str:
    return hashlib.sha256(image.data).hexdigest()


class SqlCharacterRepository:
    """Characters in the `characters` table and its satellites (tags, avatar, assets)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: CharacterRecord) -> None:
        """Store a new character."""
        await self._session.execute(
            insert(CharacterRow).values(
                id=record.id,
                owner_id=record.owner_id,
                chat_count=record.chat_count,
                avatar_digest=record.avatar_digest,
                created_at=record.created_at,
                **_derived_columns(record),
            )
        )
        await self._session.execute(
            insert(CharacterCardRow).values(
                character_id=record.id, card=character_to_document(record.character)
            )
        )
        await self._write_tags(record.id, record.character.tags)

    async def get(self, character_id: str) -> CharacterRecord | None:
        """The character with this id, whoever owns it (services check access)."""
        query = (
            select(CharacterRow, CharacterCardRow.card)
            .join(CharacterCardRow, CharacterCardRow.character_id == CharacterRow.id)
            .where(CharacterRow.id == character_id)
        )
        found = (await self._session.execute(query)).first()
        if found is None:
            return None
        row, card = found
        return CharacterRecord(
            id=row.id,
            character=character_from_document(card),
            owner_id=row.owner_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            visibility=Visibility(row.visibility),
            is_adult=row.is_adult,
            chat_count=row.chat_count,
            avatar_digest=row.avatar_digest,
        )

    async def update(self, record: CharacterRecord) -> None:
        """Store the card, visibility and adult flag; `updated_at` as given."""
        await self._session.execute(
            update(CharacterRow)
            .where(CharacterRow.id == record.id)
            .values(**_derived_columns(record))
        )
        await self._session.execute(
            update(CharacterCardRow)
            .where(CharacterCardRow.character_id == record.id)
            .values(card=character_to_document(record.character))
        )
        await self._session.execute(
            delete(CharacterTagRow).where(CharacterTagRow.character_id == record.id)
        )
        await self._write_tags(record.id, record.character.tags)

    async def delete(self, character_id: str) -> None:
        """Delete the character, its avatar and assets; its chats keep existing."""
        await self._session.execute(delete(CharacterRow).where(CharacterRow.id == character_id))

    async def search(self, query: CharacterQuery) -> CharacterPage:
        """A page of summaries matching the query."""
        conditions = _conditions(query)
        total = await self._session.scalar(
            select(func.count()).select_from(CharacterRow).where(*conditions)
        )
        page = (
            select(*_SUMMARY_COLUMNS, UserRow.username.label("owner_name"))
            .join(UserRow, UserRow.id == CharacterRow.owner_id)
            .where(*conditions)
            .order_by(*_order(query.sort))
            .offset(max(query.offset, 0))
            .limit(min(max(query.limit, 0), MAX_PAGE_SIZE))
        )
        rows = (await self._session.execute(page)).all()
        return CharacterPage(items=[_summarise(row) for row in rows], total=total or 0)

    async def increment_chat_count(self, character_id: str) -> None:
        """Count one more chat started with the character."""
        await self._session.execute(
            update(CharacterRow)
            .where(CharacterRow.id == character_id)
            .values(chat_count=CharacterRow.chat_count + 1)
            .execution_options(synchronize_session=False)
        )

    async def set_avatar(self, character_id: str, image: Image | None) -> str | None:
        """Replace (or with None remove) the avatar; returns its new digest."""
        await self._session.execute(
            delete(CharacterAvatarRow).where(CharacterAvatarRow.character_id == character_id)
        )
        digest = None
        if image is not None:
            digest = _image_digest(image)
            await self._session.execute(
                insert(CharacterAvatarRow).values(
                    character_id=character_id, media_type=image.media_type, data=image.data
                )
            )
        await self._session.execute(
            update(CharacterRow).where(CharacterRow.id == character_id).values(avatar_digest=digest)
        )
        return digest

    async def get_avatar(self, character_id: str) -> Image | None:
        """The character's avatar image."""
        query = select(CharacterAvatarRow.data, CharacterAvatarRow.media_type).where(
            CharacterAvatarRow.character_id == character_id
        )
        row = (await self._session.execute(query)).first()
        return None if row is None else Image(data=row.data, media_type=row.media_type)

    async def set_assets(self, character_id: str, assets: Mapping[str, bytes]) -> None:
        """Replace the files embedded in the character's card, by path."""
        await self._session.execute(
            delete(CharacterAssetRow).where(CharacterAssetRow.character_id == character_id)
        )
        if assets:
            await self._session.execute(
                insert(CharacterAssetRow),
                [{"character_id": character_id, "path": p, "data": d} for p, d in assets.items()],
            )

    async def get_assets(self, character_id: str) -> dict[str, bytes]:
        """The files embedded in the character's card, by path."""
        query = (
            select(CharacterAssetRow.path, CharacterAssetRow.data)
            .where(CharacterAssetRow.character_id == character_id)
            .order_by(CharacterAssetRow.path)
        )
        return {row.path: row.data for row in await self._session.execute(query)}

    async def _write_tags(self, character_id: str, tags: list[str]) -> None:
        keys = sorted({key for key in map(tag_key, tags) if key})
        if keys:
            await self._session.execute(
                insert(CharacterTagRow),
                [{"character_id": character_id, "tag_key": key} for key in keys],
            )


def _conditions(query: CharacterQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.owner_id is None:
        conditions.append(CharacterRow.visibility == Visibility.PUBLIC.value)
    else:
        conditions.append(CharacterRow.owner_id == query.owner_id)
    if not query.include_adult:
        conditions.append(CharacterRow.is_adult.is_(False))
    if query.text and query.text.strip():
        needle = query.text.strip().casefold()
        conditions.append(CharacterRow.search_text.contains(needle, autoescape=True))
    if query.tag and tag_key(query.tag):
        tagged = select(CharacterTagRow.character_id).where(
            CharacterTagRow.tag_key == tag_key(query.tag)
        )
        conditions.append(CharacterRow.id.in_(tagged))
    return conditions


def _order(sort: CharacterSort) -> list[Any]:
    if sort is CharacterSort.POPULAR:
        return [CharacterRow.chat_count.desc(), CharacterRow.created_at.desc(), CharacterRow.id]
    if sort is CharacterSort.NAME:
        return [CharacterRow.name_key, CharacterRow.id]
    if sort is CharacterSort.UPDATED:
        return [CharacterRow.updated_at.desc(), CharacterRow.id]
    return [CharacterRow.created_at.desc(), CharacterRow.id]


def _summarise(row: Row[*tuple[Any, ...]]) -> CharacterSummary:
    return CharacterSummary(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        owner_name=row.owner_name,
        creator=row.creator,
        tags=list(row.tags),
        summary=row.summary,
        visibility=Visibility(row.visibility),
        is_adult=row.is_adult,
        chat_count=row.chat_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        avatar_digest=row.avatar_digest,
    )
