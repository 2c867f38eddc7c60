"""Handing events from the engine thread to asyncio, one wake-up per engine step.

Waking an event loop costs a write to its self-pipe and a thread switch. At 16 streams that was
16 wake-ups per decode step, each preempting the two compute threads on a 2-core machine.
A `Mailbox` collects the events of one loop during a step; the engine flushes it once.
"""

import asyncio
import contextlib

from galatea.inference.backend import GenerationEvent

Delivery = tuple["asyncio.Queue[GenerationEvent]", GenerationEvent]


def _deliver(items: list[Delivery]) -> None:
    for queue, event in items:
        queue.put_nowait(event)


class Mailbox:
    """Events bound for one event loop, put and flushed by the engine thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._items: list[Delivery] = []

    def put(self, queue: "asyncio.Queue[GenerationEvent]", event: GenerationEvent) -> None:
        """Keep an event for the next flush."""
        self._items.append((queue, event))

    def flush(self) -> None:
        """Wake the loop once to deliver everything kept since the last flush."""
        if not self._items:
            return
        items, self._items = self._items, []
        # A closed loop raises RuntimeError: its consumers are gone, nobody is listening.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_deliver, items)
