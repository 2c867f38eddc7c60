"""Events a scheduled job adds before the backend's own: its place in line, then its start."""

from dataclasses import dataclass

from galatea.inference.backend import Finished, TextDelta
from galatea.inference.scheduling.degradation import Budget


@dataclass(frozen=True, slots=True)
class Queued:
    """The request waits; `position` 1 is next. Sent again whenever the position changes."""

    position: int


@dataclass(frozen=True, slots=True)
class Started:
    """The request left the queue and runs on `backend` within `budget`."""

    budget: Budget
    backend: str
    """Name of the backend (replica) that serves it."""
    waited_s: float
    """Seconds it spent in the queue."""


JobEvent = Queued | Started | TextDelta | Finished
"""What a `Job` yields: `Queued` updates, one `Started`, text deltas, then one `Finished`.
A job that never starts (cancelled, timed out, shut down) ends with `Finished` right away."""
