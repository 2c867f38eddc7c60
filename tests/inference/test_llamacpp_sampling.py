"""Sampling parameters map to the right native samplers, in llama.cpp's order."""

import math

import pytest

from galatea.inference.errors import RequestRejected
from galatea.inference.llamacpp.sampling import (
    HONOURED_SAMPLERS,
    SamplerStep,
    plan_samplers,
    validate_bias,
)
from galatea.inference.params import GREEDY, SamplingParams


def kinds(params: SamplingParams) -> list[str]:
    return [step.kind for step in plan_samplers(params, seed=7, context_length=2048)]


def step(params: SamplingParams, kind: str) -> SamplerStep:
    steps = plan_samplers(params, seed=7, context_length=2048)
    return next(s for s in steps if s.kind == kind)


def test_defaults_sample_from_the_full_distribution() -> None:
    assert kinds(SamplingParams()) == ["temp", "dist"]
    assert step(SamplingParams(), "dist").args == (7,)


def test_greedy_skips_every_random_sampler() -> None:
    assert kinds(GREEDY) == ["greedy"]
    assert kinds(SamplingParams(temperature=0, top_k=40, min_p=0.1)) == ["greedy"]


def test_full_chain_follows_llama_cpp_order() -> None:
    params = SamplingParams(
        temperature=0.8,
        top_k=40,
        top_p=0.9,
        min_p=0.05,
        typical_p=0.95,
        top_n_sigma=1.5,
        xtc_probability=0.5,
        xtc_threshold=0.2,
        repetition_penalty=1.1,
        dry_multiplier=0.8,
        logit_bias={5: 2.0},
        grammar='root ::= "yes" | "no"',
    )
    assert kinds(params) == [
        "logit_bias",
        "grammar",
        "penalties",
        "dry",
        "top_n_sigma",
        "top_k",
        "typical",
        "top_p",
        "min_p",
        "xtc",
        "temp",
        "dist",
    ]


def test_dynamic_temperature_uses_the_extended_sampler() -> None:
    params = SamplingParams(temperature=1.0, dynatemp_range=0.5, dynatemp_exponent=1.5)
    assert step(params, "temp_ext").args == (1.0, 0.5, 1.5)


def test_mirostat_replaces_truncation_samplers() -> None:
    params = SamplingParams(mirostat_mode=2, mirostat_tau=4.0, mirostat_eta=0.2, top_k=40)
    assert kinds(params) == ["temp", "mirostat_v2"]
    assert step(params, "mirostat_v2").args == (7, 4.0, 0.2)
    assert kinds(SamplingParams(mirostat_mode=1))[-1] == "mirostat"


def test_penalty_window_minus_one_means_the_whole_context() -> None:
    params = SamplingParams(repetition_penalty=1.2, penalty_range=-1)
    assert step(params, "penalties").args == (2048, 1.2, 0.0, 0.0)
    assert "penalties" not in kinds(SamplingParams(repetition_penalty=1.2, penalty_range=0))


def test_dry_arguments_and_breakers() -> None:
    params = SamplingParams(dry_multiplier=0.8, dry_range=256, dry_sequence_breakers=("\n", ""))
    assert step(params, "dry").args == (0.8, 1.75, 2, 256, ("\n",))
    assert "dry" not in kinds(SamplingParams(dry_multiplier=0.8, dry_range=0))


def test_logit_bias_is_clamped_and_bans_kept() -> None:
    params = SamplingParams(logit_bias={3: 500.0, 4: -math.inf, 6: 0.0})
    assert step(params, "logit_bias").args == (((3, 100.0), (4, -math.inf)),)


def test_bias_for_unknown_tokens_is_rejected() -> None:
    validate_bias({1: 1.0}, n_vocab=10)
    with pytest.raises(RequestRejected, match="outside the vocabulary"):
        validate_bias({10: 1.0, -1: 2.0}, n_vocab=10)


def test_every_sampling_field_is_honoured() -> None:
    assert SamplingParams(top_k=5, mirostat_mode=2).changed() != []
    assert {"dry_multiplier", "xtc_probability", "grammar", "logit_bias"} <= HONOURED_SAMPLERS
