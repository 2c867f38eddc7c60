"""The composition root: nothing happens until start(); SQLite migrates itself, PostgreSQL
must be upgraded on purpose."""

from pathlib import Path

import pytest

from galatea.bootstrap import StartupError, build_services, database_url
from galatea.config import Settings
from galatea.storage import schema


def test_building_services_touches_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    services = build_services(settings)
    assert not (tmp_path / "data").exists()
    assert database_url(settings).endswith(str(tmp_path / "data" / "galatea.db"))
    assert services.accounts.policy.signup_open


async def test_starting_creates_and_migrates_the_embedded_database(tmp_path: Path) -> None:
    services = build_services(Settings(data_dir=tmp_path / "data"))
    try:
        await services.start()
        await services.start()
        assert not await services.accounts.has_admin()
    finally:
        await services.close()
    url = database_url(Settings(data_dir=tmp_path / "data"))
    assert await schema.current_revision(url) == schema.head_revision()


async def test_an_unmigrated_postgresql_database_stops_the_start_with_advice(
    empty_database_url: str, tmp_path: Path
) -> None:
    services = build_services(Settings(database_url=empty_database_url, data_dir=tmp_path))
    try:
        if empty_database_url.startswith("sqlite"):
            await services.start()
            return
        with pytest.raises(StartupError, match="run `galatea db upgrade`"):
            await services.start()
    finally:
        await services.close()


def test_a_bad_database_url_is_a_startup_error() -> None:
    with pytest.raises(StartupError, match="GALATEA_DATABASE_URL"):
        build_services(Settings(database_url="oracle://x/y"))


def test_settings_reach_the_services(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "data_dir": tmp_path,
            "accounts": {"signup_open": False, "min_password_length": 12, "session_idle_hours": 2},
        }
    )
    services = build_services(settings)
    assert not services.accounts.policy.signup_open
    assert services.accounts.policy.min_password_length == 12
    assert services.sessions.policy.idle_timeout.total_seconds() == 7200
