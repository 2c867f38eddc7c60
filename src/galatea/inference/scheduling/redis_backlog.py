"""A `Backlog` in Redis: one fair queue shared by every app process of a deployment.

All the pools' queues live in one Redis key as JSON (`queue_state.py`). Every operation reads
it under WATCH, rebuilds the `FairQueue` of its pool, applies the policy exactly as a single
process would (weighted tiers, round robin between users, FIFO per user, ageing, caps,
per-user limits counted over every pool and process), and writes it back in MULTI/EXEC,
retrying when another process wrote in between. Times are wall-clock seconds, which the
processes share (each process's event-loop clock is its own).

A process only ever starts its own requests: their prompts and streams live in it. When the
fair choice is another process's request, `pop` answers None here and publishes a wake-up to
that process, whose scheduler then pops it; a slow tick re-tries what a lost message or a
Redis hiccup left undone. Each process holds a lease (a key it refreshes); when a process
dies, the next operation anywhere takes its waiting requests out and frees its slots.

Redis trouble never strands a job: `push` refuses with `BackendUnavailable` (503), while
releases and removals that fail are kept and applied by the next operation that succeeds.
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from galatea.inference.errors import BackendUnavailable
from galatea.inference.scheduling.errors import QueueFull
from galatea.inference.scheduling.queue_state import (
    QueueState,
    QueueStateError,
    export_queue,
    import_queue,
    running_users,
)
from galatea.inference.scheduling.queues import ActiveCounts, FairQueue, Ticket
from galatea.inference.scheduling.tiers import Tier

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_ATTEMPTS = 50
"""Optimistic retries of one operation before giving up (contention this high is a fault)."""


@dataclass(slots=True)
class _Shared:
    """The decoded key: per pool, the queue state and which process owns each request."""

    pools: dict[str, dict[str, Any]]
    dirty: bool = False

    @classmethod
    def decode(cls, raw: bytes | str | None) -> "_Shared":
        if raw is None:
            return cls({})
        try:
            data = json.loads(raw)
            pools = data["pools"]
            if not isinstance(pools, dict):
                raise TypeError("pools is not a mapping")
        except (ValueError, KeyError, TypeError) as error:
            # Damaged or foreign data: starting afresh loses places in line, never a reply.
            logger.error("the shared queue held unreadable data (%r); starting it afresh", error)
            return cls({}, dirty=True)
        return cls(pools)

    def encode(self) -> str:
        return json.dumps({"pools": self.pools}, separators=(",", ":"))

    def owners(self, model: str) -> dict[str, str]:
        pool = self.pools.setdefault(model, {"queue": None, "owners": {}})
        owners: dict[str, str] = pool["owners"]
        return owners

    def state(self, model: str) -> QueueState | None:
        pool = self.pools.get(model)
        return None if pool is None else pool.get("queue")

    def store(self, model: str, queue: FairQueue, owners: dict[str, str]) -> None:
        self.pools[model] = {"queue": export_queue(queue), "owners": owners}
        self.dirty = True

    def active(self) -> ActiveCounts:
        """Running requests per user over every pool (the per-user limit spans models)."""
        active = ActiveCounts()
        for model in self.pools:
            for user in running_users(self.state(model)):
                active.add(user)
        return active


@dataclass(slots=True, eq=False)
class RedisBacklog:
    """One model pool's share of the Redis queue, as seen by this process."""

    hub: "RedisQueueHub"
    model: str
    tiers: Mapping[str, Tier]
    slots: int
    waiting: dict[str, Ticket] = field(default_factory=dict)
    """This process's requests that wait (kept to re-queue them if a lapse dropped them)."""
    unreleased: set[str] = field(default_factory=set)
    unremoved: set[str] = field(default_factory=set)
    wake: Callable[[], None] | None = None

    async def push(self, ticket: Ticket, now: float) -> None:
        """Queue `ticket` or raise QueueFull; BackendUnavailable when Redis cannot be used."""
        del now  # the event loop's clock is this process's own; the queue runs on wall time

        def change(shared: _Shared) -> None:
            queue, owners = self._open(shared)
            queue.push(ticket, self.hub.now())
            owners[ticket.id] = self.hub.owner
            shared.store(self.model, queue, owners)

        await self.hub.transact(change)
        self.waiting[ticket.id] = ticket

    async def pop(self, now: float) -> Ticket | None:
        """The next request if it is this process's; else None (its owner is woken)."""
        del now

        def change(shared: _Shared) -> tuple[Ticket | None, str | None]:
            queue, owners = self._open(shared)
            ticket = queue.pop(self.hub.now())
            if ticket is None:
                return None, None
            owner = owners.get(ticket.id, self.hub.owner)
            if owner != self.hub.owner:
                return None, owner  # not written: the owner pops it itself
            shared.store(self.model, queue, owners)
            return ticket, None

        try:
            ticket, other = await self.hub.transact(change)
        except BackendUnavailable as error:
            logger.warning("could not take a request from the shared queue: %s", error)
            return None
        if other is not None:
            await self.hub.nudge(other, self.model)
        if ticket is not None:
            self.waiting.pop(ticket.id, None)
        return ticket

    async def remove(self, ticket_id: str) -> bool:
        """Take a waiting request out; False if it is not waiting (or Redis is away: retried)."""
        self.waiting.pop(ticket_id, None)

        def change(shared: _Shared) -> bool:
            queue, owners = self._open(shared)
            if queue.remove(ticket_id) is None:
                return False
            owners.pop(ticket_id, None)
            shared.store(self.model, queue, owners)
            return True

        try:
            return await self.hub.transact(change)
        except BackendUnavailable as error:
            logger.warning(
                "could not take request %s out of the shared queue: %s", ticket_id, error
            )
            self.unremoved.add(ticket_id)
            return False

    async def release(self, ticket_id: str) -> None:
        """A started request ended: free its slot (retried later if Redis is away)."""

        def change(shared: _Shared) -> None:
            queue, owners = self._open(shared)
            if queue.release(ticket_id):
                owners.pop(ticket_id, None)
                shared.store(self.model, queue, owners)

        try:
            await self.hub.transact(change)
        except BackendUnavailable as error:
            logger.warning("could not free the slot of request %s: %s", ticket_id, error)
            self.unreleased.add(ticket_id)

    async def positions(self) -> dict[str, int]:
        """Places in line of every process's waiting requests, 1 being next."""
        try:
            return await self.hub.transact(lambda shared: self._open(shared)[0].positions())
        except BackendUnavailable:
            return {}

    async def length(self) -> int:
        """How many requests wait in every process (0 when Redis cannot be asked)."""
        try:
            return await self.hub.transact(lambda shared: len(self._open(shared)[0]))
        except BackendUnavailable:
            return 0

    def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake` when another process leaves a request of this one due."""
        self.wake = wake

    @property
    def busy(self) -> bool:
        """Whether this process has requests waiting or changes not yet applied."""
        return bool(self.waiting or self.unreleased or self.unremoved)

    def _open(self, shared: _Shared) -> tuple[FairQueue, dict[str, str]]:
        queue = import_queue(
            shared.state(self.model),
            self.tiers,
            slots=self.slots,
            active=shared.active(),
            load_window_s=self.hub.load_window_s,
        )
        return queue, dict(shared.owners(self.model))

    def settle(self, shared: _Shared, dead: set[str]) -> None:
        """Apply what is owed before any operation: dead processes' requests, failed
        releases and removals, and this process's requests a lapse of its lease dropped."""
        owners = shared.owners(self.model)
        gone = {ticket for ticket, owner in owners.items() if owner in dead}
        lost = [
            t for ticket_id, t in self.waiting.items() if owners.get(ticket_id) != self.hub.owner
        ]
        owed = gone | self.unreleased | self.unremoved
        if not (owed or lost):
            return
        queue, owners = self._open(shared)
        for ticket_id in owed:
            queue.remove(ticket_id)
            queue.release(ticket_id)
            owners.pop(ticket_id, None)
        for ticket in lost:
            with contextlib.suppress(QueueFull):  # it waits here until its queue timeout
                queue.push(ticket, self.hub.now())
                owners[ticket.id] = self.hub.owner
        shared.store(self.model, queue, owners)

    def settled(self) -> None:
        """The owed changes were written."""
        self.unreleased.clear()
        self.unremoved.clear()


class RedisQueueHub:
    """This process's link to the shared queue: makes the backlogs, holds the lease, listens."""

    def __init__(
        self,
        redis: "Redis",
        *,
        prefix: str = "galatea:",
        lease_s: float = 30.0,
        tick_s: float = 1.0,
        load_window_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.owner = uuid.uuid4().hex
        self.now = clock
        self.load_window_s = load_window_s
        self._key = f"{prefix}queue"
        self._owner_prefix = f"{prefix}queue:owner:"
        self._wake_prefix = f"{prefix}queue:wake:"
        self._lease_ms = int(lease_s * 1000)
        self._tick_s = tick_s
        self._backlogs: dict[str, RedisBacklog] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    def backlog(
        self, model: str, tiers: Mapping[str, Tier], slots: int, active: ActiveCounts
    ) -> RedisBacklog:
        """A `BacklogFactory`: the shared backlog of `model` (the in-process `active` counts
        are not used; running requests are counted over every process)."""
        del active
        backlog = RedisBacklog(self, model, tiers, slots)
        self._backlogs[model] = backlog
        return backlog

    async def start(self) -> None:
        """Take the lease and begin listening for wake-ups (done by the first use otherwise)."""
        if self._started:
            return
        await self._renew()
        self._started = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._keep_lease()),
            loop.create_task(self._listen()),
            loop.create_task(self._tick()),
        ]

    async def aclose(self) -> None:
        """Stop listening and give the lease back (requests left are the scheduler's to end)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._started:
            with contextlib.suppress(RedisError):
                await self.redis.delete(self._owner_prefix + self.owner)
        self._started = False

    async def transact(self, change: Callable[[_Shared], T]) -> T:
        """Run `change` on the shared state atomically; BackendUnavailable if Redis fails."""
        try:
            await self.start()
            for _ in range(MAX_ATTEMPTS):
                async with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        return await self._attempt(pipe, change)
                    except WatchError:
                        await asyncio.sleep(0.001)
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"the shared queue (Redis) cannot be used: {error}") from error
        except QueueStateError as error:
            raise BackendUnavailable(str(error)) from error
        raise BackendUnavailable("the shared queue (Redis) is too contended; try again")

    async def nudge(self, owner: str, model: str) -> None:
        """Tell process `owner` that a request of its `model` pool is due."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.publish(self._wake_prefix + owner, model)

    async def _attempt(self, pipe: Pipeline, change: Callable[[_Shared], T]) -> T:
        await pipe.watch(self._key)
        shared = _Shared.decode(await pipe.get(self._key))
        dead = await self._dead_owners(pipe, shared)
        for each in self._backlogs.values():
            each.settle(shared, dead)
        if dead:
            for model in list(shared.pools):
                if model not in self._backlogs:
                    self._drop_owners(shared, model, dead)
        result = change(shared)
        if shared.dirty:
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(self._key, shared.encode())
            await pipe.execute()
        for each in self._backlogs.values():
            each.settled()
        return result

    async def _dead_owners(self, pipe: Pipeline, shared: _Shared) -> set[str]:
        owners = {o for pool in shared.pools.values() for o in pool.get("owners", {}).values()}
        owners.discard(self.owner)
        if not owners:
            return set()
        ordered = sorted(owners)
        alive = await pipe.mget([self._owner_prefix + owner for owner in ordered])
        return {owner for owner, lease in zip(ordered, alive, strict=True) if lease is None}

    def _drop_owners(self, shared: _Shared, model: str, dead: set[str]) -> None:
        """Forget dead processes' requests in a pool this process does not serve."""
        state = shared.state(model)
        if state is None:
            return
        owners = shared.owners(model)
        gone = {ticket for ticket, owner in owners.items() if owner in dead}
        if not gone:
            return
        state["waiting"] = [item for item in state["waiting"] if item[0] not in gone]
        state["running"] = [item for item in state["running"] if item[0] not in gone]
        for ticket in gone:
            owners.pop(ticket, None)
        shared.dirty = True

    async def _renew(self) -> None:
        await self.redis.set(self._owner_prefix + self.owner, "1", px=self._lease_ms)

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                await self._renew()
            except (RedisError, OSError) as error:
                logger.warning("could not renew this process's queue lease: %s", error)

    async def _listen(self) -> None:
        channel = self._wake_prefix + self.owner
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    model = message.get("data")
                    name = model.decode() if isinstance(model, bytes) else str(model)
                    self._wake(name)
            except (RedisError, OSError) as error:
                logger.warning("lost the shared queue's wake-up channel: %s", error)
                await asyncio.sleep(self._tick_s)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            for model, backlog in list(self._backlogs.items()):
                if backlog.busy:
                    self._wake(model)
                if backlog.unreleased or backlog.unremoved:
                    with contextlib.suppress(BackendUnavailable):
                        await self.transact(_nothing)

    def _wake(self, model: str) -> None:
        backlog = self._backlogs.get(model)
        if backlog is not None and backlog.wake is not None:
            backlog.wake()


def _nothing(shared: _Shared) -> None:
    """An operation that only applies what is owed."""
