"""Character Card JSON objects (V1, V2, V3 and Pygmalion) <-> `core.Character`.

Reading is lenient and keeps everything: unknown keys of `data`, of the lorebook, its entries
and the assets go to `extra`; values we cannot convert stay there verbatim. Writing gives the
V3 object (or the same data under a V2 header) with those keys restored, so a card read and
written again carries the same data, text fields byte for byte.

For V2 and V3 files `data` is the card. The keys SillyTavern writes beside it (V1 copies of
the main fields, `avatar`, `chat`, `create_date`, ...) are its own bookkeeping and are not
kept; the copies only fill in fields `data` lacks.
"""

from typing import Any, Literal

from galatea.core.characters import Asset, Character
from galatea.core.json_types import JsonObject
from galatea.formats.cards.books import read_lorebook, require_book, write_lorebook
from galatea.formats.cards.errors import InvalidCardError, NotACardError
from galatea.formats.cards.fields import (
    UNREADABLE,
    ObjectReader,
    Unreadable,
    check_count,
    check_length,
    read_number,
    read_object,
    read_text,
    read_text_list,
    restore_extra,
)
from galatea.formats.cards.limits import CardLimits

Spec = Literal["chara_card_v3", "chara_card_v2", "chara_card_v1", "pygmalion"]
V3_SPEC = "chara_card_v3"
V2_SPEC = "chara_card_v2"
V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
V3_BACKFILL_NOTE = (
    "This character card is Character Card V3, but it is loaded as a Character Card V2. "
    "Please use a Character Card V3 compatible application to use this character card properly."
)
_PYGMALION_FIELDS = {
    "char_name": "name",
    "char_persona": "description",
    "world_scenario": "scenario",
    "char_greeting": "first_mes",
    "example_dialogue": "mes_example",
}
_DATA_DEFAULTS: JsonObject = {
    "name": "",
    "description": "",
    "personality": "",
    "scenario": "",
    "first_mes": "",
    "mes_example": "",
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
    "group_only_greetings": [],
}
_ASSET_DEFAULTS: JsonObject = {"type": "", "uri": "", "name": "", "ext": ""}


def read_card_object(
    card: JsonObject, limits: CardLimits, warnings: list[str]
) -> tuple[Character, Spec]:
    """Read any supported card JSON object; returns the character and the spec it was in."""
    spec = card.get("spec")
    data = card.get("data")
    if isinstance(spec, str) and spec.startswith("lorebook"):
        raise NotACardError(f"this is a lorebook ({spec}), not a character card")
    if isinstance(data, dict) and (spec is None or _is_card_spec(spec)):
        kind = _card_kind(card, warnings)
        legacy = {key: card[key] for key in V1_FIELDS if key in card}
        character = _read_data(data, "data.", legacy, limits, warnings)
        if kind == V2_SPEC:
            character.creator_notes = _trim_backfill_note(character.creator_notes)
        return character, kind
    if any(key in card for key in _PYGMALION_FIELDS):
        return _read_pygmalion(card, limits, warnings), "pygmalion"
    if any(key in card for key in V1_FIELDS):
        character = _read_data(card, "", {}, limits, warnings)
        _adopt_sillytavern_v1_fields(character)
        if spec is not None:
            warnings.append(f"spec {spec!r} has no 'data' object; read the top-level fields")
            # They describe the file, not the character; the export writes its own.
            character.extra.pop("spec", None)
            character.extra.pop("spec_version", None)
        return character, "chara_card_v1"
    if isinstance(spec, str):
        raise NotACardError(f"unknown card spec {spec[:40]!r} with no readable card data")
    if isinstance(card.get("entries"), dict | list):
        raise NotACardError("this is a lorebook (world info) file, not a character card")
    raise NotACardError("the JSON is not a character card: it has no 'spec', 'name' or 'char_name'")


def write_card_object(
    character: Character, spec: Literal["v3", "v2"] = "v3", *, backfill_note: bool = False
) -> JsonObject:
    """The card as a V3 object, or as V2 (same data plus top-level V1 copies for old readers)."""
    data = _write_data(character)
    if spec == "v3":
        return {"spec": V3_SPEC, "spec_version": "3.0", "data": data}
    if data.get("group_only_greetings") == []:
        # A V3 field; V2 readers have no use for the empty list.
        del data["group_only_greetings"]
    if backfill_note and uses_v3_features(character):
        notes = character.creator_notes
        data["creator_notes"] = V3_BACKFILL_NOTE + ("\n\n" + notes if notes else "")
    legacy = {key: data[key] for key in V1_FIELDS}
    return {**legacy, "spec": V2_SPEC, "spec_version": "2.0", "data": data}


def uses_v3_features(character: Character) -> bool:
    """Whether the character has data a V2-only application would ignore."""
    book = character.character_book
    return bool(
        character.nickname is not None
        or character.group_only_greetings
        or character.assets is not None
        or character.creator_notes_multilingual is not None
        or character.source is not None
        or character.creation_date is not None
        or character.modification_date is not None
        or (book is not None and any(entry.use_regex for entry in book.entries))
    )


def _is_card_spec(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith("chara_card_v")


def _card_kind(card: JsonObject, warnings: list[str]) -> Spec:
    spec = card.get("spec")
    if spec == V2_SPEC:
        return "chara_card_v2"
    if spec == V3_SPEC:
        version = read_number(card.get("spec_version"))
        if isinstance(version, int | float) and version > 3.0:
            warnings.append(
                f"card spec_version {card.get('spec_version')!r} is newer than 3.0; "
                "fields we do not know are kept unchanged"
            )
        return "chara_card_v3"
    if spec is None:
        warnings.append("card has a 'data' object but no 'spec'; read it as V2")
        return "chara_card_v2"
    warnings.append(f"card spec {spec[:40]!r} is unknown; read it as V3")
    return "chara_card_v3"


def _read_data(
    source: JsonObject, where: str, legacy: JsonObject, limits: CardLimits, warnings: list[str]
) -> Character:
    # Top-level V1 copies beside `data` only fill in what `data` lacks.
    for key, value in legacy.items():
        if key not in source:
            source = {**source, key: value}
            warnings.append(f"{where}{key} is missing; used the top-level {key}")
    reader = ObjectReader(source, where, warnings)
    long = limits.max_text_chars
    name = reader.text("name", limits.max_name_chars)
    if not name.strip():
        raise InvalidCardError("the card has no name")
    character = Character(
        name=name,
        description=reader.text("description", long),
        personality=reader.text("personality", long),
        scenario=reader.text("scenario", long),
        first_mes=reader.text("first_mes", long),
        mes_example=reader.text("mes_example", long),
        creator_notes=reader.text("creator_notes", long),
        system_prompt=reader.text("system_prompt", long),
        post_history_instructions=reader.text("post_history_instructions", long),
        alternate_greetings=reader.take("alternate_greetings", read_text_list, []),
        group_only_greetings=reader.take("group_only_greetings", read_text_list, []),
        tags=reader.take("tags", _tags, []),
        creator=reader.text("creator", long),
        character_version=reader.text("character_version", long),
        extensions=reader.take("extensions", read_object, {}),
        nickname=reader.take("nickname", _optional_text, None),
        creator_notes_multilingual=reader.take("creator_notes_multilingual", _notes, None),
        source=reader.take("source", _optional_text_list, None),
        creation_date=reader.take("creation_date", read_number, None),
        modification_date=reader.take("modification_date", read_number, None),
    )
    book = reader.take("character_book", require_book, None)
    if book is not None:
        character.character_book = read_lorebook(book, limits, warnings)
    assets = reader.take("assets", _asset_list, None)
    if assets is not None:
        check_count(f"{where}assets", len(assets), limits.max_assets)
        character.assets = [
            _read_asset(raw, f"{where}assets[{i}].", warnings) for i, raw in enumerate(assets)
        ]
    character.extra = reader.extra()
    _check_sizes(character, where, limits)
    return character


def _check_sizes(character: Character, where: str, limits: CardLimits) -> None:
    for field_name in ("alternate_greetings", "group_only_greetings", "tags"):
        items: list[str] = getattr(character, field_name)
        check_count(f"{where}{field_name}", len(items), limits.max_list_items)
        for index, text in enumerate(items):
            check_length(f"{where}{field_name}[{index}]", text, limits.max_text_chars)
    if character.nickname is not None:
        check_length(f"{where}nickname", character.nickname, limits.max_name_chars)
    for language, notes in (character.creator_notes_multilingual or {}).items():
        check_length(
            f"{where}creator_notes_multilingual.{language[:16]}", notes, limits.max_text_chars
        )


def _read_asset(raw: JsonObject, where: str, warnings: list[str]) -> Asset:
    reader = ObjectReader(raw, where, warnings)
    asset = Asset(
        type=reader.take("type", read_text, ""),
        uri=reader.take("uri", read_text, ""),
        name=reader.take("name", read_text, ""),
        ext=reader.take("ext", read_text, ""),
    )
    asset.extra = reader.extra()
    return asset


def _read_pygmalion(card: JsonObject, limits: CardLimits, warnings: list[str]) -> Character:
    renamed = {_PYGMALION_FIELDS.get(key, key): value for key, value in card.items()}
    clashes = [key for key in _PYGMALION_FIELDS.values() if key in card]
    if clashes:
        warnings.append(f"Pygmalion card also has {', '.join(clashes)}; its char_* fields win")
        renamed = {
            **renamed,
            **{new: card[old] for old, new in _PYGMALION_FIELDS.items() if old in card},
        }
    character = _read_data(renamed, "", {}, limits, warnings)
    for key in clashes:
        character.extra[key] = card[key]
    return character


def _adopt_sillytavern_v1_fields(character: Character) -> None:
    # SillyTavern's V1 files keep creator notes and two settings at the top level; V2 moved them.
    extra = character.extra
    if "creatorcomment" in extra and not character.creator_notes:
        comment = read_text(extra["creatorcomment"])
        if isinstance(comment, str):
            character.creator_notes = comment
            del extra["creatorcomment"]
    for key in ("talkativeness", "fav"):
        if key in extra and key not in character.extensions:
            character.extensions = {**character.extensions, key: extra.pop(key)}


def _trim_backfill_note(notes: str) -> str:
    if not notes.startswith(V3_BACKFILL_NOTE):
        return notes
    rest = notes[len(V3_BACKFILL_NOTE) :]
    return rest[2:] if rest.startswith("\n\n") else rest


def _write_data(character: Character) -> JsonObject:
    out: JsonObject = {
        "name": character.name,
        "description": character.description,
        "personality": character.personality,
        "scenario": character.scenario,
        "first_mes": character.first_mes,
        "mes_example": character.mes_example,
        "creator_notes": character.creator_notes,
        "system_prompt": character.system_prompt,
        "post_history_instructions": character.post_history_instructions,
        "alternate_greetings": list(character.alternate_greetings),
        "tags": list(character.tags),
        "creator": character.creator,
        "character_version": character.character_version,
        "extensions": character.extensions,
        "group_only_greetings": list(character.group_only_greetings),
    }
    if character.character_book is not None:
        out["character_book"] = write_lorebook(character.character_book)
    if character.assets is not None:
        out["assets"] = [_write_asset(asset) for asset in character.assets]
    optional: dict[str, Any] = {
        "nickname": character.nickname,
        "creator_notes_multilingual": character.creator_notes_multilingual,
        "source": character.source,
        "creation_date": character.creation_date,
        "modification_date": character.modification_date,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    return restore_extra(out, character.extra, _DATA_DEFAULTS)


def _write_asset(asset: Asset) -> JsonObject:
    out: JsonObject = {"type": asset.type, "uri": asset.uri, "name": asset.name, "ext": asset.ext}
    return restore_extra(out, asset.extra, _ASSET_DEFAULTS)


def _optional_text(value: Any) -> str | Unreadable | None:
    return None if value is None else read_text(value)


def _optional_text_list(value: Any) -> list[str] | Unreadable | None:
    return None if value is None else read_text_list(value)


def _tags(value: Any) -> list[str] | Unreadable:
    return read_text_list(value, split_commas=True)


def _notes(value: Any) -> dict[str, str] | Unreadable | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        return UNREADABLE
    return dict(value)


def _asset_list(value: Any) -> list[JsonObject] | Unreadable | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return UNREADABLE
    return value
