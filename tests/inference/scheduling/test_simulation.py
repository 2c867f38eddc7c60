"""The virtual-time loop and the fixed-throughput simulated backend."""

import asyncio
import time

import pytest

from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.scheduling.simulation import SimulatedBackend, run_in_virtual_time


def test_an_hour_of_sleeping_takes_no_real_time() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.perf_counter()
    assert run_in_virtual_time(main()) == pytest.approx(3600)
    assert time.perf_counter() - started < 1.0


def test_timeouts_fire_at_their_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(100)
        return loop.time()

    assert run_in_virtual_time(main()) == pytest.approx(5)


def test_waiting_on_something_that_can_never_happen_is_reported() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="simulation is stuck"):
        run_in_virtual_time(main())


async def _generate(backend: SimulatedBackend, tokens: int) -> tuple[float, int, Finished]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    words = 0
    async for event in backend.stream(GenerationRequest("hi there", max_tokens=tokens)):
        if isinstance(event, TextDelta):
            words += event.text.count("word")
        else:
            return loop.time() - started, words, event
    raise AssertionError("no Finished")


def test_one_generation_runs_at_the_full_throughput() -> None:
    backend = SimulatedBackend(tokens_per_s=100.0, first_token_s=0.5)
    elapsed, words, final = run_in_virtual_time(_generate(backend, 200))
    assert elapsed == pytest.approx(0.5 + 2.0)
    assert words == 200
    assert final.reason == "length" and final.usage.generated_tokens == 200
    assert final.usage.prompt_tokens == 2


def test_generations_running_together_share_the_throughput() -> None:
    backend = SimulatedBackend(tokens_per_s=100.0, chunk_tokens=10)

    async def main() -> list[float]:
        results = await asyncio.gather(_generate(backend, 100), _generate(backend, 300))
        return [elapsed for elapsed, _, _ in results]

    short, long = run_in_virtual_time(main())
    # Both at 50 tokens/s until the short one ends at 2 s; the long one then runs alone.
    assert short == pytest.approx(2.0)
    assert long == pytest.approx(2.0 + 200 / 100)
    assert backend.peak_streams == 2


def test_a_shorter_natural_reply_stops_before_max_tokens() -> None:
    backend = SimulatedBackend(tokens_per_s=100.0, reply_tokens=lambda request: 30)
    _, words, final = run_in_virtual_time(_generate(backend, 100))
    assert (words, final.reason) == (30, "stop")


def test_a_closed_backend_fails_its_streams() -> None:
    backend = SimulatedBackend(tokens_per_s=10.0)

    async def main() -> Finished:
        await backend.aclose()
        return (await _generate(backend, 5))[2]

    final = run_in_virtual_time(main())
    assert final.reason == "error" and final.error is not None
