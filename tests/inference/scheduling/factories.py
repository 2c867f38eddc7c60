"""Builders for scheduling tests: tiers with generous defaults, tickets, tables."""

from galatea.inference.scheduling import DegradationRule, Ticket, Tier, TierTable


def make_tier(
    name: str = "free",
    *,
    weight: float = 1.0,
    bound: float = 80_000.0,
    cap: int = 10_000,
    per_user: int = 10_000,
    concurrency: int = 10_000,
    share: float = 1.0,
    max_context: int = 4096,
    max_reply: int = 300,
    models: tuple[str, ...] = (),
    degradation: tuple[DegradationRule, ...] = (),
) -> Tier:
    """A tier whose limits stay out of the way unless a test sets them."""
    return Tier(
        name=name,
        weight=weight,
        max_context_tokens=max_context,
        max_reply_tokens=max_reply,
        messages_per_day=None,
        concurrency=concurrency,
        queue_cap=cap,
        queued_per_user=per_user,
        ageing_bound_s=bound,
        slot_share=share,
        models=models,
        degradation=degradation,
    )


def make_tiers(*tiers: Tier) -> TierTable:
    """A table of the given tiers."""
    return TierTable(tiers)


def ticket(ticket_id: str, user: str = "ann", tier: str = "free", service: float = 1.0) -> Ticket:
    """A ticket for `user` in `tier`."""
    return Ticket(ticket_id, user, tier, service)
