"""Metered usage in SQL: one row per user and UTC day, grown by atomic upserts."""

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from galatea.core.usage import EMPTY_USAGE, UsageCounts, UsageDay, UserUsage
from galatea.storage.tables import UsageDayRow, UserRow

COUNTERS = ("messages", "prompt_tokens", "cached_prompt_tokens", "generated_tokens")


class SqlUsageRepository:
    """Usage in the `usage_days` table."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self._session = session
        self._dialect = dialect

    async def add(self, user_id: str, day: date, counts: UsageCounts) -> None:
        """Add `counts` to the user's usage on `day` (one statement, safe under concurrency)."""
        if counts.is_empty:
            return
        values = {
            "user_id": user_id,
            "day": day,
            **{name: getattr(counts, name) for name in COUNTERS},
        }
        statement = self._upsert(values)
        await self._session.execute(statement)

    async def get_day(self, user_id: str, day: date) -> UsageCounts:
        """The user's usage on `day` (zero when nothing was counted)."""
        row = await self._session.get(UsageDayRow, (user_id, day))
        return EMPTY_USAGE if row is None else _counts(row)

    async def days_for_user(self, user_id: str, *, since: date, until: date) -> list[UsageDay]:
        """The user's days with usage from `since` to `until` (both included), newest first."""
        query = (
            select(UsageDayRow)
            .where(UsageDayRow.user_id == user_id, UsageDayRow.day.between(since, until))
            .order_by(UsageDayRow.day.desc())
        )
        return [
            UsageDay(row.user_id, row.day, _counts(row))
            for row in await self._session.scalars(query)
        ]

    async def per_user(
        self, *, since: date, until: date, offset: int = 0, limit: int = 100
    ) -> list[UserUsage]:
        """Each user's usage summed over the days, the largest token users first."""
        sums = [func.sum(getattr(UsageDayRow, name)).label(name) for name in COUNTERS]
        query = (
            select(UserRow.id, UserRow.username, UserRow.tier, *sums)
            .join(UserRow, UserRow.id == UsageDayRow.user_id)
            .where(UsageDayRow.day.between(since, until))
            .group_by(UserRow.id, UserRow.username, UserRow.tier)
            .order_by(
                func.sum(UsageDayRow.generated_tokens + UsageDayRow.prompt_tokens).desc(),
                UserRow.username,
            )
            .offset(max(offset, 0))
            .limit(max(limit, 0))
        )
        return [
            UserUsage(
                user_id=row.id,
                username=row.username,
                tier=row.tier,
                counts=UsageCounts(**{name: int(getattr(row, name)) for name in COUNTERS}),
            )
            for row in await self._session.execute(query)
        ]

    async def totals(self, *, since: date, until: date) -> tuple[UsageCounts, int]:
        """Everyone's usage summed over the days, and how many users it came from."""
        sums = [func.coalesce(func.sum(getattr(UsageDayRow, name)), 0) for name in COUNTERS]
        users = func.count(func.distinct(UsageDayRow.user_id))
        query = select(*sums, users).where(UsageDayRow.day.between(since, until))
        row = (await self._session.execute(query)).one()
        counts = UsageCounts(
            **{name: int(value) for name, value in zip(COUNTERS, row, strict=False)}
        )
        return counts, int(row[-1])

    def _upsert(self, values: dict[str, object]) -> Insert:
        if self._dialect == "postgresql":
            pg = postgresql.insert(UsageDayRow).values(**values)
            return pg.on_conflict_do_update(
                index_elements=[UsageDayRow.user_id, UsageDayRow.day], set_=_grown(pg.excluded)
            )
        lite = sqlite.insert(UsageDayRow).values(**values)
        return lite.on_conflict_do_update(
            index_elements=[UsageDayRow.user_id, UsageDayRow.day], set_=_grown(lite.excluded)
        )


def _grown(excluded: Any) -> dict[str, ColumnElement[int]]:
    """Each counter plus the one the conflicting insert carried."""
    return {name: getattr(UsageDayRow, name) + getattr(excluded, name) for name in COUNTERS}


def _counts(row: UsageDayRow) -> UsageCounts:
    return UsageCounts(**{name: int(getattr(row, name)) for name in COUNTERS})
