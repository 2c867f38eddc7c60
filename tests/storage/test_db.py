"""Engines and units of work: SQLite settings, serialised writers, read-only transactions."""

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from galatea.core.users import User
from galatea.storage.db import Database, DatabaseUrlError, normalise_url, sqlite_url
from galatea.storage.unit_of_work import ReadOnlyUnitOfWork, SqlUnitOfWorkFactory
from tests.conftest import START


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_get_the_asyncio_driver(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://u@h/db", "supports sqlite and postgresql"),
        ("postgresql+psycopg2://u@h/db", "not supported"),
        ("sqlite://", "in-memory"),
        ("not a url", "cannot be parsed"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(url: str, complaint: str) -> None:
    with pytest.raises(DatabaseUrlError, match=complaint):
        normalise_url(url)


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "x.db"), busy_timeout_ms=1234)
    try:
        async with database.session(write=False) as session:
            pragmas = {
                name: (await session.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        await database.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 1234,
        "synchronous": 2,
    }


async def _increment(factory: SqlUnitOfWorkFactory, user_id: str) -> None:
    # Read, yield to other writers, then write: the pattern that fails under a deferred BEGIN.
    async with factory() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        await asyncio.sleep(0)
        tier = str(int(user.tier) + 1)
        await uow.users.update(User(**{**_fields(user), "tier": tier}))
        await uow.commit()


def _fields(user: User) -> dict[str, object]:
    return {name: getattr(user, name) for name in User.__slots__}


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "galatea.db"
    shutil.copyfile(sqlite_template, path)
    return path


async def test_concurrent_sqlite_writers_from_two_engines_never_see_database_is_locked(
    sqlite_file: Path,
) -> None:
    first, second = Database(sqlite_url(sqlite_file)), Database(sqlite_url(sqlite_file))
    try:
        factories = [SqlUnitOfWorkFactory(first), SqlUnitOfWorkFactory(second)]
        async with factories[0]() as uow:
            await uow.users.add(User(id="u1", username="counter", created_at=START, tier="0"), "h")
            await uow.commit()
        await asyncio.gather(*(_increment(factories[i % 2], "u1") for i in range(40)))
        async with factories[1](write=False) as uow:
            user = await uow.users.get("u1")
    finally:
        await first.dispose()
        await second.dispose()
    assert user is not None
    assert user.tier == "40"


async def test_a_reading_unit_of_work_cannot_commit(uow: SqlUnitOfWorkFactory) -> None:
    async with uow(write=False) as work:
        with pytest.raises(ReadOnlyUnitOfWork):
            await work.commit()


async def test_changes_without_commit_are_rolled_back(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as work:
        await work.users.add(User(id="u1", username="ghost", created_at=START), "h")
    async with uow(write=False) as work:
        assert await work.users.get("u1") is None


async def test_an_error_inside_the_unit_of_work_rolls_back(uow: SqlUnitOfWorkFactory) -> None:
    async def fail_half_way() -> None:
        async with uow() as work:
            await work.users.add(User(id="u1", username="ghost", created_at=START), "h")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_half_way()
    async with uow(write=False) as work:
        assert await work.users.get("u1") is None


async def test_a_reading_unit_of_work_cannot_write_on_postgresql(
    database_url: str, uow: SqlUnitOfWorkFactory
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no read-only transactions; commit() is refused instead")
    async with uow(write=False) as work:
        with pytest.raises(Exception, match="read-only transaction"):
            await work.users.add(User(id="u1", username="sneaky", created_at=START), "h")


async def test_optimize_gives_the_sqlite_planner_statistics(
    database: Database, uow: SqlUnitOfWorkFactory
) -> None:
    async with uow() as work:
        await work.users.add(User(id="u1", username="alice", created_at=START), "h")
        await work.commit()
    await database.optimize()
    if not database.is_sqlite:
        return
    async with database.session(write=False) as session:
        tables = {row[0] for row in await session.execute(text("SELECT tbl FROM sqlite_stat1"))}
    assert "users" in tables
