"""The context budget: cached counting, whole example blocks, chunked history trimming."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.budget import (
    CachedCounter,
    TokenCountCache,
    choose_history_start,
    keep_leading_blocks,
)
from tests.core.factories import WordCounter


def test_cache_counts_each_text_once() -> None:
    counter = WordCounter()
    cache = TokenCountCache()
    cached = CachedCounter(counter, cache)
    assert [cached.count("a b c"), cached.count("a b c"), cached.count("d")] == [3, 3, 1]
    assert counter.calls == 2
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)


def test_cache_forgets_the_least_recently_used_text() -> None:
    counter = WordCounter()
    cache = TokenCountCache(max_entries=2)
    for text in ["a", "b", "a", "c", "a", "b"]:
        cache.count(counter, text)
    assert counter.calls == 4  # "b" was evicted by "c", "a" stayed because it was used


def test_empty_text_costs_nothing_and_is_not_counted() -> None:
    counter = WordCounter()
    assert TokenCountCache().count(counter, "") == 0
    assert counter.calls == 0


def test_example_blocks_are_kept_whole_from_the_first() -> None:
    assert keep_leading_blocks([10, 20, 30], 35) == 2
    assert keep_leading_blocks([10, 20, 30], 60) == 3
    assert keep_leading_blocks([50, 1], 10) == 0
    assert keep_leading_blocks([], 10) == 0


def test_everything_fits_from_the_first_message() -> None:
    assert choose_history_start([5, 5, 5], 15, 4) == 0
    assert choose_history_start([], 10, 4) == 0


def test_the_newest_message_alone_too_large_is_reported() -> None:
    assert choose_history_start([1, 2, 50], 20, 5) == 3


def test_overflow_drops_a_whole_chunk_not_one_message() -> None:
    costs = [10] * 21  # 210 tokens, budget 100: keeping messages 11.. would just fit
    start = choose_history_start(costs, 100, 25)
    # Boundaries fall where the running total from the first message passes 25, 50, 75, ...:
    # before messages 3, 5, 8, 10, 13, ...; the first one at or after 11 is 13.
    assert start == 13
    assert sum(costs[start:]) == 80


def test_the_start_stays_put_while_the_chat_grows() -> None:
    costs = [10] * 20
    starts = [choose_history_start(costs + [10] * extra, 100, 25) for extra in range(8)]
    changes = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert changes <= 3  # one message a turn, yet the cut moves only every 2-3 turns
    assert starts == sorted(starts)


def test_one_message_at_a_time_trimming_would_move_every_turn() -> None:
    costs = [10] * 20
    starts = [choose_history_start(costs + [10] * extra, 100, 1) for extra in range(8)]
    assert len(set(starts)) == 8  # the baseline the chunking avoids


@settings(max_examples=300, deadline=None)
@given(
    costs=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=80),
    budget=st.integers(min_value=0, max_value=500),
    chunk=st.integers(min_value=0, max_value=200),
)
def test_kept_history_always_fits_and_keeps_the_newest(
    costs: list[int], budget: int, chunk: int
) -> None:
    start = choose_history_start(costs, budget, chunk)
    if costs[-1] > budget:
        assert start == len(costs)
    else:
        assert start < len(costs)
        assert sum(costs[start:]) <= budget


@settings(max_examples=200, deadline=None)
@given(
    costs=st.lists(st.integers(min_value=1, max_value=40), min_size=2, max_size=60),
    extra=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10),
    budget=st.integers(min_value=40, max_value=400),
)
def test_appending_messages_never_moves_the_start_backwards(
    costs: list[int], extra: list[int], budget: int
) -> None:
    chunk = budget // 4
    before = choose_history_start(costs, budget, chunk)
    after = choose_history_start(costs + extra, budget, chunk)
    assert after >= before
