"""Sampling parameters -> a llama.cpp sampler chain, one per generating sequence.

`plan_samplers` is the pure mapping (tested without a model): which native samplers run, in
which order, with which arguments. The order follows llama.cpp's default: logit bias and
grammar first, then penalties, DRY, top-n-sigma, top-k, typical, top-p, min-p, XTC, temperature
and the final draw. Mirostat replaces the truncation samplers; temperature 0 means greedy.
`SamplerChain` builds the native chain and primes the penalty and DRY samplers with the tokens
already in the context, so they see the prompt as well as the reply.
"""

import ctypes
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import llama_cpp.llama_cpp as C

from galatea.inference.errors import RequestRejected
from galatea.inference.params import SamplingParams

HONOURED_SAMPLERS = frozenset(f.name for f in fields(SamplingParams))
"""Every `SamplingParams` field has a native sampler here."""

_BIAS_LIMIT = 100.0


@dataclass(slots=True, frozen=True)
class SamplerStep:
    """One native sampler of the chain: its kind and constructor arguments."""

    kind: str
    args: tuple[Any, ...] = ()

    @property
    def needs_history(self) -> bool:
        """Whether the sampler must see the tokens already in the context."""
        return self.kind in {"penalties", "dry"}


def plan_samplers(params: SamplingParams, *, seed: int, context_length: int) -> list[SamplerStep]:
    """The ordered native samplers that implement `params`."""
    steps: list[SamplerStep] = []
    bias = _clamped_bias(params.logit_bias)
    if bias:
        steps.append(SamplerStep("logit_bias", (tuple(sorted(bias.items())),)))
    if params.grammar:
        steps.append(SamplerStep("grammar", (params.grammar,)))
    penalised = (
        params.repetition_penalty != 1.0
        or params.frequency_penalty != 0.0
        or params.presence_penalty != 0.0
    )
    if penalised and params.penalty_range != 0:
        window = context_length if params.penalty_range < 0 else params.penalty_range
        steps.append(
            SamplerStep(
                "penalties",
                (
                    window,
                    params.repetition_penalty,
                    params.frequency_penalty,
                    params.presence_penalty,
                ),
            )
        )
    if params.dry_multiplier > 0.0 and params.dry_range != 0:
        window = context_length if params.dry_range < 0 else params.dry_range
        breakers = tuple(b for b in params.dry_sequence_breakers if b)
        steps.append(
            SamplerStep(
                "dry",
                (
                    params.dry_multiplier,
                    params.dry_base,
                    params.dry_allowed_length,
                    window,
                    breakers,
                ),
            )
        )
    if params.temperature <= 0.0:
        steps.append(SamplerStep("greedy"))
        return steps
    if params.mirostat_mode in (1, 2):
        steps.append(_temperature(params))
        if params.mirostat_mode == 1:
            steps.append(
                SamplerStep("mirostat", (seed, params.mirostat_tau, params.mirostat_eta, 100))
            )
        else:
            steps.append(
                SamplerStep("mirostat_v2", (seed, params.mirostat_tau, params.mirostat_eta))
            )
        return steps
    if params.top_n_sigma > 0.0:
        steps.append(SamplerStep("top_n_sigma", (params.top_n_sigma,)))
    if params.top_k > 0:
        steps.append(SamplerStep("top_k", (params.top_k,)))
    if params.typical_p < 1.0:
        steps.append(SamplerStep("typical", (params.typical_p, 1)))
    if params.top_p < 1.0:
        steps.append(SamplerStep("top_p", (params.top_p, 1)))
    if params.min_p > 0.0:
        steps.append(SamplerStep("min_p", (params.min_p, 1)))
    if params.xtc_probability > 0.0:
        steps.append(SamplerStep("xtc", (params.xtc_probability, params.xtc_threshold, 1, seed)))
    steps.append(_temperature(params))
    steps.append(SamplerStep("dist", (seed,)))
    return steps


def _temperature(params: SamplingParams) -> SamplerStep:
    if params.dynatemp_range > 0.0:
        return SamplerStep(
            "temp_ext", (params.temperature, params.dynatemp_range, params.dynatemp_exponent)
        )
    return SamplerStep("temp", (params.temperature,))


def _clamped_bias(bias: dict[int, float]) -> dict[int, float]:
    clamped: dict[int, float] = {}
    for token, value in bias.items():
        if math.isnan(value) or value == 0.0:
            continue
        # -inf bans a token; finite values are clamped as the OpenAI-style APIs do.
        clamped[token] = value if math.isinf(value) else max(-_BIAS_LIMIT, min(_BIAS_LIMIT, value))
    return clamped


def validate_bias(bias: dict[int, float], n_vocab: int) -> None:
    """Reject logit-bias entries for tokens the vocabulary does not have."""
    bad = sorted(token for token in bias if not 0 <= token < n_vocab)
    if bad:
        raise RequestRejected(f"logit_bias names token ids outside the vocabulary: {bad[:5]}")


class SamplerChain:
    """A native sampler chain for one sequence; free it with `close()`."""

    def __init__(self, steps: Sequence[SamplerStep], *, vocab: Any, n_vocab: int) -> None:
        params = C.llama_sampler_chain_default_params()
        params.no_perf = True
        self.handle: Any = C.llama_sampler_chain_init(params)
        self.steps = tuple(steps)
        self._vocab = vocab
        self._n_vocab = n_vocab
        self._history: list[Any] = []

    @classmethod
    def build(
        cls,
        steps: Sequence[SamplerStep],
        *,
        vocab: Any,
        n_vocab: int,
        history: Sequence[int] = (),
        generated: Sequence[int] = (),
    ) -> "SamplerChain":
        """Build the chain; `history` primes penalties/DRY, `generated` advances the grammar."""
        chain = cls(steps, vocab=vocab, n_vocab=n_vocab)
        try:
            for step in steps:
                sampler = chain._create(step)
                if step.needs_history:
                    window = step.args[0] if step.kind == "penalties" else step.args[3]
                    for token in history[-window:]:
                        C.llama_sampler_accept(sampler, token)
                elif step.kind == "grammar":
                    for token in generated:
                        C.llama_sampler_accept(sampler, token)
                C.llama_sampler_chain_add(chain.handle, sampler)
        except BaseException:
            chain.close()
            raise
        return chain

    def _create(self, step: SamplerStep) -> Any:
        args = step.args
        match step.kind:
            case "logit_bias":
                entries = (C.llama_logit_bias * len(args[0]))(
                    *(C.llama_logit_bias(token, bias) for token, bias in args[0])
                )
                return C.llama_sampler_init_logit_bias(self._n_vocab, len(args[0]), entries)
            case "grammar":
                sampler = C.llama_sampler_init_grammar(self._vocab, args[0].encode(), b"root")
                if not sampler:
                    raise RequestRejected("the GBNF grammar could not be parsed (see the log)")
                return sampler
            case "penalties":
                return C.llama_sampler_init_penalties(self._n_vocab, *args)
            case "dry":
                breakers = [b.encode() for b in args[4]]
                array = (ctypes.c_char_p * max(1, len(breakers)))(*breakers)
                self._history.append(array)
                return C.llama_sampler_init_dry(
                    self._vocab, args[0], args[1], args[2], args[3], array, len(breakers)
                )
            case "mirostat":
                return C.llama_sampler_init_mirostat(self._n_vocab, *args)
            case "mirostat_v2":
                return C.llama_sampler_init_mirostat_v2(*args)
            case "greedy":
                return C.llama_sampler_init_greedy()
            case "dist":
                return C.llama_sampler_init_dist(*args)
            case _:
                return getattr(C, f"llama_sampler_init_{step.kind}")(*args)

    def sample(self, context: Any, index: int) -> int:
        """Choose (and accept) the next token from output `index` of the last decode."""
        return int(C.llama_sampler_sample(self.handle, context, index))

    def close(self) -> None:
        """Free the chain and every sampler in it."""
        if self.handle:
            C.llama_sampler_free(self.handle)
            self.handle = None
