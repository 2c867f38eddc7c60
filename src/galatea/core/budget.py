"""The context budget: counting tokens and deciding what of a prompt fits the context window.

Pure: token counts come from a `TokenCounter` (the model's own tokenizer in production, a word
counter in tests). History is trimmed from the oldest message at fixed chunk boundaries, so the
first kept message stays the same for many turns and the engine can reuse its KV cache.
"""

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TokenCounter(Protocol):
    """Counts the tokens of a text, synchronously (assembly stays pure)."""

    def count(self, text: str) -> int:
        """Number of tokens in `text` (special tokens written as text count as one)."""
        ...


class TokenCountCache:
    """Remembers token counts by text, least recently used out first.

    Keep one per chat between turns: the history of a long chat is then counted once, and
    each turn only counts what is new. Counts belong to the counter that made them, so use a
    new cache when the model changes. Not thread-safe: a chat assembles one prompt at a time.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._counts: OrderedDict[str, int] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def count(self, counter: TokenCounter, text: str) -> int:
        """The token count of `text`, from the cache or from `counter`."""
        cached = self._counts.get(text)
        if cached is not None:
            self._counts.move_to_end(text)
            self.hits += 1
            return cached
        self.misses += 1
        value = counter.count(text) if text else 0
        self._counts[text] = value
        if len(self._counts) > self.max_entries:
            self._counts.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._counts)


@dataclass(slots=True)
class CachedCounter:
    """A `TokenCounter` that answers from a `TokenCountCache` when it can."""

    counter: TokenCounter
    cache: TokenCountCache

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return self.cache.count(self.counter, text)


def keep_leading_blocks(costs: Sequence[int], budget: int) -> int:
    """How many blocks, taken in order, fit `budget` (so later blocks are dropped first)."""
    used = 0
    for kept, cost in enumerate(costs):
        used += cost
        if used > budget:
            return kept
    return len(costs)


def choose_history_start(costs: Sequence[int], budget: int, chunk: int) -> int:
    """Index of the first message to keep so that the messages from there on fit `budget`.

    `costs` are the token counts of the messages, oldest first. When they do not all fit, the
    cut is moved forward to the next chunk boundary: boundaries fall wherever the running
    total from the first message crosses a multiple of `chunk` tokens. They depend only on
    the messages themselves, so appending new messages leaves them in place and the cut
    stays put until the history has grown by about a chunk. Returns `len(costs)` when even
    the last message does not fit.
    """
    count = len(costs)
    if count == 0:
        return 0
    tail = 0
    minimal = count
    while minimal > 0 and tail + costs[minimal - 1] <= budget:
        minimal -= 1
        tail += costs[minimal]
    if minimal == 0 or minimal == count:
        return minimal
    chunk = max(1, chunk)
    running = 0
    mark = chunk
    for index, cost in enumerate(costs):
        if running >= mark:
            if index >= minimal:
                return index
            mark = (running // chunk + 1) * chunk
        running += cost
    return minimal
