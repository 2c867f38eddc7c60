"""Engines and sessions: SQLite (embedded default) or PostgreSQL, through SQLAlchemy's asyncio API.

SQLite allows one writer at a time. A transaction that reads and then writes under SQLite's
default deferred BEGIN can fail at once with "database is locked" when another connection
wrote in between, whatever the busy timeout. So writes here take an in-process lock and
start with BEGIN IMMEDIATE (the busy timeout then covers other processes, such as the CLI),
while reads stay concurrent thanks to WAL.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from galatea.storage.columns import dump_json

SQLITE_BEGIN_OPTION = "galatea_sqlite_begin"
DEFAULT_BUSY_TIMEOUT_MS = 30_000
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class DatabaseUrlError(ValueError):
    """A database URL this program cannot use."""


def sqlite_url(path: Path) -> str:
    """The URL of an SQLite database file."""
    return f"sqlite+aiosqlite:///{path.resolve()}"


def normalise_url(url: str) -> URL:
    """Parse a database URL and pick the asyncio driver when none is named."""
    try:
        parsed = make_url(url)
    except Exception as error:  # SQLAlchemy raises several types for a malformed URL
        raise DatabaseUrlError(f"database URL {url!r} cannot be parsed: {error}") from None
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise DatabaseUrlError(
            f"database URL names {backend!r}; Galatea supports sqlite and postgresql"
        )
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    if parsed.drivername != _ASYNC_DRIVERS[backend]:
        raise DatabaseUrlError(
            f"database driver {parsed.drivername!r} is not supported; use {_ASYNC_DRIVERS[backend]}"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise DatabaseUrlError("an in-memory SQLite database cannot be shared; give a file path")
    return parsed


def make_engine(
    url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, foreign_keys: bool = True
) -> AsyncEngine:
    """An engine for the URL; SQLite connections get WAL, a busy timeout and foreign keys.

    `foreign_keys=False` is for migrations only: SQLite rebuilds a table to alter it, and
    dropping the old copy with foreign keys on would cascade into the rows that refer to it.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, json_serializer=dump_json, pool_pre_ping=True)
    engine = create_async_engine(parsed, json_serializer=dump_json)
    _configure_sqlite(engine, busy_timeout_ms, foreign_keys)
    return engine


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, foreign_keys: bool) -> None:
    pragmas = (
        "journal_mode=WAL",
        f"busy_timeout={int(busy_timeout_ms)}",
        f"foreign_keys={'ON' if foreign_keys else 'OFF'}",
        # FULL: a commit survives power loss, which an accepted chat message must.
        "synchronous=FULL",
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver so that writes can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One database: its engine, and for SQLite the lock that serialises writers."""

    def __init__(self, url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._write_lock = asyncio.Lock()

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when this is SQLite."""
        if not self.is_sqlite or self.url.database is None:
            return None
        return Path(self.url.database)

    @asynccontextmanager
    async def session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """A session for one transaction; with SQLite, writers take turns."""
        if not self.is_sqlite:
            # A read-only transaction makes PostgreSQL refuse a write from a reading use case.
            options = {} if write else {"postgresql_readonly": True}
            async with self._new_session(options) as session:
                yield session
            return
        if not write:
            async with self._new_session({}) as session:
                yield session
            return
        async with (
            self._write_lock,
            self._new_session({SQLITE_BEGIN_OPTION: "IMMEDIATE"}) as session,
        ):
            yield session

    def _new_session(self, options: dict[str, Any]) -> AsyncSession:
        # populate_existing: rows read again after an UPDATE in the same transaction must show
        # the new values, not the copies the session loaded before.
        return AsyncSession(
            self.engine,
            expire_on_commit=False,
            autoflush=False,
            execution_options={"populate_existing": True, **options},
        )

    async def optimize(self) -> None:
        """Refresh the query planner's statistics (SQLite; PostgreSQL's autovacuum does this).

        Without statistics SQLite picks poor plans for the library's filtered counts (tens of
        milliseconds instead of a few at 10,000 characters). The analysis limit keeps the
        work bounded on large databases: SQLite samples instead of reading every row.
        """
        if not self.is_sqlite:
            return
        async with self.session(write=True) as session:
            await session.execute(text("PRAGMA analysis_limit=1000"))
            await session.execute(text("ANALYZE"))
            await session.commit()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
