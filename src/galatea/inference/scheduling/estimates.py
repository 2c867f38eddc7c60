"""How long generations take on a model's backends: the run-time plans the queue works with."""

from dataclasses import dataclass


@dataclass(slots=True)
class ServiceEstimate:
    """Learns first-token and per-token times from finished generations; plans with a margin.

    The plan is meant as an upper estimate (the queue promises start times from it), hence the
    margin over the smoothed averages. Until something is measured the configured guesses hold.
    """

    first_token_s: float = 2.0
    """Seconds from start to the first token (prompt evaluation included)."""
    token_s: float = 0.1
    """Seconds per further token of one generation, at the load seen recently."""
    margin: float = 1.25
    """Plans are the averages times this."""
    smoothing: float = 0.2
    """Weight of each new measurement in the moving averages."""

    def __post_init__(self) -> None:
        if self.first_token_s < 0 or self.token_s <= 0:
            raise ValueError("first_token_s must be >= 0 and token_s > 0")
        if self.margin < 1 or not 0 < self.smoothing <= 1:
            raise ValueError("margin must be >= 1 and smoothing in (0, 1]")

    def planned_s(self, max_tokens: int) -> float:
        """Planned run time of a generation allowed `max_tokens` tokens."""
        return self.margin * (self.first_token_s + max(0, max_tokens - 1) * self.token_s)

    def observe(self, *, total_s: float, first_token_s: float | None, tokens: int) -> None:
        """Learn from a generation that produced `tokens` tokens in `total_s` seconds."""
        if tokens < 1 or total_s <= 0:
            return
        if first_token_s is None:
            self.token_s += self.smoothing * (total_s / tokens - self.token_s)
            return
        first = min(max(first_token_s, 0.0), total_s)
        self.first_token_s += self.smoothing * (first - self.first_token_s)
        if tokens > 1 and total_s > first:
            self.token_s += self.smoothing * ((total_s - first) / (tokens - 1) - self.token_s)
