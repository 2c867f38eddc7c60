"""The seam between the `Scheduler` and where waiting requests are kept.

`Backlog` is the role: one per model pool, async so that a store shared by several processes
(Redis, `redis_backlog.py`) can take the place of `MemoryBacklog`, the in-process one over
`FairQueue`. A shared backlog only ever hands a process its own requests; when another
process's request is due, or places in line moved elsewhere, it calls the `watch` callback so
the scheduler there starts it or sends new places.
"""

from collections.abc import Callable, Mapping
from typing import Protocol

from galatea.inference.scheduling.queues import ActiveCounts, FairQueue, Ticket
from galatea.inference.scheduling.tiers import Tier


class Backlog(Protocol):
    """Waiting generation requests of one model pool and the policy that orders them."""

    async def push(self, ticket: Ticket, now: float) -> None:
        """Queue `ticket` or raise QueueFull with a retry-after estimate."""
        ...

    async def pop(self, now: float) -> Ticket | None:
        """The request to start on a free slot now, or None."""
        ...

    async def remove(self, ticket_id: str) -> bool:
        """Take a waiting request out; False if it is not waiting (already started or gone)."""
        ...

    async def release(self, ticket_id: str) -> None:
        """A started request ended and gave its slot back."""
        ...

    async def positions(self) -> dict[str, int]:
        """Each waiting request's place in line, 1 being next."""
        ...

    async def length(self) -> int:
        """How many requests wait."""
        ...

    def watch(self, wake: Callable[[], None]) -> None:
        """Have `wake` called (on the event loop) when changes made elsewhere may let a request
        of this process start or move its place in line; a backlog of one process never does."""
        ...


class MemoryBacklog:
    """A `Backlog` kept in this process: a `FairQueue` behind the async interface."""

    def __init__(
        self,
        tiers: Mapping[str, Tier],
        *,
        slots: int,
        active: ActiveCounts | None = None,
        load_window_s: float = 60.0,
    ) -> None:
        self.queue = FairQueue(tiers, slots=slots, active=active, load_window_s=load_window_s)

    async def push(self, ticket: Ticket, now: float) -> None:
        """Queue `ticket` or raise QueueFull."""
        self.queue.push(ticket, now)

    async def pop(self, now: float) -> Ticket | None:
        """The request to start now, or None."""
        return self.queue.pop(now)

    async def remove(self, ticket_id: str) -> bool:
        """Take a waiting request out."""
        return self.queue.remove(ticket_id) is not None

    async def release(self, ticket_id: str) -> None:
        """A started request gave its slot back."""
        self.queue.release(ticket_id)

    async def positions(self) -> dict[str, int]:
        """Places in line."""
        return self.queue.positions()

    async def length(self) -> int:
        """How many requests wait."""
        return len(self.queue)

    def watch(self, wake: Callable[[], None]) -> None:
        """Nothing changes this backlog but its own scheduler: `wake` is never called."""
