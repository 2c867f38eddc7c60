from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def engine_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory shared by this session's terminal chats (the re-packed weights)."""
    return tmp_path_factory.mktemp("chat-data")
