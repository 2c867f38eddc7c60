"""Generation presets: named sets of reply settings per user, and how a chat's settings resolve.

A chat's settings are, from weakest to strongest: the built-in defaults, the preset the chat
names (else the user's preset called "Default", if they made one), then the chat's own
overrides. Presets and overrides are stored as flat JSON objects of the fields in `FIELDS`;
every value is checked against its field's kind and bounds before it is stored, so a bad value
is refused with a message naming the field and never reaches a backend.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from galatea.core.json_types import JsonObject
from galatea.core.prompting import list_templates
from galatea.core.records import ChatRecord, PresetRecord
from galatea.core.users import User
from galatea.inference.params import SamplingParams
from galatea.services import access
from galatea.services.errors import Conflict, InvalidInput
from galatea.services.generation import ROLEPLAY_SAMPLING, GenerationSettings
from galatea.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from galatea.services.validation import clean_text

DEFAULT_PRESET_NAME = "Default"
"""A user's preset of this name (any case) applies to chats that name no preset."""
MAX_PRESETS_PER_USER = 100
MAX_NAME_LENGTH = 100
MAX_PROMPT_TEXT = 20_000

FieldKind = Literal["int", "float", "text", "choice"]
FieldGroup = Literal["length", "prompt", "sampling"]


@dataclass(frozen=True, slots=True)
class SettingField:
    """One setting a preset or a chat may set: its kind, bounds and meaning."""

    name: str
    kind: FieldKind
    group: FieldGroup
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    """None is allowed and means "decide for me" (the model's template, its context, ...)."""
    choices: tuple[str, ...] = ()


def _sampler(name: str, kind: FieldKind, low: float, high: float, description: str) -> SettingField:
    default = getattr(ROLEPLAY_SAMPLING, name)
    return SettingField(name, kind, "sampling", description, default, low, high)


FIELDS: tuple[SettingField, ...] = (
    SettingField(
        "template",
        "choice",
        "prompt",
        "Prompt format; empty uses the one that suits the model.",
        nullable=True,
        choices=tuple(list_templates()),
    ),
    SettingField(
        "context_length",
        "int",
        "length",
        "Prompt plus reply, in tokens; empty uses the model's (your tier may allow less).",
        minimum=256,
        maximum=1_048_576,
        nullable=True,
    ),
    SettingField(
        "max_reply_tokens",
        "int",
        "length",
        "Longest reply, in tokens (your tier may allow less).",
        default=250,
        minimum=1,
        maximum=8192,
    ),
    SettingField(
        "system_prompt",
        "text",
        "prompt",
        "Replaces the template's system prompt (a character's own still wins).",
        nullable=True,
        maximum=MAX_PROMPT_TEXT,
    ),
    SettingField(
        "post_history_instructions",
        "text",
        "prompt",
        "Written after the chat, just before the reply.",
        default="",
        maximum=MAX_PROMPT_TEXT,
    ),
    SettingField(
        "author_note",
        "text",
        "prompt",
        "A note put a few messages up from the newest one.",
        default="",
        maximum=MAX_PROMPT_TEXT,
    ),
    SettingField(
        "author_note_depth",
        "int",
        "prompt",
        "How many messages up from the newest the author's note goes.",
        default=4,
        minimum=0,
        maximum=100,
    ),
    SettingField(
        "seed",
        "int",
        "sampling",
        "Fixed random seed; empty picks a new one every time.",
        minimum=0,
        maximum=2**32 - 1,
        nullable=True,
    ),
    _sampler("temperature", "float", 0, 5, "Randomness; 0 always picks the likeliest word."),
    _sampler("min_p", "float", 0, 1, "Drop words less likely than this share of the likeliest."),
    _sampler("top_p", "float", 0, 1, "Keep the likeliest words adding up to this; 1 is off."),
    _sampler("top_k", "int", 0, 1000, "Keep only this many likeliest words; 0 is off."),
    _sampler("typical_p", "float", 0, 1, "Locally typical sampling; 1 is off."),
    _sampler("top_n_sigma", "float", 0, 10, "Keep words within n deviations of the top; 0 is off."),
    _sampler("repetition_penalty", "float", 0.5, 3, "Penalise repeating recent words; 1 is off."),
    _sampler("penalty_range", "int", -1, 65536, "Recent tokens the penalties look at; -1 is all."),
    _sampler("frequency_penalty", "float", -2, 2, "Penalty growing with each repeat; 0 is off."),
    _sampler("presence_penalty", "float", -2, 2, "Penalty for any word already used; 0 is off."),
    _sampler("dry_multiplier", "float", 0, 10, "DRY: penalise repeated phrases; 0 is off."),
    _sampler("dry_base", "float", 1, 10, "DRY: how fast the penalty grows with the repeat."),
    _sampler("dry_allowed_length", "int", 0, 100, "DRY: repeats this short are not penalised."),
    _sampler("xtc_probability", "float", 0, 1, "XTC: chance of excluding the top choices."),
    _sampler("xtc_threshold", "float", 0, 1, "XTC: how likely a word must be to be excluded."),
    _sampler("dynatemp_range", "float", 0, 5, "Dynamic temperature range; 0 is off."),
    _sampler("mirostat_mode", "int", 0, 2, "Mirostat: 0 off, 1 or 2 (replaces the others)."),
    _sampler("mirostat_tau", "float", 0, 20, "Mirostat: target surprise."),
    _sampler("mirostat_eta", "float", 0, 1, "Mirostat: learning rate."),
)
"""Every setting, in the order a settings form shows them."""
FIELDS_BY_NAME = {spec.name: spec for spec in FIELDS}
_SAMPLER_NAMES = frozenset(f.name for f in fields(SamplingParams))


def check_settings(raw: Mapping[str, Any]) -> JsonObject:
    """Settings checked field by field (unknown names refused); returns a clean copy."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("settings", "must be an object of setting names to values")
    clean: JsonObject = {}
    for name, value in raw.items():
        spec = FIELDS_BY_NAME.get(name) if isinstance(name, str) else None
        if spec is None:
            raise InvalidInput(f"settings.{name}", "is not a known setting")
        clean[name] = _check_value(spec, value)
    return clean


def _check_value(spec: SettingField, value: Any) -> Any:
    field = f"settings.{spec.name}"
    if value is None or (value == "" and spec.nullable and spec.kind != "text"):
        if not spec.nullable:
            raise InvalidInput(field, "must have a value")
        return None
    if spec.kind == "text":
        if not isinstance(value, str):
            raise InvalidInput(field, "must be text")
        limit = int(spec.maximum or MAX_PROMPT_TEXT)
        return clean_text(field, value.replace("\r\n", "\n"), max_length=limit)
    if spec.kind == "choice":
        if not isinstance(value, str) or value.strip().lower() not in spec.choices:
            raise InvalidInput(field, f"must be one of {', '.join(spec.choices)}")
        return value.strip().lower()
    number = _number(field, value, whole=spec.kind == "int")
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidInput(field, f"must be between {low:g} and {high:g}")
    return number


def _number(field: str, value: Any, *, whole: bool) -> int | float:
    if isinstance(value, bool):
        raise InvalidInput(field, "must be a number")
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else math.nan
        except ValueError:
            raise InvalidInput(field, "must be a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(field, "must be a finite number")
    if whole:
        if value != int(value):
            raise InvalidInput(field, "must be a whole number")
        return int(value)
    return float(value)


def resolve_settings(*layers: Mapping[str, Any] | None) -> GenerationSettings:
    """Generation settings from the defaults overlaid with each layer in turn (later wins)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged.update({k: v for k, v in layer.items() if k in FIELDS_BY_NAME})
    samplers = {k: v for k, v in merged.items() if k in _SAMPLER_NAMES}
    plain = {k: v for k, v in merged.items() if k not in _SAMPLER_NAMES}
    return replace(
        GenerationSettings(),
        sampling=replace(ROLEPLAY_SAMPLING, **samplers),
        **plain,
    )


def effective_values(settings: GenerationSettings) -> JsonObject:
    """Every field's value in resolved settings, flat (what a settings form shows)."""
    values: JsonObject = {}
    for spec in FIELDS:
        source: Any = settings.sampling if spec.name in _SAMPLER_NAMES else settings
        values[spec.name] = getattr(source, spec.name)
    return values


class PresetService:
    """Users' presets; every id is checked against the caller (others' are NotFound)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def list_presets(self, user: User) -> list[PresetRecord]:
        """The user's presets by name."""
        async with self._uow(write=False) as uow:
            return await uow.presets.list_for_owner(user.id)

    async def get(self, viewer: User | None, preset_id: str) -> PresetRecord:
        """One preset the viewer may see."""
        async with self._uow(write=False) as uow:
            return access.readable_preset(viewer, await uow.presets.get(preset_id))

    async def create(self, user: User, name: str, settings: Mapping[str, Any]) -> PresetRecord:
        """A new preset; names are unique per user (ignoring case)."""
        now = self._clock.now()
        record = PresetRecord(
            owner_id=user.id,
            name=_name(name),
            settings=check_settings(settings),
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            existing = await uow.presets.list_for_owner(user.id)
            if len(existing) >= MAX_PRESETS_PER_USER:
                raise Conflict(f"a user may have at most {MAX_PRESETS_PER_USER} presets")
            _check_unique(existing, record)
            if not await uow.presets.add(record):
                raise Conflict(f"you already have a preset called {record.name!r}")
            await uow.commit()
        return record

    async def update(
        self,
        user: User,
        preset_id: str,
        *,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> PresetRecord:
        """Rename a preset or replace its settings."""
        async with self._uow() as uow:
            record = access.writable_preset(user, await uow.presets.get(preset_id))
            if name is not None:
                record.name = _name(name)
                _check_unique(await uow.presets.list_for_owner(user.id), record)
            if settings is not None:
                record.settings = check_settings(settings)
            record.updated_at = self._clock.now()
            if not await uow.presets.update(record):
                raise Conflict(f"you already have a preset called {record.name!r}")
            await uow.commit()
        return record

    async def delete(self, user: User, preset_id: str) -> None:
        """Delete a preset; chats using it fall back to the default settings."""
        async with self._uow() as uow:
            record = access.writable_preset(user, await uow.presets.get(preset_id))
            await uow.presets.delete(record.id)
            await uow.commit()


async def chat_settings(uow: UnitOfWork, chat: ChatRecord) -> GenerationSettings:
    """The settings a chat's replies use: defaults, its preset, then its own overrides."""
    return resolve_settings(await chat_preset_values(uow, chat), chat.settings)


async def chat_preset_values(uow: UnitOfWork, chat: ChatRecord) -> JsonObject | None:
    """The values of the preset that applies to a chat (its own, else the owner's Default)."""
    if chat.preset_id is not None:
        preset = await uow.presets.get(chat.preset_id)
        if preset is not None and preset.owner_id == chat.owner_id:
            return preset.settings
    for preset in await uow.presets.list_for_owner(chat.owner_id):
        if preset.name.casefold() == DEFAULT_PRESET_NAME.casefold():
            return preset.settings
    return None


def _name(name: str) -> str:
    return clean_text("name", name, max_length=MAX_NAME_LENGTH, required=True)


def _check_unique(existing: list[PresetRecord], record: PresetRecord) -> None:
    for other in existing:
        if other.id != record.id and other.name.casefold() == record.name.casefold():
            raise Conflict(f"you already have a preset called {other.name!r}")
