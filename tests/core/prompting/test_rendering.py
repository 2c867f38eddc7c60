"""Rendering turns: markers, merging for strict templates, open turns, model templates."""

from collections.abc import Sequence

import pytest

from galatea.core.errors import TemplateError
from galatea.core.prompting.rendering import (
    ChatMessage,
    Part,
    Turn,
    render_turns,
    render_with_model_template,
)
from galatea.core.prompting.templates import get_template


def text_of(segments: Sequence[object]) -> str:
    return "".join(s.text for s in segments)  # type: ignore[attr-defined]


TURNS = [
    Turn("system", (Part("system", "Rules."), Part("character", "Aria is kind."))),
    Turn("model", (Part("history", "Hello!"),)),
    Turn("user", (Part("history", "Hi."),)),
]


def test_chatml_wraps_each_turn_and_ends_with_the_generation_prompt() -> None:
    segments = render_turns(get_template("chatml"), TURNS, generation="Aria:")
    assert text_of(segments) == (
        "<|im_start|>system\nRules.\nAria is kind.<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nHi.<|im_end|>\n"
        "<|im_start|>assistant\nAria:"
    )
    assert [s.label for s in segments] == [
        "system",
        "character",
        "history",
        "history",
        "generation",
    ]


def test_markers_stay_with_their_part_so_earlier_text_never_changes() -> None:
    first = render_turns(get_template("llama3"), TURNS, generation="")
    later = render_turns(get_template("llama3"), [*TURNS, TURNS[1]], generation="")
    assert [s.text for s in first[:-1]] == [s.text for s in later[: len(first) - 1]]


def test_templates_without_a_system_turn_merge_it_into_the_user_turn() -> None:
    turns = [TURNS[0], Turn("user", (Part("history", "Hi."),)), TURNS[1]]
    text = text_of(render_turns(get_template("mistral"), turns, generation=""))
    assert text == "[INST] Rules.\nAria is kind.\n\nHi. [/INST]Hello!</s>"


def test_open_last_leaves_the_reply_unfinished() -> None:
    text = text_of(render_turns(get_template("gemma"), TURNS[:2], generation="", open_last=True))
    assert text.endswith("<start_of_turn>model\nHello!")


def test_generation_none_renders_no_reply_prompt() -> None:
    segments = render_turns(get_template("alpaca"), [TURNS[2]], generation=None)
    assert text_of(segments) == "### Instruction:\nHi.\n\n"


class FakeChatML:
    """A model template that writes ChatML, with a default system turn like SmolLM2's."""

    stop_strings = ("<|im_end|>",)

    def __init__(self, *, mangle: bool = False) -> None:
        self.mangle = mangle
        self.calls: list[tuple[list[ChatMessage], bool]] = []

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool) -> str:
        self.calls.append((list(messages), add_generation_prompt))
        out = "" if messages[0].role == "system" else "<|im_start|>system\nDefault.<|im_end|>\n"
        for m in messages:
            content = m.content.upper() if self.mangle else m.content
            out += f"<|im_start|>{m.role}\n{content}<|im_end|>\n"
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def test_model_template_output_is_split_back_into_labelled_parts() -> None:
    segments = render_with_model_template(FakeChatML(), TURNS)
    assert text_of(segments).endswith("<|im_start|>assistant\n")
    assert [s.label for s in segments] == [
        "system",
        "character",
        "history",
        "history",
        "generation",
    ]
    assert segments[1].text == "\nAria is kind."


def test_model_template_gets_roles_it_understands() -> None:
    renderer = FakeChatML()
    render_with_model_template(renderer, TURNS)
    messages, generation = renderer.calls[0]
    assert [m.role for m in messages] == ["system", "assistant", "user"]
    assert generation is True


def test_a_template_that_changes_text_gives_one_rendered_section() -> None:
    segments = render_with_model_template(FakeChatML(mangle=True), TURNS)
    assert [s.label for s in segments] == ["rendered"]


def test_model_template_continuation_cuts_the_end_of_turn() -> None:
    segments = render_with_model_template(FakeChatML(), TURNS[:2], open_last=True)
    assert text_of(segments).endswith("<|im_start|>assistant\nHello!")


def test_model_template_continuation_fails_clearly_when_the_text_is_changed() -> None:
    with pytest.raises(TemplateError, match="continue"):
        render_with_model_template(FakeChatML(mangle=True), TURNS[:2], open_last=True)


def test_turns_without_parts_are_left_out() -> None:
    segments = render_turns(get_template("chatml"), [Turn("user", ()), TURNS[2]], generation=None)
    assert text_of(segments) == "<|im_start|>user\nHi.<|im_end|>\n"
