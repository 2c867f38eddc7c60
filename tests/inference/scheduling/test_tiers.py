"""Tiers as configuration: defaults, reading from mappings, and clear refusals of bad values."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.scheduling import (
    DegradationRule,
    TierConfigError,
    TierTable,
    UnknownTier,
    default_tiers,
)
from tests.inference.scheduling.factories import make_tier


def test_the_defaults_are_free_plus_and_pro_in_rising_weight() -> None:
    tiers = default_tiers()
    assert list(tiers) == ["free", "plus", "pro"]
    assert tiers["free"].weight < tiers["plus"].weight < tiers["pro"].weight
    assert tiers["free"].ageing_bound_s > tiers["pro"].ageing_bound_s
    assert tiers["free"].degradation, "free requests degrade under load"
    assert tiers["pro"].messages_per_day is None


def test_tiers_survive_a_round_trip_through_json() -> None:
    tiers = default_tiers()
    again = TierTable.from_mapping(json.loads(json.dumps(tiers.to_mapping())))
    assert list(again.values()) == list(tiers.values())


def test_a_tier_is_read_from_a_mapping_with_optional_fields_defaulted() -> None:
    tiers = TierTable.from_mapping(
        {
            "basic": {
                "weight": 2,
                "max_context_tokens": 2048,
                "max_reply_tokens": 200,
                "messages_per_day": 50,
                "concurrency": 1,
                "queue_cap": 10,
                "queued_per_user": 1,
                "ageing_bound_s": 30,
                "models": ["small-model"],
                "degradation": [{"queue_length": 5, "max_reply_tokens": 100}],
            }
        }
    )
    basic = tiers.tier("basic")
    assert basic.slot_share == 1.0
    assert basic.allows("small-model") and not basic.allows("large-model")
    assert basic.degradation == (DegradationRule(5, max_reply_tokens=100),)


def test_an_empty_model_list_allows_every_model() -> None:
    assert make_tier(models=()).allows("anything")


def test_asking_for_an_unknown_tier_names_it() -> None:
    with pytest.raises(UnknownTier, match="'gold'"):
        default_tiers().tier("gold")


@pytest.mark.parametrize("share", [0.1, 0.4, 0.5, 1.0])
@pytest.mark.parametrize("slots", [1, 2, 8, 64])
def test_a_slot_share_always_leaves_the_tier_at_least_one_slot(share: float, slots: int) -> None:
    limit = make_tier(share=share).slot_limit(slots)
    assert 1 <= limit <= slots
    assert limit == max(1, int(share * slots + 1e-9))


BASE: dict[str, Any] = default_tiers().to_mapping()["free"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weight": 0}, "tier 'free': weight must be a number above 0"),
        ({"weight": float("nan")}, "weight must be a number above 0"),
        ({"weight": True}, "weight must be a number"),
        ({"ageing_bound_s": -1}, "ageing_bound_s must be a number above 0"),
        ({"slot_share": 1.5}, "slot_share must be a number above 0 and at most 1"),
        ({"concurrency": 0}, "concurrency must be a whole number"),
        ({"queue_cap": 2.5}, "queue_cap must be a whole number"),
        ({"messages_per_day": -3}, "messages_per_day must be a whole number"),
        ({"models": "one-model"}, "models must be a list"),
        ({"models": ["bad name!"]}, "invalid model name"),
        ({"colour": "gold"}, "unknown setting 'colour'"),
        ({"degradation": [{"max_reply_tokens": 10}]}, "needs queue_length"),
        ({"degradation": [{"queue_length": 3}]}, "must cut a budget or name a smaller model"),
        (
            {
                "degradation": [
                    {"queue_length": 5, "max_reply_tokens": 10},
                    {"queue_length": 5, "max_reply_tokens": 5},
                ]
            },
            "strictly rising order",
        ),
        ({"degradation": [{"queue_length": 1, "speed": 2}]}, "unknown degradation setting"),
        ({"degradation": [{"queue_length": -1, "model": "x"}]}, "queue_length must be a whole"),
        ({"degradation": [{"queue_length": 1, "model": "no spaces"}]}, "not a valid model name"),
        ({"degradation": ["cheaper"]}, "each degradation rule must be a mapping"),
        ({"degradation": [{"queue_length": n, "model": "m"} for n in range(9)]}, "at most 8"),
        ({"models": [f"m{n}" for n in range(65)]}, "at most 64 model names"),
    ],
)
def test_bad_values_are_refused_with_the_tier_and_field_named(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(TierConfigError, match=message):
        TierTable.from_mapping({"free": {**BASE, **change}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "tiers must be a mapping"),
        ({}, "at least one tier"),
        ({"Free Tier": BASE}, "tier name 'Free Tier'"),
        ({"free": "fast"}, "tier 'free' must be a mapping"),
        ({"free": {k: v for k, v in BASE.items() if k != "weight"}}, "missing setting 'weight'"),
        ({f"t{n}": BASE for n in range(40)}, "at most 32 tiers"),
    ],
)
def test_bad_tables_are_refused(raw: Any, message: str) -> None:
    with pytest.raises(TierConfigError, match=message):
        TierTable.from_mapping(raw)


def test_too_many_tiers_or_odd_names_are_refused() -> None:
    with pytest.raises(TierConfigError, match="at most 32 tiers"):
        TierTable(make_tier(f"t{n}") for n in range(33))
    with pytest.raises(TierConfigError, match="tier names must be strings"):
        TierTable.from_mapping({3: BASE})  # type: ignore[dict-item]
    with pytest.raises(TierConfigError, match="must hold degradation rules"):
        make_tier(degradation=("cheaper",))  # type: ignore[arg-type]
    assert "free" in repr(default_tiers())


def test_the_same_tier_twice_is_refused() -> None:
    with pytest.raises(TierConfigError, match="defined twice"):
        TierTable([make_tier("free"), make_tier("free")])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from([*BASE, "degradation", "models", "queue_length", "other"])


@given(
    raw=st.dictionaries(
        st.text(max_size=8) | st.just("free"),
        st.dictionaries(field_names, json_values, max_size=12) | json_values,
        max_size=3,
    )
)
def test_any_json_either_reads_as_tiers_or_fails_with_a_config_error(raw: Any) -> None:
    message = None
    try:
        tiers = TierTable.from_mapping(raw)
    except TierConfigError as error:
        message = str(error)
    if message is None:
        assert TierTable.from_mapping(tiers.to_mapping()) == tiers
    else:
        assert message and "\n" not in message


@given(change=st.dictionaries(st.sampled_from(sorted(BASE)), json_values, max_size=3))
def test_mutated_default_tiers_either_read_or_fail_with_a_config_error(change: Any) -> None:
    message = "tier"
    try:
        TierTable.from_mapping({"free": {**BASE, **change}})
    except TierConfigError as error:
        message = str(error)
    assert message.startswith("tier")
