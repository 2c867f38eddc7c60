"""A Redis client for one test, with a key prefix of its own that is emptied afterwards."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True)
class RedisSpace:
    """A client and the prefix every key of the test starts with."""

    client: Redis
    prefix: str


@asynccontextmanager
async def redis_space(url: str) -> AsyncIterator[RedisSpace]:
    """A fresh prefix on the server at `url`; its keys are deleted at the end."""
    client = Redis.from_url(url)
    prefix = f"test:{uuid.uuid4().hex}:"
    try:
        yield RedisSpace(client, prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
