"""Recorded billing events in SQL: an event id is recorded once, whoever tries again, and the
newest event of a user is known."""

import asyncio

from galatea.core.billing import BillingEvent
from galatea.storage.db import Database
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.storage.factories import later


def event(event_id: str, user: str = "u1", tier: str = "plus", minute: float = 0) -> BillingEvent:
    return BillingEvent(event_id, "tier.changed", user, tier, later(minute))


async def test_an_event_id_is_recorded_once(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        assert await work.billing_events.add(event("evt_1", minute=1), later(1))
        assert not await work.billing_events.add(event("evt_1", "u2", "pro", 5), later(2))
        assert await work.billing_events.add(event("evt_2", tier="free", minute=3), later(3))
        await work.commit()
    async with uow(write=False) as work:
        events = await work.billing_events.list_for_user("u1")
        assert await work.billing_events.list_for_user("u2") == []
    assert [(e.id, e.tier, e.occurred_at) for e in events] == [
        ("evt_2", "free", later(3)),
        ("evt_1", "plus", later(1)),
    ]


async def test_the_newest_event_of_a_user_is_known(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        assert await work.billing_events.latest_for_user("u1") is None
        await work.billing_events.add(event("late", minute=9), later(1))
        await work.billing_events.add(event("early", minute=2), later(2))
        await work.billing_events.add(event("other", user="u2", minute=30), later(3))
        await work.commit()
    async with uow(write=False) as work:
        assert await work.billing_events.latest_for_user("u1") == later(9)


async def test_parallel_deliveries_of_one_event_are_recorded_once(database: Database) -> None:
    uow = SqlUnitOfWorkFactory(database)

    async def deliver() -> bool:
        async with uow() as work:
            added = await work.billing_events.add(event("evt_race", tier="pro"), later(1))
            await work.commit()
        return added

    results = await asyncio.gather(*(deliver() for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
