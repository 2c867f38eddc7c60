"""Job: the follower's side of a scheduled generation."""

import asyncio

import pytest

from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.scheduling import Budget, Job, Queued

BUDGET = Budget("model", max_context_tokens=1024, max_reply_tokens=100)


def make_job(source: GenerationRequest | None = None) -> tuple[Job, list[Job]]:
    cancelled: list[Job] = []
    job = Job(
        job_id="j1",
        user_id="ann",
        tier="free",
        budget=BUDGET,
        source=source or GenerationRequest("hi", max_tokens=500),
        cache_key=None,
        on_cancel=cancelled.append,
    )
    return job, cancelled


async def test_events_are_read_in_order_and_reading_ends_after_finished() -> None:
    job, _ = make_job()
    for event in (Queued(2), Queued(1), TextDelta("Hi"), Finished("stop")):
        job.deliver(event)
    job.deliver(TextDelta("too late"))  # nothing reaches a reader after the end
    assert [type(event).__name__ async for event in job] == [
        "Queued",
        "Queued",
        "TextDelta",
        "Finished",
    ]
    assert job.state == "finished" and job.position is None
    assert job.result == Finished("stop")


async def test_finished_can_be_awaited_without_reading_the_events() -> None:
    job, _ = make_job()
    waiter = asyncio.create_task(job.finished())
    await asyncio.sleep(0)
    assert job.result is None
    job.deliver(Finished("cancelled"))
    assert (await waiter).reason == "cancelled"


async def test_cancel_reaches_the_scheduler_once_and_not_after_the_end() -> None:
    job, cancelled = make_job()
    job.cancel()
    await job.aclose()
    assert cancelled == [job]
    finished, calls = make_job()
    finished.deliver(Finished("stop"))
    finished.cancel()
    assert calls == []


async def test_a_plain_request_is_capped_to_the_budgets_reply_tokens() -> None:
    job, _ = make_job(GenerationRequest("hi", max_tokens=500, cache_key="chat"))
    built = await job.build_request(BUDGET)
    assert (built.max_tokens, built.cache_key, built.prompt) == (100, "chat", "hi")
    short, _ = make_job(GenerationRequest("hi", max_tokens=20))
    assert (await short.build_request(BUDGET)).max_tokens == 20


@pytest.mark.parametrize("position", [1, 7])
async def test_the_last_position_sent_is_remembered(position: int) -> None:
    job, _ = make_job()
    job.deliver(Queued(position))
    assert job.position == position
    assert "ann" in repr(job) and "queued" in repr(job)
