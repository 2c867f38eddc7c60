"""FairQueue: table tests of each rule, one behaviour per test."""

import pytest

from galatea.inference.scheduling import ActiveCounts, FairQueue, QueueFull
from tests.inference.scheduling.factories import make_tier, make_tiers, ticket


def pop_all(queue: FairQueue, now: float = 0.0) -> list[str]:
    """Pop everything, releasing each at once so slots never run out."""
    popped = []
    while (next_ticket := queue.pop(now)) is not None:
        popped.append(next_ticket.id)
        queue.release(next_ticket.id)
    return popped


def test_users_in_the_same_tier_take_turns() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=4)
    for job_id, user in (("a1", "ann"), ("a2", "ann"), ("b1", "bob")):
        queue.push(ticket(job_id, user), 0.0)
    assert pop_all(queue) == ["a1", "b1", "a2"]


def test_each_user_is_served_first_in_first_out() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=4)
    for n in range(5):
        queue.push(ticket(f"a{n}", "ann"), float(n))
    assert pop_all(queue, 10.0) == ["a0", "a1", "a2", "a3", "a4"]


def test_a_user_served_goes_to_the_back_of_the_round() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=4)
    for job_id, user in (("a1", "ann"), ("a2", "ann"), ("b1", "bob"), ("c1", "cy")):
        queue.push(ticket(job_id, user), 0.0)
    first = queue.pop(0.0)
    assert first is not None and first.id == "a1"
    queue.release("a1")
    queue.push(ticket("d1", "dee"), 0.0)  # a newcomer joins behind ann, who was served
    assert pop_all(queue) == ["b1", "c1", "a2", "d1"]


@pytest.mark.parametrize(
    ("weights", "pops", "expected"),
    [
        ((1.0, 1.0), 8, {"free": 4, "paid": 4}),
        ((1.0, 3.0), 8, {"free": 2, "paid": 6}),
        ((1.0, 7.0), 16, {"free": 2, "paid": 14}),
        ((2.0, 3.0), 10, {"free": 4, "paid": 6}),
    ],
)
def test_tiers_share_by_weight_while_both_wait(
    weights: tuple[float, float], pops: int, expected: dict[str, int]
) -> None:
    tiers = make_tiers(make_tier("free", weight=weights[0]), make_tier("paid", weight=weights[1]))
    queue = FairQueue(tiers, slots=64)
    for n in range(pops):
        queue.push(ticket(f"f{n}", f"f-user{n}", "free"), 0.0)
        queue.push(ticket(f"p{n}", f"p-user{n}", "paid"), 0.0)
    served = {"free": 0, "paid": 0}
    for _ in range(pops):
        popped = queue.pop(0.0)
        assert popped is not None
        served[popped.tier] += 1
        queue.release(popped.id)
    assert served == expected


def test_the_share_counts_planned_run_time_not_requests() -> None:
    tiers = make_tiers(make_tier("free"), make_tier("paid"))
    queue = FairQueue(tiers, slots=64)
    for n in range(12):
        queue.push(ticket(f"f{n}", f"f{n}", "free", service=3.0), 0.0)
        queue.push(ticket(f"p{n}", f"p{n}", "paid", service=1.0), 0.0)
    served = [queue.pop(0.0) for _ in range(8)]
    tiers_served = [t.tier for t in served if t is not None]
    assert tiers_served.count("paid") == 3 * tiers_served.count("free")


def test_an_idle_tier_gets_no_credit_for_its_idle_time() -> None:
    tiers = make_tiers(make_tier("free"), make_tier("paid"))
    queue = FairQueue(tiers, slots=64)
    for n in range(50):  # paid alone for a while
        queue.push(ticket(f"p{n}", f"p{n}", "paid"), 0.0)
    for _ in range(40):
        popped = queue.pop(0.0)
        assert popped is not None
        queue.release(popped.id)
    for n in range(10):
        queue.push(ticket(f"f{n}", f"f{n}", "free"), 0.0)
    next_ten = [t.tier for t in (queue.pop(0.0) for _ in range(10)) if t is not None]
    # Equal weights: turns (the newcomer may be one ahead), not a burst of ten free.
    assert next_ten.count("free") in (5, 6)
    assert "paid" in next_ten[:3]


def test_a_user_at_their_concurrency_limit_waits_while_others_run() -> None:
    queue = FairQueue(make_tiers(make_tier("free", concurrency=1)), slots=4)
    for job_id, user in (("a1", "ann"), ("a2", "ann"), ("b1", "bob")):
        queue.push(ticket(job_id, user), 0.0)
    first, second = queue.pop(0.0), queue.pop(0.0)
    assert [first.id if first else None, second.id if second else None] == ["a1", "b1"]
    assert queue.pop(0.0) is None  # only ann's second is left, and ann is at her limit
    queue.release("a1")
    third = queue.pop(1.0)
    assert third is not None and third.id == "a2"


def test_concurrency_is_counted_across_queues_sharing_active_counts() -> None:
    active = ActiveCounts()
    tiers = make_tiers(make_tier("free", concurrency=1))
    small, large = (
        FairQueue(tiers, slots=4, active=active),
        FairQueue(tiers, slots=4, active=active),
    )
    small.push(ticket("s1", "ann"), 0.0)
    large.push(ticket("l1", "ann"), 0.0)
    assert small.pop(0.0) is not None
    assert large.pop(0.0) is None
    small.release("s1")
    assert large.pop(0.0) is not None


def test_a_tier_holds_no_more_than_its_share_of_the_slots() -> None:
    tiers = make_tiers(make_tier("free", share=0.5), make_tier("paid", weight=4.0))
    queue = FairQueue(tiers, slots=4)
    for n in range(4):
        queue.push(ticket(f"f{n}", f"f{n}", "free"), 0.0)
    popped = [queue.pop(0.0), queue.pop(0.0), queue.pop(0.0)]
    assert [t.id if t else None for t in popped] == ["f0", "f1", None]
    queue.push(ticket("p0", "pat", "paid"), 0.0)
    paid = queue.pop(0.0)
    assert paid is not None and paid.id == "p0"


def test_nothing_pops_while_every_slot_is_taken() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=2)
    for n in range(3):
        queue.push(ticket(f"a{n}", f"u{n}"), 0.0)
    assert queue.pop(0.0) is not None and queue.pop(0.0) is not None
    assert queue.pop(0.0) is None
    assert queue.running == 2
    queue.release("a0")
    assert queue.pop(0.0) is not None


def test_a_full_tier_refuses_with_its_name_and_a_retry_time() -> None:
    tiers = make_tiers(make_tier("free", cap=2), make_tier("paid"))
    queue = FairQueue(tiers, slots=1)
    queue.push(ticket("a", "u1"), 0.0)
    queue.push(ticket("b", "u2"), 0.0)
    with pytest.raises(QueueFull, match="the free queue is full") as refused:
        queue.push(ticket("c", "u3"), 0.0)
    assert refused.value.retry_after >= 1.0
    queue.push(ticket("p", "u4", "paid"), 0.0)  # other tiers still get in
    assert len(queue) == 3


def test_a_user_may_have_only_so_many_requests_waiting() -> None:
    queue = FairQueue(make_tiers(make_tier("free", per_user=1)), slots=1)
    queue.push(ticket("a1", "ann"), 0.0)
    with pytest.raises(QueueFull, match="you already have 1 request"):
        queue.push(ticket("a2", "ann"), 0.0)
    queue.push(ticket("b1", "bob"), 0.0)


def test_admission_refuses_what_could_not_start_within_the_ageing_bound() -> None:
    queue = FairQueue(make_tiers(make_tier("free", bound=25.0)), slots=1)
    for n in range(3):  # forecast starts 0, 10 and 20 s
        queue.push(ticket(f"a{n}", f"u{n}", service=10.0), 0.0)
    with pytest.raises(QueueFull, match="cannot promise a start within 25 s") as refused:
        queue.push(ticket("a3", "u3", service=10.0), 0.0)  # would start at 30 s
    assert refused.value.retry_after == pytest.approx(5.0)
    assert queue.forecast(0.0) == {"a0": 0.0, "a1": 10.0, "a2": 20.0}


def _admitted(queue: FairQueue, now: float, service: float, tier: str = "free") -> int:
    admitted = 0
    for n in range(50):
        try:
            queue.push(ticket(f"late{n}", f"late-user{n}", tier, service=service), now)
        except QueueFull:
            return admitted
        admitted += 1
    return admitted


def _run_traffic(queue: FairQueue, tier: str, until: float) -> None:
    now = 0.0
    while now < until:
        queue.push(ticket(f"{tier}{now}", f"{tier}-user", tier), now)
        popped = queue.pop(now)
        assert popped is not None
        queue.release(popped.id)
        now += 1.0


def test_recent_paid_load_shortens_how_far_ahead_free_requests_are_promised() -> None:
    tiers = make_tiers(make_tier("free", bound=100.0), make_tier("paid", weight=4.0, bound=50.0))
    busy_paid, busy_free = FairQueue(tiers, slots=1), FairQueue(tiers, slots=1)
    _run_traffic(busy_paid, "paid", 300.0)
    _run_traffic(busy_free, "free", 300.0)
    after_paid = _admitted(busy_paid, 300.0, service=10.0)
    after_free = _admitted(busy_free, 300.0, service=10.0)
    assert 1 <= after_paid < after_free <= 10


def test_serving_out_of_fair_order_only_to_keep_a_promised_start() -> None:
    def scenario(free_bound: float) -> str:
        tiers = make_tiers(make_tier("free", bound=free_bound), make_tier("paid", weight=100.0))
        queue = FairQueue(tiers, slots=1)
        queue.push(ticket("f0", "fay", "free", service=5.0), 0.0)
        assert queue.pop(0.0) is not None  # free has had its turn: its fair tag is far ahead
        queue.release("f0")
        queue.push(ticket("p0", "pat", "paid", service=1.0), 0.0)
        assert queue.pop(0.0) is not None  # planned to end at 1 s ...
        queue.push(ticket("f1", "fay", "free", service=1.0), 0.0)
        queue.push(ticket("p1", "pam", "paid", service=1.0), 0.5)
        queue.release("p0")  # ... but it ran until 9 s
        chosen = queue.pop(9.0)
        assert chosen is not None
        return chosen.id

    assert scenario(free_bound=1000.0) == "p1"  # fair order: paid first
    assert scenario(free_bound=9.5) == "f1"  # p1 first would start f1 after its 9.5 s bound


def test_remove_takes_out_exactly_the_one_request() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=8)
    for job_id, user in (("a1", "ann"), ("a2", "ann"), ("b1", "bob")):
        queue.push(ticket(job_id, user), 0.0)
    removed = queue.remove("a1")
    assert removed is not None and removed.id == "a1"
    assert len(queue) == 2 and "a1" not in queue
    assert queue.remove("a1") is None
    assert pop_all(queue) == ["a2", "b1"]


def test_remove_does_not_touch_a_running_request() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=1)
    queue.push(ticket("a1"), 0.0)
    assert queue.pop(0.0) is not None
    assert queue.remove("a1") is None
    assert queue.running == 1
    assert queue.release("a1") is True
    assert queue.release("a1") is False


def test_positions_follow_the_order_requests_will_be_served_in() -> None:
    tiers = make_tiers(make_tier("free"), make_tier("paid", weight=3.0))
    queue = FairQueue(tiers, slots=64)
    for n in range(4):
        queue.push(ticket(f"f{n}", f"f{n % 2}", "free"), 0.0)
        queue.push(ticket(f"p{n}", f"p{n % 2}", "paid"), 0.0)
    places = queue.positions()
    assert sorted(places.values()) == list(range(1, 9))
    expected = sorted(places, key=places.__getitem__)
    assert pop_all(queue) == expected


def test_pushing_twice_or_to_an_unknown_tier_is_a_programming_error() -> None:
    queue = FairQueue(make_tiers(make_tier("free")), slots=1)
    queue.push(ticket("a"), 0.0)
    with pytest.raises(ValueError, match="already queued"):
        queue.push(ticket("a"), 0.0)
    with pytest.raises(KeyError, match="gold"):
        queue.push(ticket("b", tier="gold"), 0.0)
    with pytest.raises(ValueError, match="at least one slot"):
        FairQueue(make_tiers(make_tier("free")), slots=0)


def test_resizing_the_pool_changes_the_slots_a_tier_may_hold() -> None:
    queue = FairQueue(make_tiers(make_tier("free", share=0.5)), slots=2)
    for n in range(4):
        queue.push(ticket(f"a{n}", f"u{n}"), 0.0)
    assert queue.pop(0.0) is not None and queue.pop(0.0) is None
    queue.slots = 6
    assert queue.pop(0.0) is not None and queue.pop(0.0) is not None
    assert queue.pop(0.0) is None


def test_the_queue_reports_its_size_per_tier_and_its_pool() -> None:
    queue = FairQueue(make_tiers(make_tier("free"), make_tier("paid")), slots=3)
    queue.push(ticket("a", "u1"), 0.0)
    queue.push(ticket("b", "u2"), 0.0)
    queue.push(ticket("p", "u3", "paid"), 0.0)
    assert (queue.waiting("free"), queue.waiting("paid"), len(queue), queue.slots) == (2, 1, 3, 3)
