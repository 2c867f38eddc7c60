"""Engines: the text backends the platform generates with, and the fair scheduler in front.

Backends are given as blocking factories (loading an embedded model takes a while), opened in
a worker thread the first time a reply needs them, or at start when preloading is asked for.
A failure to open is reported to whoever asked and tried again next time; the site keeps
serving pages meanwhile. Backends sharing a pool name serve the same model and are replicas of
one scheduler pool; tiers name pools in their `models` and degradation rules.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from galatea.inference.backend import TextBackend
from galatea.inference.errors import BackendUnavailable, InferenceError
from galatea.inference.scheduling import (
    ModelPool,
    Replica,
    Scheduler,
    SchedulerConfig,
    Tier,
)
from galatea.inference.scheduling.scheduler import BacklogFactory
from galatea.services.generation import PromptBuilder

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackendSource:
    """One configured backend: how to open it and where it serves."""

    name: str
    """Unique name, shown in logs (never to users)."""
    pool: str
    """The model pool it serves; tiers refer to pools by this name."""
    slots: int
    """Generations it runs at once."""
    open: Callable[[], TextBackend]
    """Builds the backend; may block (loading a model), so it runs in a worker thread."""
    first_token_s: float = 2.0
    """First guess of seconds to the first token, until measured."""
    token_s: float = 0.1
    """First guess of seconds per generated token under load, until measured."""


@dataclass(frozen=True, slots=True)
class Running:
    """The opened backends and the scheduler that shares them out."""

    scheduler: Scheduler
    builders: Mapping[str, PromptBuilder]
    """A prompt builder per pool, on the tokenizer of the pool's first backend."""
    backends: Sequence[TextBackend]

    def builder(self, pool: str) -> PromptBuilder:
        """The prompt builder for a pool (the model a job was given)."""
        try:
            return self.builders[pool]
        except KeyError:
            raise BackendUnavailable(f"no backend serves {pool!r}") from None


class Engines:
    """Opens the backends on first need, runs the scheduler, closes both at shutdown."""

    def __init__(
        self,
        sources: Sequence[BackendSource],
        tiers: Mapping[str, Tier],
        config: SchedulerConfig | None = None,
        *,
        backlog_factory: BacklogFactory | None = None,
    ) -> None:
        if not sources:
            raise ValueError("at least one backend must be configured")
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise ValueError("backends need distinct names")
        self.sources = tuple(sources)
        self.tiers = tiers
        self._config = config
        self._backlog_factory = backlog_factory
        self._running: Running | None = None
        self._opening: asyncio.Task[Running] | None = None
        self._closed = False

    @property
    def running(self) -> Running | None:
        """The opened backends, once a reply (or preloading) has opened them."""
        return self._running

    async def start(self, *, preload: bool = False) -> None:
        """With `preload`, open every backend now (errors surface here); else on first need."""
        if preload:
            await self.ready()

    def warm_up(self) -> None:
        """Begin opening the backends in the background (a chat page was opened)."""
        if self._running is None and not self._closed and self._opening is None:
            self._opening = asyncio.get_running_loop().create_task(self._open())
            self._opening.add_done_callback(self._forget_failed)

    async def ready(self) -> Running:
        """The running backends and scheduler, opening them if needed (once, shared)."""
        if self._closed:
            raise BackendUnavailable("the server is shutting down")
        if self._running is not None:
            return self._running
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_task(self._open())
            self._opening.add_done_callback(self._forget_failed)
        return await asyncio.shield(self._opening)

    async def close(self) -> None:
        """Stop the scheduler (ending its jobs) and close every backend."""
        self._closed = True
        opening = self._opening
        if opening is not None and not opening.done():
            with contextlib.suppress(Exception):
                await opening
        running = self._running
        self._running = None
        if running is None:
            return
        await running.scheduler.aclose()
        for backend in running.backends:
            try:
                await backend.aclose()
            except Exception:
                logger.exception("closing a backend failed")

    def _forget_failed(self, task: "asyncio.Task[Running]") -> None:
        if task.cancelled() or task.exception() is not None:
            self._opening = None
            if not task.cancelled():
                logger.error("the text backends could not be opened: %s", task.exception())

    async def _open(self) -> Running:
        opened: list[tuple[BackendSource, TextBackend]] = []
        try:
            for source in self.sources:
                backend = await asyncio.to_thread(source.open)
                opened.append((source, backend))
        except BaseException as error:
            for _, backend in opened:
                with contextlib.suppress(Exception):
                    await backend.aclose()
            if isinstance(error, InferenceError | asyncio.CancelledError):
                raise
            if isinstance(error, Exception):
                raise BackendUnavailable(f"a text backend could not be opened: {error}") from error
            raise
        running = self._assemble(opened)
        if self._closed:
            await running.scheduler.aclose()
            for backend in running.backends:
                with contextlib.suppress(Exception):
                    await backend.aclose()
            raise BackendUnavailable("the server is shutting down")
        self._running = running
        return running

    def _assemble(self, opened: Sequence[tuple[BackendSource, TextBackend]]) -> Running:
        pools: dict[str, list[tuple[BackendSource, TextBackend]]] = {}
        for source, backend in opened:
            pools.setdefault(source.pool, []).append((source, backend))
        model_pools = [
            ModelPool(
                model=pool,
                replicas=[Replica(s.name, backend, s.slots) for s, backend in members],
                first_token_s=members[0][0].first_token_s,
                token_s=members[0][0].token_s,
            )
            for pool, members in pools.items()
        ]
        scheduler = Scheduler(
            model_pools, self.tiers, self._config, backlog_factory=self._backlog_factory
        )
        builders = {pool: PromptBuilder(members[0][1]) for pool, members in pools.items()}
        return Running(scheduler, builders, [backend for _, backend in opened])
