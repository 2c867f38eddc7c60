"""A `FairQueue`'s whole state as plain JSON data, and a queue rebuilt from it.

A queue shared by several processes (`RedisBacklog`) keeps this data in one place; each
operation rebuilds the queue, applies the policy exactly as one process would, and stores the
result. The rebuilt queue behaves as the original would have (a property test holds it to that
over arbitrary operation sequences), so the policy has one implementation.

This module reads the queue's internals: it belongs to `queues.py`, and changes with it.
"""

from collections import deque
from collections.abc import Mapping
from itertools import count
from typing import Any

from galatea.inference.scheduling.forecasts import Holding
from galatea.inference.scheduling.queues import (
    ActiveCounts,
    FairQueue,
    Ticket,
    _Line,
    _Running,
    _Waiting,
)
from galatea.inference.scheduling.tiers import Tier

STATE_VERSION = 1

QueueState = dict[str, Any]
"""JSON-ready: {"version", "vtime", "seq", "decayed_at", "lines", "waiting", "running"}."""


class QueueStateError(ValueError):
    """Stored queue data cannot be read (another version wrote it, or it is damaged)."""


def export_queue(queue: FairQueue) -> QueueState:
    """The queue's state: tiers' fair-share tags and load, waiting and running requests."""
    next_seq = next(queue._seq)
    queue._seq = count(next_seq)  # reading the counter used a number; put it back
    lines: dict[str, Any] = {}
    waiting: list[list[Any]] = []
    for name, line in queue._lines.items():
        lines[name] = {
            "finish_tag": line.finish_tag,
            "dispatched_s": line.dispatched_s,
            "users": list(line.users),
        }
        for entry in line.arrivals.values():
            ticket = entry.ticket
            waiting.append(
                [
                    ticket.id,
                    ticket.user_id,
                    name,
                    ticket.service_s,
                    entry.enqueued_at,
                    entry.deadline,
                    entry.seq,
                ]
            )
    running = [
        [r.ticket.id, r.ticket.user_id, r.ticket.tier, r.ticket.service_s, r.holding.ends_by]
        for r in queue._running.values()
    ]
    return {
        "version": STATE_VERSION,
        "vtime": queue._vtime,
        "seq": next_seq,
        "decayed_at": queue._decayed_at,
        "lines": lines,
        "waiting": waiting,
        "running": running,
    }


def import_queue(
    state: QueueState | None,
    tiers: Mapping[str, Tier],
    *,
    slots: int,
    active: ActiveCounts | None = None,
    load_window_s: float = 60.0,
) -> FairQueue:
    """A queue in the given state (a new, empty one for None).

    `active` must already count every running request of the user, in this queue and in any
    other sharing the per-user limit; the requests running here are not added to it again.
    Requests of tiers that are no longer configured are dropped.
    """
    queue = FairQueue(tiers, slots=slots, active=active, load_window_s=load_window_s)
    if state is None:
        return queue
    try:
        _restore(queue, state)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise QueueStateError(f"the stored queue state cannot be read: {error!r}") from None
    return queue


def running_users(state: QueueState | None) -> list[str]:
    """The user of each running request in `state` (for counting the per-user limit)."""
    if state is None:
        return []
    return [str(item[1]) for item in state.get("running", [])]


def _restore(queue: FairQueue, state: QueueState) -> None:
    if state.get("version") != STATE_VERSION:
        raise QueueStateError(f"queue state version {state.get('version')!r} is not supported")
    queue._vtime = float(state["vtime"])
    queue._seq = count(int(state["seq"]))
    decayed = state["decayed_at"]
    queue._decayed_at = None if decayed is None else float(decayed)
    lines: dict[str, _Line] = queue._lines
    stored_lines: Mapping[str, Any] = state["lines"]
    by_user: dict[str, dict[str, deque[_Waiting]]] = {name: {} for name in lines}
    for name, stored in stored_lines.items():
        line = lines.get(name)
        if line is None:
            continue
        line.finish_tag = float(stored["finish_tag"])
        line.dispatched_s = float(stored["dispatched_s"])
        for user in stored["users"]:
            by_user[name][str(user)] = deque()
    waiting_s = 0.0
    for ticket_id, user, tier, service_s, enqueued_at, deadline, seq in state["waiting"]:
        line = lines.get(tier)
        if line is None:
            continue
        ticket = Ticket(str(ticket_id), str(user), str(tier), float(service_s))
        entry = _Waiting(ticket, line, float(enqueued_at), float(deadline), int(seq))
        queue._entries[ticket.id] = entry
        line.arrivals[ticket.id] = entry
        by_user[tier].setdefault(ticket.user_id, deque()).append(entry)
        waiting_s += ticket.service_s
    for name, users in by_user.items():
        lines[name].users = {user: mine for user, mine in users.items() if mine}
    queue._waiting_s = waiting_s
    for ticket_id, user, tier, service_s, ends_by in state["running"]:
        line = lines.get(tier)
        if line is None:
            continue
        ticket = Ticket(str(ticket_id), str(user), str(tier), float(service_s))
        holding = Holding(float(ends_by), (("user", ticket.user_id), line.tier.name))
        queue._running[ticket.id] = _Running(ticket, line, holding)
        line.running += 1
