"""Settings of the chat services under test; a module overrides `services_settings` to change
them (tiers, draft timing) and keeps `chat_setup.chat_services` as it is."""

from pathlib import Path

import pytest

from galatea.config import Settings


@pytest.fixture
def services_settings(database_url: str, tmp_path: Path) -> Settings:
    """The test database and a fresh data directory, everything else by default."""
    return Settings(database_url=database_url, data_dir=tmp_path / "data")
