"""Parameter dialects: our `SamplingParams` in each engine's own request fields.

Engines accept unknown fields without a word (vLLM and Aphrodite log them at debug level), so
a dialect lists exactly the samplers its engine applies, writes only those, and reports the
rest through `Capabilities.ignored`. Every sampler it does apply is written out even when off:
servers have their own defaults (llama.cpp: top_k 40, top_p 0.95, min_p 0.05, repeat_penalty
1.1 at some versions) and ours must win. Field names were checked against each engine's source
(see ../shared/reference/inference.md, section 2); versions differ, so the lists are the
conservative intersection.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

from galatea.inference.backend import Capabilities
from galatea.inference.errors import RequestRejected
from galatea.inference.params import SamplingParams
from galatea.inference.remote.tokenizers import (
    EXTRAS_TOKENIZE,
    KOBOLD_TOKENIZE,
    TABBY_TOKENIZE,
    TOKENIZE,
    V1_TOKENIZE,
    TokenizerRoute,
)

Body = dict[str, Any]
ContextSource = Literal["props", "models", "tabby", "kobold", "none"]
"""Where the server reports its context length: llama.cpp `/props`, `max_model_len` in
`/v1/models`, TabbyAPI `/v1/model`, KoboldCpp `/api/v1/config/max_context_length`, nowhere."""

ALL_SAMPLERS = frozenset(f.name for f in fields(SamplingParams))
WHOLE_CONTEXT = 1_000_000
"""A window larger than any context, for engines with no "-1 means everything" value."""
BIAS_LIMIT = 100.0
"""OpenAI-style servers clamp logit bias to +/-100; -100 bans a token in practice."""


@dataclass(slots=True, frozen=True)
class Dialect:
    """How one engine names samplers and what else its OpenAI-compatible routes expect."""

    name: str
    samplers: frozenset[str]
    """`SamplingParams` fields the engine applies."""
    encode: Callable[[SamplingParams], Body]
    """Writes exactly the `samplers` in the engine's field names."""
    token_prompts: bool = False
    """The completions route takes a prompt of token ids."""
    prefix_cache: bool = True
    """The engine reuses the KV cache of an earlier prompt with the same start."""
    banned_strings_field: str | None = None
    """Request field for strings the engine bans natively (with backtracking)."""
    stream_usage: bool = True
    """Understands `stream_options.include_usage` (a usage block ends the stream)."""
    max_stop_strings: int | None = None
    """Most stop strings the server accepts; the rest are applied client-side only."""
    extra_fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Sent with every generation request."""
    continue_fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Sent on the chat route when the conversation ends with the assistant's message, so the
    server extends that message instead of starting a new one. (llama.cpp's server does so by
    itself; engines without a way to ask start a new message.)"""
    tokenizer_routes: tuple[TokenizerRoute, ...] = ()
    context_source: ContextSource = "none"
    check: Callable[[SamplingParams], str | None] = lambda _params: None
    """Returns why a value of a supported sampler cannot be honoured, if it cannot."""

    def capabilities(self, max_context: int | None = None) -> Capabilities:
        """What a backend speaking this dialect honours."""
        return Capabilities(
            samplers=self.samplers,
            token_prompts=self.token_prompts,
            prefix_cache=self.prefix_cache,
            banned_strings=self.banned_strings_field is not None,
            max_context=max_context,
        )

    def sampling_fields(self, params: SamplingParams) -> Body:
        """The request fields for `params`; RequestRejected if a value cannot be honoured."""
        problem = self.check(params)
        if problem:
            raise RequestRejected(f"{self.name}: {problem}")
        return self.encode(params)


def _bias_dict(params: SamplingParams) -> Body:
    """OpenAI-style `{"<token id>": bias}`, clamped; -inf (a ban) becomes -100."""
    if not params.logit_bias:
        return {}
    return {
        "logit_bias": {
            str(token): max(-BIAS_LIMIT, min(BIAS_LIMIT, bias))
            for token, bias in params.logit_bias.items()
        }
    }


def _bias_pairs(params: SamplingParams) -> Body:
    """llama.cpp's `[[id, bias]]` pairs, where `false` bans the token outright."""
    if not params.logit_bias:
        return {}
    return {
        "logit_bias": [
            [token, False if math.isinf(bias) and bias < 0 else bias]
            for token, bias in params.logit_bias.items()
        ]
    }


def _grammar(params: SamplingParams, key: str) -> Body:
    return {key: params.grammar} if params.grammar is not None else {}


def _dry_multiplier(params: SamplingParams) -> float:
    # Our dry_range 0 switches DRY off; engines that read 0 as "whole context" get a zero
    # multiplier instead.
    return params.dry_multiplier if params.dry_range != 0 else 0.0


def _dry(params: SamplingParams, range_key: str, whole_context: int) -> Body:
    return {
        "dry_multiplier": _dry_multiplier(params),
        "dry_base": params.dry_base,
        "dry_allowed_length": params.dry_allowed_length,
        range_key: whole_context if params.dry_range < 0 else params.dry_range,
        "dry_sequence_breakers": list(params.dry_sequence_breakers),
    }


def _dynatemp_bounds(params: SamplingParams) -> tuple[float, float]:
    if params.dynatemp_range <= 0:
        return params.temperature, params.temperature
    low = max(0.0, params.temperature - params.dynatemp_range)
    return low, params.temperature + params.dynatemp_range


def _openai_core(params: SamplingParams) -> Body:
    return {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "frequency_penalty": params.frequency_penalty,
        "presence_penalty": params.presence_penalty,
    }


def _encode_openai(params: SamplingParams) -> Body:
    return {**_openai_core(params), **_bias_dict(params)}


def _encode_ollama(params: SamplingParams) -> Body:
    return _openai_core(params)


def _encode_vllm(params: SamplingParams) -> Body:
    return {
        **_openai_core(params),
        # -1 is "off" in every vLLM version; 0 only in recent ones.
        "top_k": params.top_k if params.top_k > 0 else -1,
        "min_p": params.min_p,
        "repetition_penalty": params.repetition_penalty,
        **_bias_dict(params),
    }


def _encode_aphrodite(params: SamplingParams) -> Body:
    low, high = _dynatemp_bounds(params)
    dynamic = params.dynatemp_range > 0
    return {
        **_encode_vllm(params),
        "dynatemp_min": low if dynamic else 0.0,
        "dynatemp_max": high if dynamic else 0.0,
        "dynatemp_exponent": params.dynatemp_exponent,
        "typical_p": params.typical_p,
        "nsigma": max(params.top_n_sigma, 0.0),
        "xtc_threshold": params.xtc_threshold,
        "xtc_probability": params.xtc_probability,
        # Aphrodite reads dry_range 0 as the whole context.
        **_dry(params, "dry_range", whole_context=0),
        "mirostat_mode": params.mirostat_mode,
        "mirostat_tau": params.mirostat_tau,
        "mirostat_eta": params.mirostat_eta,
    }


def _check_aphrodite(params: SamplingParams) -> str | None:
    if params.mirostat_mode == 1:
        return "only Mirostat version 2 is supported (mirostat_mode=2)"
    return None


def _encode_llamacpp(params: SamplingParams) -> Body:
    return {
        **_openai_core(params),
        "dynatemp_range": params.dynatemp_range,
        "dynatemp_exponent": params.dynatemp_exponent,
        "top_k": params.top_k,
        "min_p": params.min_p,
        "typical_p": params.typical_p,
        "top_n_sigma": params.top_n_sigma if params.top_n_sigma > 0 else -1.0,
        "xtc_threshold": params.xtc_threshold,
        "xtc_probability": params.xtc_probability,
        "repeat_penalty": params.repetition_penalty,
        "repeat_last_n": params.penalty_range,
        **_dry(params, "dry_penalty_last_n", whole_context=-1),
        "mirostat": params.mirostat_mode,
        "mirostat_tau": params.mirostat_tau,
        "mirostat_eta": params.mirostat_eta,
        **_bias_pairs(params),
        **_grammar(params, "grammar"),
    }


def _encode_llamacpp_python(params: SamplingParams) -> Body:
    return {
        **_openai_core(params),
        "top_k": params.top_k,
        "min_p": params.min_p,
        "repeat_penalty": params.repetition_penalty,
        "mirostat_mode": params.mirostat_mode,
        "mirostat_tau": params.mirostat_tau,
        "mirostat_eta": params.mirostat_eta,
        **_bias_dict(params),
        **_grammar(params, "grammar"),
    }


def _encode_tabbyapi(params: SamplingParams) -> Body:
    low, high = _dynatemp_bounds(params)
    return {
        **_openai_core(params),
        "min_temp": low,
        "max_temp": high,
        "top_k": params.top_k,
        "min_p": params.min_p,
        "xtc_threshold": params.xtc_threshold,
        "xtc_probability": params.xtc_probability,
        "repetition_penalty": params.repetition_penalty,
        "penalty_range": params.penalty_range,
        # `dry_penalty_last_n` has llama.cpp's meaning (-1 whole, 0 off) and wins over
        # TabbyAPI's own dry_range, where 0 means the whole context.
        **_dry(params, "dry_penalty_last_n", whole_context=-1),
        **_bias_dict(params),
        **_grammar(params, "grammar_string"),
    }


def _encode_koboldcpp(params: SamplingParams) -> Body:
    # KoboldCpp's OpenAI routes pass its native fields through to the sampler.
    return {
        "temperature": params.temperature,
        "dynatemp_range": params.dynatemp_range,
        "dynatemp_exponent": params.dynatemp_exponent,
        "top_k": params.top_k,
        "top_p": params.top_p,
        "min_p": params.min_p,
        "typical": params.typical_p,
        "xtc_threshold": params.xtc_threshold,
        "xtc_probability": params.xtc_probability,
        "rep_pen": params.repetition_penalty,
        "rep_pen_range": WHOLE_CONTEXT if params.penalty_range < 0 else params.penalty_range,
        # Its OpenAI route copies frequency_penalty into presence_penalty only when the
        # latter is absent; sending presence_penalty always keeps the meaning exact.
        "presence_penalty": params.presence_penalty,
        **_dry(params, "dry_penalty_last_n", whole_context=WHOLE_CONTEXT),
        "mirostat_mode": params.mirostat_mode,
        "mirostat_tau": params.mirostat_tau,
        "mirostat_eta": params.mirostat_eta,
        **_bias_dict(params),
        **_grammar(params, "grammar"),
    }


_PENALTIES = frozenset({"repetition_penalty", "frequency_penalty", "presence_penalty"})
_DRY = frozenset(
    {"dry_multiplier", "dry_base", "dry_allowed_length", "dry_range", "dry_sequence_breakers"}
)
_MIROSTAT = frozenset({"mirostat_mode", "mirostat_tau", "mirostat_eta"})
_OPENAI = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})
_VLLM = _OPENAI | _PENALTIES | {"top_k", "min_p", "logit_bias"}

_CONTINUE_FINAL_MESSAGE = MappingProxyType(
    {"continue_final_message": True, "add_generation_prompt": False}
)
"""vLLM's and Aphrodite's request fields for extending the last message (exclusive pair)."""

DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {
        "openai": Dialect(
            "openai",
            _OPENAI | {"logit_bias"},
            _encode_openai,
            token_prompts=True,
            max_stop_strings=4,
            tokenizer_routes=(TOKENIZE, V1_TOKENIZE, EXTRAS_TOKENIZE),
        ),
        "vllm": Dialect(
            "vllm",
            _VLLM,
            _encode_vllm,
            token_prompts=True,
            tokenizer_routes=(TOKENIZE,),
            context_source="models",
            continue_fields=_CONTINUE_FINAL_MESSAGE,
        ),
        "aphrodite": Dialect(
            "aphrodite",
            ALL_SAMPLERS - {"penalty_range", "grammar"},
            _encode_aphrodite,
            token_prompts=True,
            tokenizer_routes=(V1_TOKENIZE, TOKENIZE),
            context_source="models",
            check=_check_aphrodite,
            continue_fields=_CONTINUE_FINAL_MESSAGE,
        ),
        "llamacpp": Dialect(
            "llamacpp",
            ALL_SAMPLERS,
            _encode_llamacpp,
            token_prompts=True,
            extra_fields=MappingProxyType({"cache_prompt": True}),
            tokenizer_routes=(TOKENIZE,),
            context_source="props",
        ),
        "llamacpp-python": Dialect(
            "llamacpp-python",
            _OPENAI | {"top_k", "min_p", "repetition_penalty", "logit_bias", "grammar"} | _MIROSTAT,
            _encode_llamacpp_python,
            stream_usage=False,
            tokenizer_routes=(EXTRAS_TOKENIZE,),
        ),
        "tabbyapi": Dialect(
            "tabbyapi",
            ALL_SAMPLERS - {"dynatemp_exponent", "typical_p", "top_n_sigma"} - _MIROSTAT,
            _encode_tabbyapi,
            banned_strings_field="banned_strings",
            tokenizer_routes=(TABBY_TOKENIZE,),
            context_source="tabby",
        ),
        "ollama": Dialect("ollama", _OPENAI, _encode_ollama),
        "koboldcpp": Dialect(
            "koboldcpp",
            ALL_SAMPLERS - {"frequency_penalty", "top_n_sigma"},
            _encode_koboldcpp,
            banned_strings_field="banned_tokens",
            stream_usage=False,
            extra_fields=MappingProxyType({"trim_stop": True}),
            tokenizer_routes=(KOBOLD_TOKENIZE,),
            context_source="kobold",
        ),
    }
)
"""Every dialect by name."""


def get_dialect(name: str) -> Dialect:
    """The dialect called `name`; ValueError naming the known ones otherwise."""
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"unknown backend dialect {name!r}; known: {known}") from None
