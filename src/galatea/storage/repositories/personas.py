"""Users' personas in SQL."""

import hashlib

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.personas import Persona
from galatea.core.records import Image, PersonaRecord
from galatea.storage.tables import PersonaAvatarRow, PersonaRow


class SqlPersonaRepository:
    """Personas in the `personas` table, avatars in `persona_avatars`."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: PersonaRecord) -> None:
        """Store a new persona (use `set_default` to make it the default)."""
        await self._session.execute(
            insert(PersonaRow).values(
                id=record.id,
                owner_id=record.owner_id,
                name=record.persona.name,
                description=record.persona.description,
                is_default=False,
                avatar_digest=record.avatar_digest,
                created_at=record.created_at,
                updated_at=record.updated_at,
            )
        )

    async def get(self, persona_id: str) -> PersonaRecord | None:
        """The persona with this id, whoever owns it."""
        query = select(PersonaRow).where(PersonaRow.id == persona_id)
        row = (await self._session.scalars(query)).first()
        return None if row is None else _to_record(row)

    async def update(self, record: PersonaRecord) -> None:
        """Store the persona's name, description and `updated_at`."""
        await self._session.execute(
            update(PersonaRow)
            .where(PersonaRow.id == record.id)
            .values(
                name=record.persona.name,
                description=record.persona.description,
                updated_at=record.updated_at,
            )
        )

    async def delete(self, persona_id: str) -> None:
        """Delete the persona; chats using it fall back to the default."""
        await self._session.execute(delete(PersonaRow).where(PersonaRow.id == persona_id))

    async def list_for_owner(self, owner_id: str) -> list[PersonaRecord]:
        """The user's personas, the default first, then by name."""
        query = (
            select(PersonaRow)
            .where(PersonaRow.owner_id == owner_id)
            .order_by(PersonaRow.is_default.desc(), PersonaRow.name, PersonaRow.id)
        )
        return [_to_record(row) for row in await self._session.scalars(query)]

    async def set_default(self, owner_id: str, persona_id: str | None) -> None:
        """Make this persona the user's only default (None: no default)."""
        await self._session.execute(
            update(PersonaRow)
            .where(PersonaRow.owner_id == owner_id)
            .values(is_default=case((PersonaRow.id == persona_id, True), else_=False))
            .execution_options(synchronize_session="fetch")
        )

    async def set_avatar(self, persona_id: str, image: Image | None) -> str | None:
        """Replace (or with None remove) the avatar; returns its new digest."""
        await self._session.execute(
            delete(PersonaAvatarRow).where(PersonaAvatarRow.persona_id == persona_id)
        )
        digest = None
        if image is not None:
            digest = hashlib.sha256(image.data).hexdigest()
            await self._session.execute(
                insert(PersonaAvatarRow).values(
                    persona_id=persona_id, media_type=image.media_type, data=image.data
                )
            )
        await self._session.execute(
            update(PersonaRow).where(PersonaRow.id == persona_id).values(avatar_digest=digest)
        )
        return digest

    async def get_avatar(self, persona_id: str) -> Image | None:
        """The persona's avatar image."""
        query = select(PersonaAvatarRow.data, PersonaAvatarRow.media_type).where(
            PersonaAvatarRow.persona_id == persona_id
        )
        row = (await self._session.execute(query)).first()
        return None if row is None else Image(data=row.data, media_type=row.media_type)


def _to_record(row: PersonaRow) -> PersonaRecord:
    return PersonaRecord(
        id=row.id,
        persona=Persona(name=row.name, description=row.description),
        owner_id=row.owner_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        is_default=row.is_default,
        avatar_digest=row.avatar_digest,
    )
