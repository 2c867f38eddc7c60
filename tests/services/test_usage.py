"""Usage reports: a user's own tier and usage; admins see everyone's per user and in total."""

from datetime import UTC, date, datetime, timedelta

import pytest

from galatea.core.usage import UsageCounts
from galatea.core.users import Role
from galatea.inference.scheduling import default_tiers
from galatea.services.errors import Forbidden, InvalidInput
from galatea.services.tiers import TierService
from galatea.services.usage import UsageService
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import FakeClock
from tests.storage.factories import add_user

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def usage(uow: SqlUnitOfWorkFactory, clock: FakeClock) -> UsageService:
    clock.current = NOW
    return UsageService(uow, clock, TierService(uow, default_tiers()))


async def test_recording_adds_to_the_users_day(
    uow: SqlUnitOfWorkFactory, usage: UsageService
) -> None:
    alice = await add_user(uow, "alice")
    await usage.record(alice.id, UsageCounts(1, 100, 50, 10))
    await usage.record(alice.id, UsageCounts(1, 100, 90, 12))
    await usage.record(alice.id, UsageCounts(1, 1, 0, 1), at=NOW - timedelta(days=1))
    assert await usage.day_of(alice.id, TODAY) == UsageCounts(2, 200, 140, 22)
    report = await usage.report(alice, messages_counted=3, in_progress=1)
    assert report.today == UsageCounts(2, 200, 140, 22)
    assert report.messages_counted == 3
    assert report.messages_left == 197
    assert report.in_progress_limit == 2
    assert [d.day for d in report.history] == [TODAY, TODAY - timedelta(days=1)]


async def test_admins_see_usage_per_user_and_in_total(
    uow: SqlUnitOfWorkFactory, usage: UsageService
) -> None:
    root = await add_user(uow, "root", role=Role.ADMIN)
    alice = await add_user(uow, "alice")
    bob = await add_user(uow, "bob")
    await usage.record(alice.id, UsageCounts(1, 10, 0, 5))
    await usage.record(bob.id, UsageCounts(2, 500, 0, 50))
    await usage.record(bob.id, UsageCounts(9, 9000, 0, 900), at=NOW - timedelta(days=3))
    rows, totals = await usage.per_user(root)
    assert [(row.username, row.counts.messages) for row in rows] == [("bob", 2), ("alice", 1)]
    assert (totals.counts.messages, totals.users) == (3, 2)
    assert totals.since == totals.until == TODAY
    rows, totals = await usage.per_user(root, since=TODAY - timedelta(days=7))
    assert [(row.username, row.counts.messages) for row in rows] == [("bob", 11), ("alice", 1)]
    days = await usage.of_user(root, bob.id, since=TODAY - timedelta(days=7))
    assert [d.counts.messages for d in days] == [2, 9]


async def test_only_admins_see_others_usage(uow: SqlUnitOfWorkFactory, usage: UsageService) -> None:
    alice = await add_user(uow, "alice")
    with pytest.raises(Forbidden):
        await usage.per_user(alice)
    with pytest.raises(Forbidden):
        await usage.of_user(alice, alice.id)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (date(2025, 3, 10), date(2025, 3, 1), "must not be after"),
        (date(2023, 1, 1), date(2025, 3, 1), "at most 366 days"),
    ],
)
async def test_bad_ranges_are_refused(
    uow: SqlUnitOfWorkFactory, usage: UsageService, since: date, until: date, message: str
) -> None:
    root = await add_user(uow, "root", role=Role.ADMIN)
    with pytest.raises(InvalidInput, match=message):
        await usage.per_user(root, since=since, until=until)
