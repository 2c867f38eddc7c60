"""`galatea bench`: the registry of benchmarks, the table and the JSON output."""

import json
import sys
import types
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from galatea.cli import bench
from galatea.cli.main import app

FIGURES = [
    {"name": "speed_vs_baseline", "value": 2.5, "baseline": 1.25, "ratio": 2.0, "unit": "tok/s"},
    {"name": "waits", "value": 0.5, "baseline": 1.0, "unit": "s"},
]
CALLS: list[dict[str, Any]] = []


def fake_run(*, quick: bool = False) -> list[dict[str, Any]]:
    """A registered benchmark that records how it was called."""
    CALLS.append({"quick": quick})
    return FIGURES


@pytest.fixture
def fake_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fake_galatea_bench")
    module.run = fake_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_galatea_bench", module)
    monkeypatch.setattr(bench, "BENCHMARKS", {"fake": "fake_galatea_bench:run"})
    CALLS.clear()


def test_json_output_is_one_list_of_figures(fake_benchmark: None) -> None:
    result = CliRunner().invoke(app, ["bench", "all", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures == FIGURES
    # Options a benchmark does not take (data_dir) are not passed to it.
    assert CALLS == [{"quick": False}]


def test_the_table_lists_every_figure(fake_benchmark: None) -> None:
    result = CliRunner().invoke(app, ["bench", "all"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["figure", "value", "baseline", "ratio", "unit"]
    assert lines[1].split() == ["speed_vs_baseline", "2.5", "1.25", "2.000", "tok/s"]
    assert lines[2].split() == ["waits", "0.5", "1", "s"]  # no ratio given


def test_an_unknown_benchmark_is_named() -> None:
    with pytest.raises(typer.BadParameter, match="unknown benchmark 'nope'"):
        bench.load_benchmark("nope")


def test_the_engine_benchmark_is_registered_and_importable() -> None:
    function = bench.load_benchmark("engine")
    assert callable(function)
    assert "quick" in function.__code__.co_varnames
