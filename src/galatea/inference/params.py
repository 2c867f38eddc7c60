"""Sampling parameters: one canonical set, mapped to each backend's names by its adapter."""

from dataclasses import dataclass, field, fields

DEFAULT_DRY_BREAKERS: tuple[str, ...] = ("\n", ":", '"', "*")


@dataclass(slots=True, frozen=True)
class SamplingParams:
    """How the next token is chosen. Defaults leave a sampler switched off."""

    temperature: float = 1.0
    """Divides the logits; 0 means greedy (always the most likely token)."""
    dynatemp_range: float = 0.0
    """Dynamic temperature: the temperature varies by +/- this much with the entropy; 0 is off."""
    dynatemp_exponent: float = 1.0
    """Dynamic temperature: the curve from low to high entropy."""
    top_k: int = 0
    """Keep only the k most likely tokens; 0 is off."""
    top_p: float = 1.0
    """Keep the smallest set of tokens whose probabilities add up to p; 1 is off."""
    min_p: float = 0.0
    """Drop tokens less likely than min_p times the most likely one; 0 is off."""
    typical_p: float = 1.0
    """Locally typical sampling; 1 is off."""
    top_n_sigma: float = 0.0
    """Keep tokens within n standard deviations of the top logit; 0 or less is off."""
    xtc_threshold: float = 0.1
    """XTC: tokens above this probability are candidates for exclusion."""
    xtc_probability: float = 0.0
    """XTC: chance per step of removing all but the least likely candidate above the threshold."""
    repetition_penalty: float = 1.0
    """Divide the logits of tokens seen in the penalty window; 1 is off."""
    frequency_penalty: float = 0.0
    """Subtract this times the count of each token in the window; 0 is off."""
    presence_penalty: float = 0.0
    """Subtract this from every token present in the window; 0 is off."""
    penalty_range: int = 64
    """Window in tokens for the three penalties above; -1 means the whole context."""
    dry_multiplier: float = 0.0
    """DRY (don't repeat yourself) strength; 0 is off."""
    dry_base: float = 1.75
    """DRY: the penalty grows as base ** (length of the repeat - allowed length)."""
    dry_allowed_length: int = 2
    """DRY: repeats up to this many tokens are not penalised."""
    dry_range: int = -1
    """DRY: how many recent tokens are scanned; -1 means the whole context, 0 is off."""
    dry_sequence_breakers: tuple[str, ...] = DEFAULT_DRY_BREAKERS
    """DRY: strings that end a repeated sequence."""
    mirostat_mode: int = 0
    """Mirostat: 0 off, 1 version 1, 2 version 2 (replaces the truncation samplers)."""
    mirostat_tau: float = 5.0
    """Mirostat: target surprise (entropy)."""
    mirostat_eta: float = 0.1
    """Mirostat: learning rate."""
    logit_bias: dict[int, float] = field(default_factory=dict)
    """Token id to a value added to its logit; float('-inf') bans the token."""
    grammar: str | None = None
    """A GBNF grammar the output must follow."""

    def changed(self) -> list[str]:
        """Names of the samplers set away from their off/default value."""
        default = SamplingParams()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]


GREEDY = SamplingParams(temperature=0.0)
"""Always the most likely token: deterministic output, used by tests and benchmarks."""
