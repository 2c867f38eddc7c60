"""Quotas: messages per day and replies in progress per user, checked before a message is taken.

Each generation a user asks for (send, regenerate, continue, impersonate) is one message of
their tier's daily allowance, counted when it is accepted, and given back if it produced
nothing (a busy server, a backend that failed before writing). A day is a UTC day; the count
starts again at midnight UTC. Replies in progress (waiting or running) are capped at the
tier's concurrency plus its queued requests per user, across every model and process.

Counts live in a `QuotaStore`: `MemoryQuotaStore` in one process, `RedisQuotaStore`
(`redis_quotas.py`) when several processes share the limits. A store that does not know a
day's count yet starts from the messages metered in the database.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from galatea.core.ids import new_id
from galatea.core.usage import UsageCounts, next_midnight, usage_day
from galatea.core.users import User
from galatea.inference.backend import Usage
from galatea.services.errors import RateLimited
from galatea.services.ports import Clock
from galatea.services.tiers import TierService, in_progress_limit
from galatea.services.usage import UsageReport, UsageService

logger = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[int]]
"""Reads the messages already metered for the user and day (when a store must start a count)."""


class QuotaStore(Protocol):
    """Where message counts and replies in progress are kept."""

    async def take_message(
        self, user_id: str, day: date, limit: int | None, load: Loader
    ) -> int | None:
        """Count one more message of the user on `day` unless `limit` is reached; returns the
        new count, or None (nothing counted) at the limit."""
        ...

    async def give_back_message(self, user_id: str, day: date) -> None:
        """Uncount one message (it produced nothing)."""
        ...

    async def messages(self, user_id: str, day: date) -> int | None:
        """The messages counted on `day`, or None when this store has no count for it."""
        ...

    async def enter(self, user_id: str, lease_id: str, limit: int, lease_s: float) -> bool:
        """Hold one of the user's `limit` places for a reply in progress, for at most
        `lease_s` seconds; False when all are held."""
        ...

    async def renew(self, user_id: str, lease_ids: list[str], lease_s: float) -> None:
        """Hold these places of the user `lease_s` seconds longer (lapsed ones stay lapsed)."""
        ...

    async def leave(self, user_id: str, lease_id: str) -> None:
        """Give the place back."""
        ...

    async def in_progress(self, user_id: str) -> int:
        """How many places the user holds."""
        ...


class QuotaExceeded(RateLimited):
    """A quota of the user's tier is used up; `retry_after` says when it frees up."""

    def __init__(self, retry_after: float, message: str) -> None:
        self.retry_after = max(1.0, float(retry_after))
        Exception.__init__(self, message)


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """How quotas are enforced."""

    lease_s: float = 60.0
    """How long a place in progress is held without renewal: the process running the reply
    renews it every third of this, so a crashed process's places free within it."""
    busy_retry_s: float = 10.0
    """Retry-After given when all of a user's places in progress are held."""


class Admission:
    """One accepted generation's quota: settle it once the generation ended."""

    def __init__(self, quotas: "QuotaService", user_id: str, day: date, lease_id: str) -> None:
        self._quotas = quotas
        self.user_id = user_id
        self.day = day
        self.lease_id = lease_id
        self._settled = False

    async def settle(self, usage: Usage | None, *, produced: bool) -> None:
        """Meter the generation and free its place; a generation that `produced` no text and
        did not finish is no message (given back). Never raises: the reply matters more."""
        if self._settled:
            return
        self._settled = True
        await self._quotas._settle(self, usage, produced=produced)

    async def cancel(self) -> None:
        """The generation never started: give everything back."""
        await self.settle(None, produced=False)


class QuotaService:
    """Checks a user's quotas before a message is taken, and meters what it used."""

    def __init__(
        self,
        store: QuotaStore,
        usage: UsageService,
        tiers: TierService,
        clock: Clock,
        policy: QuotaPolicy | None = None,
    ) -> None:
        self.store = store
        self._usage = usage
        self.tiers = tiers
        self._clock = clock
        self.policy = policy or QuotaPolicy()
        self._held: dict[str, set[str]] = {}
        """Places held by replies of this process, by user: renewed until settled."""
        self._renewing: asyncio.Task[None] | None = None

    async def admit(self, user: User) -> Admission:
        """Take one message of the user's allowance and a place in progress, or raise
        QuotaExceeded (429) saying which limit was reached and when it frees up."""
        tier = self.tiers.tier_of(user)
        now = self._clock.now()
        day = usage_day(now)
        lease_id = new_id()
        places = in_progress_limit(tier)
        if not await self.store.enter(user.id, lease_id, places, self.policy.lease_s):
            raise QuotaExceeded(
                self.policy.busy_retry_s,
                f"you already have {places} repl{'y' if places == 1 else 'ies'} in progress, "
                f"the most the {tier.name} tier allows; wait for one to finish",
            )

        async def load() -> int:
            return (await self._usage.day_of(user.id, day)).messages

        try:
            counted = await self.store.take_message(user.id, day, tier.messages_per_day, load)
        except BaseException:
            await self.store.leave(user.id, lease_id)
            raise
        if counted is None:
            await self.store.leave(user.id, lease_id)
            wait = (next_midnight(now) - now).total_seconds()
            raise QuotaExceeded(
                wait,
                f"you have sent all {tier.messages_per_day} messages the {tier.name} tier "
                f"allows per day; it starts again at midnight UTC (in {_duration(wait)})",
            )
        self._held.setdefault(user.id, set()).add(lease_id)
        self._keep_renewing()
        return Admission(self, user.id, day, lease_id)

    async def aclose(self) -> None:
        """Stop renewing places (at shutdown; replies still running lapse with their lease)."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None

    async def messages_today(self, user: User) -> int:
        """Messages the user was counted today (accepted ones, including replies running)."""
        day = usage_day(self._clock.now())
        counted = await self.store.messages(user.id, day)
        if counted is not None:
            return counted
        return (await self._usage.day_of(user.id, day)).messages

    async def in_progress(self, user: User) -> int:
        """Replies of the user waiting or running."""
        return await self.store.in_progress(user.id)

    async def report(self, user: User) -> UsageReport:
        """The user's tier, its limits and their usage, as they see it."""
        return await self._usage.report(
            user,
            messages_counted=await self.messages_today(user),
            in_progress=await self.in_progress(user),
        )

    async def _settle(self, admission: Admission, usage: Usage | None, *, produced: bool) -> None:
        try:
            if not produced:
                await self.store.give_back_message(admission.user_id, admission.day)
            counts = UsageCounts(
                messages=1 if produced else 0,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                cached_prompt_tokens=usage.cached_prompt_tokens if usage else 0,
                generated_tokens=usage.generated_tokens if usage else 0,
            )
            await self._usage.record(admission.user_id, counts)
        except Exception:
            logger.exception("metering a generation of user %s failed", admission.user_id)
        finally:
            held = self._held.get(admission.user_id)
            if held is not None:
                held.discard(admission.lease_id)
                if not held:
                    del self._held[admission.user_id]
            try:
                await self.store.leave(admission.user_id, admission.lease_id)
            except Exception:
                logger.exception("freeing a reply place of user %s failed", admission.user_id)

    def _keep_renewing(self) -> None:
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Renew the held places every third of a lease while any are held."""
        while self._held:
            await asyncio.sleep(self.policy.lease_s / 3)
            for user_id, leases in list(self._held.items()):
                try:
                    await self.store.renew(user_id, sorted(leases), self.policy.lease_s)
                except Exception:
                    logger.warning("could not renew the reply places of user %s", user_id)


def _duration(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class MemoryQuotaStore:
    """Counts kept in this process (one app process); a day's count starts from the database."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._messages: dict[tuple[str, date], int] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._lock = asyncio.Lock()

    async def take_message(
        self, user_id: str, day: date, limit: int | None, load: Loader
    ) -> int | None:
        """Count a message unless the limit is reached."""
        async with self._lock:  # one load per user and day, even for concurrent first messages
            key = (user_id, day)
            if key not in self._messages:
                self._forget_other_days(day)
                self._messages[key] = await load()
            if limit is not None and self._messages[key] >= limit:
                return None
            self._messages[key] += 1
            return self._messages[key]

    async def give_back_message(self, user_id: str, day: date) -> None:
        """Uncount a message."""
        key = (user_id, day)
        if self._messages.get(key, 0) > 0:
            self._messages[key] -= 1

    async def messages(self, user_id: str, day: date) -> int | None:
        """The day's count, if this store holds it."""
        return self._messages.get((user_id, day))

    async def enter(self, user_id: str, lease_id: str, limit: int, lease_s: float) -> bool:
        """Hold a place unless all are held."""
        leases = self._live(user_id)
        if len(leases) >= limit:
            return False
        leases[lease_id] = self._clock() + lease_s
        self._leases[user_id] = leases
        return True

    async def renew(self, user_id: str, lease_ids: list[str], lease_s: float) -> None:
        """Hold places longer."""
        leases = self._live(user_id)
        for lease_id in lease_ids:
            if lease_id in leases:
                leases[lease_id] = self._clock() + lease_s
        self._leases[user_id] = leases

    async def leave(self, user_id: str, lease_id: str) -> None:
        """Give a place back."""
        leases = self._leases.get(user_id)
        if leases is not None:
            leases.pop(lease_id, None)
            if not leases:
                del self._leases[user_id]

    async def in_progress(self, user_id: str) -> int:
        """Places held."""
        return len(self._live(user_id))

    def _live(self, user_id: str) -> dict[str, float]:
        now = self._clock()
        return {k: until for k, until in self._leases.get(user_id, {}).items() if until > now}

    def _forget_other_days(self, day: date) -> None:
        for key in [key for key in self._messages if key[1] != day]:
            del self._messages[key]
