"""Prompt assembly: a character, a persona, lore and the chat so far become one prompt.

Pure. The layout is chosen for the engine's KV cache, which only reuses an unchanged prefix:
the system prompt, character definition, persona, constant lore and examples come first and
do not change from turn to turn; history is trimmed in chunks (see `core.budget`); lore that
fires on keys, the author's note and post-history instructions go late, near the newest
messages.
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from galatea.core.budget import (
    CachedCounter,
    TokenCountCache,
    TokenCounter,
    choose_history_start,
    keep_leading_blocks,
)
from galatea.core.characters import Character
from galatea.core.chats import Message
from galatea.core.errors import PromptTooLarge, TemplateError
from galatea.core.lore_activation import (
    LoreHit,
    LoreOptions,
    activate_lore,
    fit_lore_budgets,
    mark_dropped,
)
from galatea.core.lorebooks import Lorebook
from galatea.core.personas import Persona
from galatea.core.prompting.macros import Expansion, MacroContext, expand_macros
from galatea.core.prompting.prompts import AssembledPrompt, merge_segments
from galatea.core.prompting.rendering import (
    ChatTemplateRenderer,
    Part,
    Segment,
    Turn,
    chat_messages,
    render_turns,
    render_with_model_template,
)
from galatea.core.prompting.story import PositionedLore, build_examples, build_story, place_lore
from galatea.core.prompting.templates import InstructTemplate, TurnRole

_MAX_FIT_ROUNDS = 8
_MODEL_TEMPLATE_TURN_OVERHEAD = 8
"""Tokens a typical chat template adds around a message; the final exact count corrects it."""
_STORY_POSITIONS = frozenset(
    {"before_char", "after_char", "before_desc", "after_desc", "personality", "scenario"}
)


@dataclass(slots=True, frozen=True)
class AssemblyOptions:
    """Settings of one assembly: the context size and where the movable parts go."""

    context_length: int = 4096
    """Tokens the model can attend to."""
    reply_reserve: int = 256
    """Tokens kept free for the reply (the request's max_tokens)."""
    system_prompt: str | None = None
    """Replaces the template's default system prompt; a card's own still wins over it."""
    post_history_instructions: str = ""
    """Written after the history; a card's own replaces it (and can include it)."""
    author_note: str = ""
    author_note_depth: int = 4
    """Messages up from the newest where the author's note goes."""
    lore_depth: int = 4
    """Messages up from the newest where key-triggered lore goes (with `stable_prefix`)."""
    stable_prefix: bool = True
    """Key-triggered lore goes late, keeping the prompt's start unchanged between turns."""
    trim_fraction: float = 0.25
    """When history overflows, drop about this share of the history budget at once."""
    examples_share: float = 0.5
    """Example dialogues may take at most this share of the space left after the definition."""
    lore_share: float = 0.25
    """Lore may take at most this share of that space (a lorebook's own budget also holds)."""
    continue_last: bool = False
    """Leave the character's last message open so the model continues it."""
    lore: LoreOptions = field(default_factory=LoreOptions)


@dataclass(slots=True)
class PromptRequest:
    """What a prompt is made of: the character, the chat's messages (oldest first) and more."""

    character: Character
    history: Sequence[Message] = ()
    """Hidden messages are left out."""
    persona: Persona = field(default_factory=Persona)
    lorebooks: Sequence[Lorebook] = ()
    """Lorebooks besides the card's own `character_book` (chat, persona or world lore)."""
    chat_id: str = ""
    options: AssemblyOptions = field(default_factory=AssemblyOptions)


@dataclass(slots=True)
class PromptEnvironment:
    """The outside world assembly reads: clock, randomness, caches, the model's template."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    rng: random.Random = field(default_factory=random.Random)
    token_cache: TokenCountCache | None = None
    """Pass the same cache every turn of a chat: unchanged messages are not counted again."""
    chat_renderer: ChatTemplateRenderer | None = None
    """Required by the `gguf` template."""


def assemble_prompt(
    request: PromptRequest,
    template: InstructTemplate,
    counter: TokenCounter,
    environment: PromptEnvironment | None = None,
) -> AssembledPrompt:
    """Build the prompt for the next reply; PromptTooLarge when the permanent parts overflow."""
    environment = environment or PromptEnvironment()
    if template.uses_model_template and environment.chat_renderer is None:
        raise TemplateError(f"the {template.name} template needs the model's own chat template")
    return _Assembly(request, template, counter, environment).build()


@dataclass(slots=True, frozen=True)
class _Fitted:
    """The rendered prompt once history fits: its text, segments, exact count, first message."""

    text: str
    segments: list[Segment]
    total: int
    start: int
    turns: list[Turn]


class _Assembly:
    """The state of one assembly; `build` runs the steps in order."""

    def __init__(
        self,
        request: PromptRequest,
        template: InstructTemplate,
        counter: TokenCounter,
        environment: PromptEnvironment,
    ) -> None:
        self.request = request
        self.template = template
        self.options = request.options
        self.raw_counter = counter
        cache = environment.token_cache
        self.counter = CachedCounter(counter, cache if cache is not None else TokenCountCache())
        self.renderer = environment.chat_renderer
        character = request.character
        self.char = character.display_name
        self.user = request.persona.name
        self.user_label = template.user_label or self.user
        """How the user's turns are labelled (Pygmalion's literal "You")."""
        self.history = [m for m in request.history if not m.hidden]
        user_times = [m.created_at for m in self.history if m.role == "user"]
        self.macros = MacroContext(
            char=self.char,
            user=self.user,
            chat_id=request.chat_id,
            clock=environment.clock,
            rng=environment.rng,
            last_user_message_at=user_times[-1] if user_times else None,
        )
        self.texts = [
            expand_macros(m.text, self.macros, names_only=True).text for m in self.history
        ]
        """Message texts with names filled in: what the prompt shows and lore scans."""
        self.limit = self.options.context_length - self.options.reply_reserve
        self.generation = f"{self.char}:" if template.names else ""
        self.open_last = (
            self.options.continue_last
            and bool(self.history)
            and self.history[-1].role == "character"
        )
        """Leave the character's last message unfinished so the model continues it."""

    def expand(self, text: str, field_name: str, *, original: str = "") -> Expansion:
        """Expand macros with this chat's names, clock and randomness."""
        context = replace(self.macros, original=original) if original else self.macros
        return expand_macros(text, context, field_name=field_name)

    def expand_dialogue(self, text: str, field_name: str) -> Expansion:
        """Expand example dialogue, whose `{{user}}:` lines take the user's turn label."""
        labelled = replace(self.macros, user=self.user_label)
        return expand_macros(text, labelled, field_name=field_name)

    def build(self) -> AssembledPrompt:
        """Definition, examples and lore, then as much history as fits, rendered and counted."""
        system = self._system_prompt()
        story = build_story(
            self.request.character, self.request.persona, self.template, self.expand
        )
        tail = self._tail_turns()
        base_cost = self._cost([self._header(system, place_lore(story), []), *tail])
        stable = self.limit - base_cost
        """Tokens the definition leaves free; it does not change from turn to turn."""
        if stable < 0:
            raise PromptTooLarge(base_cost, self.limit, reserved=self.options.reply_reserve)
        examples, examples_total, examples_cost = self._examples(stable)
        hits, story_lore, notes = self._lore(stable)
        header = self._header(system, place_lore(story, story_lore), examples)
        notes += self._author_note()
        chunk = max(1, int((stable - examples_cost) * self.options.trim_fraction))
        fitted = self._fit_history(header, notes, tail, chunk)
        return AssembledPrompt(
            text=fitted.text,
            sections=tuple(
                merge_segments(
                    fitted.segments, [self.counter.count(s.text) for s in fitted.segments]
                )
            ),
            total_tokens=fitted.total,
            context_length=self.options.context_length,
            reply_reserve=self.options.reply_reserve,
            stop_strings=self._stop_strings(),
            lore=hits,
            template=self.template.name,
            history_start=fitted.start,
            history_kept=len(self.history) - fitted.start,
            examples_kept=len(examples),
            examples_total=examples_total,
            messages=tuple(chat_messages(fitted.turns, merge=True)),
        )

    def _header(self, system: Part, story: Sequence[Part], examples: Sequence[Part]) -> Turn:
        chat_start = Part("system", self.template.story.chat_start)
        return Turn("system", tuple(p for p in (system, *story, *examples, chat_start) if p.text))

    def _examples(self, stable: int) -> tuple[list[Part], int, int]:
        """Example blocks that fit their share of the space, whole and in order; their cost."""
        examples = build_examples(self.request.character, self.template, self.expand_dialogue)
        costs = [self.counter.count("\n" + part.text) for part in examples]
        kept = keep_leading_blocks(costs, int(stable * self.options.examples_share))
        return examples[:kept], len(examples), sum(costs[:kept])

    def _fit_history(
        self,
        header: Turn,
        notes: Sequence[tuple[int, Turn]],
        tail: Sequence[Turn],
        chunk: int,
    ) -> "_Fitted":
        """Keep history from a chunk boundary so the whole prompt, counted exactly, fits."""
        fixed = self._cost([header, *(turn for _, turn in notes), *tail])
        if fixed > self.limit:
            raise PromptTooLarge(
                fixed,
                self.limit,
                part="the definition with its lore and notes",
                reserved=self.options.reply_reserve,
            )
        turns = [self._history_turn(m, t) for m, t in zip(self.history, self.texts, strict=True)]
        costs = [self._turn_cost(turn) for turn in turns]
        budget = self.limit - fixed
        for _ in range(_MAX_FIT_ROUNDS):
            start = choose_history_start(costs, budget, chunk)
            if turns and start >= len(turns):
                raise PromptTooLarge(
                    fixed + costs[-1],
                    self.limit,
                    part="the prompt with the newest message",
                    reserved=self.options.reply_reserve,
                )
            arranged = self._arrange(header, turns, start, notes, tail)
            segments = self._render(arranged, open_last=self.open_last)
            text = "".join(s.text for s in segments)
            total = self.raw_counter.count(text)
            if total <= self.limit:
                return _Fitted(text, segments, total, start, arranged)
            if not turns or start == len(turns) - 1:
                break
            # The parts undercounted the whole: ask the kept history to shrink by the excess,
            # which moves the cut forward at least one message.
            budget = sum(costs[start:]) - (total - self.limit)
        raise PromptTooLarge(
            total, self.limit, part="the prompt", reserved=self.options.reply_reserve
        )

    def _system_prompt(self) -> Part:
        base = self.options.system_prompt
        if base is None:
            base = self.template.default_system_prompt
        default = self.expand(base, "system_prompt")
        card = self.request.character.system_prompt
        if not card.strip():
            return Part("system", default.text.strip(), default.volatile)
        expansion = self.expand(card, "card_system_prompt", original=default.text)
        return Part("system", expansion.text.strip(), expansion.volatile or default.volatile)

    def _override(self, card_text: str, base: str, field_name: str) -> Part:
        default = self.expand(base, field_name)
        if not card_text.strip():
            return Part("post_history", default.text.strip(), default.volatile)
        expansion = self.expand(card_text, "card_" + field_name, original=default.text)
        return Part("post_history", expansion.text.strip(), expansion.volatile or default.volatile)

    def _history_turn(self, message: Message, text: str) -> Turn:
        if message.role == "system":
            return Turn("system", (Part("history", text),))
        role: TurnRole = "user" if message.role == "user" else "model"
        if self.template.names:
            text = f"{self._speaker(message)}: {text}"
        return Turn(role, (Part("history", text),))

    def _speaker(self, message: Message) -> str:
        if message.role == "user":
            return self.user_label
        character = self.request.character
        if message.name and message.name not in (character.name, character.nickname):
            return message.name  # another character of a group chat
        return self.char

    def _tail_turns(self) -> list[Turn]:
        """The post-history instructions, as a turn after the history."""
        post = self._override(
            self.request.character.post_history_instructions,
            self.options.post_history_instructions,
            "post_history_instructions",
        )
        return [Turn("system", (post,))] if post.text else []

    def _author_note(self) -> list[tuple[int, Turn]]:
        note = self.expand(self.options.author_note, "author_note")
        if not note.text.strip():
            return []
        part = Part("author_note", note.text.strip(), note.volatile)
        return [(max(0, self.options.author_note_depth), Turn("system", (part,)))]

    def _lore(
        self, stable: int
    ) -> tuple[tuple[LoreHit, ...], list[PositionedLore], list[tuple[int, Turn]]]:
        """Activate lore, fit its budgets, and split what fired into story lore and notes."""
        books = [self.request.character.character_book, *self.request.lorebooks]
        present = [book for book in books if book is not None]
        activation = activate_lore(
            present,
            self.texts,
            character_messages=sum(1 for m in self.history if m.role == "character"),
            options=self.options.lore,
        )
        fired = activation.fired
        expanded = [self.expand(hit.content, f"lore:{hit.book}:{hit.entry}") for hit in fired]
        keep = fit_lore_budgets(
            fired,
            [self.counter.count(e.text) for e in expanded],
            [book.token_budget for book in present],
            int(stable * self.options.lore_share),
        )
        hits = mark_dropped(activation, [hit for hit, k in zip(fired, keep, strict=True) if not k])
        story_lore: list[PositionedLore] = []
        notes: list[tuple[int, Turn]] = []
        for index, hit in enumerate(fired):
            if not keep[index] or not expanded[index].text.strip():
                continue
            text = expanded[index].text.strip()
            volatile = hit.dynamic or expanded[index].volatile
            placement = self._placement(hit)
            if placement is None:
                story_lore.append(PositionedLore(text, hit.position, expanded[index].volatile))
            else:
                depth, role = placement
                notes.append((depth, Turn(role, (Part("lore", text, volatile),))))
        return hits, story_lore, notes

    def _placement(self, hit: LoreHit) -> tuple[int, TurnRole] | None:
        """None: inside the story; else the depth and the role of a note in the history."""
        role: TurnRole = "user" if hit.role == "user" else "system"
        if hit.role == "assistant":
            role = "model"
        if hit.decorators.position is not None:
            return None
        if hit.position == "depth":
            return max(0, hit.depth or 0), role
        if hit.position in _STORY_POSITIONS and not (hit.dynamic and self.options.stable_prefix):
            return None
        return max(0, self.options.lore_depth), role

    def _arrange(
        self,
        header: Turn,
        history: Sequence[Turn],
        start: int,
        notes: Sequence[tuple[int, Turn]],
        tail: Sequence[Turn],
    ) -> list[Turn]:
        """Header, kept history with notes at their depths, then the post-history turns."""
        count = len(history)
        # Notes below the open message would end the reply before it continues.
        end = count - 1 if self.open_last else count
        slots: dict[int, list[Turn]] = {}
        for depth, turn in notes:
            slots.setdefault(min(end, max(start, count - depth)), []).append(turn)
        turns = [header]
        for index in range(start, count):
            turns.extend(slots.get(index, []))
            if index == end:
                turns.extend(tail)
            turns.append(history[index])
        if end == count:
            turns.extend(slots.get(count, []))
            turns.extend(tail)
        return turns

    def _render(self, turns: Sequence[Turn], *, open_last: bool = False) -> list[Segment]:
        if self.renderer is not None and self.template.uses_model_template:
            return render_with_model_template(self.renderer, turns, open_last=open_last)
        return render_turns(self.template, turns, generation=self.generation, open_last=open_last)

    def _cost(self, turns: Sequence[Turn]) -> int:
        return sum(self.counter.count(s.text) for s in self._render([t for t in turns if t.parts]))

    def _turn_cost(self, turn: Turn) -> int:
        """Tokens of one history turn rendered on its own (the text the cache keys on)."""
        text = "\n".join(part.text for part in turn.parts)
        if self.renderer is not None and self.template.uses_model_template:
            return _MODEL_TEMPLATE_TURN_OVERHEAD + self.counter.count(text)
        template = self.template
        role: TurnRole = turn.role if template.system_role or turn.role != "system" else "user"
        return self.counter.count(template.prefix(role) + text + template.suffix(role))

    def _stop_strings(self) -> tuple[str, ...]:
        if self.renderer is not None and self.template.uses_model_template:
            return tuple(dict.fromkeys(s for s in self.renderer.stop_strings if s))
        return self.template.stops(self.char, self.user_label)
