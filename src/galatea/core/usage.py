"""Metered use of the text generators: what one user spent on one UTC day.

Usage is counted per user and calendar day in UTC, the day a user's daily message quota also
resets on. Counts only grow; a day with no generation has no record.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(slots=True, frozen=True)
class UsageCounts:
    """Messages and tokens of one user and day, or a sum of such."""

    messages: int = 0
    """Replies generated (sent, regenerated, continued or impersonated)."""
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    """Prompt tokens served from a backend's cache instead of being evaluated again."""
    generated_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("messages", "prompt_tokens", "cached_prompt_tokens", "generated_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"usage {name} must be a whole number of at least 0")

    def __add__(self, other: "UsageCounts") -> "UsageCounts":
        return UsageCounts(
            messages=self.messages + other.messages,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            generated_tokens=self.generated_tokens + other.generated_tokens,
        )

    @property
    def is_empty(self) -> bool:
        """Whether nothing at all was counted."""
        return self == EMPTY_USAGE


EMPTY_USAGE = UsageCounts()


@dataclass(slots=True, frozen=True)
class UsageDay:
    """A user's usage on one day."""

    user_id: str
    day: date
    counts: UsageCounts


@dataclass(slots=True, frozen=True)
class UserUsage:
    """One user's usage summed over a range of days, as an admin sees it."""

    user_id: str
    username: str
    tier: str
    counts: UsageCounts


def usage_day(moment: datetime) -> date:
    """The UTC day a moment belongs to (the day its usage is counted on)."""
    if moment.tzinfo is None:
        raise ValueError("usage is counted on aware datetimes")
    return moment.astimezone(UTC).date()


def next_midnight(moment: datetime) -> datetime:
    """The start of the next UTC day: when daily quotas begin again."""
    return datetime.combine(usage_day(moment) + timedelta(days=1), time(), tzinfo=UTC)
