"""Column types that behave the same on SQLite and PostgreSQL."""

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String, Text
from sqlalchemy.types import TypeDecorator

REPLACEMENT_CHARACTER = "\ufffd"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    SQLite has no time zones: values are stored as naive UTC text (which sorts in time order)
    and come back aware, so code never compares naive and aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC time")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SafeText(TypeDecorator[str]):
    """Text that every database accepts: NUL becomes U+FFFD, and so does a lone surrogate.

    PostgreSQL text cannot hold NUL, and neither driver can encode a lone surrogate (which
    JSON input such as a card's "\\ud800" can produce). User input is refused earlier with a
    clear message; this only keeps a stray character from failing a whole write.
    """

    impl: type[String] = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, _dialect: Dialect) -> str | None:
        """Replace characters no database can store."""
        if value is None:
            return None
        return storable_text(value)

    def process_result_value(self, value: str | None, _dialect: Dialect) -> str | None:
        """Return the text as stored."""
        return value


class SafeString(SafeText):
    """`SafeText` with a length limit (VARCHAR)."""

    impl = String
    cache_ok = True


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """The text with NUL and unpaired surrogates replaced by U+FFFD (paired ones joined)."""
    if _UNSTORABLE.search(value) is None:
        return value
    joined = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return joined.replace("\x00", REPLACEMENT_CHARACTER)


def dump_json(value: Any) -> str:
    """Serialise JSON for storage: ASCII-escaped (lone surrogates survive), no NaN."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
