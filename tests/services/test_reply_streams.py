import asyncio

import pytest

from galatea.services.reply_streams import ReplyStreams, StreamBusy, StreamEvent


async def collect(stream_iter: object) -> list[StreamEvent]:
    return [event async for event in stream_iter]  # type: ignore[attr-defined]


async def test_a_late_follower_gets_every_event_then_the_live_ones() -> None:
    streams = ReplyStreams()
    stream = await streams.open("chat-1")
    await stream.publish(StreamEvent("token", {"text": "Hel"}))
    early = asyncio.create_task(collect(stream.follow()))
    await asyncio.sleep(0)
    await stream.publish(StreamEvent("token", {"text": "lo"}))
    following = await streams.get("chat-1")
    assert following is not None
    late = asyncio.create_task(collect(following.follow()))
    await asyncio.sleep(0)
    await stream.publish(StreamEvent("done"))
    await stream.close()
    expected = ["token", "token", "done"]
    assert [e.kind for e in await early] == expected
    assert [e.kind for e in await late] == expected
    assert stream.text == "Hello"


async def test_following_from_an_index_skips_what_the_viewer_already_has() -> None:
    stream = await ReplyStreams().open("c")
    for piece in "abc":
        await stream.publish(StreamEvent("token", {"text": piece}))
    await stream.close()
    assert [e.data["text"] for e in await collect(stream.follow(start=2))] == ["c"]


async def test_one_running_stream_per_key_and_finished_ones_are_forgotten() -> None:
    now = [0.0]
    streams = ReplyStreams(keep_seconds=10, clock=lambda: now[0])
    first = await streams.open("c")
    with pytest.raises(StreamBusy):
        await streams.open("c")
    assert await streams.running("c")
    await first.close()
    assert not await streams.running("c")
    assert await streams.get("c") is first
    now[0] = 11.0
    assert await streams.get("c") is None
    second = await streams.open("c")
    assert second is not first


async def test_publishing_after_close_is_refused() -> None:
    stream = await ReplyStreams().open("c")
    await stream.close()
    with pytest.raises(RuntimeError, match="closed"):
        await stream.publish(StreamEvent("token", {"text": "x"}))
