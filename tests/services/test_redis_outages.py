"""When Redis cannot be reached: use cases that need it answer `Unavailable` (503) in words,
while a reply being written is never failed by its relay."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from galatea.services.errors import Unavailable
from galatea.services.redis_quotas import RedisQuotaStore
from galatea.services.redis_streams import RedisReplyStream, RedisReplyStreams
from galatea.services.redis_throttle import RedisAttemptThrottle
from galatea.services.reply_streams import StreamEvent
from galatea.services.throttle import ThrottleLimits

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
async def unreachable() -> AsyncIterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        yield client
    finally:
        await client.aclose()


async def no_seed() -> int:
    return 0


async def test_quota_checks_report_the_shared_limits_as_unavailable(unreachable: Redis) -> None:
    store = RedisQuotaStore(unreachable)
    with pytest.raises(Unavailable, match="the shared usage limits cannot be reached right now"):
        await store.enter("u", "lease", 2, 60)
    with pytest.raises(Unavailable):
        await store.take_message("u", NOW.date(), 3, no_seed)
    with pytest.raises(Unavailable):
        await store.in_progress("u")


async def test_sign_ins_fail_closed_with_a_clear_reason(unreachable: Redis) -> None:
    throttle = RedisAttemptThrottle(unreachable, ThrottleLimits())
    with pytest.raises(Unavailable, match="sign-in limits"):
        await throttle.begin_sign_in(None, username="alice", address="192.0.2.1", now=NOW)  # type: ignore[arg-type]


async def test_replies_cannot_start_but_a_running_one_is_never_failed_by_its_relay(
    unreachable: Redis,
) -> None:
    streams = RedisReplyStreams(unreachable)
    try:
        with pytest.raises(Unavailable, match="reply streams"):
            await streams.open("chat")
        with pytest.raises(Unavailable):
            await streams.running("chat")
        # A stream opened before Redis went away: publishing loses the event, not the reply.
        stream = RedisReplyStream(streams, "chat", "generation", closed=False)
        await stream.publish(StreamEvent("token", {"text": "still saved"}))
        assert [event async for event in stream.follow()] == []
        await stream.close()
    finally:
        await streams.aclose()
