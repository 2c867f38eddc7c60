"""Start-time forecasts: when would each waiting request start if served by deadline from now?

The model is a pool of identical slots. A running request frees its slot at the latest when its
planned run time is over; a waiting request starts on the first slot free after the requests
ahead of it, and no earlier than its user and its tier are under their own limits. Run times are
upper estimates, so the forecast is a latest start: if every waiting request's forecast start is
before its deadline, serving earliest deadline first from now keeps every promise. The queue
uses it to admit only requests it can keep and to step away from fair order only when needed.
"""

import heapq
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class Plannable(Protocol):
    """A waiting request as the forecast sees it."""

    @property
    def service_s(self) -> float:
        """Upper estimate of its run time in seconds."""
        ...

    @property
    def deadline(self) -> float:
        """The latest time it may start."""
        ...

    @property
    def limits(self) -> Sequence[tuple[Hashable, int]]:
        """Groups it belongs to (its user, its tier) with how many of each may run at once."""
        ...


@dataclass(frozen=True, slots=True)
class Holding:
    """A slot held by a running request until `ends_by`, counted against `groups`."""

    ends_by: float
    groups: tuple[Hashable, ...]


W = TypeVar("W", bound=Plannable)


def forecast_starts(
    waiting: Iterable[W], *, now: float, slots: int, running: Iterable[Holding]
) -> Iterator[tuple[W, float]]:
    """Each waiting request (in the order given) with its latest start time; lazy, stop early."""
    if slots < 1:
        raise ValueError("a pool needs at least one slot")
    running = list(running)
    ends = sorted(max(now, holding.ends_by) for holding in running)
    # With more running than slots (the pool shrank), a slot opens only as the surplus ends.
    free = [now] * (slots - len(ends)) if len(ends) < slots else []
    timeline = free + ends[max(0, len(ends) - slots) :]
    heapq.heapify(timeline)
    groups: dict[Hashable, list[float]] = {}
    for holding in running:
        for key in holding.groups:
            groups.setdefault(key, []).append(max(now, holding.ends_by))
    for busy in groups.values():
        heapq.heapify(busy)
    for request in waiting:
        start = heapq.heappop(timeline)
        for key, limit in request.limits:
            busy = groups.setdefault(key, [])
            while busy and busy[0] <= start:
                heapq.heappop(busy)
            while len(busy) >= limit:
                start = max(start, heapq.heappop(busy))
        end = start + request.service_s
        heapq.heappush(timeline, end)
        for key, _ in request.limits:
            heapq.heappush(groups[key], end)
        yield request, start


def first_late(
    waiting: Iterable[W], *, now: float, slots: int, running: Iterable[Holding]
) -> W | None:
    """The first waiting request whose forecast start is after its deadline, or None."""
    for request, start in forecast_starts(waiting, now=now, slots=slots, running=running):
        if start > request.deadline:
            return request
    return None
