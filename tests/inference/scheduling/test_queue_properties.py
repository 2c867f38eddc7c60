"""FairQueue properties under arbitrary load: FIFO per user, limits, weights, ageing, cancel."""

import heapq
import itertools
from dataclasses import dataclass

from hypothesis import given, settings, target
from hypothesis import strategies as st

from galatea.inference.scheduling import FairQueue, QueueFull, Ticket
from tests.inference.scheduling.factories import make_tier, make_tiers, ticket

TIERS = make_tiers(
    make_tier("free", weight=1.0, bound=30.0, cap=12, per_user=3, concurrency=1, share=0.5),
    make_tier("plus", weight=4.0, bound=12.0, cap=8, per_user=2, concurrency=2),
    make_tier("pro", weight=8.0, bound=6.0, cap=8, per_user=4, concurrency=3),
)
USERS = {"free": ["f0", "f1", "f2", "f3"], "plus": ["p0", "p1"], "pro": ["q0"]}


@dataclass(frozen=True)
class Arrival:
    at: float
    tier: str
    user: str
    planned: float
    """Planned run time given to the queue."""
    used: float
    """Fraction of the planned time the run really takes (at most all of it)."""


arrivals = st.lists(
    st.builds(
        Arrival,
        at=st.floats(0.0, 30.0, allow_nan=False),
        tier=st.sampled_from(list(USERS)),
        user=st.sampled_from([u for users in USERS.values() for u in users]),
        planned=st.floats(0.1, 8.0),
        used=st.floats(0.0, 1.0),
    ),
    max_size=150,
)


@dataclass
class Served:
    """What a simulated server did with the arrivals."""

    pushed: dict[str, float]
    popped: dict[str, float]
    order_by_user: dict[str, list[str]]
    refused: int
    peak_user: int
    peak_tier: dict[str, int]


def serve(load: list[Arrival], slots: int) -> Served:
    """Run a server that pops whenever something changes and a slot may be free."""
    queue = FairQueue(TIERS, slots=slots)
    events: list[tuple[float, int, int, object]] = []
    seq = itertools.count()
    for arrival in load:
        user = arrival.user if arrival.user in USERS[arrival.tier] else USERS[arrival.tier][0]
        fixed = Arrival(arrival.at, arrival.tier, user, arrival.planned, arrival.used)
        heapq.heappush(events, (arrival.at, 1, next(seq), fixed))
    pushed: dict[str, float] = {}
    popped: dict[str, float] = {}
    users_of: dict[str, str] = {}
    tier_of: dict[str, str] = {}
    order: dict[str, list[str]] = {}
    running_user: dict[str, int] = {}
    running_tier: dict[str, int] = {}
    refused = peak_user = 0
    peak_tier: dict[str, int] = {}
    runs: dict[str, float] = {}
    while events:
        now = events[0][0]
        while events and events[0][0] == now:  # completions (0) before arrivals (1)
            _, kind, _, item = heapq.heappop(events)
            if kind == 0:
                assert isinstance(item, str)
                assert queue.release(item)
                running_user[users_of[item]] -= 1
                running_tier[tier_of[item]] -= 1
            else:
                assert isinstance(item, Arrival)
                ticket_id = f"t{len(pushed) + refused}"
                try:
                    queue.push(Ticket(ticket_id, item.user, item.tier, item.planned), now)
                except QueueFull as error:
                    retry_after = error.retry_after
                    refused += 1
                    assert retry_after >= 1.0
                    continue
                pushed[ticket_id] = now
                users_of[ticket_id], tier_of[ticket_id] = item.user, item.tier
                runs[ticket_id] = item.planned * item.used
                order.setdefault(item.user, []).append(ticket_id)
        while (next_ticket := queue.pop(now)) is not None:
            popped[next_ticket.id] = now
            user, tier = users_of[next_ticket.id], tier_of[next_ticket.id]
            running_user[user] = running_user.get(user, 0) + 1
            running_tier[tier] = running_tier.get(tier, 0) + 1
            peak_user = max(peak_user, running_user[user])
            peak_tier[tier] = max(peak_tier.get(tier, 0), running_tier[tier])
            heapq.heappush(events, (now + runs[next_ticket.id], 0, next(seq), next_ticket.id))
    assert len(queue) == 0 and queue.running == 0
    by_user = {
        user: [t for t in sorted(popped, key=lambda t: (popped[t], t)) if users_of[t] == user]
        for user in order
    }
    assert all(len(by_user[user]) == len(order[user]) for user in order)
    return Served(pushed, popped, by_user, refused, peak_user, peak_tier)


@settings(max_examples=100, deadline=None)
@given(load=arrivals, slots=st.integers(1, 6))
def test_every_admitted_request_starts_within_its_tiers_ageing_bound(
    load: list[Arrival], slots: int
) -> None:
    served = serve(load, slots)
    tightness = [
        (served.popped[ticket_id] - at) / _bound_of(served, ticket_id)
        for ticket_id, at in served.pushed.items()
    ]
    # Steer the search towards loads that bring waits closest to their bounds.
    target(max(tightness, default=0.0), label="longest wait / bound")
    target(float(served.refused), label="refusals")
    assert all(0.0 <= share <= 1.0 + 1e-9 for share in tightness)


def _bound_of(served: Served, ticket_id: str) -> float:
    for user, ids in served.order_by_user.items():
        if ticket_id in ids:
            tier = next(name for name, users in USERS.items() if user in users)
            return TIERS[tier].ageing_bound_s
    raise AssertionError(ticket_id)


@settings(max_examples=150, deadline=None)
@given(load=arrivals, slots=st.integers(1, 6))
def test_nobody_starves_and_each_user_is_served_in_order(load: list[Arrival], slots: int) -> None:
    served = serve(load, slots)  # serve() drains the queue: every admitted request ran
    for user, ids in served.order_by_user.items():
        assert ids == sorted(ids, key=lambda t: served.pushed[t]), user


@settings(max_examples=150, deadline=None)
@given(load=arrivals, slots=st.integers(1, 6))
def test_limits_hold_at_pop_time(load: list[Arrival], slots: int) -> None:
    served = serve(load, slots)
    assert served.peak_user <= max(tier.concurrency for tier in TIERS.values())
    for tier, peak in served.peak_tier.items():
        assert peak <= TIERS[tier].slot_limit(slots)


@settings(max_examples=100, deadline=None)
@given(
    weights=st.lists(st.integers(1, 10), min_size=2, max_size=4),
    services=st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=1, max_size=4),
    pops=st.integers(20, 200),
)
def test_weights_are_respected_while_tiers_stay_backlogged(
    weights: list[int], services: list[float], pops: int
) -> None:
    names = [f"t{n}" for n in range(len(weights))]
    tiers = make_tiers(
        *(make_tier(n, weight=float(w)) for n, w in zip(names, weights, strict=True))
    )
    service = {name: services[n % len(services)] for n, name in enumerate(names)}
    queue = FairQueue(tiers, slots=1)
    counter = itertools.count()
    for name in names:
        for _ in range(pops):
            queue.push(ticket(f"{name}-{next(counter)}", f"{name}-user", name, service[name]), 0.0)
    work = dict.fromkeys(names, 0.0)
    for _ in range(pops):
        popped = queue.pop(0.0)
        assert popped is not None
        work[popped.tier] += popped.service_s
        queue.release(popped.id)
    # Start-time fair queueing: normalised service of two backlogged tiers differs by at most
    # one request's normalised cost of each.
    for a, b in itertools.combinations(range(len(names)), 2):
        na, nb = names[a], names[b]
        gap = abs(work[na] / weights[a] - work[nb] / weights[b])
        assert gap <= service[na] / weights[a] + service[nb] / weights[b] + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    users=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=30),
    data=st.data(),
)
def test_remove_takes_out_exactly_one_and_the_rest_keep_their_order(
    users: list[str], data: st.DataObject
) -> None:
    def build() -> FairQueue:
        queue = FairQueue(make_tiers(make_tier("free")), slots=1)
        for n, user in enumerate(users):
            queue.push(ticket(f"t{n}", user), float(n))
        return queue

    victim = f"t{data.draw(st.integers(0, len(users) - 1))}"
    with_cancel, without = build(), build()
    assert with_cancel.remove(victim) is not None
    assert len(with_cancel) == len(users) - 1
    kept = _drain(with_cancel)
    reference = [t for t in _drain(without) if t != victim]
    assert sorted(kept) == sorted(reference)
    for user in set(users):
        mine = {f"t{n}" for n, u in enumerate(users) if u == user} - {victim}
        assert [t for t in kept if t in mine] == [t for t in reference if t in mine]


def _drain(queue: FairQueue) -> list[str]:
    out = []
    while (popped := queue.pop(1e6)) is not None:
        out.append(popped.id)
        queue.release(popped.id)
    return out


@settings(max_examples=100, deadline=None)
@given(load=arrivals)
def test_positions_number_the_waiting_requests_from_one(load: list[Arrival]) -> None:
    queue = FairQueue(TIERS, slots=2)
    for n, arrival in enumerate(sorted(load, key=lambda a: a.at)):
        user = arrival.user if arrival.user in USERS[arrival.tier] else USERS[arrival.tier][0]
        try:
            queue.push(Ticket(f"t{n}", user, arrival.tier, arrival.planned), arrival.at)
        except QueueFull:
            continue
    places = queue.positions()
    assert sorted(places.values()) == list(range(1, len(queue) + 1))
