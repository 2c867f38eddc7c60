"""`galatea bench fairness`: free and paid users at twice a backend's capacity, on a virtual clock.

One simulated backend with a fixed, known throughput (tokens per second shared by the
generations it runs, as a batching engine does) serves users of the default tiers whose
requests arrive at random (Poisson) at twice what it can serve. The run covers a fixed span of
virtual time: the scheduler, its queue and the backend run for real on an event loop whose
clock jumps from timer to timer, so fifteen simulated minutes take a few seconds and give the
same figures on every machine, busy or not. A real-time run could not be both long enough to
reach a steady state and short enough for a benchmark, and its figures would move with the
machine's load.

Refused requests (429) are not retried, so the offered load stays at twice the capacity.

Figures: per tier the p50 and p95 queue wait, completed requests and 429s; Jain's fairness
index between the users of a tier over their served share (completed / sent); the longest wait
of any free request. The four target figures carry their target as the baseline
(`free_max_wait_s`: the free tier's ageing bound); the others carry, as baseline, the same
figure from the same load served by the same scheduler with a plain first-come-first-served
queue.
"""

import asyncio
import math
import random
import statistics
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from galatea.inference.backend import GenerationRequest
from galatea.inference.scheduling import (
    ActiveCounts,
    Job,
    ModelPool,
    QueueFull,
    Replica,
    Scheduler,
    Started,
    Ticket,
    Tier,
    default_tiers,
)
from galatea.inference.scheduling.simulation import SimulatedBackend, run_in_virtual_time

PAID_P95_TARGET_S = 1.0
FAIRNESS_TARGET = 0.9


@dataclass(frozen=True, slots=True)
class Load:
    """The simulated deployment and its users."""

    duration_s: float = 900.0
    tokens_per_s: float = 320.0
    """Throughput of the backend, shared by its running generations."""
    first_token_s: float = 0.3
    slots: int = 8
    reply_tokens: tuple[int, int] = (120, 300)
    """Natural reply lengths, uniform in this range, before any budget cut."""
    max_tokens: int = 300
    """What every user asks for."""
    users: Mapping[str, int] = field(default_factory=lambda: {"free": 48, "plus": 10, "pro": 4})
    load_share: Mapping[str, float] = field(
        default_factory=lambda: {"free": 1.6, "plus": 0.25, "pro": 0.15}
    )
    """Requests sent per tier, as multiples of the backend's capacity (2.0 in all)."""
    seed: int = 20261122

    @property
    def capacity_rps(self) -> float:
        """Requests per second the backend completes at full budgets."""
        return self.tokens_per_s / statistics.fmean(self.reply_tokens)


@dataclass(slots=True)
class _Record:
    tier: str
    user: str
    wait_s: float | None = None
    completed: bool = False
    refused: bool = False


def run(*, quick: bool = False) -> list[dict[str, Any]]:
    """Run the fair scheduler and a first-come-first-served baseline; return the figures."""
    load = Load(duration_s=240.0) if quick else Load()
    tiers = default_tiers()
    fair = run_in_virtual_time(simulate(load, tiers, fifo=False))
    fifo = run_in_virtual_time(simulate(load, tiers, fifo=True))
    return figures(fair, fifo, tiers)


async def simulate(load: Load, tiers: Mapping[str, Tier], *, fifo: bool) -> list[_Record]:
    """Send the load for `duration_s` virtual seconds, then let the queue drain."""
    rng = random.Random(load.seed)
    backend = SimulatedBackend(
        tokens_per_s=load.tokens_per_s,
        first_token_s=load.first_token_s,
        reply_tokens=lambda request: random.Random(request.seed).randint(*load.reply_tokens),
        chunk_tokens=32,
    )
    pool = ModelPool(
        "model",
        [Replica("backend", backend, load.slots)],
        first_token_s=load.first_token_s,
        token_s=load.slots / load.tokens_per_s,
    )
    scheduler = Scheduler([pool], tiers, backlog_factory=FifoBacklog if fifo else None)
    records: list[_Record] = []
    followers: list[asyncio.Task[None]] = []
    arrivals = _arrivals(load, rng)
    loop = asyncio.get_running_loop()
    for at, tier, user in arrivals:
        await asyncio.sleep(max(0.0, at - loop.time()))
        record = _Record(tier, user)
        records.append(record)
        request = GenerationRequest("Hello", max_tokens=load.max_tokens, seed=rng.getrandbits(32))
        try:
            job = await scheduler.submit(request, user_id=user, tier=tier)
        except QueueFull:
            record.refused = True
            continue
        followers.append(loop.create_task(_follow(job, record)))
    await asyncio.gather(*followers)
    await scheduler.aclose()
    return records


def _arrivals(load: Load, rng: random.Random) -> list[tuple[float, str, str]]:
    arrivals = []
    for tier, users in load.users.items():
        rate = load.load_share[tier] * load.capacity_rps / users
        for n in range(users):
            at = rng.expovariate(rate)
            while at < load.duration_s:
                arrivals.append((at, tier, f"{tier}-{n}"))
                at += rng.expovariate(rate)
    arrivals.sort()
    return arrivals


async def _follow(job: Job, record: _Record) -> None:
    async for event in job:
        if isinstance(event, Started):
            record.wait_s = event.waited_s
    result = job.result
    record.completed = result is not None and result.reason in ("stop", "length")


class FifoBacklog:
    """The baseline: one first-come-first-served line for everyone, capped at the tiers' caps."""

    def __init__(
        self, _model: str, tiers: Mapping[str, Tier], slots: int, _active: ActiveCounts
    ) -> None:
        self._line: deque[Ticket] = deque()
        self._cap = sum(tier.queue_cap for tier in tiers.values())
        self._slots = slots
        self._running: set[str] = set()

    async def push(self, ticket: Ticket, now: float) -> None:  # noqa: ARG002
        """Queue at the back unless the line is full."""
        if len(self._line) >= self._cap:
            raise QueueFull("the queue is full", retry_after=1.0)
        self._line.append(ticket)

    async def pop(self, now: float) -> Ticket | None:  # noqa: ARG002
        """The oldest request."""
        if not self._line or len(self._running) >= self._slots:
            return None
        ticket = self._line.popleft()
        self._running.add(ticket.id)
        return ticket

    async def remove(self, ticket_id: str) -> bool:
        """Take a waiting request out."""
        for ticket in self._line:
            if ticket.id == ticket_id:
                self._line.remove(ticket)
                return True
        return False

    async def release(self, ticket_id: str) -> None:
        """A request ended."""
        self._running.discard(ticket_id)

    async def positions(self) -> dict[str, int]:
        """Places in line."""
        return {ticket.id: n for n, ticket in enumerate(self._line, start=1)}

    async def length(self) -> int:
        """Requests waiting."""
        return len(self._line)

    def watch(self, wake: Callable[[], None]) -> None:
        """One process: nothing else changes the line."""


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def jain_index(values: list[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one value takes everything."""
    if not values or not any(values):
        return 1.0
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def summarise(records: list[_Record], tiers: Mapping[str, Tier]) -> dict[str, float]:
    """Named figures of one run."""
    out: dict[str, float] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.wait_s is not None:
            waits[record.tier].append(record.wait_s)
    for tier in tiers:
        mine = [r for r in records if r.tier == tier]
        out[f"{tier}_p50_wait_s"] = percentile(waits[tier], 0.5)
        out[f"{tier}_p95_wait_s"] = percentile(waits[tier], 0.95)
        out[f"{tier}_completed"] = sum(r.completed for r in mine)
        out[f"{tier}_429s"] = sum(r.refused for r in mine)
        out[f"{tier}_sent"] = len(mine)
    paid = waits["plus"] + waits["pro"]
    out["paid_p95_wait_s"] = percentile(paid, 0.95)
    out["free_max_wait_s"] = max(waits["free"], default=0.0)
    out["fairness_index_free"] = _fairness(records, {"free"})
    out["fairness_index_paid"] = _fairness(records, {"plus", "pro"})
    return out


def _fairness(records: list[_Record], tiers: set[str]) -> float:
    sent: dict[str, int] = defaultdict(int)
    done: dict[str, int] = defaultdict(int)
    for record in records:
        if record.tier in tiers:
            sent[record.user] += 1
            done[record.user] += record.completed
    return jain_index([done[user] / sent[user] for user in sent])


def figures(
    fair: list[_Record], fifo: list[_Record], tiers: Mapping[str, Tier]
) -> list[dict[str, Any]]:
    """The JSON figures: targets as baselines for the four headline ones, FIFO for the rest."""
    ours, base = summarise(fair, tiers), summarise(fifo, tiers)
    targets = {
        "paid_p95_wait_s": PAID_P95_TARGET_S,
        "free_max_wait_s": tiers["free"].ageing_bound_s,
        "fairness_index_free": FAIRNESS_TARGET,
        "fairness_index_paid": FAIRNESS_TARGET,
    }
    out = []
    for name, value in ours.items():
        baseline = targets.get(name, base[name])
        unit = "s" if name.endswith("_s") else ("index" if "index" in name else "requests")
        ratio = value / baseline if baseline else None
        out.append(
            {"name": name, "value": value, "baseline": baseline, "ratio": ratio, "unit": unit}
        )
    return out
