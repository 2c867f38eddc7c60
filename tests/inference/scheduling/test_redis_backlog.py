"""The fair queue shared through Redis: the same decisions as the in-process queue, fairness and
per-user limits across processes, wake-ups, leases of crashed processes, and Redis outages.

Each "process" is a `RedisQueueHub` with its own owner id; the tests need a real Redis server
(GALATEA_TEST_REDIS_URL) and use a key prefix of their own.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from galatea.inference.backend import GenerationEvent, GenerationRequest
from galatea.inference.errors import BackendUnavailable
from galatea.inference.scheduling import (
    ActiveCounts,
    MemoryBacklog,
    ModelPool,
    QueueFull,
    Replica,
    Scheduler,
)
from galatea.inference.scheduling.redis_backlog import RedisBacklog, RedisQueueHub
from galatea.inference.scripted import ScriptedBackend
from tests.inference.scheduling.factories import make_tier, make_tiers, ticket

pytestmark = pytest.mark.redis

TIERS = make_tiers(
    make_tier("free", weight=1.0, bound=30.0, cap=6, per_user=2, concurrency=1),
    make_tier("pro", weight=8.0, bound=6.0, cap=5, per_user=3, concurrency=2),
)


class Clock:
    """Wall time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Deployment:
    """Hubs ("processes") sharing one Redis prefix."""

    redis: Redis
    prefix: str
    clock: Clock
    hubs: list[RedisQueueHub]

    def process(self, **options: float) -> RedisQueueHub:
        hub = RedisQueueHub(self.redis, prefix=self.prefix, clock=self.clock, **options)
        self.hubs.append(hub)
        return hub


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def deployment(redis: Redis) -> AsyncIterator[Deployment]:
    prefix = f"test:{uuid.uuid4().hex}:"
    shared = Deployment(redis, prefix, Clock(), [])
    try:
        yield shared
    finally:
        for hub in shared.hubs:
            await hub.aclose()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)


def backlog_of(hub: RedisQueueHub, slots: int = 1) -> tuple[RedisBacklog, asyncio.Event]:
    """The pool "m" of `hub`, and an event set when it is woken."""
    backlog = hub.backlog("m", TIERS, slots, ActiveCounts())
    woken = asyncio.Event()
    backlog.watch(woken.set)
    return backlog, woken


async def test_the_fair_choice_spans_processes(deployment: Deployment) -> None:
    # Ticks far apart: only the wake-up message can reach the other process in time.
    a, _ = backlog_of(deployment.process(tick_s=600))
    b, b_woken = backlog_of(deployment.process(tick_s=600))
    await a.push(ticket("a-free", "ann", "free"), 0.0)
    await b.push(ticket("b-pro", "bob", "pro"), 0.0)
    assert await a.length() == await b.length() == 2
    assert await a.positions() == {"b-pro": 1, "a-free": 2}
    # The pro request is due; it lives in the other process, which is woken to take it.
    assert await a.pop(0.0) is None
    await asyncio.wait_for(b_woken.wait(), 5)
    popped = await b.pop(0.0)
    assert popped is not None and popped.id == "b-pro"
    assert await a.pop(0.0) is None  # the one slot is taken, by the other process
    await b.release("b-pro")
    popped = await a.pop(0.0)
    assert popped is not None and popped.id == "a-free"


async def test_a_users_limit_holds_across_processes(deployment: Deployment) -> None:
    a, _ = backlog_of(deployment.process(), slots=4)
    b, _ = backlog_of(deployment.process(), slots=4)
    await a.push(ticket("a1", "ann", "free"), 0.0)
    await b.push(ticket("b1", "ann", "free"), 0.0)
    first = await a.pop(0.0)
    assert first is not None and first.id == "a1"
    assert await b.pop(0.0) is None  # ann may run one generation, wherever it was sent
    await a.release("a1")
    second = await b.pop(0.0)
    assert second is not None and second.id == "b1"


async def test_caps_and_admission_refuse_across_processes(deployment: Deployment) -> None:
    a, _ = backlog_of(deployment.process())
    b, _ = backlog_of(deployment.process())
    await a.push(ticket("a1", "ann", "free"), 0.0)
    await b.push(ticket("b1", "ann", "free"), 0.0)
    with pytest.raises(QueueFull, match="waiting"):
        await a.push(ticket("a2", "ann", "free"), 0.0)


async def test_a_crashed_process_loses_its_requests_and_frees_its_slots(
    deployment: Deployment, redis: Redis
) -> None:
    crashed_hub = deployment.process()
    crashed, _ = backlog_of(crashed_hub)
    survivor, _ = backlog_of(deployment.process())
    await crashed.push(ticket("c1", "cy", "pro"), 0.0)
    await crashed.push(ticket("c2", "cy", "pro"), 0.0)
    assert await crashed.pop(0.0) is not None  # c1 runs on the only slot
    await survivor.push(ticket("s1", "sue", "free"), 0.0)
    assert await survivor.pop(0.0) is None
    # The process dies: its tasks stop and its lease runs out.
    deployment.hubs.remove(crashed_hub)
    for task in crashed_hub._tasks:
        task.cancel()
    await redis.delete(f"{deployment.prefix}queue:owner:{crashed_hub.owner}")
    assert await survivor.length() == 1
    popped = await survivor.pop(0.0)
    assert popped is not None and popped.id == "s1"


async def test_requests_a_lapse_dropped_are_queued_again(
    deployment: Deployment, redis: Redis
) -> None:
    a, _ = backlog_of(deployment.process())
    await a.push(ticket("a1", "ann", "free"), 0.0)
    await redis.delete(f"{deployment.prefix}queue")  # e.g. purged while this process stalled
    assert await a.positions() == {"a1": 1}
    popped = await a.pop(0.0)
    assert popped is not None and popped.id == "a1"


async def test_damaged_shared_data_starts_the_queue_afresh(
    deployment: Deployment, redis: Redis
) -> None:
    a, _ = backlog_of(deployment.process())
    await redis.set(f"{deployment.prefix}queue", b"\xff not json")
    assert await a.length() == 0
    await a.push(ticket("a1", "ann", "free"), 0.0)
    assert await a.length() == 1


async def test_without_redis_new_requests_are_refused_and_ends_are_kept_for_later() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    hub = RedisQueueHub(unreachable, prefix="nowhere:")
    backlog = hub.backlog("m", TIERS, 1, ActiveCounts())
    try:
        with pytest.raises(BackendUnavailable, match="Redis"):
            await backlog.push(ticket("a1"), 0.0)
        assert await backlog.pop(0.0) is None
        assert await backlog.positions() == {}
        assert await backlog.length() == 0
        await backlog.release("r1")
        assert not await backlog.remove("w1")
        assert backlog.unreleased == {"r1"}
        assert backlog.unremoved == {"w1"}
    finally:
        await hub.aclose()
        await unreachable.aclose()


OPS = st.lists(
    st.tuples(
        st.sampled_from(["push", "push", "pop", "remove", "release", "positions"]),
        st.sampled_from(["free", "pro"]),
        st.sampled_from(["ann", "bob", "cy"]),
        st.floats(0.0, 4.0),
        st.integers(0, 20),
    ),
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(OPS)
async def test_one_process_on_redis_decides_as_the_in_process_queue(
    deployment: Deployment, sequence: list[tuple[str, str, str, float, int]]
) -> None:
    hub = RedisQueueHub(
        deployment.redis, prefix=f"{deployment.prefix}{uuid.uuid4().hex}:", clock=deployment.clock
    )
    deployment.hubs.append(hub)
    shared = hub.backlog("m", TIERS, 2, ActiveCounts())
    local = MemoryBacklog(TIERS, slots=2)
    ids: list[str] = []
    for number, (kind, tier, user, dt, pick) in enumerate(sequence):
        deployment.clock.now += dt
        now = deployment.clock.now
        results = []
        for backlog in (shared, local):
            try:
                if kind == "push":
                    await backlog.push(ticket(f"t{number}", user, tier, 1.5), now)
                    results.append("queued")
                elif kind == "pop":
                    popped = await backlog.pop(now)
                    results.append(None if popped is None else popped.id)
                elif kind == "positions":
                    results.append(await backlog.positions())
                elif ids:
                    target = ids[pick % len(ids)]
                    if kind == "remove":
                        results.append(await backlog.remove(target))
                    else:
                        await backlog.release(target)
                        results.append(await backlog.length())
            except QueueFull as refusal:
                results.append(("full", str(refusal)))
        if kind == "push" and results[-1] == "queued":
            ids.append(f"t{number}")
        if results:
            assert results[0] == results[1]


class CountingBackend:
    """A scripted backend that counts the streams it runs at once."""

    def __init__(self) -> None:
        self.inner = ScriptedBackend(replies=("a b c",), token_delay=0.02)
        self.capabilities = self.inner.capabilities
        self.running = 0
        self.peak = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            async for event in self.inner.stream(request):
                yield event
        finally:
            self.running -= 1


async def test_two_schedulers_share_one_backend_without_exceeding_its_slots(
    deployment: Deployment,
) -> None:
    backend = CountingBackend()
    roomy = make_tiers(make_tier("pro"))
    schedulers = []
    for _ in range(2):
        hub = RedisQueueHub(deployment.redis, prefix=deployment.prefix, tick_s=0.05)
        deployment.hubs.append(hub)
        replica = Replica("shared", backend, 2)  # type: ignore[arg-type]
        pool = ModelPool("m", [replica], first_token_s=0.0, token_s=0.02)
        schedulers.append(Scheduler([pool], roomy, backlog_factory=hub.backlog))
    try:
        jobs = [
            await schedulers[n % 2].submit(
                GenerationRequest("hi", max_tokens=3), user_id=f"u{n}", tier="pro"
            )
            for n in range(8)
        ]
        results = await asyncio.wait_for(asyncio.gather(*(job.finished() for job in jobs)), 20)
    finally:
        for scheduler in schedulers:
            await scheduler.aclose()
    assert [result.reason for result in results] == ["stop"] * 8
    # Both processes' jobs ran, and never more at once than the pool's two slots.
    assert backend.peak == 2
