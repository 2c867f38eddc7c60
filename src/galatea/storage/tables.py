"""The database tables (`*Row` classes). Repositories turn rows into core objects and back.

JSON columns are PostgreSQL `json`, not `jsonb`: cards must come back exactly as imported,
and `jsonb` reorders keys and drops duplicates.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from galatea.storage.columns import SafeString, SafeText, UtcDateTime

ID = String(32)
DIGEST = String(64)
# Rows written before a JSON column existed read as an empty object.
_EMPTY_OBJECT = text("'{}'")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base holding the metadata Alembic compares migrations against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


def _owner_fk() -> Any:
    return ForeignKey("users.id", ondelete="CASCADE")


class UserRow(Base):
    """An account."""

    __tablename__ = "users"
    __table_args__ = (_one_of("role", ("user", "moderator", "admin")),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    """The username case-folded: uniqueness and look-up ignore case."""
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(32))
    age_confirmed: Mapped[bool] = mapped_column(Boolean)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserSessionRow(Base):
    """A signed-in browser session; only the SHA-256 of its token is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, _owner_fk(), index=True)
    token_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(SafeString(512))
    address: Mapped[str] = mapped_column(SafeString(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class ApiTokenRow(Base):
    """A personal API token; only the SHA-256 of its secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, _owner_fk(), index=True)
    name: Mapped[str] = mapped_column(SafeString(100))
    token_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuthAttemptRow(Base):
    """A sign-in or sign-up attempt, counted per account and per address for rate limits."""

    __tablename__ = "auth_attempts"
    __table_args__ = (
        Index(None, "kind", "account_key", "attempted_at"),
        Index(None, "kind", "address_key", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_key: Mapped[str | None] = mapped_column(SafeString(64), nullable=True)
    address_key: Mapped[str | None] = mapped_column(SafeString(64), nullable=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class CharacterRow(Base):
    """A character: the columns the library filters, sorts and shows; the card is apart."""

    __tablename__ = "characters"
    __table_args__ = (
        _one_of("visibility", ("public", "unlisted", "private")),
        # One index per library order, behind the filters every listing applies (public, and
        # for most viewers not adult): the page and its total come from the index alone.
        Index(None, "visibility", "is_adult", "created_at"),
        Index(None, "visibility", "is_adult", "chat_count", "created_at"),
        Index(None, "visibility", "is_adult", "name_key"),
        # The same orders when adult characters are included (age-confirmed viewers), so the
        # listing reads its page straight from an index instead of sorting every public row.
        Index(None, "visibility", "created_at", "id"),
        Index(None, "visibility", "chat_count", "created_at", "id"),
        Index(None, "owner_id", "updated_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, _owner_fk())
    name: Mapped[str] = mapped_column(SafeText)
    name_key: Mapped[str] = mapped_column(SafeText)
    """The name case-folded, for sorting by name."""
    search_text: Mapped[str] = mapped_column(SafeText)
    """Case-folded name, nickname, creator, tags and summary, for text search."""
    creator: Mapped[str] = mapped_column(SafeText)
    summary: Mapped[str] = mapped_column(SafeText)
    tags: Mapped[list[str]] = mapped_column(JSON)
    """The card's tags as written, for display; `character_tags` serves filtering."""
    visibility: Mapped[str] = mapped_column(String(16))
    is_adult: Mapped[bool] = mapped_column(Boolean)
    chat_count: Mapped[int] = mapped_column(Integer)
    avatar_digest: Mapped[str | None] = mapped_column(DIGEST, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CharacterCardRow(Base):
    """A character's whole card as a JSON document (see `storage/documents.py`).

    Kept out of `characters` so that listing and searching read narrow rows: a card with a
    large lorebook can be megabytes.
    """

    __tablename__ = "character_cards"

    character_id: Mapped[str] = mapped_column(
        ID, ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    card: Mapped[dict[str, Any]] = mapped_column(JSON)


class CharacterTagRow(Base):
    """One tag of a character, case-folded, for the library's tag filter."""

    __tablename__ = "character_tags"
    __table_args__ = (Index(None, "tag_key", "character_id"),)

    character_id: Mapped[str] = mapped_column(
        ID, ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    tag_key: Mapped[str] = mapped_column(SafeString(100), primary_key=True)


class CharacterAvatarRow(Base):
    """A character's avatar image, apart from the character so listings never read it."""

    __tablename__ = "character_avatars"

    character_id: Mapped[str] = mapped_column(
        ID, ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    media_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CharacterAssetRow(Base):
    """A file embedded in an imported card (CharX), by its path inside the card."""

    __tablename__ = "character_assets"

    character_id: Mapped[str] = mapped_column(
        ID, ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(SafeString(1024), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PersonaRow(Base):
    """One of a user's personas."""

    __tablename__ = "personas"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, _owner_fk(), index=True)
    name: Mapped[str] = mapped_column(SafeText)
    description: Mapped[str] = mapped_column(SafeText)
    is_default: Mapped[bool] = mapped_column(Boolean)
    avatar_digest: Mapped[str | None] = mapped_column(DIGEST, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PersonaAvatarRow(Base):
    """A persona's avatar image."""

    __tablename__ = "persona_avatars"

    persona_id: Mapped[str] = mapped_column(
        ID, ForeignKey("personas.id", ondelete="CASCADE"), primary_key=True
    )
    media_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PresetRow(Base):
    """A user's named generation settings."""

    __tablename__ = "presets"
    __table_args__ = (Index(None, "owner_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, _owner_fk())
    name: Mapped[str] = mapped_column(SafeString(100))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChatRow(Base):
    """A chat's header; its messages are rows of `messages`."""

    __tablename__ = "chats"
    __table_args__ = (
        Index(None, "owner_id", "updated_at"),
        Index(None, "owner_id", "character_id", "updated_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, _owner_fk())
    # Chats outlive their character (SET NULL): a deleted card must not erase others' chats.
    character_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("characters.id", ondelete="SET NULL"), nullable=True, index=True
    )
    persona_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("personas.id", ondelete="SET NULL"), nullable=True, index=True
    )
    preset_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("presets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    title: Mapped[str] = mapped_column(SafeText)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    chat_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, server_default=_EMPTY_OBJECT)
    """Data from other tools kept for export (an imported SillyTavern `chat_metadata`)."""
    last_position: Mapped[int] = mapped_column(Integer)
    """The position given to the newest message: a per-chat insertion counter."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MessageRow(Base):
    """One message of a chat tree. Swipes share a parent; one child per fork is selected."""

    __tablename__ = "messages"
    __table_args__ = (
        _one_of("role", ("user", "character", "system")),
        _one_of("status", ("complete", "incomplete")),
        Index(None, "chat_id", "parent_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    chat_id: Mapped[str] = mapped_column(ID, ForeignKey("chats.id", ondelete="CASCADE"))
    # No ON DELETE CASCADE here: SQLite runs cascades like nested triggers and gives up after
    # 1000 levels, which a long chat exceeds. The repository deletes whole subtrees instead.
    parent_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("messages.id"), nullable=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    """Insertion order within the chat; breaks ties between equal timestamps."""
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(SafeText)
    text: Mapped[str] = mapped_column(SafeText)
    status: Mapped[str] = mapped_column(String(16))
    hidden: Mapped[bool] = mapped_column(Boolean)
    is_selected: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    generation: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    """How a reply was generated (prompt sections, token counts) for the prompt inspector."""
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, server_default=_EMPTY_OBJECT)
    """Data kept for export by SillyTavern's field names (see `Message.extra`)."""


class ReplyDraftRow(Base):
    """The text of a reply being written, one per chat, refreshed while the reply runs."""

    __tablename__ = "reply_drafts"
    __table_args__ = (_one_of("kind", ("reply", "regenerate", "continue")),)

    chat_id: Mapped[str] = mapped_column(
        ID, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(SafeText)
    # Plain ids, no foreign keys: the messages may be deleted while the reply runs.
    parent_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    target_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    text: Mapped[str] = mapped_column(SafeText)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class UsageDayRow(Base):
    """A user's metered use of the text generators on one UTC day (counts only grow)."""

    __tablename__ = "usage_days"
    __table_args__ = (Index(None, "day", "user_id"),)

    user_id: Mapped[str] = mapped_column(ID, _owner_fk(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    generated_tokens: Mapped[int] = mapped_column(BigInteger)


class BillingEventRow(Base):
    """A payment webhook event that was applied, kept so a replayed event is not applied twice.

    No foreign key to `users`: the record of an applied event must outlive the account, or a
    replay after a deletion and re-creation could apply it again.
    """

    __tablename__ = "billing_events"
    __table_args__ = (Index(None, "user_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    """The payment provider's event id."""
    kind: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ID)
    tier: Mapped[str] = mapped_column(String(32))
    """The tier the event moved the user to."""
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When the provider signed the event: a user's older events never undo newer ones."""
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
