"""Prefix reuse planning: common prefixes, front-trimmed histories, the kept head."""

from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.llamacpp.prefix import common_prefix, find_run, kept_tokens, plan_reuse

HEAD = list(range(1000, 1010))  # system prompt and character: never trimmed


def turns(*numbers: int) -> list[int]:
    """A history made of 40-token turns, each with its own tokens."""
    return [token for n in numbers for token in range(n * 100, n * 100 + 40)]


def test_new_turn_reuses_everything_before_it() -> None:
    old = HEAD + turns(1, 2)
    new = old + turns(3)
    plan = plan_reuse(old, new)
    assert plan.reused == len(old)
    assert plan.moves == ()
    assert kept_tokens(old, plan) == new[: plan.reused]


def test_identical_prompt_still_evaluates_its_last_token() -> None:
    prompt = HEAD + turns(1)
    plan = plan_reuse(prompt, prompt)
    assert plan.reused == len(prompt) - 1
    assert plan.discard_from == len(prompt) - 1


def test_front_trim_shifts_the_kept_history_into_place() -> None:
    old = HEAD + turns(1, 2, 3)
    new = HEAD + turns(2, 3, 4)  # turn 1 was dropped, turn 4 is new
    plan = plan_reuse(old, new)
    assert plan.common == len(HEAD)
    assert plan.reused == len(HEAD) + 80
    assert plan.shifted == 80
    (move,) = plan.moves
    assert (move.drop_start, move.drop_end, move.delta) == (len(HEAD), len(HEAD) + 40, -40)
    assert kept_tokens(old, plan) == new[: plan.reused]


def test_two_dropped_spans_are_both_shifted_over() -> None:
    old = HEAD + turns(1, 2, 3, 4, 5)
    new = HEAD + turns(2, 4, 5, 6)
    plan = plan_reuse(old, new)
    assert [move.delta for move in plan.moves] == [-40, -80]
    assert plan.reused == len(HEAD) + 120
    assert kept_tokens(old, plan) == new[: plan.reused]


def test_without_shifting_only_the_common_prefix_is_kept() -> None:
    old = HEAD + turns(1, 2, 3)
    new = HEAD + turns(2, 3, 4)
    plan = plan_reuse(old, new, allow_shift=False)
    assert plan.reused == len(HEAD)
    assert plan.moves == ()


def test_first_tokens_are_never_dropped() -> None:
    old = [7, 8, *turns(1, 2)]
    new = [7, 8, *turns(2, 3)]
    plan = plan_reuse(old, new, keep_first=4)
    assert plan.moves == ()
    assert plan.reused == 2


def test_short_runs_are_not_worth_a_shift() -> None:
    old = HEAD + turns(1, 2)
    new = HEAD + old[len(HEAD) + 40 : len(HEAD) + 50] + turns(5)
    plan = plan_reuse(old, new, min_chunk=32)
    assert plan.moves == ()


def test_helpers() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert find_run([5, 1, 2, 1, 2, 3], [1, 2, 3], 0) == 3
    assert find_run([1, 2], [3], 0) == -1


tokens = st.lists(st.integers(min_value=0, max_value=5), max_size=60)


@given(cached=tokens, prompt=tokens, chunk=st.integers(min_value=1, max_value=6))
def test_kept_kv_is_always_a_prefix_of_the_prompt(
    cached: list[int], prompt: list[int], chunk: int
) -> None:
    plan = plan_reuse(cached, prompt, min_chunk=chunk, keep_first=2)
    kept = kept_tokens(cached, plan)
    assert kept == prompt[: plan.reused]
    assert plan.reused <= max(0, len(prompt) - 1)
    assert plan.common <= plan.reused
    # Dropped spans never touch the kept head, and moves land contiguously.
    position = plan.common
    for move in plan.moves:
        assert move.drop_start >= plan.common >= 2
        assert move.drop_end + move.delta == position
        position += move.chunk_end - move.drop_end
    assert position == plan.reused
