"""Usage metering: what each user's generations cost, per UTC day, and who may see it.

A finished generation adds its messages and tokens to the user's day (`record`). A user sees
their own tier, its limits and their usage (`report`); admins see everyone's, per user and
in total, over a range of days.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from galatea.core.usage import UsageCounts, UsageDay, UserUsage, next_midnight, usage_day
from galatea.core.users import User
from galatea.inference.scheduling.tiers import Tier
from galatea.services.errors import Forbidden, InvalidInput
from galatea.services.ports import Clock, UnitOfWorkFactory
from galatea.services.tiers import TierService, in_progress_limit
from galatea.services.validation import check_page

MAX_RANGE_DAYS = 366
HISTORY_DAYS = 30


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A user's tier, its limits, and their usage: today and the days before."""

    user: User
    tier: Tier
    day: date
    today: UsageCounts
    """Metered today (finished generations)."""
    messages_counted: int
    """Messages counted against today's allowance (includes replies still running)."""
    in_progress: int
    in_progress_limit: int
    resets_at: datetime
    history: list[UsageDay]
    """Days with usage, newest first, today included."""

    @property
    def messages_left(self) -> int | None:
        """Messages the user may still send today; None when the tier has no daily limit."""
        limit = self.tier.messages_per_day
        return None if limit is None else max(0, limit - self.messages_counted)


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Everyone's usage over a range of days."""

    since: date
    until: date
    counts: UsageCounts
    users: int
    """Users with any usage in the range."""


class UsageService:
    """Meters generations and reports usage."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, tiers: TierService) -> None:
        self._uow = uow
        self._clock = clock
        self.tiers = tiers

    async def record(self, user_id: str, counts: UsageCounts, at: datetime | None = None) -> None:
        """Add a generation's counts to the user's day (the day `at`, by default now)."""
        if counts.is_empty:
            return
        day = usage_day(at or self._clock.now())
        async with self._uow() as uow:
            await uow.usage.add(user_id, day, counts)
            await uow.commit()

    async def day_of(self, user_id: str, day: date) -> UsageCounts:
        """The user's metered usage on `day`."""
        async with self._uow(write=False) as uow:
            return await uow.usage.get_day(user_id, day)

    async def report(
        self, user: User, *, messages_counted: int, in_progress: int, days: int = HISTORY_DAYS
    ) -> UsageReport:
        """What `user` sees about their own tier and usage (the quota figures come from the
        quota service, which counts replies still running)."""
        now = self._clock.now()
        today = usage_day(now)
        tier = self.tiers.tier_of(user)
        async with self._uow(write=False) as uow:
            history = await uow.usage.days_for_user(
                user.id, since=today - timedelta(days=max(days, 1) - 1), until=today
            )
        metered = next((d.counts for d in history if d.day == today), UsageCounts())
        return UsageReport(
            user=user,
            tier=tier,
            day=today,
            today=metered,
            messages_counted=max(messages_counted, metered.messages),
            in_progress=in_progress,
            in_progress_limit=in_progress_limit(tier),
            resets_at=next_midnight(now),
            history=history,
        )

    async def per_user(
        self,
        actor: User,
        *,
        since: date | None = None,
        until: date | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[UserUsage], UsageTotals]:
        """Each user's usage over the range (today by default), busiest first, and the totals
        (admins only)."""
        _require_admin(actor)
        since, until = self.day_range(since, until)
        offset, limit = check_page(offset, limit, max_limit=500)
        async with self._uow(write=False) as uow:
            rows = await uow.usage.per_user(since=since, until=until, offset=offset, limit=limit)
            counts, users = await uow.usage.totals(since=since, until=until)
        return rows, UsageTotals(since, until, counts, users)

    async def of_user(
        self, actor: User, user_id: str, *, since: date | None = None, until: date | None = None
    ) -> list[UsageDay]:
        """One user's days with usage over the range, newest first (admins only)."""
        _require_admin(actor)
        since, until = self.day_range(since, until)
        async with self._uow(write=False) as uow:
            return await uow.usage.days_for_user(user_id, since=since, until=until)

    def day_range(self, since: date | None, until: date | None) -> tuple[date, date]:
        """A checked range of days: missing ends default to today (and `since` to `until`)."""
        today = usage_day(self._clock.now())
        until = until or today
        since = since or until
        if since > until:
            raise InvalidInput("since", "must not be after 'until'")
        if (until - since).days + 1 > MAX_RANGE_DAYS:
            raise InvalidInput("since", f"the range may span at most {MAX_RANGE_DAYS} days")
        return since, until


def _require_admin(actor: User) -> None:
    if not actor.is_admin or actor.disabled:
        raise Forbidden("only an admin may do this")
