"""Parameter dialects: each engine gets our samplers in its own names, and nothing it ignores."""

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.errors import RequestRejected
from galatea.inference.params import SamplingParams
from galatea.inference.remote.dialects import ALL_SAMPLERS, DIALECTS, get_dialect

ROLEPLAY = SamplingParams(
    temperature=0.8,
    top_k=40,
    top_p=0.95,
    min_p=0.05,
    typical_p=0.9,
    repetition_penalty=1.1,
    penalty_range=256,
    frequency_penalty=0.1,
    presence_penalty=0.2,
    dry_multiplier=0.8,
    xtc_probability=0.5,
    logit_bias={42: float("-inf"), 7: 2.5},
)
OPENAI_CORE = {
    "temperature": 0.8,
    "top_p": 0.95,
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
}
BIAS_DICT = {"logit_bias": {"42": -100.0, "7": 2.5}}
DRY_ON = {"dry_multiplier": 0.8, "dry_base": 1.75, "dry_allowed_length": 2}
BREAKERS = {"dry_sequence_breakers": ["\n", ":", '"', "*"]}
MIROSTAT_OFF = {"mirostat_tau": 5.0, "mirostat_eta": 0.1}

EXPECTED: dict[str, dict[str, Any]] = {
    "openai": {**OPENAI_CORE, **BIAS_DICT},
    "ollama": OPENAI_CORE,
    "vllm": {**OPENAI_CORE, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, **BIAS_DICT},
    "aphrodite": {
        **OPENAI_CORE, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, **BIAS_DICT,
        "dynatemp_min": 0.0, "dynatemp_max": 0.0, "dynatemp_exponent": 1.0,
        "typical_p": 0.9, "nsigma": 0.0, "xtc_threshold": 0.1, "xtc_probability": 0.5,
        **DRY_ON, "dry_range": 0, **BREAKERS, "mirostat_mode": 0, **MIROSTAT_OFF,
    },
    "llamacpp": {
        **OPENAI_CORE, "dynatemp_range": 0.0, "dynatemp_exponent": 1.0, "top_k": 40,
        "min_p": 0.05, "typical_p": 0.9, "top_n_sigma": -1.0, "xtc_threshold": 0.1,
        "xtc_probability": 0.5, "repeat_penalty": 1.1, "repeat_last_n": 256,
        **DRY_ON, "dry_penalty_last_n": -1, **BREAKERS, "mirostat": 0, **MIROSTAT_OFF,
        "logit_bias": [[42, False], [7, 2.5]],
    },
    "llamacpp-python": {
        **OPENAI_CORE, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1,
        "mirostat_mode": 0, **MIROSTAT_OFF, **BIAS_DICT,
    },
    "tabbyapi": {
        **OPENAI_CORE, "min_temp": 0.8, "max_temp": 0.8, "top_k": 40, "min_p": 0.05,
        "xtc_threshold": 0.1, "xtc_probability": 0.5, "repetition_penalty": 1.1,
        "penalty_range": 256, **DRY_ON, "dry_penalty_last_n": -1, **BREAKERS, **BIAS_DICT,
    },
    "koboldcpp": {
        "temperature": 0.8, "dynatemp_range": 0.0, "dynatemp_exponent": 1.0, "top_k": 40,
        "top_p": 0.95, "min_p": 0.05, "typical": 0.9, "xtc_threshold": 0.1,
        "xtc_probability": 0.5, "rep_pen": 1.1, "rep_pen_range": 256, "presence_penalty": 0.2,
        **DRY_ON, "dry_penalty_last_n": 1_000_000, **BREAKERS, "mirostat_mode": 0,
        **MIROSTAT_OFF, **BIAS_DICT,
    },
}  # fmt: skip


def test_every_dialect_has_an_expected_body() -> None:
    assert set(EXPECTED) == set(DIALECTS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_engine_gets_its_own_field_names(name: str) -> None:
    assert DIALECTS[name].sampling_fields(ROLEPLAY) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_bodies_are_strict_json_even_with_a_banned_token(name: str) -> None:
    json.dumps(DIALECTS[name].sampling_fields(ROLEPLAY), allow_nan=False)


ALTERNATIVES: dict[str, Any] = {
    "temperature": 0.3,
    "dynatemp_range": 0.5,
    "dynatemp_exponent": 2.0,
    "top_k": 20,
    "top_p": 0.8,
    "min_p": 0.1,
    "typical_p": 0.7,
    "top_n_sigma": 1.5,
    "xtc_threshold": 0.2,
    "xtc_probability": 0.4,
    "repetition_penalty": 1.2,
    "frequency_penalty": 0.3,
    "presence_penalty": 0.4,
    "penalty_range": 128,
    "dry_multiplier": 0.8,
    "dry_base": 2.0,
    "dry_allowed_length": 3,
    "dry_range": 512,
    "dry_sequence_breakers": ("\n", "Anna"),
    "mirostat_mode": 2,
    "mirostat_tau": 4.0,
    "mirostat_eta": 0.2,
    "logit_bias": {5: -3.0},
    "grammar": 'root ::= "yes" | "no"',
}
"""A value other than the baseline's for every sampler."""

BASELINE = SamplingParams(dry_multiplier=0.5, dynatemp_range=0.2)
"""DRY and dynamic temperature on, so that their secondary settings matter."""


def test_every_sampler_has_an_alternative_value() -> None:
    assert set(ALTERNATIVES) == ALL_SAMPLERS


@pytest.mark.parametrize(
    ("name", "sampler"),
    [(name, sampler) for name in sorted(DIALECTS) for sampler in sorted(ALL_SAMPLERS)],
)
def test_a_sampler_reaches_the_body_exactly_when_the_dialect_supports_it(
    name: str, sampler: str
) -> None:
    dialect = DIALECTS[name]
    changed = dataclasses.replace(BASELINE, **{sampler: ALTERNATIVES[sampler]})
    differs = dialect.encode(changed) != dialect.encode(BASELINE)
    assert differs == (sampler in dialect.samplers)


@st.composite
def sampling_params(draw: st.DrawFn) -> SamplingParams:
    return SamplingParams(
        temperature=draw(st.floats(0, 2)),
        dynatemp_range=draw(st.floats(0, 1)),
        top_k=draw(st.integers(0, 100)),
        top_p=draw(st.floats(0.1, 1)),
        min_p=draw(st.floats(0, 0.5)),
        typical_p=draw(st.floats(0.1, 1)),
        repetition_penalty=draw(st.floats(1, 1.5)),
        penalty_range=draw(st.integers(-1, 2048)),
        dry_multiplier=draw(st.floats(0, 2)),
        dry_range=draw(st.integers(-1, 4096)),
        mirostat_mode=draw(st.sampled_from([0, 2])),
        logit_bias=draw(st.dictionaries(st.integers(0, 50_000), st.floats(-100, 100), max_size=3)),
    )


@given(params=sampling_params(), data=st.data())
def test_unsupported_samplers_never_change_what_is_sent(
    params: SamplingParams, data: st.DataObject
) -> None:
    for dialect in DIALECTS.values():
        unsupported = sorted(ALL_SAMPLERS - dialect.samplers)
        touched = (
            data.draw(st.lists(st.sampled_from(unsupported), unique=True)) if unsupported else []
        )
        other = dataclasses.replace(params, **{name: ALTERNATIVES[name] for name in touched})
        assert dialect.encode(other) == dialect.encode(params)


def test_ignored_samplers_are_reported_by_name() -> None:
    asked = SamplingParams(temperature=0.7, top_k=50, typical_p=0.9, dry_multiplier=0.8)
    assert get_dialect("vllm").capabilities().ignored(asked) == ["typical_p", "dry_multiplier"]
    assert get_dialect("llamacpp").capabilities().ignored(asked) == []
    assert get_dialect("ollama").capabilities().ignored(asked) == [
        "top_k",
        "typical_p",
        "dry_multiplier",
    ]


def test_aphrodite_refuses_mirostat_version_one_instead_of_ignoring_it() -> None:
    with pytest.raises(RequestRejected, match="aphrodite: only Mirostat version 2"):
        get_dialect("aphrodite").sampling_fields(SamplingParams(mirostat_mode=1))
    assert (
        get_dialect("aphrodite").sampling_fields(SamplingParams(mirostat_mode=2))["mirostat_mode"]
        == 2
    )


@pytest.mark.parametrize(
    ("name", "field", "whole", "off_multiplier"),
    [
        ("llamacpp", "dry_penalty_last_n", -1, 0.0),
        ("aphrodite", "dry_range", 0, 0.0),
        ("koboldcpp", "dry_penalty_last_n", 1_000_000, 0.0),
        ("tabbyapi", "dry_penalty_last_n", -1, 0.0),
    ],
)
def test_dry_window_keeps_its_meaning_in_every_engine(
    name: str, field: str, whole: int, off_multiplier: float
) -> None:
    dialect = get_dialect(name)
    whole_context = dialect.encode(SamplingParams(dry_multiplier=0.8, dry_range=-1))
    assert whole_context[field] == whole
    assert whole_context["dry_multiplier"] == 0.8
    switched_off = dialect.encode(SamplingParams(dry_multiplier=0.8, dry_range=0))
    assert switched_off["dry_multiplier"] == off_multiplier
    assert dialect.encode(SamplingParams(dry_multiplier=0.8, dry_range=300))[field] == 300


def test_dynamic_temperature_becomes_a_range_where_engines_want_bounds() -> None:
    params = SamplingParams(temperature=0.7, dynatemp_range=0.5)
    aphrodite = get_dialect("aphrodite").encode(params)
    assert (aphrodite["dynatemp_min"], aphrodite["dynatemp_max"]) == (pytest.approx(0.2), 1.2)
    tabby = get_dialect("tabbyapi").encode(params)
    assert (tabby["min_temp"], tabby["max_temp"]) == (pytest.approx(0.2), 1.2)


def test_an_unknown_dialect_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown backend dialect 'exllama'; known: aphrodite"):
        get_dialect("exllama")
