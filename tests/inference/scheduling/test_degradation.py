"""Degradation: budgets by tier and queue length, decided at submit and tightened at dispatch."""

import pytest

from galatea.inference.scheduling import Budget, DegradationRule, plan_budget
from galatea.inference.scheduling.degradation import rule_for
from tests.inference.scheduling.factories import make_tier

FREE = make_tier(
    "free",
    max_context=4096,
    max_reply=300,
    degradation=(
        DegradationRule(4, max_context_tokens=3072, max_reply_tokens=200),
        DegradationRule(12, max_context_tokens=2048, max_reply_tokens=120),
        DegradationRule(40, model="small"),
    ),
)


@pytest.mark.parametrize(
    ("waiting", "context", "reply", "model", "degraded"),
    [
        (0, 4096, 300, "large", False),
        (4, 4096, 300, "large", False),  # rules apply when the queue is longer than the threshold
        (5, 3072, 200, "large", True),
        (12, 3072, 200, "large", True),
        (13, 2048, 120, "large", True),
        (41, 4096, 300, "small", True),  # the strongest rule exceeded is the one in force
    ],
)
def test_the_budget_shrinks_as_the_queue_grows(
    waiting: int, context: int, reply: int, model: str, degraded: bool
) -> None:
    assert plan_budget(FREE, "large", waiting) == Budget(model, context, reply, degraded)


def test_at_dispatch_a_rule_cuts_tokens_but_never_moves_the_request() -> None:
    budget = plan_budget(FREE, "large", 41, switch_model=False)
    assert budget == Budget("large", 4096, 300, False)


def test_the_backend_context_window_caps_the_budget() -> None:
    budget = plan_budget(FREE, "large", 0, context_limit=256)
    assert (budget.max_context_tokens, budget.max_reply_tokens) == (256, 256)
    assert budget.max_prompt_tokens == 0


def test_a_tier_without_rules_never_degrades() -> None:
    pro = make_tier("pro", max_context=16384, max_reply=800)
    assert rule_for(pro, 10_000) is None
    assert plan_budget(pro, "large", 10_000) == Budget("large", 16384, 800, False)


def test_tightening_keeps_the_smaller_of_each_limit_and_the_first_model() -> None:
    planned = Budget("small", 4096, 120, True)
    later = Budget("large", 2048, 300, False)
    assert planned.tighten(later) == Budget("small", 2048, 120, True)
    assert Budget("large", 4096, 300).tighten(Budget("large", 4096, 300)).degraded is False


def test_the_prompt_budget_leaves_room_for_the_reply() -> None:
    assert Budget("m", 4096, 300).max_prompt_tokens == 3796
