"""`Scheduler`: the asyncio driver that queues generation requests fairly and runs them.

Each model has a pool: its backends (`Replica`s with slots), a `Backlog` ordering the waiting
requests, and a `ServiceEstimate` of run times. `submit` plans the budget (degradation),
queues the request or refuses it with `QueueFull`, and returns a `Job`; whenever a slot is free
the backlog picks the next request, the router picks its backend, and the job's request is built
within the budget of that moment and streamed. The scheduler knows users only as opaque ids
with a tier name, and nothing about characters or chats.
"""

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.errors import (
    BackendTimeout,
    BackendUnavailable,
    InferenceError,
    RequestRejected,
    StreamInterrupted,
)
from galatea.inference.scheduling.backlog import Backlog, MemoryBacklog
from galatea.inference.scheduling.degradation import plan_budget
from galatea.inference.scheduling.errors import ModelNotAllowed, QueueTimeout
from galatea.inference.scheduling.estimates import ServiceEstimate
from galatea.inference.scheduling.events import Queued, Started
from galatea.inference.scheduling.jobs import Job, RequestBuilder
from galatea.inference.scheduling.queues import ActiveCounts, Ticket
from galatea.inference.scheduling.routing import Replica, Router
from galatea.inference.scheduling.tiers import Tier, UnknownTier

BacklogFactory = Callable[[str, Mapping[str, Tier], int, ActiveCounts], Backlog]
"""Makes the backlog of a model pool: (model, tiers, slots, shared running counts)."""


@dataclass(frozen=True, slots=True)
class ModelPool:
    """A model and the backends serving it, with first guesses of their speed."""

    model: str
    replicas: Sequence[Replica]
    first_token_s: float = 2.0
    """Expected seconds to the first token, until measured."""
    token_s: float = 0.1
    """Expected seconds per token of one generation under load, until measured."""


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Limits of the scheduler itself."""

    queue_timeout_s: float = 300.0
    """Longest a request may wait for a backend (a safety net behind the tiers' ageing bounds)."""
    total_timeout_s: float = 900.0
    """Longest a request may take from submit to its last token."""
    affinity_size: int = 4096
    """Conversations whose backend is remembered, per model."""
    affinity_slack: float = 0.5
    """How much busier (fraction of slots) a conversation's backend may be and still be used."""
    load_window_s: float = 60.0
    """Time over which the tiers' recent share of the backends is measured."""


@dataclass(slots=True, eq=False)
class _Pool:
    model: str
    router: Router
    backlog: Backlog
    estimate: ServiceEstimate
    waiting: dict[str, "_Entry"] = field(default_factory=dict)
    pumping: bool = False
    pump_again: bool = False
    positions_due: bool = False

    @property
    def context_limit(self) -> int | None:
        limits = [r.backend.capabilities.max_context for r in self.router.replicas]
        known = [limit for limit in limits if limit is not None]
        return min(known) if known and len(known) == len(limits) else None


@dataclass(slots=True, eq=False)
class _Entry:
    job: Job
    pool: _Pool
    tier: Tier
    submitted_at: float
    deadline: float
    timer: asyncio.TimerHandle | None = None
    task: "asyncio.Task[None] | None" = None


class Scheduler:
    """Queues generation requests by tier and runs them on the backends of their model."""

    def __init__(
        self,
        pools: Sequence[ModelPool],
        tiers: Mapping[str, Tier],
        config: SchedulerConfig | None = None,
        *,
        backlog_factory: BacklogFactory | None = None,
    ) -> None:
        if not pools:
            raise ValueError("the scheduler needs at least one model pool")
        self.config = config or SchedulerConfig()
        self._tiers = tiers
        self._active = ActiveCounts()
        make_backlog = backlog_factory or self._memory_backlog
        self._pools: dict[str, _Pool] = {}
        for spec in pools:
            if spec.model in self._pools:
                raise ValueError(f"model {spec.model!r} has two pools")
            router = Router(
                spec.replicas,
                affinity_size=self.config.affinity_size,
                affinity_slack=self.config.affinity_slack,
            )
            pool = _Pool(
                spec.model,
                router,
                make_backlog(spec.model, tiers, router.slots, self._active),
                ServiceEstimate(first_token_s=spec.first_token_s, token_s=spec.token_s),
            )
            pool.backlog.watch(partial(self._wake, pool))
            self._pools[spec.model] = pool
        for tier in tiers.values():
            for rule in tier.degradation:
                if rule.model is not None and rule.model not in self._pools:
                    raise ValueError(f"tier {tier.name!r} degrades to unknown model {rule.model!r}")
        self.default_model = pools[0].model
        self._entries: dict[str, _Entry] = {}
        self._chores: set[asyncio.Task[None]] = set()
        self._closed = False

    def _memory_backlog(
        self, _model: str, tiers: Mapping[str, Tier], slots: int, active: ActiveCounts
    ) -> Backlog:
        return MemoryBacklog(
            tiers, slots=slots, active=active, load_window_s=self.config.load_window_s
        )

    @property
    def models(self) -> list[str]:
        """Models served, the default first."""
        return list(self._pools)

    def estimate(self, model: str) -> ServiceEstimate:
        """The run-time estimate of `model`'s backends."""
        return self._pools[model].estimate

    async def queue_length(self, model: str | None = None) -> int:
        """How many requests wait for `model` (the default model if None)."""
        return await self._pools[model or self.default_model].backlog.length()

    async def submit(
        self,
        request: GenerationRequest | RequestBuilder,
        *,
        user_id: str,
        tier: str,
        model: str | None = None,
        cache_key: str | None = None,
        max_tokens: int | None = None,
    ) -> Job:
        """Queue a generation for `user_id` of `tier`; raises QueueFull, ModelNotAllowed, ...

        `request` is the request itself or a builder called at dispatch with the budget of
        that moment. `cache_key` (taken from a request when not given) routes the job to the
        backend holding its conversation. `max_tokens` (taken from a request when not given)
        is the longest reply wanted: it caps the budget and lets the queue plan a shorter run.
        """
        if self._closed:
            raise BackendUnavailable("the scheduler is shut down")
        tier_ = self._tier(tier)
        wanted = model or self.default_model
        pool = self._pools.get(wanted)
        if pool is None:
            raise ModelNotAllowed(f"no backend serves model {wanted!r}")
        if not tier_.allows(wanted):
            raise ModelNotAllowed(f"the {tier_.name} tier may not use model {wanted!r}")
        budget = plan_budget(tier_, wanted, await pool.backlog.length())
        pool = self._pools[budget.model]
        budget = budget.tighten(plan_budget(tier_, pool.model, 0, context_limit=pool.context_limit))
        if isinstance(request, GenerationRequest):
            cache_key = request.cache_key if cache_key is None else cache_key
            max_tokens = request.max_tokens if max_tokens is None else max_tokens
        if max_tokens is not None:
            if max_tokens < 1:
                raise RequestRejected("max_tokens must be at least 1")
            budget = replace(budget, max_reply_tokens=min(budget.max_reply_tokens, max_tokens))
        job = Job(
            job_id=uuid.uuid4().hex,
            user_id=user_id,
            tier=tier_.name,
            budget=budget,
            source=request,
            cache_key=cache_key,
            on_cancel=self._cancel,
        )
        loop = asyncio.get_running_loop()
        now = loop.time()
        ticket = Ticket(
            job.id, user_id, tier_.name, pool.estimate.planned_s(budget.max_reply_tokens)
        )
        await pool.backlog.push(ticket, now)
        entry = _Entry(job, pool, tier_, now, now + self.config.total_timeout_s)
        self._entries[job.id] = entry
        pool.waiting[job.id] = entry
        wait_limit = min(self.config.queue_timeout_s, self.config.total_timeout_s)
        entry.timer = loop.call_at(now + wait_limit, self._expire, entry)
        await self._pump(pool)
        self._positions_due(pool)
        return job

    async def aclose(self) -> None:
        """Refuse new requests and end every job: waiting ones at once, running ones stopped."""
        self._closed = True
        for entry in list(self._entries.values()):
            if entry.job.state == "queued":
                await self._withdraw(entry, BackendUnavailable("the scheduler shut down"))
            elif entry.task is not None:
                entry.task.cancel()
        tasks = [e.task for e in self._entries.values() if e.task is not None] + list(self._chores)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _tier(self, name: str) -> Tier:
        tier = self._tiers.get(name)
        if tier is None:
            raise UnknownTier(f"no tier called {name!r} is configured")
        return tier

    async def _pump(self, pool: _Pool) -> None:
        """Start waiting requests while the pool has free slots."""
        if pool.pumping:
            pool.pump_again = True
            return
        pool.pumping = True
        try:
            while True:
                pool.pump_again = False
                while pool.router.free_slots > 0:
                    ticket = await pool.backlog.pop(asyncio.get_running_loop().time())
                    if ticket is None:
                        break
                    entry = pool.waiting.pop(ticket.id, None)
                    if entry is None:  # withdrawn meanwhile
                        await pool.backlog.release(ticket.id)
                        continue
                    self._start(entry, await pool.backlog.length())
                if not pool.pump_again:
                    break
        finally:
            pool.pumping = False

    def _start(self, entry: _Entry, waiting: int) -> None:
        """Run `entry` on a backend; `waiting` is the queue length at its dispatch."""
        if entry.timer is not None:
            entry.timer.cancel()
        replica = entry.pool.router.acquire(entry.job.cache_key)
        if replica is None:  # the backlog and the router disagree on free slots
            raise RuntimeError(f"no free backend for model {entry.pool.model!r}")
        entry.job.state = "running"
        entry.task = asyncio.get_running_loop().create_task(self._run(entry, replica, waiting))

    async def _run(self, entry: _Entry, replica: Replica, waiting: int) -> None:
        job, pool = entry.job, entry.pool
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_token: float | None = None
        final: Finished | None = None
        stream = None
        try:
            if job.cancel_requested:
                raise asyncio.CancelledError
            context = replica.backend.capabilities.max_context
            job.budget = job.budget.tighten(
                plan_budget(
                    entry.tier, pool.model, waiting, context_limit=context, switch_model=False
                )
            )
            job.deliver(Started(job.budget, replica.name, started - entry.submitted_at))
            async with asyncio.timeout_at(entry.deadline):
                request = await job.build_request(job.budget)
                stream = replica.backend.stream(request)
                async for event in stream:
                    if isinstance(event, Finished):
                        final = event
                        break
                    if first_token is None and isinstance(event, TextDelta):
                        first_token = loop.time() - started
                    job.deliver(event)
            if final is None:
                final = Finished("error", error=StreamInterrupted("the reply ended unfinished"))
        except TimeoutError:
            limit = self.config.total_timeout_s
            final = Finished("error", error=BackendTimeout(f"no complete reply within {limit:g} s"))
        except asyncio.CancelledError:
            final = (
                Finished("error", error=BackendUnavailable("the scheduler shut down"))
                if self._closed and not job.cancel_requested
                else Finished("cancelled")
            )
        except InferenceError as error:
            final = Finished("error", error=error)
        except Exception as error:  # a failing request builder must still end the job
            final = Finished(
                "error", error=RequestRejected(f"the request could not be built: {error}")
            )
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
            pool.router.release(replica)
            await pool.backlog.release(job.id)
            self._entries.pop(job.id, None)
        if final.reason in ("stop", "length"):
            pool.estimate.observe(
                total_s=loop.time() - started,
                # Our own clock first: the total is measured on it too.
                first_token_s=first_token or final.usage.time_to_first_token,
                tokens=final.usage.generated_tokens,
            )
        job.deliver(final)
        if not self._closed:
            await self._pump(pool)
            self._positions_due(pool)

    def _cancel(self, job: Job) -> None:
        entry = self._entries.get(job.id)
        if entry is None:
            return
        if job.state == "running" and entry.task is not None:
            entry.task.cancel()
        elif job.state == "queued":
            self._chore(self._withdraw(entry, None))

    def _expire(self, entry: _Entry) -> None:
        if entry.job.state == "queued":
            waited = self.config.queue_timeout_s
            error = QueueTimeout(f"no backend became free within {waited:g} s")
            self._chore(self._withdraw(entry, error))

    async def _withdraw(self, entry: _Entry, error: InferenceError | None) -> None:
        """End a waiting job without running it (cancelled, timed out, shut down)."""
        pool = entry.pool
        if pool.waiting.pop(entry.job.id, None) is None:
            return  # it started meanwhile; a cancel reaches it through its task
        if entry.timer is not None:
            entry.timer.cancel()
        await pool.backlog.remove(entry.job.id)
        self._entries.pop(entry.job.id, None)
        final = Finished("cancelled") if error is None else Finished("error", error=error)
        entry.job.deliver(final)
        if not self._closed:
            self._positions_due(pool)

    def _wake(self, pool: _Pool) -> None:
        """Another process changed the shared backlog: start what may start, send places."""
        if not self._closed and pool.waiting:
            self._chore(self._pump(pool))
            self._positions_due(pool)

    def _positions_due(self, pool: _Pool) -> None:
        """Send new places in line soon, once for any number of changes."""
        if not pool.positions_due and pool.waiting:
            pool.positions_due = True
            asyncio.get_running_loop().call_soon(self._start_sending_positions, pool)

    def _start_sending_positions(self, pool: _Pool) -> None:
        if not self._closed:
            self._chore(self._send_positions(pool))

    async def _send_positions(self, pool: _Pool) -> None:
        pool.positions_due = False
        for job_id, place in (await pool.backlog.positions()).items():
            entry = pool.waiting.get(job_id)
            if entry is not None and entry.job.position != place:
                entry.job.deliver(Queued(place))

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)
