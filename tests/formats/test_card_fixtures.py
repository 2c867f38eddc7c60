"""The committed card fixtures are exactly what tests/formats/make_fixtures.py builds."""

import pytest

from tests.formats.make_fixtures import FIXTURES, SMALL_FIXTURES


@pytest.mark.parametrize("name", sorted(SMALL_FIXTURES))
def test_committed_fixture_matches_its_builder(name: str) -> None:
    assert (FIXTURES / name).read_bytes() == SMALL_FIXTURES[name](), (
        f"{name} is stale: run .venv/bin/python -m tests.formats.make_fixtures"
    )


def test_no_stray_files_in_the_fixture_folder() -> None:
    assert {path.name for path in FIXTURES.iterdir()} == set(SMALL_FIXTURES)
