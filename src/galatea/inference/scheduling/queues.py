"""`FairQueue`: which waiting generation runs next on a pool of slots. Pure policy, clock passed in.

- Between tiers: start-time fair queueing. Each tier carries a virtual finish tag that grows by
  a request's planned run time divided by the tier's weight; the backlogged tier with the
  smallest tag goes next, and an idle tier rejoins at the current virtual time (no hoarded credit).
- Inside a tier: round robin between users, first in first out for each user.
- Limits at pop time: a user's concurrent generations, and a tier's share of the slots.
- Ageing: every request gets a deadline, its arrival plus its tier's ageing bound. The queue
  forecasts latest start times (`forecasts.py`) and leaves fair order for earliest deadline
  first only when the fair choice would make a promised start late.
- Admission: a request is refused (`QueueFull`, with a retry-after estimate) when its tier's
  queue or the user's share of it is full, when its forecast start would not leave room for the
  better tiers' arrivals before its deadline, or when it would make an admitted request late.
"""

import heapq
import math
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count

from galatea.inference.scheduling.errors import QueueFull
from galatea.inference.scheduling.forecasts import Holding, first_late, forecast_starts
from galatea.inference.scheduling.tiers import Tier

MIN_RETRY_S = 1.0
"""Shortest retry-after given with a refusal."""
PRIOR_LOAD_S = 3.0
"""Seconds of dispatch history assumed per slot, spread by weight, before any is seen."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A generation request as the queue sees it: who asks, in which tier, for how long."""

    id: str
    user_id: str
    tier: str
    service_s: float = 1.0
    """Upper estimate of its run time in seconds; also its cost in its tier's fair share."""


class ActiveCounts:
    """Generations running per user, shared by the queues of all models (the per-user cap)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def running(self, user_id: str) -> int:
        """How many generations of `user_id` are running."""
        return self._counts.get(user_id, 0)

    def add(self, user_id: str) -> None:
        """Count one more running generation for `user_id`."""
        self._counts[user_id] = self._counts.get(user_id, 0) + 1

    def remove(self, user_id: str) -> None:
        """Count one generation of `user_id` less."""
        left = self._counts.get(user_id, 0) - 1
        if left > 0:
            self._counts[user_id] = left
        else:
            self._counts.pop(user_id, None)


@dataclass(slots=True, eq=False)
class _Line:
    """One tier's waiting requests and its fair-share state."""

    tier: Tier
    index: int
    slot_limit: int
    users: dict[str, deque["_Waiting"]] = field(default_factory=dict)
    """Users with waiting requests, in round-robin order; each user's requests FIFO."""
    arrivals: dict[str, "_Waiting"] = field(default_factory=dict)
    """All waiting requests by id, in arrival order (which is deadline order in a tier)."""
    finish_tag: float = 0.0
    running: int = 0
    dispatched_s: float = 0.0
    """Planned run time dispatched recently (decaying), to estimate this tier's load."""


@dataclass(slots=True, eq=False)
class _Waiting:
    ticket: Ticket
    line: _Line
    enqueued_at: float
    deadline: float
    seq: int

    @property
    def service_s(self) -> float:
        return self.ticket.service_s

    @property
    def limits(self) -> Sequence[tuple[Hashable, int]]:
        tier = self.line.tier
        return (
            (("user", self.ticket.user_id), tier.concurrency),
            (tier.name, self.line.slot_limit),
        )


@dataclass(frozen=True, slots=True)
class _Running:
    ticket: Ticket
    line: _Line
    holding: Holding


class FairQueue:
    """Waiting generation requests of every tier for one pool of `slots` identical slots."""

    def __init__(
        self,
        tiers: Mapping[str, Tier],
        *,
        slots: int,
        active: ActiveCounts | None = None,
        load_window_s: float = 60.0,
    ) -> None:
        self._lines = {name: _Line(tier, i, 1) for i, (name, tier) in enumerate(tiers.items())}
        self._entries: dict[str, _Waiting] = {}
        self._running: dict[str, _Running] = {}
        self._active = active if active is not None else ActiveCounts()
        self._vtime = 0.0
        self._seq = count()
        self._load_window_s = load_window_s
        self._decayed_at: float | None = None
        self._waiting_s = 0.0
        self._slots = 0
        self.slots = slots

    @property
    def slots(self) -> int:
        """Slots of the pool this queue feeds; set it when backends come or go."""
        return self._slots

    @slots.setter
    def slots(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a pool needs at least one slot")
        self._slots = slots
        for line in self._lines.values():
            line.slot_limit = line.tier.slot_limit(slots)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self._entries

    def waiting(self, tier: str) -> int:
        """How many requests of `tier` wait."""
        return len(self._lines[tier].arrivals)

    @property
    def running(self) -> int:
        """How many popped requests have not been released yet."""
        return len(self._running)

    def push(self, ticket: Ticket, now: float) -> None:
        """Queue `ticket`, or raise QueueFull saying why and when to retry."""
        line = self._lines.get(ticket.tier)
        if line is None:
            raise KeyError(f"no tier called {ticket.tier!r} in this queue")
        if ticket.id in self._entries or ticket.id in self._running:
            raise ValueError(f"ticket {ticket.id!r} is already queued")
        tier = line.tier
        if len(line.arrivals) >= tier.queue_cap:
            retry = self._first_start(line.arrivals.values(), now)
            raise QueueFull(
                f"the {tier.name} queue is full ({tier.queue_cap} requests wait)",
                retry_after=retry,
            )
        mine = line.users.get(ticket.user_id)
        if mine is not None and len(mine) >= tier.queued_per_user:
            raise QueueFull(
                f"you already have {len(mine)} request(s) waiting, the most your tier allows",
                retry_after=self._first_start(mine, now),
            )
        self._decay(now)
        entry = _Waiting(ticket, line, now, now + tier.ageing_bound_s, next(self._seq))
        self._admit(entry, now)
        self._entries[ticket.id] = entry
        self._waiting_s += ticket.service_s
        line.arrivals[ticket.id] = entry
        line.users.setdefault(ticket.user_id, deque()).append(entry)

    def pop(self, now: float) -> Ticket | None:
        """The request to run next on a free slot, or None when none may run now."""
        if len(self._running) >= self._slots:
            return None
        self._decay(now)
        fair, fair_tag = self._fair_choice()
        if fair is None:
            return None
        choice = fair
        urgent = self._earliest_eligible()
        if urgent is not None and urgent is not fair and not self._keeps_promises(fair, now):
            choice = urgent
        # Fair time advances to the smallest tag served, even when ageing served another tier,
        # so a tier that waited keeps the credit it earned.
        self._vtime = max(self._vtime, fair_tag)
        self._dispatch(choice, now)
        return choice.ticket

    def remove(self, ticket_id: str) -> Ticket | None:
        """Take a waiting request out (cancelled or timed out); None if it is not waiting."""
        entry = self._entries.pop(ticket_id, None)
        if entry is None:
            return None
        # Recomputed from nothing when empty, so float rounding cannot build up.
        self._waiting_s = self._waiting_s - entry.ticket.service_s if self._entries else 0.0
        line = entry.line
        del line.arrivals[ticket_id]
        mine = line.users[entry.ticket.user_id]
        mine.remove(entry)
        if not mine:
            del line.users[entry.ticket.user_id]
        return entry.ticket

    def release(self, ticket_id: str) -> bool:
        """A popped request finished and gave its slot back; False if it was not running."""
        running = self._running.pop(ticket_id, None)
        if running is None:
            return False
        running.line.running -= 1
        self._active.remove(running.ticket.user_id)
        return True

    def positions(self) -> dict[str, int]:
        """Each waiting request's place (1 = next) in fair order; ageing may still reorder."""
        keyed: list[tuple[float, float, int, int, str]] = []
        for line in self._lines.values():
            order = sorted(
                (k, u, entry)
                for u, mine in enumerate(line.users.values())
                for k, entry in enumerate(mine)
            )
            tag = max(line.finish_tag, self._vtime)
            for n, (_, _, entry) in enumerate(order):
                keyed.append((tag, -line.tier.weight, line.index, n, entry.ticket.id))
                tag += entry.service_s / line.tier.weight
        keyed.sort()
        return {key[-1]: place for place, key in enumerate(keyed, start=1)}

    def forecast(self, now: float) -> dict[str, float]:
        """Latest start time of each waiting request if served by deadline from `now`."""
        starts = forecast_starts(
            self._by_deadline(), now=now, slots=self._slots, running=self._holdings()
        )
        return {entry.ticket.id: start for entry, start in starts}

    def _admit(self, entry: _Waiting, now: float) -> None:
        tier = entry.line.tier
        # Better tiers arriving later will be served first; leave them the share they use.
        limit = now + tier.ageing_bound_s * (1.0 - self._ahead_share(entry.line))
        if self._all_on_time(now, extra=entry.service_s, deadline=limit):
            return
        order = heapq.merge(self._by_deadline(), [entry], key=_deadline_order)
        start_of_new = math.inf
        late: list[_Waiting] = []
        for waiting, start in forecast_starts(
            order, now=now, slots=self._slots, running=self._holdings()
        ):
            if waiting is entry:
                start_of_new = start
            elif start > waiting.deadline:
                late.append(waiting)
        if start_of_new > limit:
            raise QueueFull(
                f"the {tier.name} queue cannot promise a start within "
                f"{tier.ageing_bound_s:g} s under the current load",
                retry_after=max(MIN_RETRY_S, start_of_new - limit),
            )
        if late and not self._late_anyway(late, now):
            raise QueueFull(
                "the backends are fully promised to requests already waiting",
                retry_after=self._next_slot_s(now),
            )

    def _late_anyway(self, late: list[_Waiting], now: float) -> bool:
        """Whether all of `late` would be late even without the new request."""
        before = self._late(self._by_deadline(), now, self._holdings())
        return all(id(waiting) in before for waiting in late)

    def _keeps_promises(self, choice: _Waiting, now: float) -> bool:
        """Whether serving `choice` now leaves every waiting request on time that was."""
        if self._all_on_time(now):
            return True
        after = [*self._holdings(), self._holding(choice, now)]

        def rest() -> Iterator[_Waiting]:
            return (entry for entry in self._by_deadline() if entry is not choice)

        if first_late(rest(), now=now, slots=self._slots, running=after) is None:
            return True
        return self._late(rest(), now, after) <= self._late(
            self._by_deadline(), now, self._holdings()
        )

    def _late(self, order: Iterable[_Waiting], now: float, running: list[Holding]) -> set[int]:
        """Identities of the requests in `order` whose forecast start misses their deadline."""
        starts = forecast_starts(order, now=now, slots=self._slots, running=running)
        return {id(entry) for entry, start in starts if start > entry.deadline}

    def _all_on_time(self, now: float, *, extra: float = 0.0, deadline: float = math.inf) -> bool:
        """Cheap sufficient test: everything on time even if served one after another.

        No forecast start can be later than the longest remaining run plus all the waiting
        work before it, whatever the order and the limits.
        """
        remaining = max((r.holding.ends_by - now for r in self._running.values()), default=0.0)
        heads = (
            next(iter(line.arrivals.values())) for line in self._lines.values() if line.arrivals
        )
        earliest = min((entry.deadline for entry in heads), default=math.inf)
        latest_start = now + max(0.0, remaining) + self._waiting_s + extra
        return latest_start <= min(earliest, deadline)

    def _fair_choice(self) -> tuple[_Waiting | None, float]:
        best: _Waiting | None = None
        best_key = (math.inf, 0.0, 0)
        for line in self._lines.values():
            if not line.arrivals or line.running >= line.slot_limit:
                continue
            head = next((mine[0] for mine in line.users.values() if self._eligible(mine[0])), None)
            if head is None:
                continue
            key = (max(line.finish_tag, self._vtime), -line.tier.weight, line.index)
            if key < best_key:
                best, best_key = head, key
        return best, best_key[0]

    def _earliest_eligible(self) -> _Waiting | None:
        return next((entry for entry in self._by_deadline() if self._eligible(entry)), None)

    def _eligible(self, entry: _Waiting) -> bool:
        line = entry.line
        return (
            line.running < line.slot_limit
            and self._active.running(entry.ticket.user_id) < line.tier.concurrency
        )

    def _dispatch(self, entry: _Waiting, now: float) -> None:
        line = entry.line
        ticket = entry.ticket
        tag = max(line.finish_tag, self._vtime)
        line.finish_tag = tag + entry.service_s / line.tier.weight
        self.remove(ticket.id)
        mine = line.users.pop(ticket.user_id, None)
        if mine:  # served users go to the back of the round
            line.users[ticket.user_id] = mine
        line.running += 1
        line.dispatched_s += entry.service_s
        self._active.add(ticket.user_id)
        self._running[ticket.id] = _Running(ticket, line, self._holding(entry, now))

    def _holding(self, entry: _Waiting, now: float) -> Holding:
        return Holding(
            now + entry.service_s, (("user", entry.ticket.user_id), entry.line.tier.name)
        )

    def _holdings(self) -> list[Holding]:
        return [running.holding for running in self._running.values()]

    def _by_deadline(self) -> Iterator[_Waiting]:
        return heapq.merge(
            *(line.arrivals.values() for line in self._lines.values()), key=_deadline_order
        )

    def _first_start(self, entries: Iterable[_Waiting], now: float) -> float:
        """Seconds until the first of `entries` (all waiting) is forecast to leave the queue."""
        starts = self.forecast(now)
        return max(MIN_RETRY_S, min(starts[entry.ticket.id] for entry in entries) - now)

    def _next_slot_s(self, now: float) -> float:
        ends = [running.holding.ends_by for running in self._running.values()]
        return max(MIN_RETRY_S, min(ends, default=now) - now)

    def _decay(self, now: float) -> None:
        if self._decayed_at is not None and now > self._decayed_at:
            factor = math.exp(-(now - self._decayed_at) / self._load_window_s)
            for line in self._lines.values():
                line.dispatched_s *= factor
        if self._decayed_at is None or now > self._decayed_at:
            self._decayed_at = now

    def _ahead_share(self, line: _Line) -> float:
        """Recent share of the slots' time taken by tiers that are served before `line`'s."""
        total_weight = sum(other.tier.weight for other in self._lines.values())
        prior = PRIOR_LOAD_S * self._slots / total_weight
        ahead = total = 0.0
        for other in self._lines.values():
            load = other.dispatched_s + prior * other.tier.weight
            total += load
            if other is not line and (
                other.tier.weight > line.tier.weight
                or other.tier.ageing_bound_s < line.tier.ageing_bound_s
            ):
                ahead += load
        return ahead / total


def _deadline_order(entry: _Waiting) -> tuple[float, int]:
    return (entry.deadline, entry.seq)
