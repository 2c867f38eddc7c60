"""Users' generation presets in SQL."""

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.records import PresetRecord
from galatea.storage.tables import PresetRow


class SqlPresetRepository:
    """Presets in the `presets` table; names are unique per owner."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, preset: PresetRecord) -> bool:
        """Store a new preset; False when the owner already has one with this name."""
        statement = insert(PresetRow).values(
            id=preset.id,
            owner_id=preset.owner_id,
            name=preset.name,
            settings=preset.settings,
            created_at=preset.created_at,
            updated_at=preset.updated_at,
        )
        try:
            async with self._session.begin_nested():
                await self._session.execute(statement)
        except IntegrityError:
            return False
        return True

    async def get(self, preset_id: str) -> PresetRecord | None:
        """The preset with this id, whoever owns it."""
        query = select(PresetRow).where(PresetRow.id == preset_id)
        row = (await self._session.scalars(query)).first()
        return None if row is None else _to_preset(row)

    async def update(self, preset: PresetRecord) -> bool:
        """Store name, settings and `updated_at`; False when the new name is taken."""
        statement = (
            update(PresetRow)
            .where(PresetRow.id == preset.id)
            .values(name=preset.name, settings=preset.settings, updated_at=preset.updated_at)
            .execution_options(synchronize_session=False)
        )
        try:
            async with self._session.begin_nested():
                await self._session.execute(statement)
        except IntegrityError:
            return False
        return True

    async def delete(self, preset_id: str) -> None:
        """Delete the preset; chats using it fall back to the default settings."""
        await self._session.execute(delete(PresetRow).where(PresetRow.id == preset_id))

    async def list_for_owner(self, owner_id: str) -> list[PresetRecord]:
        """The user's presets by name."""
        query = select(PresetRow).where(PresetRow.owner_id == owner_id).order_by(PresetRow.name)
        return [_to_preset(row) for row in await self._session.scalars(query)]


def _to_preset(row: PresetRow) -> PresetRecord:
    return PresetRecord(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        settings=row.settings,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
