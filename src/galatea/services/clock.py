"""The real clock (tests pass their own `Clock`)."""

from datetime import UTC, datetime


class SystemClock:
    """The computer's clock, in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)
