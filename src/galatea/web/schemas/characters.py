"""Characters: the card fields at top level, plus who owns them and who may see them."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from galatea.core.records import CharacterSummary, Visibility
from galatea.services.character_files import ImportOutcome
from galatea.services.characters import CharacterDetails, card_data

NAME_CHARS = 256
TEXT_CHARS = 200_000
LIST_ITEMS = 64


def _optional(schema: dict[str, Any]) -> None:
    # A field left out stays as it is; null is no value for it, so the schema shows none.
    schema.pop("default", None)


def _field(**constraints: Any) -> Any:
    """An optional card field: sent means changed, left out means kept."""
    return Field(default=None, json_schema_extra=_optional, **constraints)


def character_avatar_url(character_id: str, digest: str | None) -> str | None:
    """Where a character's avatar is served (None without one); the digest busts caches."""
    return None if digest is None else f"/api/v1/characters/{character_id}/avatar?v={digest[:16]}"


class CharacterFields(BaseModel):
    """Card fields a user may set (Character Card V3 names); fields left out stay as they are.

    `nickname` and `character_book` may be null to remove them; no other field may be null.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = _field(min_length=1, max_length=NAME_CHARS)
    nickname: str | None = Field(default=None, max_length=NAME_CHARS)
    description: str = _field(max_length=TEXT_CHARS)
    personality: str = _field(max_length=TEXT_CHARS)
    scenario: str = _field(max_length=TEXT_CHARS)
    first_mes: str = _field(max_length=TEXT_CHARS, description="Greeting.")
    alternate_greetings: list[str] = _field(max_length=LIST_ITEMS)
    group_only_greetings: list[str] = _field(max_length=LIST_ITEMS)
    mes_example: str = _field(max_length=TEXT_CHARS, description="Example dialogue.")
    system_prompt: str = _field(max_length=TEXT_CHARS)
    post_history_instructions: str = _field(max_length=TEXT_CHARS)
    creator_notes: str = _field(max_length=TEXT_CHARS)
    tags: list[str] = _field(max_length=LIST_ITEMS)
    creator: str = _field(max_length=TEXT_CHARS)
    character_version: str = _field(max_length=TEXT_CHARS)
    character_book: dict[str, Any] | None = Field(
        default=None, description="The embedded lorebook, as in a V3 card."
    )

    def card_changes(self) -> dict[str, Any]:
        """The fields that were sent, by card field name."""
        return {name: getattr(self, name) for name in self.model_fields_set if name in _CARD}


_CARD = frozenset(CharacterFields.model_fields)


class CharacterCreate(CharacterFields):
    """A new character: a name at least."""

    name: str = Field(min_length=1, max_length=NAME_CHARS)
    visibility: Visibility = Visibility.PRIVATE
    adult: bool = False


class CharacterUpdate(CharacterFields):
    """Changes to a character; fields left out stay as they are."""

    visibility: Visibility | None = None
    adult: bool | None = None


class OwnerPublic(BaseModel):
    """Who made a character."""

    id: str
    username: str


class CharacterPublic(BaseModel):
    """A character with every card field a user can edit."""

    id: str
    name: str
    nickname: str | None
    description: str
    personality: str
    scenario: str
    first_mes: str
    alternate_greetings: list[str]
    group_only_greetings: list[str]
    mes_example: str
    system_prompt: str
    post_history_instructions: str
    creator_notes: str
    tags: list[str]
    creator: str
    character_version: str
    character_book: dict[str, Any] | None
    visibility: Visibility
    adult: bool
    owner: OwnerPublic
    avatar_url: str | None
    chat_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, details: CharacterDetails) -> "CharacterPublic":
        """The API view of a character."""
        record, character = details.record, details.character
        data = card_data(character)
        return cls(
            id=record.id,
            name=character.name,
            nickname=character.nickname,
            description=character.description,
            personality=character.personality,
            scenario=character.scenario,
            first_mes=character.first_mes,
            alternate_greetings=list(character.alternate_greetings),
            group_only_greetings=list(character.group_only_greetings),
            mes_example=character.mes_example,
            system_prompt=character.system_prompt,
            post_history_instructions=character.post_history_instructions,
            creator_notes=character.creator_notes,
            tags=list(character.tags),
            creator=character.creator,
            character_version=character.character_version,
            character_book=data.get("character_book"),
            visibility=record.visibility,
            adult=record.is_adult,
            owner=OwnerPublic(id=record.owner_id, username=details.owner_name),
            avatar_url=character_avatar_url(record.id, record.avatar_digest),
            chat_count=record.chat_count,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class CharacterSummaryPublic(BaseModel):
    """A character as a library listing shows it."""

    id: str
    name: str
    creator: str
    tags: list[str]
    summary: str
    visibility: Visibility
    adult: bool
    owner: OwnerPublic
    avatar_url: str | None
    chat_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, summary: CharacterSummary) -> "CharacterSummaryPublic":
        """The API view of a listed character."""
        return cls(
            id=summary.id,
            name=summary.name,
            creator=summary.creator,
            tags=list(summary.tags),
            summary=summary.summary,
            visibility=summary.visibility,
            adult=summary.is_adult,
            owner=OwnerPublic(id=summary.owner_id, username=summary.owner_name),
            avatar_url=character_avatar_url(summary.id, summary.avatar_digest),
            chat_count=summary.chat_count,
            created_at=summary.created_at,
            updated_at=summary.updated_at,
        )


class CharactersPublic(BaseModel):
    """One page of a character listing."""

    items: list[CharacterSummaryPublic]
    total: int
    offset: int
    limit: int


class ImportResultPublic(BaseModel):
    """What became of one imported file."""

    filename: str
    ok: bool
    character: CharacterPublic | None
    warnings: list[str]
    error: str | None

    @classmethod
    def of(cls, outcome: ImportOutcome) -> "ImportResultPublic":
        """The API view of an import outcome."""
        return cls(
            filename=outcome.filename,
            ok=outcome.details is not None,
            character=None if outcome.details is None else CharacterPublic.of(outcome.details),
            warnings=list(outcome.warnings),
            error=outcome.error,
        )


class ImportResultsPublic(BaseModel):
    """Each file of a batch import, in upload order."""

    results: list[ImportResultPublic]


class AvatarPublic(BaseModel):
    """Where the new avatar is served."""

    avatar_url: str | None
