"""Degradation under load: how much a request may use, given its tier and how long the queue is.

The decision is made twice. At submit it picks the model (a rule may send the request to a
smaller model's backends) and a budget that is the ceiling for the request: the queue plans the
request's run time from it. At dispatch it is made again with the queue length of that moment,
and the tighter of the two wins, so a request never gets more than was planned for it but does
get less when the load rose while it waited. The caller assembles its prompt within the budget.
"""

from dataclasses import dataclass

from galatea.inference.scheduling.tiers import DegradationRule, Tier


@dataclass(frozen=True, slots=True)
class Budget:
    """What one generation may use; the prompt must fit in `max_context_tokens`."""

    model: str
    """The model whose backends serve the request."""
    max_context_tokens: int
    """Prompt plus reply must fit in this many tokens."""
    max_reply_tokens: int
    """Longest reply, in tokens."""
    degraded: bool = False
    """A load rule cut the tier's budget or changed the model."""

    @property
    def max_prompt_tokens(self) -> int:
        """Room left for the prompt once the reply's tokens are reserved."""
        return max(0, self.max_context_tokens - self.max_reply_tokens)

    def tighten(self, other: "Budget") -> "Budget":
        """The smaller of both budgets, on this budget's model."""
        return Budget(
            model=self.model,
            max_context_tokens=min(self.max_context_tokens, other.max_context_tokens),
            max_reply_tokens=min(self.max_reply_tokens, other.max_reply_tokens),
            degraded=self.degraded or other.degraded,
        )


def rule_for(tier: Tier, queue_length: int) -> DegradationRule | None:
    """The tier's rule in force when `queue_length` requests wait: the strongest one exceeded."""
    chosen = None
    for rule in tier.degradation:
        if queue_length > rule.queue_length:
            chosen = rule
    return chosen


def plan_budget(
    tier: Tier,
    model: str,
    queue_length: int,
    *,
    context_limit: int | None = None,
    switch_model: bool = True,
) -> Budget:
    """The budget for a request of `tier` on `model` while `queue_length` requests wait.

    `context_limit` is the backend's context window when known: the budget never exceeds it.
    With `switch_model` false (at dispatch, when the backends are already chosen) a rule's
    model is ignored and only its token cuts apply.
    """
    context = tier.max_context_tokens
    reply = tier.max_reply_tokens
    degraded = False
    rule = rule_for(tier, queue_length)
    if rule is not None:
        if rule.max_context_tokens is not None and rule.max_context_tokens < context:
            context, degraded = rule.max_context_tokens, True
        if rule.max_reply_tokens is not None and rule.max_reply_tokens < reply:
            reply, degraded = rule.max_reply_tokens, True
        if switch_model and rule.model is not None and rule.model != model:
            model, degraded = rule.model, True
    if context_limit is not None:
        context = min(context, context_limit)
    # A reply can never be longer than the whole context; keep the pair consistent.
    reply = min(reply, context)
    return Budget(model, context, reply, degraded)
