"""Records: the domain values (Character, Persona, a chat's tree) with the identity, owner and
timestamps they get once someone keeps them, plus the query shape of the character library."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from galatea.core.characters import Character
from galatea.core.ids import new_id
from galatea.core.json_types import JsonObject
from galatea.core.personas import Persona


class Visibility(StrEnum):
    """Who may open a character."""

    PUBLIC = "public"
    """Listed in the library; anyone may open it."""
    UNLISTED = "unlisted"
    """Not listed; anyone with the link may open it."""
    PRIVATE = "private"
    """Only the owner (and admins) may open it."""


class CharacterSort(StrEnum):
    """Orders of the character library."""

    NEW = "new"
    """Newest first."""
    POPULAR = "popular"
    """Most chats started first."""
    NAME = "name"
    """Alphabetical by name."""
    UPDATED = "updated"
    """Most recently edited first."""


@dataclass(slots=True, frozen=True)
class Image:
    """An image kept with a record (an avatar), already checked and re-encoded."""

    data: bytes
    media_type: str
    """For example image/png."""


@dataclass(slots=True)
class CharacterRecord:
    """A character as kept in the library: the card and who may see it."""

    character: Character
    owner_id: str
    created_at: datetime
    updated_at: datetime
    visibility: Visibility = Visibility.PRIVATE
    is_adult: bool = False
    """Flagged adult: listed and opened only for users who confirmed their age."""
    chat_count: int = 0
    """Chats started with this character, for sorting by popularity."""
    avatar_digest: str | None = None
    """A digest of the avatar image (None without one), usable as a cache-busting version."""
    id: str = field(default_factory=new_id)


@dataclass(slots=True, frozen=True)
class CharacterSummary:
    """What a library listing shows of a character, without loading its whole card."""

    id: str
    name: str
    owner_id: str
    owner_name: str
    creator: str
    tags: list[str]
    summary: str
    """The start of the creator's notes (or else of the description)."""
    visibility: Visibility
    is_adult: bool
    chat_count: int
    created_at: datetime
    updated_at: datetime
    avatar_digest: str | None


@dataclass(slots=True, frozen=True)
class CharacterQuery:
    """A page of the character library: what to match, how to order, which rows."""

    text: str | None = None
    """Matched, case-insensitively, anywhere in the name, nickname, creator, tags or summary."""
    tag: str | None = None
    """Only characters with this tag (case-insensitive, whole tag)."""
    owner_id: str | None = None
    """Only this user's characters (any visibility); None lists public characters only."""
    include_adult: bool = False
    sort: CharacterSort = CharacterSort.NEW
    offset: int = 0
    limit: int = 24


@dataclass(slots=True, frozen=True)
class CharacterPage:
    """One page of a character listing and how many match in all."""

    items: list[CharacterSummary]
    total: int


@dataclass(slots=True)
class PersonaRecord:
    """One of a user's personas."""

    persona: Persona
    owner_id: str
    created_at: datetime
    updated_at: datetime
    is_default: bool = False
    """Used for new chats unless another persona is chosen."""
    avatar_digest: str | None = None
    id: str = field(default_factory=new_id)


@dataclass(slots=True)
class ChatRecord:
    """A chat's header: its owner, character, persona, title and settings (not its messages)."""

    owner_id: str
    character_id: str | None
    """None once the character was deleted; the chat is kept and can still be read."""
    created_at: datetime
    updated_at: datetime
    title: str = ""
    persona_id: str | None = None
    """None: the owner's default persona."""
    preset_id: str | None = None
    """None: the owner's default generation settings."""
    settings: JsonObject = field(default_factory=dict)
    """Generation settings that override the preset for this chat."""
    metadata: JsonObject = field(default_factory=dict)
    """The chat's data from other tools, kept for export but not used by Galatea (an imported
    SillyTavern chat's `chat_metadata`: author's note settings, variables, ...); set when the
    chat is stored."""
    id: str = field(default_factory=new_id)


@dataclass(slots=True)
class PresetRecord:
    """A named set of generation settings (samplers, template, context size, reply length)."""

    owner_id: str
    name: str
    settings: JsonObject
    created_at: datetime
    updated_at: datetime
    id: str = field(default_factory=new_id)
