import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from galatea.core.characters import Character
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.formats.cards.card_json import (
    V3_BACKFILL_NOTE,
    read_card_object,
    uses_v3_features,
    write_card_object,
)
from galatea.formats.cards.errors import CardTooLargeError, InvalidCardError, NotACardError
from galatea.formats.cards.limits import DEFAULT_LIMITS
from tests.formats.make_fixtures import (
    MESSY_CARD_TEXT,
    PYGMALION_CARD,
    TRICKY_TEXT,
    V1_CARD,
    V2_CARD,
    V2_DATA,
    V3_CARD,
    V3_DATA,
)


def read(card: dict[str, Any]) -> tuple[Character, str, list[str]]:
    warnings: list[str] = []
    character, spec = read_card_object(copy.deepcopy(card), DEFAULT_LIMITS, warnings)
    return character, spec, warnings


def test_v3_round_trips_to_the_same_object_with_text_byte_for_byte() -> None:
    character, spec, warnings = read(V3_CARD)
    assert (spec, warnings) == ("chara_card_v3", [])
    exported = write_card_object(character)
    assert exported == V3_CARD
    assert exported["data"]["description"].encode() == V3_DATA["description"].encode()
    assert TRICKY_TEXT in character.description


def test_v3_fields_and_unknown_keys_land_where_the_domain_expects_them() -> None:
    character, _, _ = read(V3_CARD)
    assert character.nickname == "Ix"
    assert character.display_name == "Ix"
    assert character.group_only_greetings == V3_DATA["group_only_greetings"]
    assert character.creator_notes_multilingual == {"en": "English notes.", "ja": "日本語のメモ"}
    assert character.source == ["https://example.org/cards/ixchel"]
    assert (character.creation_date, character.modification_date) == (1700000000, 1700000500.5)
    assert character.extra == {"x_custom": {"kept": True}}
    assert character.assets is not None
    assert character.assets[1].extra == {"x_asset": "kept"}
    book = character.character_book
    assert book is not None
    assert book.extra == {"x_book_field": [1, 2]}
    assert book.entries[0].use_regex is True
    assert book.entries[0].id == "c-1"
    assert book.entries[0].extra == {"x_entry": "kept"}
    assert book.entries[0].content.startswith("@@depth 4\n@@role system\n")


def test_v2_from_sillytavern_upgrades_to_v3_keeping_all_data() -> None:
    character, spec, warnings = read(V2_CARD)
    assert (spec, warnings) == ("chara_card_v2", [])
    exported = write_card_object(character)
    assert exported["spec"] == "chara_card_v3"
    assert exported["spec_version"] == "3.0"
    # The upgrade adds only what V3 requires: group_only_greetings and each entry's use_regex.
    expected = copy.deepcopy(V2_DATA)
    expected["group_only_greetings"] = []
    for entry in expected["character_book"]["entries"]:
        entry["use_regex"] = False
    assert exported["data"] == expected


def test_v2_keeps_lorebook_entries_with_every_field() -> None:
    character, _, _ = read(V2_CARD)
    book = character.character_book
    assert book is not None
    first = book.entries[0]
    assert first == LoreEntry(
        keys=["Kestrel", "airship"],
        content="The Kestrel is a patched cargo airship with a brass figurehead.",
        enabled=True,
        insertion_order=100,
        case_sensitive=False,
        constant=False,
        selective=True,
        secondary_keys=["deck"],
        position="before_char",
        name="ship",
        priority=10,
        id=0,
        comment="the ship",
        extensions={"position": 0, "depth": 4, "probability": 100, "useProbability": True},
    )
    assert book.entries[1].insertion_order == 5.5
    assert (book.scan_depth, book.token_budget, book.recursive_scanning) == (5, 512, False)


def test_data_wins_over_top_level_copies_and_fills_gaps_from_them() -> None:
    card = copy.deepcopy(V2_CARD)
    card["description"] = "stale top-level copy"
    del card["data"]["personality"]
    card["personality"] = "from the top level"
    character, _, warnings = read(card)
    assert character.description == V2_DATA["description"]
    assert character.personality == "from the top level"
    assert warnings == ["data.personality is missing; used the top-level personality"]


def test_v1_reads_and_moves_sillytavern_fields_where_v2_keeps_them() -> None:
    character, spec, _ = read(V1_CARD)
    assert spec == "chara_card_v1"
    assert (character.name, character.first_mes) == ("Old Tom", V1_CARD["first_mes"])
    assert character.creator_notes == "Made for a river campaign."
    assert character.extensions == {"talkativeness": "0.4", "fav": False}
    assert character.extra == {
        "avatar": "none",
        "chat": "Old Tom - 2023-5-1 @10h 00m 00s 000ms",
        "create_date": "2023-5-1 @10h 00m 00s 000ms",
    }


def test_pygmalion_fields_map_to_the_card_fields() -> None:
    character, spec, _ = read(PYGMALION_CARD)
    assert spec == "pygmalion"
    assert character.name == "Bramble"
    assert character.description == PYGMALION_CARD["char_persona"]
    assert character.first_mes == PYGMALION_CARD["char_greeting"]
    assert character.scenario == PYGMALION_CARD["world_scenario"]
    assert character.mes_example == PYGMALION_CARD["example_dialogue"]
    assert character.extra == {}


def test_messy_values_are_coerced_and_unusable_ones_kept_for_export() -> None:
    card = json.loads(MESSY_CARD_TEXT.removeprefix("\ufeff"))
    character, _, warnings = read(card)
    assert character.description == ""
    assert character.personality == "42"
    assert character.first_mes == "Hi!\r\n"
    assert character.tags == ["one", "two", "three"]
    assert character.alternate_greetings == ["only one"]
    assert character.extensions == {}
    assert character.creator == ""
    assert character.creation_date == 1700000000
    book = character.character_book
    assert book is not None
    assert book.scan_depth == 3
    first, second = book.entries
    assert (first.keys, first.enabled, first.insertion_order) == (["k1", "k2"], False, 5)
    assert (first.id, first.position, first.priority) == ("7", "before_char", None)
    assert (second.keys, second.constant, second.position) == (["legacy"], True, None)
    assert any("entries[1] is not an object" in warning for warning in warnings)
    data = write_card_object(character)["data"]
    assert data["creator"] == {"weird": True}
    assert data["character_book"]["entries"][0]["priority"] == "high"
    assert data["character_book"]["entries"][1]["position"] == 4
    assert data["character_book"]["entries"][1]["key"] == ["legacy"]


def test_a_value_kept_unread_yields_to_an_edit() -> None:
    card = json.loads(MESSY_CARD_TEXT.removeprefix("\ufeff"))
    character, _, _ = read(card)
    character.creator = "Someone"
    assert write_card_object(character)["data"]["creator"] == "Someone"


def test_optional_fields_written_as_null_are_written_back_as_null() -> None:
    # Chub's V2 exports carry "character_book": null; a V3 editor may null optional fields.
    card = copy.deepcopy(V2_CARD)
    card["data"]["character_book"] = None
    card["data"]["nickname"] = None
    character, _, warnings = read(card)
    assert (character.character_book, character.nickname, warnings) == (None, None, [])
    data = write_card_object(character, "v2")["data"]
    assert data["character_book"] is None
    assert data["nickname"] is None
    character.nickname = "Mo"
    assert write_card_object(character)["data"]["nickname"] == "Mo"


def test_world_info_style_entry_objects_are_read_in_order() -> None:
    card = {
        "spec": "chara_card_v2",
        "data": {
            "name": "W",
            "character_book": {
                "entries": {
                    "0": {"keys": ["a"], "content": "A"},
                    "1": {"keys": ["b"], "content": "B"},
                }
            },
        },
    }
    character, _, _ = read(card)
    assert character.character_book is not None
    assert [entry.content for entry in character.character_book.entries] == ["A", "B"]


def test_future_v3_versions_import_with_a_warning() -> None:
    card = copy.deepcopy(V3_CARD)
    card["spec_version"] = "3.5"
    card["data"]["x_new_field"] = "from the future"
    character, spec, warnings = read(card)
    assert spec == "chara_card_v3"
    assert warnings == [
        "card spec_version '3.5' is newer than 3.0; fields we do not know are kept unchanged"
    ]
    assert write_card_object(character)["data"]["x_new_field"] == "from the future"


def test_an_unknown_card_spec_with_data_reads_as_v3() -> None:
    character, spec, warnings = read({"spec": "chara_card_v4", "data": {"name": "N"}})
    assert (character.name, spec) == ("N", "chara_card_v3")
    assert "unknown; read it as V3" in warnings[0]


@pytest.mark.parametrize(
    ("card", "error", "message"),
    [
        ({"spec": "lorebook_v3", "data": {"entries": []}}, NotACardError, "this is a lorebook"),
        ({"kind": "character"}, NotACardError, "not a character card"),
        ({"spec": "x", "stuff": 1}, NotACardError, "unknown card spec 'x'"),
        (
            {"spec": "chara_card_v2", "data": {"name": "  "}},
            InvalidCardError,
            "the card has no name",
        ),
        ({"name": None, "description": "d"}, InvalidCardError, "the card has no name"),
    ],
)
def test_cards_we_cannot_use_say_why(
    card: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        read(card)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "n" * 257}, "data.name is 257 characters long; at most 256"),
        ({"name": "n", "description": "d" * 200_001}, "data.description is 200001 characters long"),
        ({"name": "n", "tags": [str(i) for i in range(65)]}, "data.tags has 65 items; at most 64"),
        (
            {"name": "n", "alternate_greetings": ["g" * 200_001]},
            r"alternate_greetings\[0\] is 200001",
        ),
        (
            {"name": "n", "character_book": {"entries": [{}] * 5001}},
            "entries has 5001 items; at most 5000",
        ),
        (
            {
                "name": "n",
                "character_book": {"entries": [{"keys": ["k" * 1001], "use_regex": True}]},
            },
            r"entries\[0\]\.keys \(a regular expression\) is 1001 characters",
        ),
    ],
)
def test_oversized_fields_are_refused_naming_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(CardTooLargeError, match=message):
        read({"spec": "chara_card_v3", "data": data})


def test_long_plain_keys_are_fine_when_they_are_not_regular_expressions() -> None:
    character, _, _ = read(
        {
            "spec": "chara_card_v3",
            "data": {"name": "n", "character_book": {"entries": [{"keys": ["k" * 1001]}]}},
        }
    )
    assert character.character_book is not None


def test_v2_export_has_v1_copies_and_keeps_v3_fields_inside_data() -> None:
    character, _, _ = read(V3_CARD)
    card = write_card_object(character, "v2")
    assert (card["spec"], card["spec_version"]) == ("chara_card_v2", "2.0")
    for key in ("name", "description", "personality", "scenario", "first_mes", "mes_example"):
        assert card[key] == card["data"][key]
    again, spec, _ = read(card)
    assert spec == "chara_card_v2"
    assert again == character


def test_v2_export_leaves_out_an_empty_group_greeting_list() -> None:
    character, _, _ = read(V2_CARD)
    assert "group_only_greetings" not in write_card_object(character, "v2")["data"]


def test_backfill_note_marks_a_v2_copy_of_a_v3_card_and_is_trimmed_on_import() -> None:
    character, _, _ = read(V3_CARD)
    card = write_card_object(character, "v2", backfill_note=True)
    assert card["data"]["creator_notes"] == V3_BACKFILL_NOTE + "\n\nEnglish notes."
    again, _, _ = read(card)
    assert again.creator_notes == "English notes."


def test_backfill_note_only_when_v2_readers_would_miss_something() -> None:
    plain = Character(name="Plain", creator_notes="notes")
    assert not uses_v3_features(plain)
    card = write_card_object(plain, "v2", backfill_note=True)
    assert card["data"]["creator_notes"] == "notes"
    regex_book = Lorebook(entries=[LoreEntry(keys=["a+"], content="c", use_regex=True)])
    assert uses_v3_features(replace(plain, character_book=regex_book))


def test_a_pygmalion_card_without_its_name_says_so() -> None:
    with pytest.raises(InvalidCardError, match="the card has no name"):
        read({"char_persona": "A persona with no name."})


def test_a_spec_without_data_reads_the_top_level_and_does_not_carry_the_header() -> None:
    character, spec, warnings = read(
        {"spec": "chara_card_v2", "spec_version": "2.0", "name": "Flat"}
    )
    assert (character.name, spec, character.extra) == ("Flat", "chara_card_v1", {})
    assert warnings == ["spec 'chara_card_v2' has no 'data' object; read the top-level fields"]
