"""`galatea bench shared-state`: what sharing limits, the queue and streams through Redis costs.

Each figure is a time per operation through Redis, with the in-process implementation of the
same interface, timed in the same run, as its baseline:

- `queue_cycle_ms_at_N`: one request's trip through the fair queue (release a slot, push,
  pop) with N other requests waiting, `RedisBacklog` against `MemoryBacklog`. The Redis queue
  keeps the whole state as one JSON value, so its cost grows with N.
- `quota_admission_ms`: checking and settling one message's quota (`QuotaService` on
  `RedisQuotaStore` against `MemoryQuotaStore`); the database write of the usage is left out.
- `stream_event_ms`: one event published by the writer and read by a follower
  (`RedisReplyStreams` against `ReplyStreams`).

Needs a Redis server: `GALATEA_REDIS_URL` (or `GALATEA_TEST_REDIS_URL`); without one it reports
nothing and says why. Keys go under a fresh prefix, deleted afterwards.
"""

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from redis.asyncio import Redis

from galatea.core.usage import UsageCounts
from galatea.core.users import User
from galatea.inference.scheduling import (
    ActiveCounts,
    Backlog,
    MemoryBacklog,
    Ticket,
    TierTable,
    default_tiers,
)
from galatea.inference.scheduling.redis_backlog import RedisQueueHub
from galatea.services.quotas import MemoryQuotaStore, QuotaService, QuotaStore
from galatea.services.redis_quotas import RedisQuotaStore
from galatea.services.redis_streams import RedisReplyStreams
from galatea.services.reply_streams import ReplyStreamHub, ReplyStreams, StreamEvent
from galatea.services.tiers import TierService

Figure = dict[str, Any]
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


def run(quick: bool = False, redis_url: str | None = None) -> list[Figure]:
    """Time each shared piece against its in-process twin."""
    url = (
        redis_url or os.environ.get("GALATEA_REDIS_URL") or os.environ.get("GALATEA_TEST_REDIS_URL")
    )
    if not url:
        print("shared-state: set GALATEA_REDIS_URL to a Redis server to measure", file=sys.stderr)
        return []
    return asyncio.run(_measure(url, rounds=100 if quick else 400))


async def _measure(url: str, rounds: int) -> list[Figure]:
    redis = Redis.from_url(url)
    prefix = f"bench:{uuid.uuid4().hex}:"
    figures: list[Figure] = []
    try:
        for depth in (0, 50, 250):
            memory = await _queue_cycle(MemoryBacklog(_bench_tiers(), slots=4), depth, rounds)
            hub = RedisQueueHub(redis, prefix=f"{prefix}{depth}:")
            try:
                shared = hub.backlog("m", _bench_tiers(), 4, ActiveCounts())
                remote = await _queue_cycle(shared, depth, rounds)
            finally:
                await hub.aclose()
            figures.append(_figure(f"queue_cycle_ms_at_{depth}", remote, memory))
        memory = await _admissions(MemoryQuotaStore(), rounds)
        remote = await _admissions(RedisQuotaStore(redis, prefix=prefix), rounds)
        figures.append(_figure("quota_admission_ms", remote, memory))
        memory = await _stream_events(ReplyStreams(), rounds)
        streams = RedisReplyStreams(redis, prefix=prefix)
        try:
            remote = await _stream_events(streams, rounds)
        finally:
            await streams.aclose()
        figures.append(_figure("stream_event_ms", remote, memory))
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return figures


def _figure(name: str, value: float, baseline: float) -> Figure:
    return {
        "name": name,
        "value": round(value, 4),
        "baseline": round(baseline, 4),
        "ratio": round(value / baseline, 1) if baseline else None,
        "unit": "ms",
    }


async def _timed(rounds: int, step: Callable[[int], Awaitable[None]]) -> float:
    """Median milliseconds of `step(n)` over `rounds` calls."""
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        await step(n)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _bench_tiers() -> TierTable:
    """`pro` as built in, and `bulk`: many waiting users held to one slot, never refused."""
    bulk = replace(
        default_tiers()["free"],
        name="bulk",
        queue_cap=10_000,
        ageing_bound_s=86_400.0,
        slot_share=0.25,
        degradation=(),
    )
    return TierTable([bulk, default_tiers()["pro"]])


async def _queue_cycle(backlog: Backlog, depth: int, rounds: int) -> float:
    # One bulk request runs and holds its tier's only slot, so the bulk waiters stay waiting;
    # three pro requests fill the pool's other slots.
    await backlog.push(Ticket("bulk-runner", "bulk-runner", "bulk", 5.0), 0.0)
    assert await backlog.pop(0.0) is not None
    for n in range(depth):
        await backlog.push(Ticket(f"w{n}", f"waiter{n}", "bulk", 1.0), 0.0)
    for n in range(3):
        await backlog.push(Ticket(f"r{n}", f"runner{n}", "pro", 5.0), 0.0)
        assert await backlog.pop(0.0) is not None

    async def cycle(n: int) -> None:
        await backlog.release(f"r{n}" if n < 3 else f"c{n - 3}")
        await backlog.push(Ticket(f"c{n}", f"measured{n}", "pro", 1.0), 0.0)
        popped = await backlog.pop(0.0)
        assert popped is not None and popped.id == f"c{n}", popped

    return await _timed(rounds, cycle)


async def _admissions(store: QuotaStore, rounds: int) -> float:
    tiers = TierService(None, default_tiers())  # type: ignore[arg-type]  # no database used
    quotas = QuotaService(store, _NoDatabaseUsage(), tiers, _Clock())  # type: ignore[arg-type]
    user = User(id=f"bench-{uuid.uuid4().hex}", username="bench", created_at=NOW, tier="pro")

    async def admit(_round: int) -> None:
        admission = await quotas.admit(user)
        await admission.cancel()

    try:
        return await _timed(rounds, admit)
    finally:
        await quotas.aclose()


async def _stream_events(hub: ReplyStreamHub, rounds: int) -> float:
    stream = await hub.open(f"chat-{uuid.uuid4().hex}")
    follower = stream.follow()
    try:

        async def relay(n: int) -> None:
            await stream.publish(StreamEvent("token", {"text": f" word{n}"}))
            await anext(follower)

        return await _timed(rounds, relay)
    finally:
        await stream.close()
        await follower.aclose()


class _Clock:
    def now(self) -> datetime:
        return NOW


class _NoDatabaseUsage:
    """Stands in for the usage service: the benchmark measures the quota store alone."""

    async def day_of(self, _user_id: str, _day: date) -> UsageCounts:
        return UsageCounts()

    async def record(
        self, _user_id: str, _counts: UsageCounts, _at: datetime | None = None
    ) -> None:
        return None
