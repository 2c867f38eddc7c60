"""Billing events: what a payment provider tells us about a user's plan, once verified."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True, frozen=True)
class BillingEvent:
    """A verified payment event that moves a user to a tier."""

    id: str
    """The provider's event id; an id is applied at most once."""
    kind: str
    """The event type, e.g. `tier.changed`."""
    user_id: str
    tier: str
    """The tier the user is on after the event."""
    occurred_at: datetime
    """When the provider signed it; a user's older events never undo newer ones."""
