"""Personas: who the user plays. Several per user, one default, chosen per chat."""

from galatea.core.personas import Persona
from galatea.core.records import Image, PersonaRecord
from galatea.core.users import User
from galatea.services import access
from galatea.services.errors import Conflict
from galatea.services.ports import Clock, UnitOfWorkFactory
from galatea.services.validation import clean_text

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 20_000
MAX_PERSONAS_PER_USER = 100


class PersonaService:
    """Use cases of personas; every id is checked against the caller (others' are NotFound)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def list_personas(self, user: User) -> list[PersonaRecord]:
        """The user's personas, the default first."""
        async with self._uow(write=False) as uow:
            return await uow.personas.list_for_owner(user.id)

    async def get(self, viewer: User | None, persona_id: str) -> PersonaRecord:
        """One persona the viewer may see."""
        async with self._uow(write=False) as uow:
            return access.readable_persona(viewer, await uow.personas.get(persona_id))

    async def create(
        self, user: User, name: str, description: str = "", *, make_default: bool = False
    ) -> PersonaRecord:
        """A new persona; the user's first one becomes the default."""
        persona = _persona(name, description)
        now = self._clock.now()
        record = PersonaRecord(persona=persona, owner_id=user.id, created_at=now, updated_at=now)
        async with self._uow() as uow:
            existing = await uow.personas.list_for_owner(user.id)
            if len(existing) >= MAX_PERSONAS_PER_USER:
                raise Conflict(f"a user may have at most {MAX_PERSONAS_PER_USER} personas")
            await uow.personas.add(record)
            if make_default or not existing:
                await uow.personas.set_default(user.id, record.id)
                record.is_default = True
            await uow.commit()
        return record

    async def update(
        self,
        user: User,
        persona_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> PersonaRecord:
        """Change a persona's name or description."""
        async with self._uow() as uow:
            record = access.writable_persona(user, await uow.personas.get(persona_id))
            record.persona = _persona(
                record.persona.name if name is None else name,
                record.persona.description if description is None else description,
            )
            record.updated_at = self._clock.now()
            await uow.personas.update(record)
            await uow.commit()
        return record

    async def delete(self, user: User, persona_id: str) -> None:
        """Delete a persona; when it was the default, the next one becomes the default."""
        async with self._uow() as uow:
            record = access.writable_persona(user, await uow.personas.get(persona_id))
            await uow.personas.delete(record.id)
            if record.is_default:
                remaining = await uow.personas.list_for_owner(user.id)
                oldest = min(remaining, key=lambda p: p.created_at, default=None)
                await uow.personas.set_default(user.id, None if oldest is None else oldest.id)
            await uow.commit()

    async def set_default(self, user: User, persona_id: str) -> None:
        """Make one of the user's personas the default for new chats."""
        async with self._uow() as uow:
            record = access.writable_persona(user, await uow.personas.get(persona_id))
            await uow.personas.set_default(user.id, record.id)
            await uow.commit()

    async def persona_for(self, user: User, persona_id: str | None = None) -> Persona:
        """The persona a chat uses: the chosen one if it is still the user's, else the
        default, else one named after the user."""
        async with self._uow(write=False) as uow:
            if persona_id is not None:
                record = await uow.personas.get(persona_id)
                if record is not None and record.owner_id == user.id:
                    return record.persona
            for record in await uow.personas.list_for_owner(user.id):
                if record.is_default:
                    return record.persona
        return Persona(name=user.username)

    async def set_avatar(self, user: User, persona_id: str, image: Image | None) -> str | None:
        """Replace or remove a persona's avatar (already checked and re-encoded by the caller);
        returns the new digest."""
        async with self._uow() as uow:
            record = access.writable_persona(user, await uow.personas.get(persona_id))
            digest = await uow.personas.set_avatar(record.id, image)
            await uow.commit()
        return digest

    async def get_avatar(self, viewer: User | None, persona_id: str) -> Image | None:
        """A persona's avatar, for a viewer who may see the persona."""
        async with self._uow(write=False) as uow:
            record = access.readable_persona(viewer, await uow.personas.get(persona_id))
            return await uow.personas.get_avatar(record.id)


def _persona(name: str, description: str) -> Persona:
    return Persona(
        name=clean_text("name", name, max_length=MAX_NAME_LENGTH, required=True),
        description=clean_text("description", description, max_length=MAX_DESCRIPTION_LENGTH),
    )
