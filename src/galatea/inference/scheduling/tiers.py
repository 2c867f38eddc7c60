"""Service tiers as configuration: what each kind of account may use and how it is scheduled.

A `Tier` is plain data checked on construction; `TierTable` holds the configured tiers in order
and reads them from JSON-like mappings (a settings file), refusing bad values with a one-line
error that names the tier and the field. `default_tiers()` gives the built-in free/plus/pro.
"""

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from galatea.inference.errors import RequestRejected

MAX_TIERS = 32
MAX_RULES = 8
MAX_MODELS = 64
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,127}$")


class TierConfigError(ValueError):
    """A tier definition is invalid; the message names the tier and the field."""


class UnknownTier(RequestRejected):
    """A request names a tier that is not configured."""


@dataclass(frozen=True, slots=True)
class DegradationRule:
    """Budget cuts for a tier once more than `queue_length` requests wait for the same model."""

    queue_length: int
    """The rule applies while strictly more requests than this wait (all tiers together)."""
    max_context_tokens: int | None = None
    """Shorter prompt budget under this load; None keeps the tier's."""
    max_reply_tokens: int | None = None
    """Shorter reply budget under this load; None keeps the tier's."""
    model: str | None = None
    """Serve from this (smaller) model's backends instead (decided at submit)."""


@dataclass(frozen=True, slots=True)
class Tier:
    """One kind of account: its limits, its share of the backends and its promise on waiting."""

    name: str
    weight: float
    """Share of the backends when several tiers wait, relative to the other tiers' weights."""
    max_context_tokens: int
    """Longest prompt, in tokens."""
    max_reply_tokens: int
    """Longest reply, in tokens."""
    messages_per_day: int | None
    """Messages a user may send per day; None is unlimited (enforced where usage is metered)."""
    concurrency: int
    """Generations one user may have running at once."""
    queue_cap: int
    """Most requests of this tier that may wait at once (per model); more are refused."""
    queued_per_user: int
    """Most requests one user may have waiting at once (per model)."""
    ageing_bound_s: float
    """Longest a request of this tier waits for a backend under any load; admission keeps it."""
    slot_share: float = 1.0
    """Most of a model's slots this tier may hold at once, as a fraction (always at least one);
    the rest stays free for better tiers, so their requests start without waiting."""
    models: tuple[str, ...] = ()
    """Models this tier may use; empty means every model."""
    degradation: tuple[DegradationRule, ...] = ()
    """Budget cuts under load, in rising order of `queue_length`."""

    def __post_init__(self) -> None:
        _check_tier(self)

    def allows(self, model: str) -> bool:
        """Whether users of this tier may generate with `model`."""
        return not self.models or model in self.models

    def slot_limit(self, slots: int) -> int:
        """How many of `slots` this tier may hold at once."""
        return max(1, math.floor(self.slot_share * slots + 1e-9))


class TierTable(Mapping[str, Tier]):
    """The configured tiers by name, in the order they were given."""

    def __init__(self, tiers: Iterable[Tier]) -> None:
        self._tiers: dict[str, Tier] = {}
        for tier in tiers:
            if tier.name in self._tiers:
                raise TierConfigError(f"tier {tier.name!r} is defined twice")
            self._tiers[tier.name] = tier
        if not self._tiers:
            raise TierConfigError("at least one tier must be configured")
        if len(self._tiers) > MAX_TIERS:
            raise TierConfigError(f"at most {MAX_TIERS} tiers can be configured")

    def __getitem__(self, name: str) -> Tier:
        return self._tiers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tiers)

    def __len__(self) -> int:
        return len(self._tiers)

    def __repr__(self) -> str:
        return f"TierTable({list(self._tiers.values())!r})"

    def tier(self, name: str) -> Tier:
        """The tier called `name`, or UnknownTier."""
        try:
            return self._tiers[name]
        except KeyError:
            raise UnknownTier(f"no tier called {name!r} is configured") from None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "TierTable":
        """Tiers from `{name: {field: value}}` as read from JSON or TOML; unknown fields refused."""
        if not isinstance(raw, Mapping):
            raise TierConfigError("tiers must be a mapping of tier name to settings")
        if len(raw) > MAX_TIERS:
            raise TierConfigError(f"at most {MAX_TIERS} tiers can be configured")
        return cls(_tier_from_mapping(name, value) for name, value in raw.items())

    def to_mapping(self) -> dict[str, dict[str, Any]]:
        """The tiers as plain JSON-ready data, readable by `from_mapping`."""
        return {name: _tier_to_mapping(tier) for name, tier in self._tiers.items()}


def default_tiers() -> TierTable:
    """The built-in tiers: free (shared leftovers, degraded under load), plus and pro."""
    return TierTable(
        [
            Tier(
                name="free",
                weight=1.0,
                max_context_tokens=4096,
                max_reply_tokens=300,
                messages_per_day=200,
                concurrency=1,
                queue_cap=100,
                queued_per_user=1,
                ageing_bound_s=60.0,
                # Free users hold at most 40% of a model's slots, so paid requests find one
                # free; on a batching engine the free ones left run faster, little is lost.
                slot_share=0.4,
                degradation=(
                    DegradationRule(4, max_context_tokens=3072, max_reply_tokens=200),
                    DegradationRule(12, max_context_tokens=2048, max_reply_tokens=120),
                ),
            ),
            Tier(
                name="plus",
                weight=4.0,
                max_context_tokens=8192,
                max_reply_tokens=500,
                messages_per_day=2000,
                concurrency=2,
                queue_cap=100,
                queued_per_user=2,
                ageing_bound_s=20.0,
                degradation=(DegradationRule(48, max_reply_tokens=350),),
            ),
            Tier(
                name="pro",
                weight=8.0,
                max_context_tokens=16384,
                max_reply_tokens=800,
                messages_per_day=None,
                concurrency=4,
                queue_cap=100,
                queued_per_user=4,
                ageing_bound_s=10.0,
            ),
        ]
    )


Fail = Callable[[str, str], TierConfigError]


def _check_tier(tier: Tier) -> None:
    def fail(field: str, problem: str) -> TierConfigError:
        return TierConfigError(f"tier {tier.name!r}: {field} {problem}")

    if not isinstance(tier.name, str) or not _NAME.match(tier.name):
        raise TierConfigError(
            f"tier name {tier.name!r} must be 1-32 characters of a-z, 0-9, '_', '.', '-'"
        )
    _positive_number(tier.weight, "weight", fail, upper=1e6)
    _positive_number(tier.ageing_bound_s, "ageing_bound_s", fail, upper=86_400.0)
    _positive_number(tier.slot_share, "slot_share", fail, upper=1.0)
    for field in ("max_context_tokens", "max_reply_tokens", "concurrency", "queue_cap"):
        _positive_int(getattr(tier, field), field, fail)
    _positive_int(tier.queued_per_user, "queued_per_user", fail)
    if tier.messages_per_day is not None:
        _positive_int(tier.messages_per_day, "messages_per_day", fail)
    if not isinstance(tier.models, tuple) or len(tier.models) > MAX_MODELS:
        raise fail("models", f"must be a list of at most {MAX_MODELS} model names")
    for model in tier.models:
        if not isinstance(model, str) or not _MODEL.match(model):
            raise fail("models", f"has an invalid model name {model!r}")
    if not isinstance(tier.degradation, tuple) or len(tier.degradation) > MAX_RULES:
        raise fail("degradation", f"must be a list of at most {MAX_RULES} rules")
    previous = -1
    for rule in tier.degradation:
        if not isinstance(rule, DegradationRule):
            raise fail("degradation", "must hold degradation rules")
        _check_rule(rule, fail)
        if rule.queue_length <= previous:
            raise fail("degradation", "rules must be in strictly rising order of queue_length")
        previous = rule.queue_length


def _check_rule(rule: DegradationRule, fail: Fail) -> None:
    if not _is_int(rule.queue_length) or rule.queue_length < 0:
        raise fail("degradation.queue_length", "must be a whole number of at least 0")
    for field in ("max_context_tokens", "max_reply_tokens"):
        value = getattr(rule, field)
        if value is not None:
            _positive_int(value, f"degradation.{field}", fail)
    if rule.model is not None and (not isinstance(rule.model, str) or not _MODEL.match(rule.model)):
        raise fail("degradation.model", f"is not a valid model name: {rule.model!r}")
    if rule.model is None and rule.max_context_tokens is None and rule.max_reply_tokens is None:
        raise fail("degradation", "rules must cut a budget or name a smaller model")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: object, field: str, fail: Fail) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 10**9:
        raise fail(field, f"must be a whole number from 1 to 10^9, got {value!r}")


def _positive_number(value: object, field: str, fail: Fail, *, upper: float) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 < value <= upper
    ):
        raise fail(field, f"must be a number above 0 and at most {upper:g}, got {value!r}")


_TIER_FIELDS = {f.name for f in fields(Tier)} - {"name"}
_REQUIRED = {f.name for f in fields(Tier) if f.default is MISSING} - {"name"}
_RULE_FIELDS = {f.name for f in fields(DegradationRule)}


def _tier_from_mapping(name: object, raw: object) -> Tier:
    if not isinstance(name, str):
        raise TierConfigError(f"tier names must be strings, got {name!r}")
    if not isinstance(raw, Mapping):
        raise TierConfigError(f"tier {name!r} must be a mapping of settings")
    unknown = sorted(str(key) for key in raw if key not in _TIER_FIELDS)
    if unknown:
        raise TierConfigError(f"tier {name!r}: unknown setting {unknown[0]!r}")
    values = dict(raw)
    missing = sorted(field for field in _REQUIRED if field not in values)
    if missing:
        raise TierConfigError(f"tier {name!r}: missing setting {missing[0]!r}")
    models = values.get("models", ())
    if not isinstance(models, list | tuple):
        raise TierConfigError(f"tier {name!r}: models must be a list of model names")
    values["models"] = tuple(models)
    rules = values.get("degradation", ())
    if not isinstance(rules, list | tuple) or len(rules) > MAX_RULES:
        raise TierConfigError(f"tier {name!r}: degradation must be a list of at most {MAX_RULES}")
    values["degradation"] = tuple(_rule_from_mapping(name, rule) for rule in rules)
    return Tier(name=name, **values)


def _rule_from_mapping(tier: str, raw: object) -> DegradationRule:
    if not isinstance(raw, Mapping):
        raise TierConfigError(f"tier {tier!r}: each degradation rule must be a mapping")
    unknown = sorted(str(key) for key in raw if key not in _RULE_FIELDS)
    if unknown:
        raise TierConfigError(f"tier {tier!r}: unknown degradation setting {unknown[0]!r}")
    if "queue_length" not in raw:
        raise TierConfigError(f"tier {tier!r}: a degradation rule needs queue_length")
    return DegradationRule(**raw)


def _tier_to_mapping(tier: Tier) -> dict[str, Any]:
    data: dict[str, Any] = {f: getattr(tier, f) for f in sorted(_TIER_FIELDS)}
    data["models"] = list(tier.models)
    data["degradation"] = [
        {f: getattr(rule, f) for f in sorted(_RULE_FIELDS)} for rule in tier.degradation
    ]
    return data
