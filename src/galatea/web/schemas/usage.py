"""Tiers, usage and the tier of an account, as the JSON API shows them."""

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from galatea.core.usage import UsageCounts, UsageDay, UserUsage
from galatea.inference.scheduling.tiers import Tier
from galatea.services.tiers import in_progress_limit
from galatea.services.usage import UsageReport, UsageTotals

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_as_day(value: object) -> object:
    # Pydantic would also read a number as seconds since 1970 ("until=1" is not a day).
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a day written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_written_as_day)]
"""A UTC day in a query, written YYYY-MM-DD."""


class TierPublic(BaseModel):
    """What a tier allows."""

    name: str
    max_context_tokens: int
    max_reply_tokens: int
    messages_per_day: int | None = Field(description="None: no daily limit")
    concurrent_generations: int
    replies_in_progress: int = Field(description="Running plus waiting replies allowed")
    models: list[str] = Field(description="Models the tier may use; empty: every model")

    @classmethod
    def of(cls, tier: Tier) -> "TierPublic":
        """The public view of a tier (scheduling internals such as weights are left out)."""
        return cls(
            name=tier.name,
            max_context_tokens=tier.max_context_tokens,
            max_reply_tokens=tier.max_reply_tokens,
            messages_per_day=tier.messages_per_day,
            concurrent_generations=tier.concurrency,
            replies_in_progress=in_progress_limit(tier),
            models=list(tier.models),
        )


class UsageCountsPublic(BaseModel):
    """Messages and tokens."""

    messages: int
    prompt_tokens: int
    cached_prompt_tokens: int
    generated_tokens: int

    @classmethod
    def of(cls, counts: UsageCounts) -> "UsageCountsPublic":
        """The counts as JSON."""
        return cls(
            messages=counts.messages,
            prompt_tokens=counts.prompt_tokens,
            cached_prompt_tokens=counts.cached_prompt_tokens,
            generated_tokens=counts.generated_tokens,
        )


class UsageDayPublic(BaseModel):
    """One UTC day's usage."""

    day: date
    usage: UsageCountsPublic

    @classmethod
    def of(cls, day: UsageDay) -> "UsageDayPublic":
        """A day as JSON."""
        return cls(day=day.day, usage=UsageCountsPublic.of(day.counts))


class MyUsagePublic(BaseModel):
    """The signed-in user's tier, its limits and their usage."""

    tier: TierPublic
    day: date = Field(description="Today, in UTC")
    today: UsageCountsPublic = Field(description="Metered today (finished replies)")
    messages_counted: int = Field(description="Counted against today's allowance")
    messages_left: int | None = Field(description="None: no daily limit")
    replies_in_progress: int
    resets_at: datetime = Field(description="When the daily allowance starts again")
    history: list[UsageDayPublic] = Field(description="The last 30 days with usage")

    @classmethod
    def of(cls, report: UsageReport) -> "MyUsagePublic":
        """The report as JSON."""
        return cls(
            tier=TierPublic.of(report.tier),
            day=report.day,
            today=UsageCountsPublic.of(report.today),
            messages_counted=report.messages_counted,
            messages_left=report.messages_left,
            replies_in_progress=report.in_progress,
            resets_at=report.resets_at,
            history=[UsageDayPublic.of(day) for day in report.history],
        )


class UserUsagePublic(BaseModel):
    """One user's usage over a range of days."""

    user_id: str
    username: str
    tier: str
    usage: UsageCountsPublic

    @classmethod
    def of(cls, row: UserUsage) -> "UserUsagePublic":
        """A row as JSON."""
        return cls(
            user_id=row.user_id,
            username=row.username,
            tier=row.tier,
            usage=UsageCountsPublic.of(row.counts),
        )


class UsageOverviewPublic(BaseModel):
    """Everyone's usage over a range of days: per user (busiest first) and in total."""

    since: date
    until: date
    total: UsageCountsPublic
    users_with_usage: int
    items: list[UserUsagePublic]
    offset: int
    limit: int

    @classmethod
    def of(
        cls, rows: list[UserUsage], totals: UsageTotals, *, offset: int, limit: int
    ) -> "UsageOverviewPublic":
        """The overview as JSON."""
        return cls(
            since=totals.since,
            until=totals.until,
            total=UsageCountsPublic.of(totals.counts),
            users_with_usage=totals.users,
            items=[UserUsagePublic.of(row) for row in rows],
            offset=offset,
            limit=limit,
        )


class TierChange(BaseModel):
    """Move an account to a configured tier."""

    model_config = ConfigDict(extra="forbid")

    tier: str = Field(min_length=1, max_length=32)


class WebhookAnswer(BaseModel):
    """What became of a delivered payment event."""

    status: str = Field(description="applied, duplicate, superseded or ignored")
    event_id: str
