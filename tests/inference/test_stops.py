"""Stop strings in streamed text: nothing from a stop string on is ever shown."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.stops import (
    StopStringFilter,
    find_stop,
    normalize_stops,
    partial_stop_length,
)


def run(stops: list[str], pieces: list[str]) -> tuple[list[str], StopStringFilter]:
    stream = StopStringFilter(stops)
    shown = [stream.push(piece).text for piece in pieces]
    shown.append(stream.flush())
    return shown, stream


@pytest.mark.parametrize(
    ("stops", "pieces", "expected", "stop"),
    [
        (["\nUser:"], ["Hello", "\nUs", "er: hi"], "Hello", "\nUser:"),
        (["\nUser:"], ["Hello", "\nUs", "ually"], "Hello\nUsually", None),
        (["<|im_end|>"], ["a<|im_", "end", "|>b"], "a", "<|im_end|>"),
        (["END", "EN"], ["xEND"], "x", "END"),
        (["bc", "abcd"], ["abcd"], "", "abcd"),
        ([], ["free ", "text"], "free text", None),
        ([""], ["empty stops are ignored"], "empty stops are ignored", None),
    ],
)
def test_text_is_cut_before_the_first_stop_string(
    stops: list[str], pieces: list[str], expected: str, stop: str | None
) -> None:
    shown, stream = run(stops, pieces)
    assert "".join(shown) == expected
    assert stream.stopped == stop


def test_a_partial_stop_string_is_held_back_until_it_is_ruled_out() -> None:
    stream = StopStringFilter(["\nUser:"])
    assert stream.push("Hi there\nUse").text == "Hi there"
    assert stream.held == "\nUse"
    assert stream.push("d to it.").text == "\nUsed to it."
    assert stream.held == ""


def test_pieces_after_the_stop_are_discarded() -> None:
    stream = StopStringFilter(["STOP"])
    step = stream.push("aSTOPb")
    assert (step.text, step.stop) == ("a", "STOP")
    assert stream.push("more").text == ""
    assert stream.flush() == ""


def test_the_earliest_stop_wins_and_the_longest_breaks_a_tie() -> None:
    assert find_stop("xx ab abc", ("abc", "ab")) == (3, "ab")
    assert find_stop("xx abc", ("ab", "abc")) == (3, "abc")
    assert find_stop("nothing", ("z",)) is None


def test_partial_stop_length_is_the_longest_possible_start() -> None:
    assert partial_stop_length("Hi\nUs", ("\nUser:",)) == 3
    assert partial_stop_length("Hi", ("\nUser:",)) == 0
    assert normalize_stops(["a", "", "a", "b"]) == ("a", "b")


texts = st.text(alphabet="ab\n:", max_size=40)


@given(
    text=texts,
    stops=st.lists(st.text(alphabet="ab\n:", min_size=1, max_size=4), max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=8),
)
def test_any_chunking_shows_exactly_the_text_before_the_first_stop(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    shown, stream = run(stops, pieces)
    positions = [text.find(s) for s in stops if s in text]
    end = min(positions) if positions else len(text)
    assert "".join(shown) == text[:end]
    # While streaming, what was shown so far never contains a stop string.
    so_far = ""
    for piece in shown:
        so_far += piece
        assert not any(s in so_far for s in stops)
    assert (stream.stopped is not None) == bool(positions)
