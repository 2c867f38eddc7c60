"""The composition root with and without Redis: what is shared between processes when
GALATEA_REDIS_URL is set, and clear start-up errors when Redis cannot be used."""

import re
from pathlib import Path

import pytest

from galatea.bootstrap import StartupError, build_services
from galatea.config import Settings
from galatea.inference.scheduling.redis_backlog import RedisQueueHub
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.passwords import Argon2PasswordHasher
from galatea.services.quotas import MemoryQuotaStore
from galatea.services.redis_quotas import RedisQuotaStore
from galatea.services.redis_streams import RedisReplyStreams
from galatea.services.redis_throttle import RedisAttemptThrottle
from galatea.services.reply_streams import ReplyStreams
from galatea.services.throttle import AttemptThrottle
from tests.conftest import FakeClock

PASSWORD = "correct horse battery staple"


def settings_for(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **fields)  # type: ignore[arg-type]


def test_without_redis_everything_stays_in_process(tmp_path: Path) -> None:
    services = build_services(settings_for(tmp_path))
    assert services.shared is None
    assert isinstance(services.quotas.store, MemoryQuotaStore)
    assert isinstance(services.accounts._throttle, AttemptThrottle)
    assert isinstance(services.chat_turns.streams, ReplyStreams)


@pytest.mark.redis
async def test_with_redis_two_processes_share_quotas_limits_and_streams(
    tmp_path: Path, redis_url: str, clock: FakeClock, password_hasher: Argon2PasswordHasher
) -> None:
    settings = settings_for(tmp_path, redis_url=redis_url, redis_prefix=f"test:{tmp_path.name}:")
    one = build_services(settings, clock=clock, hasher=password_hasher)
    two = build_services(settings, clock=clock, hasher=password_hasher)
    assert one.shared is not None
    assert isinstance(one.quotas.store, RedisQuotaStore)
    assert isinstance(one.accounts._throttle, RedisAttemptThrottle)
    assert isinstance(one.chat_turns.streams, RedisReplyStreams)
    assert isinstance(one.shared.queue, RedisQueueHub)
    await one.start()
    await two.start()
    try:
        alice = await one.accounts.create_user(LOCAL_OPERATOR, "alice", PASSWORD)
        held = [await one.quotas.admit(alice), await two.quotas.admit(alice)]
        assert await two.quotas.in_progress(alice) == 2
        for admission in held:
            await admission.cancel()
        stream = await one.chat_turns.streams.open("chat-1")
        assert await two.chat_turns.running("chat-1")
        await stream.close()
    finally:
        await two.close()
        await one.close()


def test_a_redis_url_that_is_not_one_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="GALATEA_REDIS_URL"):
        build_services(settings_for(tmp_path, redis_url="http://127.0.0.1:6379"))


async def test_an_unreachable_redis_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    services = build_services(settings_for(tmp_path, redis_url="redis://:hunter2@127.0.0.1:1/0"))
    with pytest.raises(
        StartupError, match=re.escape("Redis at redis://:***@127.0.0.1:1/0")
    ) as error:
        await services.start()
    assert "hunter2" not in str(error.value)
    assert services.shared is not None
    await services.shared.close()
