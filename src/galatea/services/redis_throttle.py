"""Sign-in and sign-up limits in Redis: the same rules as `AttemptThrottle`, without a database
write per attempt, shared by every app process.

Each counted key (an account, or an address per kind of attempt) is a sorted set of attempt
ids scored by time in milliseconds. One Lua script prunes what left the window, refuses when
the limit is reached (saying when the oldest attempt inside leaves it), or records the attempt
in every key at once, so parallel guesses cannot slip past the limit between count and insert.
"""

import secrets
from datetime import datetime

from redis.asyncio import Redis

from galatea.services.errors import RateLimited
from galatea.services.ports import UnitOfWork
from galatea.services.redis_errors import redis_unavailable
from galatea.services.throttle import (
    SIGN_IN,
    SIGN_UP,
    Limit,
    ThrottleLimits,
    account_key,
    address_key,
)

LIMITS = "the shared sign-in limits"

_BEGIN = """
-- KEYS[1..n] counted sets, KEYS[n+1] the attempt's record
-- ARGV: now ms, attempt id, n, r (the set the record names, 0: none), then per set:
--       attempts, window ms
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
local r = tonumber(ARGV[4])
local wait = -1
for i = 1, n do
  local attempts = tonumber(ARGV[3 + 2 * i])
  local window = tonumber(ARGV[4 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local nth = redis.call('ZREVRANGE', KEYS[i], attempts - 1, attempts - 1, 'WITHSCORES')
  if nth[2] then
    local left = tonumber(nth[2]) + window - now
    if left > wait then wait = left end
  end
end
if wait >= 0 then return wait end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[4 + 2 * i]))
end
if r > 0 then
  redis.call('SET', KEYS[n + 1], KEYS[r], 'PX', tonumber(ARGV[4 + 2 * r]))
end
return -1
"""

_SUCCEEDED = """
-- KEYS[1] the account's set, KEYS[2] the attempt's address record; ARGV[1] attempt id
local address = redis.call('GET', KEYS[2])
if address then
  redis.call('ZREM', address, ARGV[1])
  redis.call('DEL', KEYS[2])
end
redis.call('DEL', KEYS[1])
return 0
"""


class RedisAttemptThrottle:
    """A `SignInThrottle` in Redis (the unit of work passed in is not used)."""

    def __init__(self, redis: "Redis", limits: ThrottleLimits, *, prefix: str = "galatea:") -> None:
        self.limits = limits
        self._prefix = f"{prefix}throttle:"
        self._begin = redis.register_script(_BEGIN)
        self._succeeded = redis.register_script(_SUCCEEDED)

    async def begin_sign_in(
        self, uow: UnitOfWork, *, username: str, address: str | None, now: datetime
    ) -> int:
        """Record a sign-in attempt, or raise RateLimited; returns the attempt's id."""
        del uow
        attempt = secrets.randbits(52)
        counted: list[tuple[str, Limit]] = [
            (self._key(SIGN_IN, "account", account_key(username)), self.limits.sign_in_per_account)
        ]
        address_id = address_key(address)
        if address_id is not None:
            counted.append(
                (self._key(SIGN_IN, "address", address_id), self.limits.sign_in_per_address)
            )
        # The record names the address set, so a success can take the attempt out of it.
        record = 2 if address_id is not None else 0
        await self._count(counted, attempt, now, "too many failed sign-ins", record=record)
        return attempt

    async def sign_in_succeeded(self, uow: UnitOfWork, *, attempt_id: int, username: str) -> None:
        """The attempt was no failure: forget it and the account's earlier failures."""
        del uow
        keys = [self._key(SIGN_IN, "account", account_key(username)), self._record(attempt_id)]
        with redis_unavailable(LIMITS):
            await self._succeeded(keys=keys, args=[str(attempt_id)])

    async def begin_sign_up(self, uow: UnitOfWork, *, address: str | None, now: datetime) -> None:
        """Record a sign-up from this address, or raise RateLimited (no address: no limit)."""
        del uow
        address_id = address_key(address)
        if address_id is None:
            return
        counted = [(self._key(SIGN_UP, "address", address_id), self.limits.sign_up_per_address)]
        await self._count(
            counted, secrets.randbits(52), now, "too many sign-ups from this address", record=0
        )

    async def _count(
        self,
        counted: list[tuple[str, Limit]],
        attempt: int,
        now: datetime,
        message: str,
        *,
        record: int,
    ) -> None:
        """Count `attempt` in every set or raise RateLimited; `record` is the 1-based set the
        attempt's record names (0: none)."""
        keys = [key for key, _ in counted] + [self._record(attempt)]
        args: list[int | str] = [_ms(now), str(attempt), len(counted), record]
        for _, limit in counted:
            args += [limit.attempts, int(limit.window.total_seconds() * 1000)]
        with redis_unavailable(LIMITS):
            wait_ms = int(await self._begin(keys=keys, args=args))
        if wait_ms >= 0:
            raise RateLimited(wait_ms / 1000, message)

    def _key(self, kind: str, what: str, key: str) -> str:
        return f"{self._prefix}{kind}:{what}:{key}"

    def _record(self, attempt: int) -> str:
        return f"{self._prefix}attempt:{attempt}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
