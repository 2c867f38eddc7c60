"""Metering a reply as it ends: the reply stream a job writes to, with the quota settled just
before the `done` event goes out, so whoever reacts to `done` already sees the usage.

A reply counts as a message when it finished or wrote any text; one that wrote nothing
(refused, failed or stopped before its first token) gives its message back.
"""

from collections.abc import AsyncIterator

from galatea.inference.scheduling import Job
from galatea.services.quotas import Admission
from galatea.services.reply_streams import ReplyStreamChannel, StreamEvent


class MeteredStream:
    """A `ReplyStreamChannel` that settles the reply's quota admission before `done`."""

    def __init__(self, stream: ReplyStreamChannel, job: Job, admission: Admission) -> None:
        self.key = stream.key
        self._stream = stream
        self._job = job
        self._admission = admission
        self._wrote = False
        self._finished = False

    @property
    def closed(self) -> bool:
        """Whether the generation has ended."""
        return self._stream.closed

    async def publish(self, event: StreamEvent) -> None:
        """Pass the event on; meter the reply first when it is the last one."""
        if event.kind == "token":
            self._wrote = True
        elif event.kind == "done":
            self._finished = event.data.get("status") == "complete"
            await self.settle()
        await self._stream.publish(event)

    async def close(self) -> None:
        """Close the stream (metering the reply if `done` never went out)."""
        await self.settle()
        await self._stream.close()

    def follow(self, start: int = 0) -> AsyncIterator[StreamEvent]:
        """The underlying stream's events."""
        return self._stream.follow(start)

    async def settle(self) -> None:
        """Meter the reply and free its place in progress (once; never raises)."""
        final = self._job.result
        await self._admission.settle(
            None if final is None else final.usage,
            produced=self._wrote or self._finished,
        )
