"""Chats and messages in the JSON API, and generation presets.

A message has the same shape here as in the `saved` event of a reply stream: both are built
from `services.chat_views.message_data`.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from galatea.core.records import PresetRecord
from galatea.services.chat_views import ChatSummary, ChatView, MessageView, message_data
from galatea.services.chats import MAX_TITLE_LENGTH, UNSET, ChatChanges, ChatSettingsView
from galatea.services.presets import MAX_NAME_LENGTH as MAX_PRESET_NAME
from galatea.services.presets import SettingField
from galatea.web.schemas.characters import character_avatar_url
from galatea.web.schemas.text import named, without_nul

ID = Field(min_length=1, max_length=64)
MAX_TEXT = 1_000_000
"""Request bound only; the service applies the real limits with a clear message."""
SETTINGS = Field(default=None, description="Setting name to value; see GET /presets/fields.")


class MessagePublic(BaseModel):
    """One message of a chat."""

    id: str
    parent_id: str | None
    role: str = Field(description="user, character or system")
    name: str
    text: str = Field(description="As stored (macros such as {{user}} included).")
    shown_text: str = Field(description="As shown: {{char}} and {{user}} filled in.")
    status: str = Field(description="complete, or incomplete when stopped or failed part way")
    hidden: bool = Field(description="Left out of the prompt.")
    created_at: datetime
    swipe_index: int = Field(description="0-based position among its alternatives.")
    swipe_count: int

    @classmethod
    def of(cls, view: MessageView) -> "MessagePublic":
        """The API view of a message."""
        return cls.model_validate(message_data(view))


class ChatSummaryPublic(BaseModel):
    """A chat in a list."""

    id: str
    title: str
    character_id: str | None
    character_name: str
    character_avatar_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, summary: ChatSummary) -> "ChatSummaryPublic":
        """The API view of a chat in a list."""
        record = summary.record
        return cls(
            id=record.id,
            title=record.title,
            character_id=record.character_id,
            character_name=summary.character_name,
            character_avatar_url=None
            if record.character_id is None
            else character_avatar_url(record.character_id, summary.character_avatar_digest),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class ChatPublic(ChatSummaryPublic):
    """A chat with its active path of messages."""

    persona_id: str | None
    persona_name: str
    preset_id: str | None
    settings: dict[str, Any] = Field(description="This chat's own overrides of its preset.")
    generating: bool = Field(description="A reply is being written (GET .../stream to follow).")
    messages: list[MessagePublic] = Field(description="The active path, oldest first.")

    @classmethod
    def of_view(cls, view: ChatView) -> "ChatPublic":
        """The API view of an open chat."""
        record = view.record
        return cls(
            **ChatSummaryPublic.of(view.summary).model_dump(),
            persona_id=record.persona_id,
            persona_name=view.persona.name,
            preset_id=record.preset_id,
            settings=record.settings,
            generating=view.generating,
            messages=[MessagePublic.of(m) for m in view.messages],
        )


class ChatCreate(BaseModel):
    """A new chat with a character."""

    model_config = ConfigDict(extra="forbid")

    character_id: str = ID
    persona_id: str | None = Field(default=None, max_length=64)
    title: str = Field(default="", max_length=MAX_TITLE_LENGTH, json_schema_extra=without_nul())


class ChatUpdate(BaseModel):
    """Changes to a chat; fields left out stay. A null persona or preset means the default."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(
        default=None, max_length=MAX_TITLE_LENGTH, json_schema_extra=without_nul()
    )
    persona_id: str | None = Field(default=None, max_length=64)
    preset_id: str | None = Field(default=None, max_length=64)
    settings: dict[str, Any] | None = SETTINGS

    def changes(self) -> ChatChanges:
        """The service's change, with fields that were not sent left UNSET."""
        sent = self.model_fields_set

        def pick(name: str) -> Any:
            return getattr(self, name) if name in sent else UNSET

        title = pick("title")
        return ChatChanges(
            title="" if title is None else title,
            persona_id=pick("persona_id"),
            preset_id=pick("preset_id"),
            settings=pick("settings"),
        )


class MessageCreate(BaseModel):
    """A message the user sends."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        max_length=MAX_TEXT,
        description="Not blank; the site's own limit (32,000 characters by default) applies.",
        json_schema_extra=named(),
    )


class MessageUpdate(BaseModel):
    """An edit of a message's text, or hiding it from (or showing it to) the prompt."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=MAX_TEXT, json_schema_extra=without_nul())
    hidden: bool | None = None


class TurnTarget(BaseModel):
    """Which message a regenerate or continue is about (default: the last one)."""

    model_config = ConfigDict(extra="forbid")

    message_id: str | None = Field(default=None, max_length=64)


class SwipeRequest(BaseModel):
    """Show another alternative of a message."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(default=1, ge=-1000, le=1000, description="1: next, -1: previous.")


class BranchRequest(BaseModel):
    """A new chat from the path up to a message."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=MAX_TITLE_LENGTH, json_schema_extra=without_nul())


class MessagesPublic(BaseModel):
    """A chat's active path after a change."""

    messages: list[MessagePublic]


class DeletedPublic(BaseModel):
    """What a deletion removed."""

    deleted: list[str]


class StoppedPublic(BaseModel):
    """Whether a running reply was stopped."""

    stopped: bool


class ChatSettingsPublic(BaseModel):
    """A chat's generation settings and where they come from."""

    preset_id: str | None
    preset_values: dict[str, Any]
    overrides: dict[str, Any]
    effective: dict[str, Any]

    @classmethod
    def of(cls, view: ChatSettingsView) -> "ChatSettingsPublic":
        """The API view of a chat's settings."""
        return cls(
            preset_id=view.preset_id,
            preset_values=view.preset_values,
            overrides=view.overrides,
            effective=view.effective,
        )


class PresetCreate(BaseModel):
    """A new preset."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_PRESET_NAME, json_schema_extra=named())
    settings: dict[str, Any] = Field(default_factory=dict)


class PresetUpdate(BaseModel):
    """Changes to a preset; `settings` replaces all of them."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=MAX_PRESET_NAME, json_schema_extra=named()
    )
    settings: dict[str, Any] | None = SETTINGS


class PresetPublic(BaseModel):
    """A named set of generation settings."""

    id: str
    name: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: PresetRecord) -> "PresetPublic":
        """The API view of a preset."""
        return cls(
            id=record.id,
            name=record.name,
            settings=record.settings,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class SettingFieldPublic(BaseModel):
    """A setting presets and chats may set."""

    name: str
    kind: str
    group: str
    description: str
    default: Any
    minimum: float | None
    maximum: float | None
    nullable: bool
    choices: list[str]

    @classmethod
    def of(cls, spec: SettingField) -> "SettingFieldPublic":
        """The API view of a setting."""
        return cls(
            name=spec.name,
            kind=spec.kind,
            group=spec.group,
            description=spec.description,
            default=spec.default,
            minimum=spec.minimum,
            maximum=spec.maximum,
            nullable=spec.nullable,
            choices=list(spec.choices),
        )
