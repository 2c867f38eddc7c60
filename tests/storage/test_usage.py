"""Usage in SQL: counts per user and day grow atomically, and sum per user and in total."""

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import delete

from galatea.core.usage import EMPTY_USAGE, UsageCounts
from galatea.core.users import User
from galatea.storage.db import Database
from galatea.storage.tables import UserRow
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START
from tests.storage.factories import add_user

DAY = date(2025, 1, 1)


def counts(
    messages: int = 1, prompt: int = 100, cached: int = 40, generated: int = 20
) -> UsageCounts:
    return UsageCounts(messages, prompt, cached, generated)


async def test_usage_of_one_day_adds_up(uow: SqlUnitOfWorkFactory) -> None:
    alice = await add_user(uow, "alice")
    async with uow() as work:
        await work.usage.add(alice.id, DAY, counts())
        await work.usage.add(alice.id, DAY, counts(prompt=50, cached=0, generated=5))
        await work.commit()
    async with uow(write=False) as work:
        assert await work.usage.get_day(alice.id, DAY) == UsageCounts(2, 150, 40, 25)
        assert await work.usage.get_day(alice.id, DAY + timedelta(days=1)) == EMPTY_USAGE


async def test_nothing_counted_writes_no_row(uow: SqlUnitOfWorkFactory) -> None:
    alice = await add_user(uow, "alice")
    async with uow() as work:
        await work.usage.add(alice.id, DAY, EMPTY_USAGE)
        await work.commit()
    async with uow(write=False) as work:
        assert await work.usage.days_for_user(alice.id, since=DAY, until=DAY) == []


async def test_concurrent_writers_lose_no_count(database: Database) -> None:
    uow = SqlUnitOfWorkFactory(database)
    alice = await add_user(uow, "alice")

    async def add_one() -> None:
        async with uow() as work:
            await work.usage.add(alice.id, DAY, UsageCounts(messages=1, generated_tokens=3))
            await work.commit()

    await asyncio.gather(*(add_one() for _ in range(12)))
    async with uow(write=False) as work:
        assert await work.usage.get_day(alice.id, DAY) == UsageCounts(12, 0, 0, 36)


async def test_a_users_days_come_newest_first_within_the_range(uow: SqlUnitOfWorkFactory) -> None:
    alice = await add_user(uow, "alice")
    async with uow() as work:
        for offset in range(5):
            await work.usage.add(
                alice.id, DAY + timedelta(days=offset), counts(messages=offset + 1)
            )
        await work.commit()
    async with uow(write=False) as work:
        days = await work.usage.days_for_user(
            alice.id, since=DAY + timedelta(days=1), until=DAY + timedelta(days=3)
        )
    assert [(d.day, d.counts.messages) for d in days] == [
        (DAY + timedelta(days=3), 4),
        (DAY + timedelta(days=2), 3),
        (DAY + timedelta(days=1), 2),
    ]


async def test_per_user_sums_order_by_tokens_and_totals_count_users(
    uow: SqlUnitOfWorkFactory,
) -> None:
    alice = await add_user(uow, "alice")
    bob = await add_user(uow, "bob")
    carol = await add_user(uow, "carol")
    async with uow() as work:
        await work.usage.add(alice.id, DAY, counts(prompt=10, generated=10))
        await work.usage.add(alice.id, DAY + timedelta(days=1), counts(prompt=10, generated=10))
        await work.usage.add(bob.id, DAY, counts(messages=3, prompt=500, generated=100))
        await work.usage.add(carol.id, DAY - timedelta(days=1), counts(prompt=9999))
        await work.commit()
    async with uow(write=False) as work:
        rows = await work.usage.per_user(since=DAY, until=DAY + timedelta(days=1))
        total, users = await work.usage.totals(since=DAY, until=DAY + timedelta(days=1))
        second_page = await work.usage.per_user(
            since=DAY, until=DAY + timedelta(days=1), offset=1, limit=1
        )
        nothing, nobody = await work.usage.totals(
            since=DAY + timedelta(days=9), until=DAY + timedelta(days=9)
        )
    assert [(row.username, row.tier, row.counts) for row in rows] == [
        ("bob", "free", UsageCounts(3, 500, 40, 100)),
        ("alice", "free", UsageCounts(2, 20, 80, 20)),
    ]
    assert [row.username for row in second_page] == ["alice"]
    assert total == UsageCounts(5, 520, 120, 120)
    assert users == 2
    assert (nothing, nobody) == (EMPTY_USAGE, 0)


async def test_deleting_a_user_deletes_their_usage(database: Database) -> None:
    uow = SqlUnitOfWorkFactory(database)
    gone = User(id="gone", username="gone", created_at=START)
    async with uow() as work:
        await work.users.add(gone, "h")
        await work.usage.add(gone.id, DAY, counts())
        await work.commit()
    # No service deletes accounts yet; the foreign key's cascade is what is tested.
    async with database.session(write=True) as session:
        await session.execute(delete(UserRow).where(UserRow.id == gone.id))
        await session.commit()
    async with uow(write=False) as work:
        assert await work.usage.totals(since=DAY, until=DAY) == (EMPTY_USAGE, 0)


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_counts_refuse_negative_or_non_integer_values(bad: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        UsageCounts(messages=bad)  # type: ignore[arg-type]
