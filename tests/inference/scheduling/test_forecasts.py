"""Start-time forecasts: a greedy pool of slots, with per-group limits."""

import heapq
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.scheduling.forecasts import Holding, first_late, forecast_starts


@dataclass(frozen=True)
class Request:
    name: str
    service_s: float
    deadline: float = 1e9
    limits: Sequence[tuple[Hashable, int]] = ()


def starts(
    waiting: list[Request], *, now: float = 0.0, slots: int, running: Sequence[Holding] = ()
) -> dict[str, float]:
    return {
        r.name: start
        for r, start in forecast_starts(waiting, now=now, slots=slots, running=list(running))
    }


def test_requests_fill_free_slots_then_wait_for_the_first_to_free() -> None:
    waiting = [Request("a", 4.0), Request("b", 2.0), Request("c", 1.0), Request("d", 1.0)]
    assert starts(waiting, slots=2) == {"a": 0.0, "b": 0.0, "c": 2.0, "d": 3.0}


def test_running_requests_hold_their_slots_until_planned_end() -> None:
    running = [Holding(5.0, ()), Holding(3.0, ())]
    assert starts([Request("a", 1.0), Request("b", 1.0)], now=1.0, slots=2, running=running) == {
        "a": 3.0,
        "b": 4.0,
    }


def test_a_run_past_its_planned_end_is_taken_to_end_now() -> None:
    assert starts([Request("a", 1.0)], now=10.0, slots=1, running=[Holding(4.0, ())]) == {"a": 10.0}


def test_a_user_at_their_limit_waits_for_their_own_run_even_with_slots_free() -> None:
    running = [Holding(6.0, ("ann",))]
    waiting = [Request("a2", 1.0, limits=(("ann", 1),)), Request("b1", 1.0, limits=(("bob", 1),))]
    assert starts(waiting, slots=4, running=running) == {"a2": 6.0, "b1": 0.0}


def test_a_tier_at_its_share_waits_even_with_slots_free() -> None:
    waiting = [Request(f"f{n}", 2.0, limits=(("free", 2),)) for n in range(3)]
    assert starts(waiting, slots=8) == {"f0": 0.0, "f1": 0.0, "f2": 2.0}


def test_a_shrunken_pool_opens_a_slot_only_as_the_surplus_ends() -> None:
    running = [Holding(1.0, ()), Holding(2.0, ()), Holding(3.0, ())]
    assert starts([Request("a", 1.0)], slots=2, running=running) == {"a": 2.0}


def test_first_late_names_the_first_request_that_cannot_start_in_time() -> None:
    waiting = [Request("a", 5.0, deadline=0.0), Request("b", 5.0, deadline=4.0)]
    late = first_late(waiting, now=0.0, slots=1, running=[])
    assert late is not None and late.name == "b"
    assert first_late(waiting[:1], now=0.0, slots=1, running=[]) is None


def test_a_pool_without_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        list(forecast_starts([Request("a", 1.0)], now=0.0, slots=0, running=[]))


@given(
    services=st.lists(st.floats(0.0, 10.0), max_size=40),
    busy=st.lists(st.floats(0.0, 10.0), max_size=6),
    slots=st.integers(1, 6),
)
def test_without_limits_it_is_a_list_schedule_on_identical_slots(
    services: list[float], busy: list[float], slots: int
) -> None:
    waiting = [Request(f"r{n}", s) for n, s in enumerate(services)]
    got = starts(waiting, slots=slots, running=[Holding(end, ()) for end in busy])
    # Reference: simulate the slots one request at a time, earliest free slot first.
    free_at = sorted(busy)[max(0, len(busy) - slots) :] + [0.0] * max(0, slots - len(busy))
    heapq.heapify(free_at)
    for request in waiting:
        start = heapq.heappop(free_at)
        assert got[request.name] == pytest.approx(start)
        heapq.heappush(free_at, start + request.service_s)
