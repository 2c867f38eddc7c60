"""`galatea db`: upgrade, current and check, on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from galatea.cli.main import app
from galatea.storage import schema

runner = CliRunner()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, empty_database_url: str) -> str:
    monkeypatch.setenv("GALATEA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GALATEA_DATABASE_URL", empty_database_url)
    return empty_database_url


def test_upgrade_current_and_check(configured: str) -> None:
    head = schema.head_revision()
    behind = runner.invoke(app, ["db", "current"])
    assert behind.exit_code == 1
    assert "none (empty database)" in behind.output
    assert "galatea db upgrade" in behind.output

    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"upgraded from an empty database to revision {head}" in first.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert f"up to date at revision {head}" in again.output

    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0
    assert f"database revision: {head}" in current.output
    check = runner.invoke(app, ["db", "check"])
    assert check.exit_code == 0
    assert "tables and migrations match" in check.output


def test_check_on_an_old_schema_says_what_to_run(configured: str) -> None:
    result = runner.invoke(app, ["db", "check"])
    assert result.exit_code == 1
    assert "run `galatea db upgrade`" in result.output


def test_the_default_sqlite_file_lives_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GALATEA_DATABASE_URL", raising=False)
    monkeypatch.setenv("GALATEA_DATA_DIR", str(tmp_path / "data"))
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 1
    assert not (tmp_path / "data").exists()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "data" / "galatea.db").is_file()


def test_an_unusable_url_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALATEA_DATABASE_URL", "mysql://root@localhost/galatea")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: GALATEA_DATABASE_URL: database URL names 'mysql'; Galatea supports sqlite and "
        "postgresql"
    ]
