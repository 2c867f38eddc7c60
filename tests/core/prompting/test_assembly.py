"""assemble_prompt: sections, overrides, budgets, trimming stability, lore placement, errors."""

import itertools
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.budget import TokenCountCache
from galatea.core.chats import Message
from galatea.core.errors import PromptTooLarge, TemplateError
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.core.personas import Persona
from galatea.core.prompting import (
    AssembledPrompt,
    AssemblyOptions,
    ChatMessage,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
    get_template,
)
from tests.core.factories import WordCounter, make_character, make_history


def assemble(
    history: Sequence[Message] = (),
    *,
    template: str = "chatml",
    persona: Persona | None = None,
    environment: PromptEnvironment | None = None,
    counter: WordCounter | None = None,
    **options: object,
) -> AssembledPrompt:
    character = options.pop("character", None) or make_character()
    lorebooks = options.pop("lorebooks", ())
    request = PromptRequest(
        character=character,  # type: ignore[arg-type]
        history=history,
        persona=persona or Persona("Sam", "{{user}} is a travelling botanist."),
        lorebooks=lorebooks,  # type: ignore[arg-type]
        chat_id="chat-1",
        options=AssemblyOptions(**options),  # type: ignore[arg-type]
    )
    return assemble_prompt(
        request,
        get_template(template),
        counter or WordCounter(),
        environment or PromptEnvironment(),
    )


def test_sections_join_to_the_text_and_carry_token_counts() -> None:
    prompt = assemble(make_history(4))
    assert "".join(s.text for s in prompt.sections) == prompt.text
    assert prompt.total_tokens == len(prompt.text.split())
    labels = [s.label for s in prompt.sections]
    assert labels[:4] == ["system", "lore", "character", "persona"]
    assert "examples" in labels and "history" in labels and labels[-1] == "generation"
    by_label = prompt.tokens_by_label()
    assert by_label["character"] == sum(
        len(s.text.split()) for s in prompt.sections if s.label == "character"
    )


def test_macros_are_expanded_with_the_persona_and_the_nickname() -> None:
    prompt = assemble(character=make_character(nickname="Ari"))
    assert "Ari keeps the lighthouse" in prompt.text
    assert "A storm traps Sam" in prompt.text
    assert "Sam is a travelling botanist." in prompt.text
    assert "{{" not in prompt.text


def test_the_prompt_ends_with_the_character_name_and_names_its_stop_strings() -> None:
    prompt = assemble(make_history(2))
    assert prompt.text.endswith("<|im_start|>assistant\nAria:")
    assert prompt.stop_strings == ("<|im_end|>", "<|im_start|>", "\nSam:")


def test_card_system_prompt_overrides_the_default_and_can_include_it() -> None:
    card = make_character(system_prompt="Be terse. {{original}}")
    prompt = assemble(character=card, system_prompt="Default rules for {{char}}.")
    assert "Be terse. Default rules for Aria." in prompt.text
    assert "Enter RP mode" not in prompt.text


def test_post_history_instructions_come_after_the_history() -> None:
    card = make_character(post_history_instructions="Stay in character. {{original}}")
    prompt = assemble(make_history(3), character=card, post_history_instructions="Short replies.")
    post = [s for s in prompt.sections if s.label == "post_history"]
    assert "Stay in character. Short replies." in post[0].text
    labels = [s.label for s in prompt.sections]
    assert labels.index("post_history") > max(i for i, s in enumerate(labels) if s == "history")


def test_hidden_messages_stay_out() -> None:
    history = make_history(4)
    history[1].hidden = True
    prompt = assemble(history)
    assert history[1].text not in prompt.text
    assert history[2].text in prompt.text


def test_pygmalion_uses_you_and_the_start_marker() -> None:
    history = make_history(3)
    prompt = assemble(history, template="pygmalion")
    assert prompt.text.startswith("Gull Rock is far from shore.\nAria's Persona: Aria keeps")
    assert "\nYou: Is it always this loud?\nAria: Only when" in prompt.text
    assert f"<START>\nAria: {history[0].text}\nYou: {history[1].text}\n" in prompt.text
    assert prompt.text.endswith("\nAria:")


def test_a_group_chat_speaker_keeps_their_own_name() -> None:
    history = make_history(2)
    history.append(Message("character", "Bram", "I fix the boats.", parent_id=history[-1].id))
    prompt = assemble(history)
    assert "Bram: I fix the boats." in prompt.text


def test_the_newest_message_can_be_continued() -> None:
    history = make_history(3)  # ends with a character message
    prompt = assemble(history, continue_last=True, post_history_instructions="Be brief.")
    assert prompt.text.endswith(f"<|im_start|>assistant\nAria: {history[-1].text}")
    assert prompt.text.index("Be brief.") < prompt.text.index(history[-1].text)


def test_the_prompt_also_comes_as_chat_messages_without_template_markers() -> None:
    history = make_history(4)
    history.append(Message("user", "Sam", "And another thing.", parent_id=history[-1].id))
    prompt = assemble(history, post_history_instructions="Be brief.")
    roles = [m.role for m in prompt.messages]
    assert roles == ["system", "assistant", "user", "assistant", "user", "system"]
    assert "Aria keeps" in prompt.messages[0].content
    assert prompt.messages[1].content == f"Aria: {history[0].text}"
    # Two user messages in a row become one, for servers that want roles to alternate.
    assert prompt.messages[4].content == f"Sam: {history[3].text}\n\nSam: And another thing."
    assert prompt.messages[-1].content == "Be brief."
    assert not any("<|im_" in m.content for m in prompt.messages)


def test_chat_messages_hold_only_the_history_that_was_kept() -> None:
    history = make_history(60, words=20)
    prompt = assemble(history, context_length=400, reply_reserve=50)
    kept = history[prompt.history_start :]
    assert prompt.history_start > 0
    contents = "\n".join(m.content for m in prompt.messages)
    assert history[prompt.history_start - 1].text not in contents
    assert all(message.text in contents for message in kept)


def test_author_note_goes_at_its_depth() -> None:
    history = make_history(8)
    prompt = assemble(history, author_note="[Keep it spooky.]", author_note_depth=2)
    note_at = prompt.text.index("[Keep it spooky.]")
    assert prompt.text.index(history[5].text) < note_at < prompt.text.index(history[6].text)


def test_example_blocks_drop_whole_and_last_first() -> None:
    roomy = assemble(context_length=400, reply_reserve=50)
    assert (roomy.examples_kept, roomy.examples_total) == (2, 2)
    tight = assemble(context_length=145, reply_reserve=50)
    assert (tight.examples_kept, tight.examples_total) == (1, 2)
    assert "Is it always this loud?" in tight.text
    assert "Do you get lonely?" not in tight.text


def test_a_card_too_large_for_the_context_says_by_how_much() -> None:
    with pytest.raises(PromptTooLarge) as caught:
        assemble(context_length=80, reply_reserve=40)
    error = caught.value
    assert error.available == 40
    assert f"{error.needed - 40} tokens too many" in str(error)
    assert str(error).startswith("the character definition needs")


def test_a_newest_message_too_long_is_an_error_naming_it() -> None:
    history = make_history(2)
    history[-1].text = "word " * 500
    with pytest.raises(PromptTooLarge, match="the prompt with the newest message"):
        assemble(history, context_length=300, reply_reserve=50)


def test_history_is_trimmed_from_the_oldest_and_the_total_fits() -> None:
    history = make_history(60, words=10)
    prompt = assemble(history, context_length=400, reply_reserve=60)
    assert prompt.total_tokens <= 340
    assert prompt.history_start > 0
    assert history[-1].text in prompt.text
    assert history[prompt.history_start - 1].text not in prompt.text
    assert history[prompt.history_start].text in prompt.text


def test_the_prompt_start_stays_byte_identical_for_many_turns() -> None:
    """A growing chat: the prompt shares a long prefix with the previous turn's most of the time."""
    history = make_history(200, words=12)
    starts: list[int] = []
    reuse: list[float] = []
    previous = ""
    cache = TokenCountCache()
    for turn in range(40, 200):
        prompt = assemble(
            history[:turn],
            context_length=600,
            reply_reserve=80,
            environment=PromptEnvironment(token_cache=cache),
        )
        starts.append(prompt.history_start)
        common = _common_prefix(previous, prompt.text)
        if previous:
            reuse.append(common / len(prompt.text))
        previous = prompt.text
    moves = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert moves <= len(starts) // 4  # the cut moves in chunks, not every turn
    assert sum(reuse) / len(reuse) > 0.75  # most of each prompt is the previous one's prefix


def test_one_message_trimming_would_move_the_start_every_turn() -> None:
    history = make_history(120, words=12)
    starts = {
        assemble(
            history[:turn], context_length=600, reply_reserve=80, trim_fraction=0
        ).history_start
        for turn in range(80, 120)
    }
    assert len(starts) > 30  # the baseline the chunked trimming is measured against


def test_the_token_cache_avoids_recounting_unchanged_messages() -> None:
    history = make_history(100)
    cache = TokenCountCache()
    first, second = WordCounter(), WordCounter()
    assemble(history[:99], counter=first, environment=PromptEnvironment(token_cache=cache))
    assemble(history, counter=second, environment=PromptEnvironment(token_cache=cache))
    assert second.calls < first.calls / 5


def test_constant_lore_sits_in_the_definition_and_keyed_lore_goes_late() -> None:
    history = make_history(9)
    history[-1].text = "Is the lamp lit?"
    prompt = assemble(history)
    lamp = prompt.text.index("The lamp burns whale oil.")
    rock = prompt.text.index("Gull Rock is far from shore.")
    assert rock < prompt.text.index("Aria keeps the lighthouse")
    assert lamp > prompt.text.index(history[4].text)
    lamp_section = next(s for s in prompt.sections if "whale oil" in s.text)
    assert lamp_section.volatile
    assert "whale oil" not in prompt.stable_prefix()
    assert [h.label for h in prompt.fired_lore] == ["entry 1", "lamp"]


def test_without_stable_prefix_keyed_lore_stays_in_the_definition() -> None:
    history = make_history(9)
    history[-1].text = "Is the lamp lit?"
    prompt = assemble(history, stable_prefix=False)
    assert prompt.text.index("The lamp burns whale oil.") < prompt.text.index("Aria keeps")


def test_lore_over_the_book_budget_is_dropped_and_says_so() -> None:
    book = Lorebook(
        token_budget=6,
        entries=[
            LoreEntry(keys=["lamp"], content="one two three four five", priority=1, name="low"),
            LoreEntry(keys=["lamp"], content="six seven eight nine", priority=9, name="high"),
        ],
    )
    prompt = assemble([*make_history(3)[:2], Message("user", "Sam", "lamp?")], lorebooks=[book])
    by_label = {h.label: h for h in prompt.lore}
    assert by_label["high"].fired
    assert not by_label["low"].fired
    assert by_label["low"].reason.endswith("dropped: over the lore token budget")
    assert "one two three" not in prompt.text


def test_a_narrator_message_is_a_system_turn() -> None:
    history = make_history(2)
    history.append(Message("system", "", "The fog lifts.", parent_id=history[-1].id))
    prompt = assemble(history)
    assert "<|im_start|>system\nThe fog lifts.<|im_end|>" in prompt.text


def test_a_position_decorator_puts_lore_inside_the_definition() -> None:
    book = Lorebook(entries=[LoreEntry(keys=["lamp"], content="@@position after_desc\nLAMP.")])
    history = make_history(5)
    history[-1].text = "the lamp"
    text = assemble(history, lorebooks=[book]).text
    assert text.index("Aria keeps the lighthouse") < text.index("LAMP.") < text.index("personality")


def test_lore_as_the_assistant_is_written_as_a_model_turn() -> None:
    book = Lorebook(entries=[LoreEntry(keys=["lamp"], content="@@depth 0\n@@role assistant\nHm.")])
    history = make_history(3)
    history[-1].text = "the lamp"
    text = assemble(history, lorebooks=[book]).text
    assert "<|im_start|>assistant\nHm.<|im_end|>\n<|im_start|>system\n" not in text
    assert text.endswith("<|im_start|>assistant\nHm.<|im_end|>\n<|im_start|>assistant\nAria:")


def test_notes_too_large_for_the_context_are_an_error() -> None:
    with pytest.raises(PromptTooLarge, match="the definition with its lore and notes needs"):
        assemble(make_history(2), author_note="word " * 400, context_length=500, reply_reserve=50)


class LongTextCounter(WordCounter):
    """Counts a long text as far more than its parts: the exact whole-prompt count must see it."""

    def count(self, text: str) -> int:
        return super().count(text) + (len(text) // 20 if len(text) > 2000 else 0)


def test_the_whole_prompt_is_counted_and_trimmed_until_it_fits() -> None:
    history = make_history(200, words=12)
    plain = assemble(history, context_length=1200, reply_reserve=100)
    counter = LongTextCounter()
    prompt = assemble(history, counter=counter, context_length=1200, reply_reserve=100)
    assert prompt.total_tokens == counter.count(prompt.text)
    assert prompt.total_tokens <= 1100
    assert counter.count(plain.text) > 1100  # what the parts alone would have sent
    assert prompt.history_start > plain.history_start


def test_lore_decorators_place_entries_in_the_history() -> None:
    book = Lorebook(entries=[LoreEntry(keys=["lamp"], content="@@depth 1\n@@role user\nOIL!")])
    history = make_history(5)
    history[-1].text = "the lamp"
    prompt = assemble(history, lorebooks=[book])
    assert f"{history[3].text}<|im_end|>\n<|im_start|>user\nOIL!<|im_end|>" in prompt.text


def test_time_macros_mark_their_section_volatile() -> None:
    card = make_character(scenario="It is {{time}} on {{weekday}}.")
    prompt = assemble(card_history := make_history(2), character=card)
    scenario = next(s for s in prompt.sections if "It is" in s.text)
    assert scenario.volatile
    assert card_history[0].text in prompt.text


def test_gguf_needs_the_models_template() -> None:
    with pytest.raises(TemplateError, match="gguf template needs the model's own chat template"):
        assemble(template="gguf")


class ChatMLRenderer:
    """A stand-in for the Jinja renderer (formats) that writes ChatML."""

    stop_strings = ("<|im_end|>", "")

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool) -> str:
        body = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
        return body + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def test_gguf_renders_with_the_models_template_and_its_stops() -> None:
    prompt = assemble(
        make_history(4),
        template="gguf",
        environment=PromptEnvironment(chat_renderer=ChatMLRenderer()),
    )
    assert prompt.text.startswith("<|im_start|>system\n")
    assert prompt.text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.stop_strings == ("<|im_end|>",)
    assert {"system", "character", "history", "generation"} <= set(prompt.tokens_by_label())


def test_gguf_history_is_trimmed_to_the_context() -> None:
    prompt = assemble(
        make_history(80, words=10),
        template="gguf",
        context_length=500,
        reply_reserve=50,
        environment=PromptEnvironment(chat_renderer=ChatMLRenderer()),
    )
    assert prompt.total_tokens <= 450
    assert prompt.history_start > 0


@settings(max_examples=60, deadline=None)
@given(
    messages=st.integers(min_value=0, max_value=80),
    words=st.integers(min_value=1, max_value=30),
    context=st.integers(min_value=250, max_value=1500),
    template=st.sampled_from(
        ["pygmalion", "metharme", "chatml", "llama3", "mistral", "alpaca", "gemma"]
    ),
)
def test_any_chat_fits_its_context_or_fails_clearly(
    messages: int, words: int, context: int, template: str
) -> None:
    history = make_history(messages, words=words)
    try:
        prompt = assemble(history, template=template, context_length=context)
    except PromptTooLarge as error:
        failure: PromptTooLarge | None = error
    else:
        failure = None
        assert prompt.total_tokens <= context - 256
        assert "".join(s.text for s in prompt.sections) == prompt.text
        if messages:
            assert history[-1].text in prompt.text
    if failure is not None:
        assert failure.needed > failure.available


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


def test_options_are_plain_values() -> None:
    options = AssemblyOptions()
    assert replace(options, context_length=100).context_length == 100
