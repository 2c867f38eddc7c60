"""Engines: backends opened once on first need (or at start), pooled by model, closed at the end."""

import asyncio

import pytest

from galatea.inference.backend import GenerationRequest, TextBackend, TextDelta
from galatea.inference.errors import BackendUnavailable
from galatea.inference.scheduling import default_tiers
from galatea.inference.scripted import ScriptedBackend
from galatea.services.engines import BackendSource, Engines


class Opener:
    """A backend factory that counts its calls and can fail on demand."""

    def __init__(self, backend: ScriptedBackend, *, failures: int = 0) -> None:
        self.backend = backend
        self.calls = 0
        self.failures = failures

    def __call__(self) -> TextBackend:
        self.calls += 1
        if self.calls <= self.failures:
            raise FileNotFoundError("no model at /models/missing.gguf")
        return self.backend


async def test_backends_open_once_on_first_need_even_when_asked_at_once() -> None:
    opener = Opener(ScriptedBackend())
    engines = Engines([BackendSource("a", "default", 2, opener)], default_tiers())
    await engines.start()
    assert opener.calls == 0
    first, second = await asyncio.gather(engines.ready(), engines.ready())
    assert first is second
    assert opener.calls == 1
    await engines.close()


async def test_preloading_opens_at_start_and_a_failure_is_reported_then_retried() -> None:
    opener = Opener(ScriptedBackend(), failures=1)
    engines = Engines([BackendSource("a", "default", 2, opener)], default_tiers())
    with pytest.raises(BackendUnavailable, match=r"missing\.gguf"):
        await engines.start(preload=True)
    running = await engines.ready()
    assert running.backends == [opener.backend]
    await engines.close()


async def test_warming_up_opens_in_the_background() -> None:
    opener = Opener(ScriptedBackend())
    engines = Engines([BackendSource("a", "default", 2, opener)], default_tiers())
    engines.warm_up()
    for _ in range(100):
        if engines.running is not None:
            break
        await asyncio.sleep(0.01)
    assert engines.running is not None
    assert opener.calls == 1
    await engines.close()


async def test_backends_of_one_pool_are_replicas_and_pools_get_their_own_builder() -> None:
    small, big_one, big_two = (ScriptedBackend(model_name=n) for n in ("s", "b1", "b2"))
    engines = Engines(
        [
            BackendSource("big-1", "big", 1, lambda: big_one),
            BackendSource("big-2", "big", 1, lambda: big_two),
            BackendSource("small", "small", 1, lambda: small),
        ],
        default_tiers(),
    )
    running = await engines.ready()
    assert running.scheduler.models == ["big", "small"]
    assert set(running.builders) == {"big", "small"}
    jobs = [
        await running.scheduler.submit(
            GenerationRequest(prompt="hi", max_tokens=4), user_id=f"u{i}", tier="pro"
        )
        for i in range(2)
    ]
    for job in jobs:
        assert [e for e in [event async for event in job] if isinstance(e, TextDelta)]
    # Both replicas of the first (default) pool took one request each.
    assert (len(big_one.requests), len(big_two.requests), len(small.requests)) == (1, 1, 0)
    with pytest.raises(BackendUnavailable):
        running.builder("unknown")
    await engines.close()


async def test_closing_closes_every_backend_and_refuses_new_work() -> None:
    backend = ScriptedBackend()
    engines = Engines([BackendSource("a", "default", 1, lambda: backend)], default_tiers())
    await engines.ready()
    await engines.close()
    assert backend._closed
    with pytest.raises(BackendUnavailable, match="shutting down"):
        await engines.ready()


def test_backend_names_must_differ() -> None:
    source = BackendSource("same", "default", 1, ScriptedBackend)
    with pytest.raises(ValueError, match="distinct"):
        Engines([source, source], default_tiers())
    with pytest.raises(ValueError, match="at least one"):
        Engines([], default_tiers())
