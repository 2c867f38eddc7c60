"""Quotas in Redis, so every app process counts against the same limits.

A day's message count is one key per user and UTC day (expiring two days later), started
from the database's metered count the first time any process needs it (SET NX, so two
processes starting it at once agree). Replies in progress are a sorted set per user of lease
ids scored by when they lapse: the process holding them renews them while its replies run,
so a crashed process's places free themselves within a lease. Each check and change is one
Lua script, atomic in Redis, timed by Redis's own clock; Redis trouble is `Unavailable` (503).
"""

from datetime import date

from redis.asyncio import Redis

from galatea.services.quotas import Loader
from galatea.services.redis_errors import redis_unavailable

LIMITS = "the shared usage limits"

DAY_KEY_TTL_S = 2 * 24 * 3600

_TAKE = """
-- KEYS[1] count; ARGV: limit (-1: none), seed (-1: do not start the count), ttl seconds
if redis.call('EXISTS', KEYS[1]) == 0 then
  if tonumber(ARGV[2]) < 0 then return -2 end
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3], 'NX')
end
local count = tonumber(redis.call('GET', KEYS[1]))
local limit = tonumber(ARGV[1])
if limit >= 0 and count >= limit then return -1 end
return redis.call('INCR', KEYS[1])
"""

_GIVE_BACK = """
-- KEYS[1] count
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

_ENTER = """
-- KEYS[1] places; ARGV: lease id, limit, lease milliseconds
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
local lapse = ms + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], lapse, ARGV[1])
local last = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIREAT', KEYS[1], last)
return 1
"""

_COUNT_PLACES = """
-- KEYS[1] places
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
return redis.call('ZCARD', KEYS[1])
"""


_RENEW = """
-- KEYS[1] places; ARGV: lease milliseconds, then lease ids
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', ms + tonumber(ARGV[1]), ARGV[i])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if last then redis.call('PEXPIREAT', KEYS[1], tonumber(last)) end
return 0
"""


class RedisQuotaStore:
    """A `QuotaStore` shared by every process using the same Redis and key prefix."""

    def __init__(self, redis: "Redis", *, prefix: str = "galatea:") -> None:
        self._redis = redis
        self._prefix = f"{prefix}quota:"
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)
        self._enter = redis.register_script(_ENTER)
        self._count = redis.register_script(_COUNT_PLACES)
        self._renew = redis.register_script(_RENEW)

    async def take_message(
        self, user_id: str, day: date, limit: int | None, load: Loader
    ) -> int | None:
        """Count a message unless the limit is reached (starting the day's count if needed)."""
        keys = [self._day_key(user_id, day)]
        limit_arg = -1 if limit is None else limit
        with redis_unavailable(LIMITS):
            result = int(await self._take(keys=keys, args=[limit_arg, -1, DAY_KEY_TTL_S]))
        if result == -2:
            seed = max(0, int(await load()))
            with redis_unavailable(LIMITS):
                result = int(await self._take(keys=keys, args=[limit_arg, seed, DAY_KEY_TTL_S]))
        return None if result < 0 else result

    async def give_back_message(self, user_id: str, day: date) -> None:
        """Uncount a message."""
        with redis_unavailable(LIMITS):
            await self._give_back(keys=[self._day_key(user_id, day)])

    async def messages(self, user_id: str, day: date) -> int | None:
        """The day's count, if any process started it."""
        with redis_unavailable(LIMITS):
            value = await self._redis.get(self._day_key(user_id, day))
        return None if value is None else int(value)

    async def enter(self, user_id: str, lease_id: str, limit: int, lease_s: float) -> bool:
        """Hold a place unless all are held."""
        args: list[str | int] = [lease_id, limit, int(lease_s * 1000)]
        with redis_unavailable(LIMITS):
            return bool(int(await self._enter(keys=[self._places_key(user_id)], args=args)))

    async def renew(self, user_id: str, lease_ids: list[str], lease_s: float) -> None:
        """Hold the user's places `lease_s` seconds longer (those not lapsed already)."""
        args: list[str | int] = [int(lease_s * 1000), *lease_ids]
        with redis_unavailable(LIMITS):
            await self._renew(keys=[self._places_key(user_id)], args=args)

    async def leave(self, user_id: str, lease_id: str) -> None:
        """Give a place back."""
        with redis_unavailable(LIMITS):
            await self._redis.zrem(self._places_key(user_id), lease_id)

    async def in_progress(self, user_id: str) -> int:
        """Places held and not lapsed."""
        with redis_unavailable(LIMITS):
            return int(await self._count(keys=[self._places_key(user_id)]))

    def _day_key(self, user_id: str, day: date) -> str:
        return f"{self._prefix}messages:{user_id}:{day.isoformat()}"

    def _places_key(self, user_id: str) -> str:
        return f"{self._prefix}in-progress:{user_id}"
