"""Personas: who the user plays."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from galatea.core.records import PersonaRecord
from galatea.web.schemas.text import named, without_nul

NAME = Field(min_length=1, max_length=100, json_schema_extra=named())
DESCRIPTION_CHARS = 20_000


def persona_avatar_url(persona_id: str, digest: str | None) -> str | None:
    """Where a persona's avatar is served (None without one)."""
    return None if digest is None else f"/api/v1/personas/{persona_id}/avatar?v={digest[:16]}"


class PersonaCreate(BaseModel):
    """A new persona."""

    model_config = ConfigDict(extra="forbid")

    name: str = NAME
    description: str = Field(
        default="", max_length=DESCRIPTION_CHARS, json_schema_extra=without_nul()
    )
    default: bool = False


class PersonaUpdate(BaseModel):
    """Changes to a persona; fields left out stay. `default: true` makes it the default."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, json_schema_extra=named())
    description: str | None = Field(
        default=None, max_length=DESCRIPTION_CHARS, json_schema_extra=without_nul()
    )
    default: bool | None = None


class PersonaPublic(BaseModel):
    """A persona."""

    id: str
    name: str
    description: str
    default: bool
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: PersonaRecord) -> "PersonaPublic":
        """The API view of a persona."""
        return cls(
            id=record.id,
            name=record.persona.name,
            description=record.persona.description,
            default=record.is_default,
            avatar_url=persona_avatar_url(record.id, record.avatar_digest),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
