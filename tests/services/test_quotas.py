"""Quotas: messages per UTC day and replies in progress, on the in-process store and on Redis
(shared by processes), metering what each generation used into the database."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from galatea.core.usage import UsageCounts
from galatea.core.users import Role, User
from galatea.inference.backend import Usage
from galatea.inference.scheduling import TierTable, default_tiers
from galatea.services.quotas import (
    MemoryQuotaStore,
    QuotaExceeded,
    QuotaPolicy,
    QuotaService,
    QuotaStore,
)
from galatea.services.redis_quotas import RedisQuotaStore
from galatea.services.tiers import TierService
from galatea.services.usage import UsageService
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import FakeClock
from tests.redis_support import redis_space
from tests.storage.factories import add_user

EVENING = datetime(2025, 1, 1, 22, 30, tzinfo=UTC)
USED = Usage(prompt_tokens=120, cached_prompt_tokens=80, generated_tokens=30)


def small_tiers() -> TierTable:
    """Free with 3 messages a day and 2 replies in progress; pro unlimited."""
    table = default_tiers()
    free = replace(table["free"], messages_per_day=3, concurrency=1, queued_per_user=1)
    return TierTable([free, table["pro"]])


class Ticker:
    """A monotonic clock for lease lapses."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[QuotaStore]:
    if request.param == "memory":
        yield MemoryQuotaStore()
        return
    url: str = request.getfixturevalue("redis_url")
    async with redis_space(url) as space:
        yield RedisQuotaStore(space.client, prefix=space.prefix)


@pytest.fixture
def evening(clock: FakeClock) -> FakeClock:
    clock.current = EVENING
    return clock


@pytest.fixture
async def quotas(
    uow: SqlUnitOfWorkFactory, evening: FakeClock, store: QuotaStore
) -> AsyncIterator[QuotaService]:
    tiers = TierService(uow, small_tiers())
    service = QuotaService(store, UsageService(uow, evening, tiers), tiers, evening)
    yield service
    await service.aclose()


async def test_messages_stop_at_the_daily_limit_until_midnight_utc(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService, evening: FakeClock
) -> None:
    alice = await add_user(uow, "alice")
    for _ in range(3):
        admission = await quotas.admit(alice)
        await admission.settle(USED, produced=True)
    with pytest.raises(QuotaExceeded) as refused:
        await quotas.admit(alice)
    assert "all 3 messages the free tier allows per day" in str(refused.value)
    assert "in 1 h 30 min" in str(refused.value)
    assert refused.value.retry_after == pytest.approx(90 * 60)
    evening.advance(hours=2)  # a new UTC day
    await quotas.admit(alice)


async def test_a_days_count_starts_from_what_the_database_metered(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService, evening: FakeClock
) -> None:
    alice = await add_user(uow, "alice")
    async with uow() as work:
        await work.usage.add(alice.id, EVENING.date(), UsageCounts(messages=2))
        await work.commit()
    await quotas.admit(alice)
    with pytest.raises(QuotaExceeded):
        await quotas.admit(alice)
    assert await quotas.messages_today(alice) == 3


async def test_a_generation_that_produced_nothing_gives_its_message_back(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService
) -> None:
    alice = await add_user(uow, "alice")
    for _ in range(5):
        admission = await quotas.admit(alice)
        await admission.settle(Usage(prompt_tokens=40), produced=False)
    assert await quotas.messages_today(alice) == 0
    async with uow(write=False) as work:
        metered = await work.usage.get_day(alice.id, EVENING.date())
    assert metered == UsageCounts(messages=0, prompt_tokens=200)


async def test_finished_generations_are_metered_per_user_and_day(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService
) -> None:
    alice = await add_user(uow, "alice")
    for _ in range(2):
        admission = await quotas.admit(alice)
        await admission.settle(USED, produced=True)
        await admission.settle(USED, produced=True)  # settling twice counts once
    report = await quotas.report(alice)
    assert report.today == UsageCounts(2, 240, 160, 60)
    assert report.messages_counted == 2
    assert report.messages_left == 1
    assert report.tier.name == "free"
    assert report.resets_at == datetime(2025, 1, 2, tzinfo=UTC)
    assert [day.day for day in report.history] == [EVENING.date()]


async def test_replies_in_progress_are_capped_and_freed(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService
) -> None:
    alice = await add_user(uow, "alice")
    first = await quotas.admit(alice)
    second = await quotas.admit(alice)
    with pytest.raises(QuotaExceeded, match="already have 2 replies in progress"):
        await quotas.admit(alice)
    assert await quotas.in_progress(alice) == 2
    await first.cancel()
    third = await quotas.admit(alice)
    assert await quotas.in_progress(alice) == 2
    await second.cancel()
    await third.cancel()
    assert await quotas.in_progress(alice) == 0
    assert await quotas.messages_today(alice) == 0  # none of them produced anything


async def test_an_unlimited_tier_is_counted_but_never_refused(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService
) -> None:
    admin = await add_user(uow, "root", role=Role.ADMIN)
    alice = await add_user(uow, "alice")
    await quotas.tiers.set_tier(admin, alice.id, "pro")
    pro = User(id=alice.id, username="alice", created_at=alice.created_at, tier="pro")
    for _ in range(10):
        admission = await quotas.admit(pro)
        await admission.settle(USED, produced=True)
    report = await quotas.report(pro)
    assert report.messages_left is None
    assert report.messages_counted == 10


async def test_a_lapsed_lease_frees_its_place(
    uow: SqlUnitOfWorkFactory, evening: FakeClock
) -> None:
    ticker = Ticker()
    tiers = TierService(uow, small_tiers())
    quotas = QuotaService(
        MemoryQuotaStore(ticker),
        UsageService(uow, evening, tiers),
        tiers,
        evening,
        QuotaPolicy(lease_s=60),
    )
    alice = await add_user(uow, "alice")
    await quotas.admit(alice)
    await quotas.admit(alice)  # both held by a process that then died
    await quotas.aclose()
    with pytest.raises(QuotaExceeded):
        await quotas.admit(alice)
    ticker.now += 61
    await quotas.admit(alice)
    await quotas.aclose()


async def test_places_are_renewed_while_their_replies_run_and_lapse_after_a_crash(
    uow: SqlUnitOfWorkFactory, evening: FakeClock, store: QuotaStore
) -> None:
    tiers = TierService(uow, small_tiers())
    usage = UsageService(uow, evening, tiers)
    quotas = QuotaService(store, usage, tiers, evening, QuotaPolicy(lease_s=0.3))
    alice = await add_user(uow, "alice")
    first = await quotas.admit(alice)
    await quotas.admit(alice)
    await asyncio.sleep(0.7)  # two leases long: only renewal keeps them
    assert await quotas.in_progress(alice) == 2
    await first.cancel()
    assert await quotas.in_progress(alice) == 1
    await quotas.aclose()  # the process dies with one reply running
    await asyncio.sleep(0.5)
    assert await quotas.in_progress(alice) == 0


@pytest.mark.redis
async def test_two_processes_share_the_limits(
    uow: SqlUnitOfWorkFactory, evening: FakeClock, redis_url: str
) -> None:
    alice = await add_user(uow, "alice")
    async with redis_space(redis_url) as space:
        processes = []
        for _ in range(2):
            tiers = TierService(uow, small_tiers())
            store = RedisQuotaStore(space.client, prefix=space.prefix)
            processes.append(QuotaService(store, UsageService(uow, evening, tiers), tiers, evening))
        one, two = processes
        held = [await one.admit(alice), await two.admit(alice)]
        with pytest.raises(QuotaExceeded, match="in progress"):
            await one.admit(alice)
        for admission in held:
            await admission.settle(USED, produced=True)
        await two.admit(alice)
        with pytest.raises(QuotaExceeded, match="per day"):
            await one.admit(alice)
        assert await one.messages_today(alice) == await two.messages_today(alice) == 3


async def test_metering_failures_never_reach_the_reply(
    uow: SqlUnitOfWorkFactory, quotas: QuotaService, caplog: pytest.LogCaptureFixture
) -> None:
    ghost = User(id="no-such-user", username="ghost", created_at=EVENING - timedelta(days=1))
    admission = await quotas.admit(ghost)
    await admission.settle(USED, produced=True)  # the usage row's user does not exist
    assert "metering a generation of user no-such-user failed" in caplog.text
    assert await quotas.in_progress(ghost) == 0
