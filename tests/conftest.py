"""Shared fixtures: databases (SQLite and PostgreSQL), a movable clock, wired services.

`database_url` is parametrised: every test that uses it runs once on SQLite (a fresh file
copied from a template migrated once per session) and once on PostgreSQL when
GALATEA_TEST_POSTGRES_URL names a server (a database created for the test session, emptied
before each test and dropped at the end). Without that variable the PostgreSQL run is
skipped with a reason, or fails when GALATEA_TEST_REQUIRE_SERVICES=1 (as in CI).
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.services.passwords import Argon2PasswordHasher
from galatea.storage import schema
from galatea.storage.db import Database, normalise_url, sqlite_url
from galatea.storage.tables import Base
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory

POSTGRES_ENV = "GALATEA_TEST_POSTGRES_URL"
REDIS_ENV = "GALATEA_TEST_REDIS_URL"
REQUIRE_ENV = "GALATEA_TEST_REQUIRE_SERVICES"
START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def missing_service(variable: str) -> NoReturn:
    """Skip (or, when services are required, fail) a test whose server is not configured."""
    message = f"{variable} is not set, so there is no server to test against"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} (and {REQUIRE_ENV}=1 requires it)")
    pytest.skip(message)


class FakeClock:
    """A clock that stands still until moved."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        """The fixed current time."""
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move time forward, e.g. `advance(minutes=5)`."""
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    """A clock tests can move."""
    return FakeClock()


@pytest.fixture(scope="session")
def password_hasher() -> Argon2PasswordHasher:
    """Real argon2id with tiny costs, so tests stay fast."""
    return Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the newest revision, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "galatea.db"
    asyncio.run(schema.upgrade(sqlite_url(path)))
    return path


async def _admin_execute(server_url: str, statement: str) -> None:
    engine = create_async_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server URL from the environment (skips or fails without one)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        missing_service(REDIS_ENV)
    return url


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server URL from the environment (skips or fails without one)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        missing_service(POSTGRES_ENV)
    return url


def create_postgres_database(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    name = f"galatea_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_execute(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, url: str) -> None:
    """Drop a database made by `create_postgres_database`."""
    name = make_url(url).database
    asyncio.run(_admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A database for this test session, migrated once and dropped at the end."""
    url = create_postgres_database(postgres_server)
    try:
        asyncio.run(schema.upgrade(url))
        yield url
    finally:
        drop_postgres_database(postgres_server, url)


async def _empty_postgres(url: str) -> None:
    # DELETE, not TRUNCATE: on a few rows it is far quicker (no new files, no fsync per table).
    engine = create_async_engine(normalise_url(url))
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
    finally:
        await engine.dispose()


# Synchronous on purpose: the session fixtures it may pull in run their own event loop, which
# cannot start inside a test's running loop.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest revision holding no rows, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "galatea.db"
        shutil.copyfile(template, path)
        return sqlite_url(path)
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_empty_postgres(url))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any table (for migration tests), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "empty.db")
        return
    server: str = request.getfixturevalue("postgres_server")
    url = create_postgres_database(server)
    try:
        yield url
    finally:
        drop_postgres_database(server, url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The storage handle on `database_url`, disposed after the test."""
    handle = Database(database_url)
    try:
        yield handle
    finally:
        await handle.dispose()


@pytest.fixture
def uow(database: Database) -> SqlUnitOfWorkFactory:
    """Units of work on the test database."""
    return SqlUnitOfWorkFactory(database)


@pytest.fixture
async def services(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    password_hasher: Argon2PasswordHasher,
) -> AsyncIterator[Services]:
    """Every service wired by bootstrap on the test database, with the fake clock."""
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    wired = build_services(settings, clock=clock, hasher=password_hasher)
    await wired.start()
    try:
        yield wired
    finally:
        await wired.close()
