"""Fair scheduling of generations: tiers, the `FairQueue` policy and the `Scheduler` driver."""

from galatea.inference.scheduling.backlog import Backlog, MemoryBacklog
from galatea.inference.scheduling.degradation import Budget, plan_budget
from galatea.inference.scheduling.errors import ModelNotAllowed, QueueFull, QueueTimeout
from galatea.inference.scheduling.events import JobEvent, Queued, Started
from galatea.inference.scheduling.jobs import Job, RequestBuilder
from galatea.inference.scheduling.queues import ActiveCounts, FairQueue, Ticket
from galatea.inference.scheduling.routing import Replica, Router
from galatea.inference.scheduling.scheduler import ModelPool, Scheduler, SchedulerConfig
from galatea.inference.scheduling.tiers import (
    DegradationRule,
    Tier,
    TierConfigError,
    TierTable,
    UnknownTier,
    default_tiers,
)

__all__ = [
    "ActiveCounts",
    "Backlog",
    "Budget",
    "DegradationRule",
    "FairQueue",
    "Job",
    "JobEvent",
    "MemoryBacklog",
    "ModelNotAllowed",
    "ModelPool",
    "QueueFull",
    "QueueTimeout",
    "Queued",
    "Replica",
    "RequestBuilder",
    "Router",
    "Scheduler",
    "SchedulerConfig",
    "Started",
    "Ticket",
    "Tier",
    "TierConfigError",
    "TierTable",
    "UnknownTier",
    "default_tiers",
    "plan_budget",
]
