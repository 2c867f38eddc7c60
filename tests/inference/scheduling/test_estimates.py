"""Run-time estimates: planned with a margin, learned from finished generations."""

import pytest

from galatea.inference.scheduling.estimates import ServiceEstimate


def test_a_plan_is_the_first_token_plus_the_rest_with_a_margin() -> None:
    estimate = ServiceEstimate(first_token_s=1.0, token_s=0.1, margin=1.5)
    assert estimate.planned_s(11) == pytest.approx(1.5 * (1.0 + 10 * 0.1))


def test_measurements_pull_the_estimate_towards_what_was_seen() -> None:
    estimate = ServiceEstimate(first_token_s=2.0, token_s=0.1)
    for _ in range(60):
        estimate.observe(total_s=0.5 + 99 * 0.02, first_token_s=0.5, tokens=100)
    assert estimate.first_token_s == pytest.approx(0.5, rel=1e-3)
    assert estimate.token_s == pytest.approx(0.02, rel=1e-3)


def test_without_a_first_token_time_only_the_token_rate_is_learned() -> None:
    estimate = ServiceEstimate(first_token_s=2.0, token_s=0.1, smoothing=1.0)
    estimate.observe(total_s=5.0, first_token_s=None, tokens=100)
    assert estimate.first_token_s == 2.0
    assert estimate.token_s == pytest.approx(0.05)


def test_empty_or_instant_generations_teach_nothing() -> None:
    estimate = ServiceEstimate()
    estimate.observe(total_s=3.0, first_token_s=1.0, tokens=0)
    estimate.observe(total_s=0.0, first_token_s=0.0, tokens=5)
    assert estimate == ServiceEstimate()


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="token_s"):
        ServiceEstimate(token_s=0.0)
    with pytest.raises(ValueError, match="margin"):
        ServiceEstimate(margin=0.5)
