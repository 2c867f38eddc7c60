"""`galatea bench`: run the benchmarks kept in the source tree's `benchmarks/` and print figures.

A benchmark is a function in a `benchmarks.<name>` module returning a list of figures, each a
dict `{"name", "value", "baseline", "ratio", "unit"}` (ratio may be missing or None). Register it
in `BENCHMARKS` and give it a sub-command calling `run_benchmark`; `galatea bench all` runs
every registered one. Benchmarks live beside the sources, not in the installed package, so they
run from a checkout (`make bench`).
"""

import importlib
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import typer

from galatea.config import Settings

Figure = dict[str, Any]
BenchmarkFunction = Callable[..., list[Figure]]

BENCHMARKS: dict[str, str] = {
    "cards": "benchmarks.cards:run",
    "engine": "benchmarks.engine:run",
    "fairness": "benchmarks.fairness:run",
    "platform": "benchmarks.platform:run",
    "prompting": "benchmarks.prompting:run",
    "shared-state": "benchmarks.shared_state:run",
    "web": "benchmarks.web:run",
}
"""Benchmark name -> "module:function" returning its figures."""

app = typer.Typer(
    name="bench",
    help="Measure Galatea against baselines from the same run.",
    no_args_is_help=True,
)

JsonOption = typer.Option(
    False, "--json", help="Print one JSON list of figures instead of a table."
)


def load_benchmark(name: str) -> BenchmarkFunction:
    """The function of a registered benchmark, importing `benchmarks/` from the checkout."""
    target = BENCHMARKS.get(name)
    if target is None:
        known = ", ".join(sorted(BENCHMARKS))
        raise typer.BadParameter(f"unknown benchmark {name!r} (known: {known})")
    module_name, function_name = target.split(":")
    _make_benchmarks_importable()
    module = importlib.import_module(module_name)
    return cast(BenchmarkFunction, getattr(module, function_name))


def _make_benchmarks_importable() -> None:
    try:
        importlib.import_module("benchmarks")
    except ModuleNotFoundError:
        # An editable install puts src/ on the path, not the checkout root holding benchmarks/.
        root = Path(__file__).resolve().parents[3]
        if not (root / "benchmarks" / "__init__.py").is_file():
            raise typer.BadParameter(
                "benchmarks run from a source checkout: no benchmarks/ package next to src/"
            ) from None
        sys.path.insert(0, str(root))


def format_figures(figures: list[Figure]) -> str:
    """A plain-text table of figures, one per line."""
    rows = [("figure", "value", "baseline", "ratio", "unit")]
    for figure in figures:
        ratio = figure.get("ratio")
        rows.append(
            (
                str(figure["name"]),
                _number(figure.get("value")),
                _number(figure.get("baseline")),
                "" if ratio is None else f"{ratio:.3f}",
                str(figure.get("unit", "")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _number(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def run_benchmark(names: list[str], *, as_json: bool, **options: Any) -> None:
    """Run benchmarks by name and print their figures (a table each, or one JSON list)."""
    collected: list[Figure] = []
    for name in names:
        function = load_benchmark(name)
        if not as_json:
            typer.echo(f"== {name}", err=True)
        accepted = inspect.signature(function).parameters
        figures = function(**{key: value for key, value in options.items() if key in accepted})
        collected.extend(figures)
        if not as_json:
            typer.echo(format_figures(figures))
    if as_json:
        typer.echo(json.dumps(collected))


@app.command("cards")
def cards(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(False, "--quick", help="Three imports per card instead of nine."),
) -> None:
    """Importing a 3 MB PNG card (large lorebook, large avatar) against reading its JSON."""
    run_benchmark(["cards"], as_json=as_json, quick=quick)


@app.command("engine")
def engine(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(
        False, "--quick", help="Small sizes: checks the benchmark runs, figures mean little."
    ),
) -> None:
    """The embedded llama.cpp engine: batching, KV reuse and trimming against bare baselines."""
    run_benchmark(["engine"], as_json=as_json, quick=quick, data_dir=_data_dir())


@app.command("fairness")
def fairness(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(False, "--quick", help="Four simulated minutes instead of fifteen."),
) -> None:
    """Tiers under twice a backend's capacity (virtual clock): waits, 429s, fairness."""
    run_benchmark(["fairness"], as_json=as_json, quick=quick)


@app.command("prompting")
def prompting(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(False, "--quick", help="A 120-message chat instead of 500."),
) -> None:
    """Prompt assembly for a 500-message chat, and how much of each prompt the KV cache keeps."""
    run_benchmark(["prompting"], as_json=as_json, quick=quick)


@app.command("web")
def web(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(False, "--quick", help="1,000 characters instead of 10,000."),
) -> None:
    """Server time per request of the character library with 10,000 characters (SQLite)."""
    run_benchmark(["web"], as_json=as_json, quick=quick)


@app.command("platform")
def platform(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(False, "--quick", help="20 messages instead of 200."),
) -> None:
    """Time to first token through the chat API with an instant backend, against the backend."""
    run_benchmark(["platform"], as_json=as_json, quick=quick)


@app.command("shared-state")
def shared_state(
    as_json: bool = JsonOption,
    quick: bool = typer.Option(False, "--quick", help="100 rounds per figure instead of 400."),
) -> None:
    """The fair queue, quotas and reply streams through Redis, against their in-process twins."""
    run_benchmark(["shared-state"], as_json=as_json, quick=quick, redis_url=Settings().redis_url)


@app.command("all")
def run_all(as_json: bool = JsonOption) -> None:
    """Every registered benchmark, one after another."""
    run_benchmark(list(BENCHMARKS), as_json=as_json, data_dir=_data_dir())


def _data_dir() -> Path:
    """The configured data directory: the engine benchmark caches re-packed weights there."""
    return Settings().data_dir
