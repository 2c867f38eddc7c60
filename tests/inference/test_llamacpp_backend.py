"""Small pieces of the engine's front end that need no model."""

import asyncio
import threading

import pytest

from galatea.inference.backend import GenerationEvent, TextDelta
from galatea.inference.llamacpp.backend import run_in_own_thread
from galatea.inference.llamacpp.delivery import Mailbox


def test_setup_work_runs_in_a_thread_that_ends() -> None:
    seen: list[threading.Thread] = []

    def work() -> int:
        seen.append(threading.current_thread())
        return 42

    assert run_in_own_thread(work) == 42
    assert seen[0] is not threading.current_thread()
    assert not seen[0].is_alive()


def test_setup_errors_reach_the_caller() -> None:
    def broken() -> int:
        raise ValueError("bad weights")

    with pytest.raises(ValueError, match="bad weights"):
        run_in_own_thread(broken)


async def test_a_mailbox_delivers_a_steps_events_in_order_with_one_wake_up() -> None:
    loop = asyncio.get_running_loop()
    mailbox = Mailbox(loop)
    first: asyncio.Queue[GenerationEvent] = asyncio.Queue()
    second: asyncio.Queue[GenerationEvent] = asyncio.Queue()
    wake_ups: list[object] = []
    original = loop.call_soon_threadsafe

    def counting(callback, *args):  # type: ignore[no-untyped-def]
        wake_ups.append(callback)
        return original(callback, *args)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:

        def engine_step() -> None:
            for text in ("a", "b"):
                mailbox.put(first, TextDelta(text))
                mailbox.put(second, TextDelta(text.upper()))
            mailbox.flush()
            mailbox.flush()  # nothing new: no second wake-up

        thread = threading.Thread(target=engine_step)
        thread.start()
        thread.join()
        got = [await first.get(), await first.get(), await second.get(), await second.get()]
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
    assert got == [TextDelta("a"), TextDelta("b"), TextDelta("A"), TextDelta("B")]
    assert len(wake_ups) == 1


def test_flushing_to_a_closed_loop_is_harmless() -> None:
    loop = asyncio.new_event_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    loop.close()
    mailbox = Mailbox(loop)
    mailbox.put(queue, TextDelta("late"))  # type: ignore[arg-type]
    mailbox.flush()
