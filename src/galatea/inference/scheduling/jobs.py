"""`Job`: a generation handed to the scheduler, followed as an async iterator of its events.

The job runs on the scheduler's side whether or not anyone reads it; reading only follows it.
Events are `Queued` (again whenever the place in line changes), one `Started`, the backend's
`TextDelta`s and one final `Finished`. `cancel()` works while waiting and while running.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Literal

from galatea.inference.backend import Finished, GenerationRequest
from galatea.inference.scheduling.degradation import Budget
from galatea.inference.scheduling.events import JobEvent, Queued

RequestBuilder = Callable[[Budget], Awaitable[GenerationRequest]]
"""Builds the request at dispatch, within the budget decided then (prompt assembly goes here)."""

JobState = Literal["queued", "running", "finished"]


class Job:
    """A submitted generation: iterate it for events; `cancel()` stops it wherever it is."""

    def __init__(
        self,
        *,
        job_id: str,
        user_id: str,
        tier: str,
        budget: Budget,
        source: GenerationRequest | RequestBuilder,
        cache_key: str | None,
        on_cancel: Callable[["Job"], None],
    ) -> None:
        self.id = job_id
        self.user_id = user_id
        self.tier = tier
        self.budget = budget
        """The budget planned at submit; once started, the one it runs with."""
        self.cache_key = cache_key
        self.state: JobState = "queued"
        self.position: int | None = None
        """Last place in line sent, while queued."""
        self.cancel_requested = False
        self._source = source
        self._on_cancel = on_cancel
        self._events: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._result: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._read_all = False

    def __repr__(self) -> str:
        return f"<Job {self.id} user={self.user_id!r} tier={self.tier!r} {self.state}>"

    def __aiter__(self) -> "Job":
        return self

    async def __anext__(self) -> JobEvent:
        if self._read_all:
            raise StopAsyncIteration
        event = await self._events.get()
        if isinstance(event, Finished):
            self._read_all = True
        return event

    @property
    def model(self) -> str:
        """The model whose backends serve the job."""
        return self.budget.model

    @property
    def result(self) -> Finished | None:
        """The final event once the job ended, else None."""
        return self._result.result() if self._result.done() else None

    def cancel(self) -> None:
        """Stop the job: taken out of the queue, or its generation stopped. Idempotent."""
        if self.state != "finished" and not self.cancel_requested:
            self.cancel_requested = True
            self._on_cancel(self)

    async def aclose(self) -> None:
        """Stop following the job, which cancels it (like closing a backend's stream)."""
        self.cancel()

    async def finished(self) -> Finished:
        """Wait for the job's final event without reading the others."""
        return await asyncio.shield(self._result)

    async def build_request(self, budget: Budget) -> GenerationRequest:
        """The request to run within `budget`; the reply is capped at the budget's reply tokens."""
        source = self._source
        request = source if isinstance(source, GenerationRequest) else await source(budget)
        if request.max_tokens > budget.max_reply_tokens:
            request = dataclasses.replace(request, max_tokens=budget.max_reply_tokens)
        return request

    def deliver(self, event: JobEvent) -> None:
        """Scheduler side: pass an event on to the reader (ignored once finished)."""
        if self.state == "finished":
            return
        if isinstance(event, Queued):
            self.position = event.position
        if isinstance(event, Finished):
            self.state = "finished"
            self.position = None
            self._result.set_result(event)
        self._events.put_nowait(event)
