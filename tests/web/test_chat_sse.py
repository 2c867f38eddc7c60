"""The event-stream writer: wire format, event ids for rejoining, heartbeats while idle."""

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from galatea.services.reply_streams import ReplyStreams, StreamEvent
from galatea.web.sse import event_stream_response, format_event, parse_events


async def body_of(response: object) -> str:
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    return "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)


def test_an_event_is_one_id_one_name_and_one_line_of_json() -> None:
    wire = format_event(StreamEvent("token", {"text": 'line one\nline two: "quoted"'}), 7)
    assert wire == (b'id: 7\nevent: token\ndata: {"text":"line one\\nline two: \\"quoted\\""}\n\n')


@given(st.text(), st.sampled_from(["token", "error", "saved"]))
def test_any_text_survives_the_wire(text: str, kind: str) -> None:
    wire = format_event(StreamEvent(kind, {"text": text}), 1).decode()  # type: ignore[arg-type]
    assert parse_events(wire) == [(kind, {"text": text})]


async def test_events_carry_their_place_so_a_viewer_can_resume_after_one() -> None:
    stream = await ReplyStreams().open("chat")
    for piece in ("a", "b", "c"):
        await stream.publish(StreamEvent("token", {"text": piece}))
    await stream.publish(StreamEvent("done", {"status": "complete", "reason": "stop"}))
    await stream.close()
    body = await body_of(event_stream_response(stream, start=2))
    assert body.startswith("id: 2\nevent: token\n")
    assert parse_events(body) == [
        ("token", {"text": "c"}),
        ("done", {"status": "complete", "reason": "stop"}),
    ]


async def test_a_comment_keeps_an_idle_connection_open() -> None:
    stream = await ReplyStreams().open("chat")
    response = event_stream_response(stream, heartbeat=0.01)
    assert response.media_type == "text/event-stream; charset=utf-8"
    assert response.headers["x-accel-buffering"] == "no"
    reading = asyncio.create_task(body_of(response))
    await asyncio.sleep(0.05)
    await stream.publish(StreamEvent("token", {"text": "late"}))
    await stream.close()
    body = await reading
    assert body.startswith(": keep-alive\n\n")
    assert parse_events(body) == [("token", {"text": "late"})]


async def test_events_only_this_answer_carries_come_first_without_ids() -> None:
    stream = await ReplyStreams().open("chat")
    await stream.close()
    accepted = StreamEvent("accepted", {"id": "m1", "text": "hi"})
    body = await body_of(event_stream_response(stream, first=[accepted]))
    assert body == 'event: accepted\ndata: {"id":"m1","text":"hi"}\n\n'
