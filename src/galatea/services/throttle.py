"""Rate limits on sign-in and sign-up attempts, per account and per client address.

An attempt is recorded *before* the password is checked and removed again if it succeeds,
so a burst of parallel guesses cannot slip past the limit while the slow hash runs. The
count and the insert happen under a lock on the keys (see `AuthAttemptRepository.lock`).
IPv6 clients are counted per /64 network, since one host usually holds a whole /64.
"""

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from galatea.services.errors import RateLimited
from galatea.services.ports import UnitOfWork

SIGN_IN = "sign_in"
SIGN_UP = "sign_up"
MAX_KEY_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `attempts` within any `window`."""

    attempts: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    """The limits, with starting values from the security notes (all configurable)."""

    sign_in_per_account: Limit = field(default_factory=lambda: Limit(10, timedelta(minutes=15)))
    """Failed sign-ins per account, whatever the address."""
    sign_in_per_address: Limit = field(default_factory=lambda: Limit(25, timedelta(minutes=5)))
    """Failed sign-ins per client address (IPv6: per /64)."""
    sign_up_per_address: Limit = field(default_factory=lambda: Limit(5, timedelta(minutes=30)))
    """Sign-ups per client address."""

    @property
    def longest_window(self) -> timedelta:
        """How long an attempt can matter; older ones are pruned."""
        return max(
            self.sign_in_per_account.window,
            self.sign_in_per_address.window,
            self.sign_up_per_address.window,
        )


def address_key(address: str | None) -> str | None:
    """The key an address is counted under: IPv4 as is, IPv6 as its /64 network."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:MAX_KEY_LENGTH] or None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def account_key(username: str) -> str:
    """The key an account is counted under: the username as it is looked up (case-folded)."""
    return username.strip().casefold()[:MAX_KEY_LENGTH]


class SignInThrottle(Protocol):
    """The role: limits on sign-in and sign-up attempts (`AttemptThrottle` in the database,
    `RedisAttemptThrottle` in Redis). A store other than the database may ignore `uow`."""

    limits: ThrottleLimits

    async def begin_sign_in(
        self, uow: UnitOfWork, *, username: str, address: str | None, now: datetime
    ) -> int:
        """Record a sign-in attempt, or raise RateLimited; returns the attempt's id."""
        ...

    async def sign_in_succeeded(self, uow: UnitOfWork, *, attempt_id: int, username: str) -> None:
        """The attempt was no failure: forget it and the account's earlier failures."""
        ...

    async def begin_sign_up(self, uow: UnitOfWork, *, address: str | None, now: datetime) -> None:
        """Record a sign-up from this address, or raise RateLimited."""
        ...


class AttemptThrottle:
    """Counts attempts in the database, so limits hold across processes."""

    def __init__(self, limits: ThrottleLimits) -> None:
        self.limits = limits

    async def begin_sign_in(
        self, uow: UnitOfWork, *, username: str, address: str | None, now: datetime
    ) -> int:
        """Record a sign-in attempt, or raise RateLimited; returns the attempt's id."""
        account = account_key(username)
        address_id = address_key(address)
        keys = [f"{SIGN_IN}:{account}"]
        if address_id is not None:
            keys.append(f"{SIGN_IN}@{address_id}")
        await uow.auth_attempts.lock(keys)
        await uow.auth_attempts.prune(now - self.limits.longest_window)
        waits = [
            await self._wait(uow, SIGN_IN, self.limits.sign_in_per_account, now, account=account)
        ]
        if address_id is not None:
            waits.append(
                await self._wait(
                    uow, SIGN_IN, self.limits.sign_in_per_address, now, address=address_id
                )
            )
        self._refuse_if_limited(waits, "too many failed sign-ins")
        return await uow.auth_attempts.add(
            SIGN_IN, account_key=account, address_key=address_id, at=now
        )

    async def sign_in_succeeded(self, uow: UnitOfWork, *, attempt_id: int, username: str) -> None:
        """The attempt was no failure: forget it and the account's earlier failures."""
        await uow.auth_attempts.remove(attempt_id)
        await uow.auth_attempts.clear_account(SIGN_IN, account_key(username))

    async def begin_sign_up(self, uow: UnitOfWork, *, address: str | None, now: datetime) -> None:
        """Record a sign-up from this address, or raise RateLimited (no address: no limit)."""
        address_id = address_key(address)
        if address_id is None:
            return
        await uow.auth_attempts.lock([f"{SIGN_UP}@{address_id}"])
        await uow.auth_attempts.prune(now - self.limits.longest_window)
        wait = await self._wait(
            uow, SIGN_UP, self.limits.sign_up_per_address, now, address=address_id
        )
        self._refuse_if_limited([wait], "too many sign-ups from this address")
        await uow.auth_attempts.add(SIGN_UP, account_key=None, address_key=address_id, at=now)

    async def _wait(
        self,
        uow: UnitOfWork,
        kind: str,
        limit: Limit,
        now: datetime,
        *,
        account: str | None = None,
        address: str | None = None,
    ) -> float | None:
        # With `attempts` already inside the window, the next is allowed once the oldest of
        # those leaves it: that is the attempts-th newest one.
        nth = await uow.auth_attempts.nth_newest(
            kind,
            account_key=account,
            address_key=address,
            since=now - limit.window,
            n=limit.attempts,
        )
        if nth is None:
            return None
        return (nth + limit.window - now).total_seconds()

    @staticmethod
    def _refuse_if_limited(waits: list[float | None], message: str) -> None:
        longest = max((wait for wait in waits if wait is not None), default=None)
        if longest is not None:
            raise RateLimited(longest, message)
