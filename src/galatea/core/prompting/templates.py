"""Instruct templates as data: the markers around each turn, the story layout, the stop strings.

A template never contains user text. Its strings may use the placeholders `{char}`, `{user}`
and `{text}`, which `fill` replaces by plain substitution (no format mini-language, so user
text can never be interpreted). The registry knows every template by name.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from galatea.core.errors import TemplateError

TurnRole = Literal["system", "user", "model"]
"""Who speaks a prompt turn: the model's side is "model" whatever the template calls it."""

RP_SYSTEM_PROMPT = (
    "Enter RP mode. You are {{char}}, in a roleplay with {{user}}. Stay in character and "
    "write {{char}}'s next reply: vivid, in the character's own voice, moving the story forward."
)
"""Default system prompt for the Pygmalion family (they were trained on "Enter ... mode")."""

GENERIC_SYSTEM_PROMPT = (
    "You are {{char}} in a roleplay with {{user}}. Stay in character and write only "
    "{{char}}'s next reply, in the character's own voice."
)
"""Default system prompt for general instruct models."""


@dataclass(slots=True, frozen=True)
class StoryLayout:
    """How the character definition reads: one line format per card field, `{text}` inside."""

    description: str = "{text}"
    personality: str = "{char}'s personality: {text}"
    scenario: str = "Scenario: {text}"
    persona: str = "{text}"
    example_separator: str = "<START>"
    """Written on its own line before each example dialogue block."""
    chat_start: str = ""
    """A line between the definition and the conversation ("" for none)."""


@dataclass(slots=True, frozen=True)
class InstructTemplate:
    """A prompt format: turn markers per role, name policy, story layout and stop strings."""

    name: str
    description: str
    system_prefix: str = ""
    system_suffix: str = ""
    user_prefix: str = ""
    user_suffix: str = ""
    model_prefix: str = ""
    model_suffix: str = ""
    system_role: bool = True
    """False: the model has no system turn, so system text is written as a user turn."""
    merge_consecutive: bool = False
    """Join neighbouring turns of one role (for models that require strict alternation)."""
    turn_joiner: str = "\n\n"
    """Between the texts of merged turns."""
    names: bool = False
    """Prefix each turn with the speaker's name ("Aria: ...") and end with "{char}:"."""
    user_label: str | None = None
    """The name written for the user instead of the persona's (Pygmalion's literal "You")."""
    default_system_prompt: str = GENERIC_SYSTEM_PROMPT
    story: StoryLayout = StoryLayout()
    stop_strings: tuple[str, ...] = ()
    """May contain `{user}` and `{char}`."""
    uses_model_template: bool = False
    """True for `gguf`: turns are rendered by the model's own chat template."""

    def prefix(self, role: TurnRole) -> str:
        """The marker that opens a turn of `role`."""
        if role == "system":
            return self.system_prefix
        return self.user_prefix if role == "user" else self.model_prefix

    def suffix(self, role: TurnRole) -> str:
        """The marker that closes a turn of `role`."""
        if role == "system":
            return self.system_suffix
        return self.user_suffix if role == "user" else self.model_suffix

    def stops(self, char: str, user: str) -> tuple[str, ...]:
        """The stop strings with names filled in, without duplicates."""
        filled = (fill(stop, char=char, user=user) for stop in self.stop_strings)
        return tuple(dict.fromkeys(stop for stop in filled if stop))


def fill(pattern: str, *, char: str = "", user: str = "", text: str = "") -> str:
    """Replace `{char}`, `{user}` and `{text}` in a template string, in one pass."""
    values = {"{char}": char, "{user}": user, "{text}": text}
    pieces: list[str] = []
    index = 0
    while True:
        brace = pattern.find("{", index)
        if brace == -1:
            pieces.append(pattern[index:])
            return "".join(pieces)
        end = pattern.find("}", brace)
        key = pattern[brace : end + 1] if end != -1 else ""
        if key in values:
            pieces.append(pattern[index:brace])
            pieces.append(values[key])
            index = end + 1
        else:
            pieces.append(pattern[index : brace + 1])
            index = brace + 1


_NAMED_STOPS = ("\n{user}:",)

_TEMPLATES: tuple[InstructTemplate, ...] = (
    InstructTemplate(
        name="pygmalion",
        description="Classic Pygmalion (6B, 7B, 13B): persona, scenario, <START>, 'You:' lines.",
        system_suffix="\n",
        user_suffix="\n",
        model_suffix="\n",
        names=True,
        user_label="You",
        default_system_prompt="",
        story=StoryLayout(
            description="{char}'s Persona: {text}",
            personality="Personality: {text}",
            chat_start="<START>",
        ),
        stop_strings=("\nYou:", "\n<START>"),
    ),
    InstructTemplate(
        name="metharme",
        description="Metharme and Pygmalion-2: <|system|>, <|user|> and <|model|> markers.",
        system_prefix="<|system|>",
        user_prefix="<|user|>",
        model_prefix="<|model|>",
        names=True,
        default_system_prompt=RP_SYSTEM_PROMPT,
        stop_strings=("<|user|>", "<|model|>", "<|system|>", "</s>", *_NAMED_STOPS),
    ),
    InstructTemplate(
        name="chatml",
        description="Pygmalion-3 and Eleusis: ChatML with name-prefixed turns.",
        system_prefix="<|im_start|>system\n",
        system_suffix="<|im_end|>\n",
        user_prefix="<|im_start|>user\n",
        user_suffix="<|im_end|>\n",
        model_prefix="<|im_start|>assistant\n",
        model_suffix="<|im_end|>\n",
        names=True,
        default_system_prompt=RP_SYSTEM_PROMPT,
        stop_strings=("<|im_end|>", "<|im_start|>", *_NAMED_STOPS),
    ),
    InstructTemplate(
        name="llama3",
        description="Llama 3 instruct: header ids and <|eot_id|>.",
        system_prefix="<|start_header_id|>system<|end_header_id|>\n\n",
        system_suffix="<|eot_id|>",
        user_prefix="<|start_header_id|>user<|end_header_id|>\n\n",
        user_suffix="<|eot_id|>",
        model_prefix="<|start_header_id|>assistant<|end_header_id|>\n\n",
        model_suffix="<|eot_id|>",
        stop_strings=("<|eot_id|>", "<|start_header_id|>"),
    ),
    InstructTemplate(
        name="mistral",
        description="Mistral instruct: [INST] ... [/INST], no system turn, strict alternation.",
        user_prefix="[INST] ",
        user_suffix=" [/INST]",
        model_suffix="</s>",
        system_role=False,
        merge_consecutive=True,
        stop_strings=("</s>", "[INST]"),
    ),
    InstructTemplate(
        name="alpaca",
        description="Alpaca: ### Instruction: / ### Response: blocks.",
        system_suffix="\n\n",
        user_prefix="### Instruction:\n",
        user_suffix="\n\n",
        model_prefix="### Response:\n",
        model_suffix="\n\n",
        stop_strings=("### Instruction:", "### Response:"),
    ),
    InstructTemplate(
        name="gemma",
        description="Gemma: <start_of_turn>user/model, no system turn, strict alternation.",
        user_prefix="<start_of_turn>user\n",
        user_suffix="<end_of_turn>\n",
        model_prefix="<start_of_turn>model\n",
        model_suffix="<end_of_turn>\n",
        system_role=False,
        merge_consecutive=True,
        stop_strings=("<end_of_turn>", "<start_of_turn>"),
    ),
    InstructTemplate(
        name="gguf",
        description="The model's own Jinja chat template from its GGUF metadata (sandboxed).",
        uses_model_template=True,
    ),
)

TEMPLATES: Mapping[str, InstructTemplate] = {t.name: t for t in _TEMPLATES}


def list_templates() -> list[str]:
    """Names of every registered template."""
    return list(TEMPLATES)


def get_template(name: str) -> InstructTemplate:
    """The template called `name`, or TemplateError listing the known names."""
    try:
        return TEMPLATES[name.strip().lower()]
    except KeyError:
        known = ", ".join(TEMPLATES)
        raise TemplateError(f"unknown template {name!r}; known templates: {known}") from None
