"""The scheduler in front of the real embedded engine on the bundled model."""

import asyncio

import pytest

from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.llamacpp import LlamaCppBackend
from galatea.inference.params import GREEDY
from galatea.inference.scheduling import Job, ModelPool, Replica, Scheduler
from tests.inference.scheduling.factories import make_tier, make_tiers

pytestmark = pytest.mark.slow


async def test_jobs_beyond_the_engines_slots_queue_then_run_to_the_same_text(
    engine: LlamaCppBackend,
) -> None:
    pool = ModelPool("smollm2", [Replica("embedded", engine, 2)], first_token_s=1.0, token_s=0.2)
    scheduler = Scheduler([pool], make_tiers(make_tier("free", bound=600.0)))
    prompt = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    jobs = [
        await scheduler.submit(
            GenerationRequest(prompt, sampling=GREEDY, max_tokens=6, cache_key=f"sched-{n}"),
            user_id=f"user-{n}",
            tier="free",
        )
        for n in range(3)
    ]

    async def read(job: Job) -> tuple[list[str], str]:
        kinds, text = [], ""
        async for event in job:
            kinds.append(type(event).__name__)
            if isinstance(event, TextDelta):
                text += event.text
        return kinds, text

    results = await asyncio.wait_for(asyncio.gather(*(read(job) for job in jobs)), 120)
    await scheduler.aclose()
    assert [kinds[0] for kinds, _ in results] == ["Started", "Started", "Queued"]
    assert all(kinds[-1] == "Finished" for kinds, _ in results)
    texts = {text for _, text in results}
    assert len(texts) == 1 and texts != {""}  # greedy: the same reply, queued or not
    assert all(job.result is not None and job.result.usage.generated_tokens <= 6 for job in jobs)
