"""Server-sent events decoding: any chunking gives the same events; sizes are bounded."""

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.remote.sse import ServerSentEvent, SSEDecoder, SSEError, aiter_events


def decode(*pieces: str) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("data: one\n\ndata: two\n\n", [ServerSentEvent("one"), ServerSentEvent("two")]),
        ("data: a\r\ndata: b\r\n\r\n", [ServerSentEvent("a\nb")]),
        ("data: cr\r\r", [ServerSentEvent("cr")]),
        ('event: message\ndata: {"token": "x"}\n\n', [ServerSentEvent('{"token": "x"}')]),
        ("event: ping\ndata:\n\n", [ServerSentEvent("", event="ping")]),
        (": keep-alive\n\n: ping - 2024\n\n", []),
        ("id: 7\ndata:no space\n\n", [ServerSentEvent("no space", id="7")]),
        ("data:  two spaces\n\n", [ServerSentEvent(" two spaces")]),
        ("retry: 10\nevent: x\n\n", []),
    ],
)
def test_events_are_decoded_as_the_standard_says(
    body: str, expected: list[ServerSentEvent]
) -> None:
    assert decode(body) == expected


def test_a_last_event_without_its_blank_line_is_still_delivered() -> None:
    # Older KoboldCpp writes its final "data: [DONE]" with no blank line after it.
    assert decode('data: {"a": 1}\n\ndata: [DONE]') == [
        ServerSentEvent('{"a": 1}'),
        ServerSentEvent("[DONE]"),
    ]


def test_crlf_split_between_pieces_is_one_line_break() -> None:
    assert decode("data: x\r", "\n\r", "\n") == [ServerSentEvent("x")]


def test_an_endless_line_is_refused() -> None:
    decoder = SSEDecoder(max_line=100)
    with pytest.raises(SSEError, match="longer than 100"):
        decoder.feed("data: " + "x" * 200)


def test_an_oversized_event_is_refused() -> None:
    decoder = SSEDecoder(max_line=100, max_event=250)
    with pytest.raises(SSEError, match="larger than 250"):
        decoder.feed("data: " + "y" * 90 + "\n" * 1 + ("data: " + "y" * 90 + "\n") * 3)


async def test_events_come_from_an_async_body() -> None:
    async def body() -> AsyncIterator[str]:
        for piece in ("da", "ta: 1\n", "\ndata: 2", "\n\n"):
            yield piece

    assert [e.data async for e in aiter_events(body())] == ["1", "2"]


field_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
)
events = st.lists(
    st.tuples(
        st.sampled_from(["message", "ping", "update"]),
        st.lists(field_text, min_size=1, max_size=3),
    ),
    max_size=6,
)


@given(events=events, newline=st.sampled_from(["\n", "\r\n", "\r"]), data=st.data())
def test_any_chunking_of_an_encoded_stream_gives_back_its_events(
    events: list[tuple[str, list[str]]], newline: str, data: st.DataObject
) -> None:
    body = "".join(
        f"event: {name}{newline}"
        + "".join(f"data: {line}{newline}" for line in lines)
        + f": comment{newline}{newline}"
        for name, lines in events
    )
    cuts = sorted(data.draw(st.sets(st.integers(0, len(body)), max_size=10)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert decode(*pieces) == [
        ServerSentEvent("\n".join(lines), event=name) for name, lines in events
    ]


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_decoder(text: str) -> None:
    decoder = SSEDecoder(max_line=64, max_event=128)
    try:
        decoder.feed(text)
        decoder.close()
    except SSEError:
        pass
