"""Migrations: an empty database reaches the newest revision, matches the tables in code,
and an SQLite file is backed up before an upgrade changes it."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect

from galatea.core.users import User
from galatea.storage import schema
from galatea.storage.db import Database, sqlite_url
from galatea.storage.tables import Base
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import START


async def _table_names(url: str) -> set[str]:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await database.dispose()
    return set(names)


async def test_an_empty_database_is_migrated_to_the_newest_revision(
    empty_database_url: str,
) -> None:
    assert await schema.current_revision(empty_database_url) is None
    await schema.upgrade(empty_database_url)
    assert await schema.current_revision(empty_database_url) == schema.head_revision()
    assert await _table_names(empty_database_url) == {
        *Base.metadata.tables,
        "alembic_version",
    }


async def test_the_migrations_build_exactly_the_tables_in_code(empty_database_url: str) -> None:
    await schema.upgrade(empty_database_url)
    assert await schema.drift(empty_database_url) is None


async def test_drift_is_reported_when_tables_and_migrations_differ(
    empty_database_url: str,
) -> None:
    await schema.upgrade(empty_database_url)
    await schema.downgrade(empty_database_url, "base")
    await schema.stamp(empty_database_url, "head")
    report = await schema.drift(empty_database_url)
    assert report is not None
    assert "add_table" in report


async def test_data_survives_an_upgrade_that_has_nothing_to_do(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with SqlUnitOfWorkFactory(database)() as uow:
            await uow.users.add(User(id="u1", username="kept", created_at=START), "hash")
            await uow.commit()
        await schema.upgrade(database_url)
        async with SqlUnitOfWorkFactory(database)(write=False) as uow:
            kept = await uow.users.get("u1")
    finally:
        await database.dispose()
    assert kept is not None
    assert kept.username == "kept"


async def test_downgrade_to_base_then_upgrade_rebuilds_the_schema(
    empty_database_url: str,
) -> None:
    await schema.upgrade(empty_database_url)
    await schema.downgrade(empty_database_url, "base")
    assert await _table_names(empty_database_url) == {"alembic_version"}
    await schema.upgrade(empty_database_url)
    assert await schema.drift(empty_database_url) is None


async def test_ensure_current_names_the_command_that_fixes_an_old_schema(
    empty_database_url: str,
) -> None:
    with pytest.raises(schema.SchemaError, match="run `galatea db upgrade`"):
        await schema.ensure_current(empty_database_url)
    await schema.upgrade(empty_database_url)
    await schema.ensure_current(empty_database_url)


async def test_an_sqlite_backup_is_a_consistent_readable_copy(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "galatea.db")
    await schema.upgrade(url)
    database = Database(url)
    try:
        async with SqlUnitOfWorkFactory(database)() as uow:
            await uow.users.add(User(id="u1", username="kept", created_at=START), "hash")
            await uow.commit()
        # Taken while the database is open (and its WAL holds the last commit).
        backup = await schema.backup_sqlite(url, tmp_path / "backups", label="abc123")
    finally:
        await database.dispose()
    assert backup.parent == tmp_path / "backups"
    assert "abc123" in backup.name
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT username FROM users").fetchall() == [("kept",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [(None, "head1", False), ("head1", "head1", False), ("old1", "head1", True)],
)
def test_only_upgrades_of_a_schema_holding_data_take_a_backup(
    current: str | None, target: str, expected: bool
) -> None:
    assert schema.needs_backup(current, target) is expected


async def test_an_upgrade_at_head_takes_no_backup(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "galatea.db")
    await schema.upgrade(url, backup_dir=tmp_path / "backups")
    await schema.upgrade(url, backup_dir=tmp_path / "backups")
    assert not (tmp_path / "backups").exists()
