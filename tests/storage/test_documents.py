"""Character documents: every field of a character survives being stored as JSON."""

import json
from dataclasses import fields

import pytest
from hypothesis import given

from galatea.core.characters import Asset, Character
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.storage.columns import dump_json
from galatea.storage.documents import (
    DocumentError,
    character_from_document,
    character_to_document,
)
from tests.storage.strategies import characters


@given(characters)
def test_a_character_comes_back_from_its_stored_json_unchanged(character: Character) -> None:
    stored = json.loads(dump_json(character_to_document(character)))
    assert character_from_document(stored) == character


def test_the_document_covers_every_field_of_the_domain_classes() -> None:
    book = Lorebook(entries=[LoreEntry(keys=["k"], content="c")])
    character = Character(name="n", character_book=book, assets=[Asset("icon", "u", "n", "png")])
    document = character_to_document(character)
    assert set(document) == {f.name for f in fields(Character)} | {"version"}
    assert set(document["character_book"]) == {f.name for f in fields(Lorebook)}
    assert set(document["character_book"]["entries"][0]) == {f.name for f in fields(LoreEntry)}
    assert set(document["assets"][0]) == {f.name for f in fields(Asset)}


def test_an_unknown_document_version_is_refused_by_name() -> None:
    document = character_to_document(Character(name="n"))
    document["version"] = 99
    with pytest.raises(DocumentError, match="version 99"):
        character_from_document(document)


def test_a_damaged_document_is_a_document_error() -> None:
    document = character_to_document(Character(name="n"))
    del document["first_mes"]
    with pytest.raises(DocumentError, match="first_mes"):
        character_from_document(document)
