"""Scheduler: jobs, places in line, backpressure, cancel, timeouts, budgets, models and routing.

Most scenarios run on the virtual clock: the scripted backend takes `token_delay` seconds per
word, so "a reply of three words" lasts exactly three seconds and timeouts fire on time.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from galatea.inference.backend import Finished, GenerationEvent, GenerationRequest, TextDelta
from galatea.inference.errors import (
    BackendTimeout,
    BackendUnavailable,
    RequestRejected,
    StreamInterrupted,
)
from galatea.inference.scheduling import (
    Budget,
    DegradationRule,
    Job,
    JobEvent,
    ModelNotAllowed,
    ModelPool,
    Queued,
    QueueFull,
    QueueTimeout,
    Replica,
    Scheduler,
    SchedulerConfig,
    Started,
    Tier,
    UnknownTier,
)
from galatea.inference.scheduling.simulation import run_in_virtual_time
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure
from tests.inference.scheduling.factories import make_tier, make_tiers

T = TypeVar("T")
THREE_WORDS = "one two three"


def virtual(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return run_in_virtual_time(scenario())


def scripted(reply: str = THREE_WORDS, delay: float = 1.0) -> ScriptedBackend:
    return ScriptedBackend(replies=(reply,), token_delay=delay)


def make_scheduler(
    *backends: ScriptedBackend,
    slots: int = 1,
    tiers: tuple[Tier, ...] = (),
    config: SchedulerConfig | None = None,
    model: str = "large",
) -> Scheduler:
    replicas = [Replica(f"b{n}", backend, slots) for n, backend in enumerate(backends)]
    pool = ModelPool(model, replicas, first_token_s=0.0, token_s=1.0)
    table = make_tiers(*(tiers or (make_tier("pro", weight=8.0), make_tier("free"))))
    return Scheduler([pool], table, config)


async def follow(job: Job) -> list[tuple[float, JobEvent]]:
    """Every event of `job` with the virtual time it arrived at."""
    loop = asyncio.get_running_loop()
    return [(loop.time(), event) async for event in job]


def kinds(events: list[tuple[float, JobEvent]]) -> list[str]:
    return [type(event).__name__ for _, event in events if not isinstance(event, TextDelta)]


def text(events: list[tuple[float, JobEvent]]) -> str:
    return "".join(event.text for _, event in events if isinstance(event, TextDelta))


def final(events: list[tuple[float, JobEvent]]) -> Finished:
    last = events[-1][1]
    assert isinstance(last, Finished)
    return last


def request(max_tokens: int = 100, cache_key: str | None = None) -> GenerationRequest:
    return GenerationRequest("Hello there", max_tokens=max_tokens, cache_key=cache_key)


def test_a_job_streams_its_start_the_reply_and_the_end() -> None:
    async def scenario() -> list[tuple[float, JobEvent]]:
        scheduler = make_scheduler(scripted())
        job = await scheduler.submit(request(), user_id="ann", tier="pro")
        return await follow(job)

    events = virtual(scenario)
    assert kinds(events) == ["Started", "Finished"]
    assert text(events) == THREE_WORDS
    started = events[0][1]
    assert isinstance(started, Started)
    assert (started.backend, started.waited_s, started.budget.model) == ("b0", 0.0, "large")
    assert final(events).reason == "stop"
    assert events[-1][0] == pytest.approx(3.0)


def test_jobs_beyond_the_slots_wait_and_hear_their_place_in_line() -> None:
    async def scenario() -> list[list[tuple[float, JobEvent]]]:
        scheduler = make_scheduler(scripted())
        jobs = [await scheduler.submit(request(), user_id=u, tier="pro") for u in "abc"]
        return list(await asyncio.gather(*(follow(job) for job in jobs)))

    first, second, third = virtual(scenario)
    assert kinds(first) == ["Started", "Finished"]
    assert kinds(second) == ["Queued", "Started", "Finished"]
    assert kinds(third) == ["Queued", "Queued", "Started", "Finished"]
    assert [event.position for _, event in third if isinstance(event, Queued)] == [2, 1]
    starts = [next(t for t, e in job if isinstance(e, Started)) for job in (first, second, third)]
    assert starts == pytest.approx([0.0, 3.0, 6.0])
    waited = [e.waited_s for _, e in third if isinstance(e, Started)]
    assert waited == pytest.approx([6.0])


def test_a_full_queue_refuses_at_once_with_a_retry_after() -> None:
    async def scenario() -> QueueFull:
        tiers = (make_tier("free", cap=1),)
        scheduler = make_scheduler(scripted(), tiers=tiers)
        await scheduler.submit(request(), user_id="ann", tier="free")
        await scheduler.submit(request(), user_id="bob", tier="free")
        with pytest.raises(QueueFull) as refused:
            await scheduler.submit(request(), user_id="cy", tier="free")
        await scheduler.aclose()
        return refused.value

    refusal = virtual(scenario)
    assert "the free queue is full" in str(refusal)
    assert refusal.retry_after >= 1.0
    assert refusal.retry_after_header.isdigit() and int(refusal.retry_after_header) >= 1


def test_cancelling_a_waiting_job_ends_it_and_moves_the_others_up() -> None:
    async def scenario() -> tuple[list[Any], list[Any], ScriptedBackend]:
        backend = scripted()
        scheduler = make_scheduler(backend)
        jobs = [await scheduler.submit(request(), user_id=u, tier="pro") for u in "abc"]
        followers = [asyncio.create_task(follow(job)) for job in jobs]
        await asyncio.sleep(1.0)
        jobs[1].cancel()
        results = await asyncio.gather(*followers)
        return results[1], results[2], backend

    cancelled, behind, backend = virtual(scenario)
    assert kinds(cancelled) == ["Queued", "Finished"]
    assert final(cancelled).reason == "cancelled"
    assert cancelled[-1][0] == pytest.approx(1.0)
    positions = [(t, e.position) for t, e in behind if isinstance(e, Queued)]
    assert positions == [(0.0, 2), (pytest.approx(1.0), 1)]
    assert next(t for t, e in behind if isinstance(e, Started)) == pytest.approx(3.0)
    assert len(backend.requests) == 2  # the cancelled job never reached the backend


def test_cancelling_a_running_job_stops_the_backend_and_frees_its_slot() -> None:
    async def scenario() -> tuple[list[Any], list[Any], ScriptedBackend]:
        backend = scripted(" ".join(["word"] * 100))
        scheduler = make_scheduler(backend)
        first = await scheduler.submit(request(), user_id="ann", tier="pro")
        second = await scheduler.submit(request(), user_id="bob", tier="pro")
        followers = [asyncio.create_task(follow(job)) for job in (first, second)]
        await asyncio.sleep(2.5)
        await first.aclose()
        second_events = await followers[1]
        second.cancel()  # cancelling a finished job does nothing
        return await followers[0], second_events, backend

    cancelled, second, backend = virtual(scenario)
    assert final(cancelled).reason == "cancelled"
    assert text(cancelled) == "word word"
    assert backend.finished[0].reason == "cancelled"
    assert next(t for t, e in second if isinstance(e, Started)) == pytest.approx(2.5)
    assert final(second).reason == "stop"


def test_a_job_waiting_longer_than_the_queue_timeout_ends_with_queue_timeout() -> None:
    async def scenario() -> list[tuple[float, JobEvent]]:
        config = SchedulerConfig(queue_timeout_s=5.0)
        scheduler = make_scheduler(scripted(" ".join(["w"] * 50)), config=config)
        await scheduler.submit(request(), user_id="ann", tier="pro")
        waiting = await scheduler.submit(request(), user_id="bob", tier="pro")
        events = await follow(waiting)
        await scheduler.aclose()
        return events

    events = virtual(scenario)
    assert isinstance(final(events).error, QueueTimeout)
    assert events[-1][0] == pytest.approx(5.0)


def test_a_reply_taking_longer_than_the_total_timeout_ends_with_backend_timeout() -> None:
    async def scenario() -> list[tuple[float, JobEvent]]:
        scheduler = make_scheduler(scripted(), config=SchedulerConfig(total_timeout_s=2.5))
        return await follow(await scheduler.submit(request(), user_id="ann", tier="pro"))

    events = virtual(scenario)
    assert isinstance(final(events).error, BackendTimeout)
    assert text(events) == "one two"
    assert events[-1][0] == pytest.approx(2.5)


def test_the_request_builder_gets_the_budget_of_dispatch_time() -> None:
    budgets: list[Budget] = []

    def builder(label: str) -> Callable[[Budget], Awaitable[GenerationRequest]]:
        async def build(budget: Budget) -> GenerationRequest:
            budgets.append(budget)
            return GenerationRequest(f"prompt for {label}", max_tokens=10_000)

        return build

    async def scenario() -> list[list[tuple[float, JobEvent]]]:
        free = make_tier(
            "free",
            max_context=4096,
            max_reply=300,
            degradation=(DegradationRule(1, max_context_tokens=1024, max_reply_tokens=50),),
        )
        backend = scripted()
        scheduler = make_scheduler(backend, tiers=(free,))
        jobs = [await scheduler.submit(builder(u), user_id=u, tier="free") for u in "abcd"]
        results = list(await asyncio.gather(*(follow(job) for job in jobs)))
        assert [r.max_tokens for r in backend.requests] == [300, 50, 300, 50]
        return results

    virtual(scenario)
    # The rule cuts budgets while more than one request waits.
    assert [(b.max_context_tokens, b.max_reply_tokens, b.degraded) for b in budgets] == [
        (4096, 300, False),  # a: dispatched at once, nobody waiting
        (1024, 50, True),  # b: planned in full, but c and d waited when it was dispatched
        (4096, 300, False),  # c: planned with one waiting, dispatched with one waiting
        (1024, 50, True),  # d: cut at submit (two waiting); a plan is never raised later
    ]


def test_a_requested_reply_longer_than_the_tier_allows_is_capped() -> None:
    async def scenario() -> ScriptedBackend:
        backend = scripted()
        scheduler = make_scheduler(backend, tiers=(make_tier("free", max_reply=300),))
        job = await scheduler.submit(request(max_tokens=5000), user_id="ann", tier="free")
        await job.finished()
        assert job.budget.max_reply_tokens == 300
        return backend

    assert virtual(scenario).requests[0].max_tokens == 300


def test_a_load_rule_sends_free_requests_to_the_smaller_models_backends() -> None:
    async def scenario() -> tuple[list[str], ScriptedBackend, ScriptedBackend]:
        large, small = scripted(), scripted()
        free = make_tier("free", degradation=(DegradationRule(0, model="small"),))
        pools = [
            ModelPool("large", [Replica("big", large, 1)], first_token_s=0.0, token_s=1.0),
            ModelPool("small", [Replica("little", small, 1)], first_token_s=0.0, token_s=1.0),
        ]
        scheduler = Scheduler(pools, make_tiers(free, make_tier("pro", weight=8.0)))
        jobs = [
            await scheduler.submit(request(), user_id="p1", tier="pro"),
            await scheduler.submit(request(), user_id="p2", tier="pro"),  # waits for large
            await scheduler.submit(request(), user_id="f1", tier="free"),
        ]
        await asyncio.gather(*(job.finished() for job in jobs))
        return [job.model for job in jobs], large, small

    models, large, small = virtual(scenario)
    assert models == ["large", "large", "small"]
    assert (len(large.requests), len(small.requests)) == (2, 1)


def test_models_and_tiers_are_checked_at_submit() -> None:
    async def scenario() -> None:
        tiers = (make_tier("free", models=("small",)), make_tier("pro"))
        scheduler = make_scheduler(scripted(), tiers=tiers)
        with pytest.raises(ModelNotAllowed, match="the free tier may not use model 'large'"):
            await scheduler.submit(request(), user_id="ann", tier="free")
        with pytest.raises(ModelNotAllowed, match="no backend serves model 'huge'"):
            await scheduler.submit(request(), user_id="ann", tier="pro", model="huge")
        with pytest.raises(UnknownTier, match="'gold'"):
            await scheduler.submit(request(), user_id="ann", tier="gold")
        with pytest.raises(RequestRejected, match="max_tokens"):
            await scheduler.submit(request(max_tokens=0), user_id="ann", tier="pro")
        assert await scheduler.queue_length() == 0

    virtual(scenario)


def test_a_users_concurrency_limit_holds_even_with_free_slots() -> None:
    async def scenario() -> list[float]:
        scheduler = make_scheduler(scripted(), slots=4, tiers=(make_tier("free", concurrency=1),))
        jobs = [await scheduler.submit(request(), user_id="ann", tier="free") for _ in range(2)]
        jobs.append(await scheduler.submit(request(), user_id="bob", tier="free"))
        results = await asyncio.gather(*(follow(job) for job in jobs))
        return [next(t for t, e in events if isinstance(e, Started)) for events in results]

    assert virtual(scenario) == pytest.approx([0.0, 3.0, 0.0])


def test_a_conversation_returns_to_the_backend_holding_its_cache() -> None:
    async def scenario() -> tuple[ScriptedBackend, ScriptedBackend]:
        first, second = scripted(), scripted()
        scheduler = make_scheduler(first, second, slots=2)
        for turn in range(3):
            jobs = [
                await scheduler.submit(request(cache_key=f"chat-{n}"), user_id=f"u{n}", tier="pro")
                for n in range(2)
            ]
            await asyncio.gather(*(job.finished() for job in jobs))
            del turn
        return first, second

    first, second = virtual(scenario)
    assert {r.cache_key for r in first.requests} == {"chat-0"}
    assert {r.cache_key for r in second.requests} == {"chat-1"}
    assert all(f.usage.cached_prompt_tokens > 0 for f in first.finished[1:])


def test_backend_failures_end_the_job_and_free_the_slot() -> None:
    async def scenario() -> list[list[tuple[float, JobEvent]]]:
        failure = ScriptedFailure(BackendUnavailable("engine crashed"), text="half a")
        backend = ScriptedBackend(replies=(failure, THREE_WORDS), token_delay=1.0)
        scheduler = make_scheduler(backend)
        jobs = [await scheduler.submit(request(), user_id=u, tier="pro") for u in "ab"]
        return list(await asyncio.gather(*(follow(job) for job in jobs)))

    failed, next_one = virtual(scenario)
    assert final(failed).reason == "error" and text(failed) == "half a"
    assert final(next_one).reason == "stop"


def test_a_failing_request_builder_ends_the_job_with_a_rejection() -> None:
    async def broken(budget: Budget) -> GenerationRequest:
        raise LookupError(f"no chat for budget {budget.max_reply_tokens}")

    async def scenario() -> Finished:
        scheduler = make_scheduler(scripted())
        job = await scheduler.submit(broken, user_id="ann", tier="pro")
        return await job.finished()

    result = virtual(scenario)
    assert isinstance(result.error, RequestRejected)
    assert "no chat for budget" in str(result.error)


def test_shutting_down_ends_every_job_and_refuses_new_ones() -> None:
    async def scenario() -> list[Finished]:
        scheduler = make_scheduler(scripted())
        jobs = [await scheduler.submit(request(), user_id=u, tier="pro") for u in "ab"]
        await asyncio.sleep(1.5)
        await scheduler.aclose()
        with pytest.raises(BackendUnavailable, match="shut down"):
            await scheduler.submit(request(), user_id="cy", tier="pro")
        return [result for job in jobs if (result := job.result) is not None]

    running, waiting = virtual(scenario)
    assert isinstance(running.error, BackendUnavailable)
    assert isinstance(waiting.error, BackendUnavailable)


def test_run_times_are_learned_from_finished_jobs() -> None:
    async def scenario() -> float:
        scheduler = make_scheduler(scripted(" ".join(["w"] * 20), delay=0.25))
        for n in range(30):
            job = await scheduler.submit(request(), user_id=f"u{n}", tier="pro")
            await job.finished()
        return scheduler.estimate("large").token_s

    assert virtual(scenario) == pytest.approx(0.25, rel=0.05)


def test_a_pool_degrading_to_an_unknown_model_is_a_configuration_error() -> None:
    free = make_tier("free", degradation=(DegradationRule(1, model="tiny"),))
    pool = ModelPool("large", [Replica("b", scripted(), 1)])
    with pytest.raises(ValueError, match="unknown model 'tiny'"):
        Scheduler([pool], make_tiers(free))
    with pytest.raises(ValueError, match="at least one model pool"):
        Scheduler([], make_tiers(free))


async def test_on_the_real_clock_many_jobs_share_two_slots() -> None:
    backend = ScriptedBackend(replies=("a b c d",), token_delay=0.001)
    scheduler = make_scheduler(backend, slots=2)
    jobs = [await scheduler.submit(request(), user_id=f"u{n}", tier="pro") for n in range(8)]
    results = await asyncio.gather(*(job.finished() for job in jobs))
    assert [r.reason for r in results] == ["stop"] * 8
    assert await scheduler.queue_length() == 0
    await scheduler.aclose()


def test_a_builder_refusing_the_request_ends_the_job_with_its_own_error() -> None:
    async def too_long(budget: Budget) -> GenerationRequest:
        raise RequestRejected(f"the chat needs more than {budget.max_context_tokens} tokens")

    async def scenario() -> Finished:
        scheduler = make_scheduler(scripted())
        return await (await scheduler.submit(too_long, user_id="ann", tier="pro")).finished()

    result = virtual(scenario)
    assert isinstance(result.error, RequestRejected)
    assert str(result.error) == "the chat needs more than 4096 tokens"


class TruncatedBackend(ScriptedBackend):
    """Streams some text, then stops without a Finished event (a broken adapter)."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        async def pieces() -> AsyncIterator[GenerationEvent]:
            yield TextDelta("half")

        return pieces()


def test_a_stream_that_stops_without_finishing_ends_as_interrupted() -> None:
    async def scenario() -> list[tuple[float, JobEvent]]:
        scheduler = make_scheduler(TruncatedBackend())
        return await follow(await scheduler.submit(request(), user_id="ann", tier="pro"))

    events = virtual(scenario)
    assert text(events) == "half"
    assert isinstance(final(events).error, StreamInterrupted)
