"""Queue state as data: a queue rebuilt from its exported state before every operation
behaves exactly like one that never left memory (what a queue shared through Redis relies on)."""

import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.inference.scheduling import ActiveCounts, FairQueue, QueueFull
from galatea.inference.scheduling.queue_state import (
    QueueStateError,
    export_queue,
    import_queue,
    running_users,
)
from tests.inference.scheduling.factories import make_tier, make_tiers, ticket

TIERS = make_tiers(
    make_tier("free", weight=1.0, bound=30.0, cap=6, per_user=2, concurrency=1, share=0.5),
    make_tier("plus", weight=4.0, bound=12.0, cap=5, per_user=2, concurrency=2),
    make_tier("pro", weight=8.0, bound=6.0, cap=5, per_user=3, concurrency=2),
)
USERS = ["u0", "u1", "u2", "u3"]


@dataclass(frozen=True)
class Op:
    kind: str
    dt: float
    tier: str
    user: str
    service: float
    pick: int


ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["push", "push", "push", "pop", "pop", "remove", "release"]),
        dt=st.floats(0.0, 5.0, allow_nan=False),
        tier=st.sampled_from(list(TIERS)),
        user=st.sampled_from(USERS),
        service=st.floats(0.1, 10.0),
        pick=st.integers(0, 50),
    ),
    max_size=80,
)


def rebuilt(queue: FairQueue, slots: int) -> FairQueue:
    """`queue` through JSON and back, with the per-user counts rebuilt from its running list."""
    state = json.loads(json.dumps(export_queue(queue)))
    active = ActiveCounts()
    for user in running_users(state):
        active.add(user)
    return import_queue(state, TIERS, slots=slots, active=active)


def apply(queue: FairQueue, op: Op, now: float, number: int, ids: list[str]) -> object:
    try:
        if op.kind == "push":
            ticket_id = f"t{number}"
            queue.push(ticket(ticket_id, op.user, op.tier, op.service), now)
            ids.append(ticket_id)
            return ticket_id
        if op.kind == "pop":
            popped = queue.pop(now)
            return None if popped is None else popped.id
        if not ids:
            return None
        target = ids[op.pick % len(ids)]
        if op.kind == "remove":
            removed = queue.remove(target)
            return None if removed is None else removed.id
        return queue.release(target)
    except QueueFull as refusal:
        return ("full", str(refusal), round(refusal.retry_after, 9))


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 4))
def test_a_rebuilt_queue_decides_exactly_as_the_original(sequence: list[Op], slots: int) -> None:
    original = FairQueue(TIERS, slots=slots)
    shared = FairQueue(TIERS, slots=slots)
    ids_a: list[str] = []
    ids_b: list[str] = []
    now = 0.0
    for number, op in enumerate(sequence):
        now += op.dt
        shared = rebuilt(shared, slots)
        assert apply(shared, op, now, number, ids_b) == apply(original, op, now, number, ids_a)
        assert shared.positions() == original.positions()
        assert shared.forecast(now) == pytest.approx(original.forecast(now))
        assert len(shared) == len(original)
        assert shared.running == original.running


def test_an_empty_state_gives_an_empty_queue() -> None:
    queue = import_queue(None, TIERS, slots=2)
    assert len(queue) == 0
    assert queue.pop(0.0) is None


def test_requests_of_a_tier_no_longer_configured_are_dropped() -> None:
    queue = FairQueue(TIERS, slots=1)
    queue.push(ticket("gone", "u0", "plus"), 0.0)
    queue.push(ticket("kept", "u1", "free"), 0.0)
    state = export_queue(queue)
    fewer = make_tiers(make_tier("free"))
    restored = import_queue(state, fewer, slots=1)
    assert "kept" in restored
    assert "gone" not in restored
    popped = restored.pop(1.0)
    assert popped is not None and popped.id == "kept"


@pytest.mark.parametrize(
    "damage",
    [
        {"version": 99},
        {"waiting": [["only-an-id"]]},
        {"lines": {"free": {"finish_tag": "x", "dispatched_s": 0, "users": []}}},
        {"running": "nonsense"},
    ],
)
def test_damaged_state_is_refused_with_a_clear_error(damage: dict[str, object]) -> None:
    state = export_queue(FairQueue(TIERS, slots=1))
    state.update(damage)
    with pytest.raises(QueueStateError, match="queue state"):
        import_queue(state, TIERS, slots=1)
