"""Character documents: how a `Character` (with its lorebook and assets) is kept as JSON.

The document is our own storage shape, not a card format: every field of the domain objects
under its own name, so a character comes back exactly as it went in. `version` lets a later
release change the shape with a migration.
"""

from typing import Any

from galatea.core.characters import Asset, Character
from galatea.core.json_types import JsonObject
from galatea.core.lorebooks import Lorebook, LoreEntry

DOCUMENT_VERSION = 1

_CHARACTER_TEXT = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
_CHARACTER_LISTS = ("alternate_greetings", "group_only_greetings", "tags")
_CHARACTER_OPTIONAL = (
    "nickname",
    "creator_notes_multilingual",
    "source",
    "creation_date",
    "modification_date",
)
_ENTRY_FIELDS = (
    "keys",
    "content",
    "enabled",
    "insertion_order",
    "use_regex",
    "case_sensitive",
    "constant",
    "selective",
    "secondary_keys",
    "position",
    "name",
    "priority",
    "id",
    "comment",
    "extensions",
    "extra",
)
_BOOK_FIELDS = (
    "name",
    "description",
    "scan_depth",
    "token_budget",
    "recursive_scanning",
    "extensions",
    "extra",
)


class DocumentError(ValueError):
    """A stored character document that cannot be read back."""


def character_to_document(character: Character) -> JsonObject:
    """The JSON document stored for a character."""
    document: JsonObject = {"version": DOCUMENT_VERSION}
    for name in (*_CHARACTER_TEXT, *_CHARACTER_OPTIONAL):
        document[name] = getattr(character, name)
    for name in _CHARACTER_LISTS:
        document[name] = list(getattr(character, name))
    document["extensions"] = character.extensions
    document["extra"] = character.extra
    document["character_book"] = (
        None if character.character_book is None else _book_to_json(character.character_book)
    )
    document["assets"] = (
        None if character.assets is None else [_asset_to_json(a) for a in character.assets]
    )
    return document


def character_from_document(document: JsonObject) -> Character:
    """The character a stored document describes."""
    version = document.get("version")
    if version != DOCUMENT_VERSION:
        raise DocumentError(f"character document version {version!r} is not {DOCUMENT_VERSION}")
    try:
        fields: dict[str, Any] = {name: document[name] for name in _CHARACTER_TEXT}
        fields.update({name: list(document[name]) for name in _CHARACTER_LISTS})
        fields.update({name: document.get(name) for name in _CHARACTER_OPTIONAL})
        book = document.get("character_book")
        assets = document.get("assets")
        return Character(
            **fields,
            extensions=document["extensions"],
            extra=document["extra"],
            character_book=None if book is None else _book_from_json(book),
            assets=None if assets is None else [_asset_from_json(a) for a in assets],
        )
    except (KeyError, TypeError) as error:
        raise DocumentError(f"character document is malformed: {error!r}") from None


def _book_to_json(book: Lorebook) -> JsonObject:
    result: JsonObject = {name: getattr(book, name) for name in _BOOK_FIELDS}
    result["entries"] = [
        {name: getattr(entry, name) for name in _ENTRY_FIELDS} for entry in book.entries
    ]
    return result


def _book_from_json(value: JsonObject) -> Lorebook:
    entries = [
        LoreEntry(**{name: entry[name] for name in _ENTRY_FIELDS}) for entry in value["entries"]
    ]
    return Lorebook(entries=entries, **{name: value[name] for name in _BOOK_FIELDS})


def _asset_to_json(asset: Asset) -> JsonObject:
    return {
        "type": asset.type,
        "uri": asset.uri,
        "name": asset.name,
        "ext": asset.ext,
        "extra": asset.extra,
    }


def _asset_from_json(value: JsonObject) -> Asset:
    return Asset(
        type=value["type"],
        uri=value["uri"],
        name=value["name"],
        ext=value["ext"],
        extra=value["extra"],
    )
