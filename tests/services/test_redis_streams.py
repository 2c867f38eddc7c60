"""Reply streams through Redis: a reply written by one process is followed and rejoined from
another, one reply per chat across processes, lapsed writers free the chat, and a stop
reaches the writing process."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from galatea.services.redis_streams import RedisReplyStreams
from galatea.services.reply_streams import ReplyStreamChannel, StreamBusy, StreamEvent
from tests.redis_support import RedisSpace, redis_space

pytestmark = pytest.mark.redis


@pytest.fixture
async def space(redis_url: str) -> AsyncIterator[RedisSpace]:
    async with redis_space(redis_url) as shared:
        yield shared


@pytest.fixture
async def process(space: RedisSpace) -> AsyncIterator[Callable[..., RedisReplyStreams]]:
    """Makes the reply-stream hub of one more app process."""
    hubs: list[RedisReplyStreams] = []

    def make(**options: float) -> RedisReplyStreams:
        hub = RedisReplyStreams(space.client, prefix=space.prefix, **options)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.aclose()


async def collect(stream: ReplyStreamChannel, start: int = 0) -> list[StreamEvent]:
    return [event async for event in stream.follow(start)]


async def test_a_reply_written_in_one_process_is_followed_from_another(
    process: Callable[..., RedisReplyStreams],
) -> None:
    writer_side, reader_side = process(), process()
    stream = await writer_side.open("chat-1")
    await stream.publish(StreamEvent("queued", {"position": 2}))
    await stream.publish(StreamEvent("token", {"text": "Hel"}))
    remote = await reader_side.get("chat-1")
    assert remote is not None and not remote.closed
    assert await reader_side.running("chat-1")
    early = asyncio.create_task(collect(remote))
    await asyncio.sleep(0.05)
    await stream.publish(StreamEvent("token", {"text": "lo ünï"}))
    await stream.publish(StreamEvent("done", {"status": "complete"}))
    await stream.close()
    late = await reader_side.get("chat-1")
    assert late is not None and late.closed
    expected = [
        StreamEvent("queued", {"position": 2}),
        StreamEvent("token", {"text": "Hel"}),
        StreamEvent("token", {"text": "lo ünï"}),
        StreamEvent("done", {"status": "complete"}),
    ]
    assert await asyncio.wait_for(early, 5) == expected
    assert await collect(late) == expected
    assert await collect(late, start=2) == expected[2:]
    assert not await reader_side.running("chat-1")


async def test_one_running_reply_per_chat_across_processes(
    process: Callable[..., RedisReplyStreams],
) -> None:
    one, two = process(), process()
    first = await one.open("c")
    with pytest.raises(StreamBusy):
        await two.open("c")
    await first.close()
    second = await two.open("c")
    await second.publish(StreamEvent("token", {"text": "new"}))
    await second.close()
    # The old generation's handle never shows the next reply's events.
    assert await collect(first) == []
    with pytest.raises(RuntimeError, match="closed"):
        await first.publish(StreamEvent("token", {"text": "x"}))


async def test_parallel_opens_of_one_chat_admit_exactly_one(
    process: Callable[..., RedisReplyStreams],
) -> None:
    hubs = [process() for _ in range(4)]
    results = await asyncio.gather(*(hub.open("c") for hub in hubs), return_exceptions=True)
    assert sum(not isinstance(result, BaseException) for result in results) == 1
    assert sum(isinstance(result, StreamBusy) for result in results) == 3


async def test_a_finished_stream_is_kept_a_while_then_forgotten(
    process: Callable[..., RedisReplyStreams],
) -> None:
    hub = process(keep_seconds=0.3)
    stream = await hub.open("c")
    await stream.publish(StreamEvent("token", {"text": "x"}))
    await stream.close()
    assert await process().get("c") is not None
    await asyncio.sleep(0.5)
    assert await process().get("c") is None


async def test_a_writer_that_dies_frees_the_chat_and_ends_its_followers(
    process: Callable[..., RedisReplyStreams],
) -> None:
    dying = process(lease_s=0.5)
    stream = await dying.open("c")
    await stream.publish(StreamEvent("token", {"text": "half"}))
    await dying.aclose()  # its lease is no longer renewed, as after a crash
    follower = await process(block_s=0.2).get("c")
    assert follower is not None
    events = await asyncio.wait_for(collect(follower), 5)
    assert events == [StreamEvent("token", {"text": "half"})]
    assert not await process().running("c")
    await process().open("c")


async def test_a_stop_asked_anywhere_reaches_the_writing_process(
    process: Callable[..., RedisReplyStreams],
) -> None:
    writer_side, other = process(), process()
    stopped: asyncio.Queue[str] = asyncio.Queue()
    writer_side.on_stop(stopped.put_nowait)
    stream = await writer_side.open("chat-9")
    await other.start()
    await asyncio.sleep(0.05)  # the writer's listener subscribes
    assert await other.request_stop("chat-9")
    assert await asyncio.wait_for(stopped.get(), 5) == "chat-9"
    await stream.close()
    assert not await other.request_stop("chat-9")
    assert not await other.request_stop("never-started")
