"""The output guard: stops are held back and cut, banned strings rewind to the right token."""

from hypothesis import given
from hypothesis import strategies as st

from galatea.inference.llamacpp.guard import GuardStep, OutputGuard


def feed(guard: OutputGuard, pieces: list[str]) -> list[GuardStep]:
    return [guard.push(index, piece.encode()) for index, piece in enumerate(pieces)]


def test_plain_text_streams_through_at_once() -> None:
    guard = OutputGuard()
    steps = feed(guard, ["Hello", ",", " world"])
    assert [step.text for step in steps] == ["Hello", ",", " world"]
    assert guard.finish() == ""


def test_stop_split_over_tokens_is_never_shown() -> None:
    guard = OutputGuard(stops=["\nUser:"])
    steps = feed(guard, ["Fine", ".\n", "User", ": next"])
    assert "".join(step.text for step in steps) == "Fine."
    assert steps[-1].stop == "\nUser:"
    assert steps[1].text == "."  # the "\n" waited to see whether "User:" followed


def test_banned_string_rewinds_to_the_token_where_it_starts() -> None:
    guard = OutputGuard(banned=["<|im_end|"])
    steps = feed(guard, ["Bye", " now", "<|", "im", "_end|"])
    assert "".join(step.text for step in steps) == "Bye now"
    last = steps[-1]
    assert last.rewind_to == 2
    assert last.banned_token == 2  # the token id pushed at index 2
    assert guard.tokens == [0, 1]
    assert guard.text == "Bye now"


def test_banned_match_ignores_case_and_nothing_of_it_is_shown() -> None:
    guard = OutputGuard(banned=["shivers down"])
    steps = feed(guard, ["It sent", " Shi", "vers", " Down"])
    assert "".join(step.text for step in steps) == "It sent"
    assert steps[-1].rewind_to == 1


def test_after_a_rewind_new_tokens_continue_from_the_kept_text() -> None:
    guard = OutputGuard(banned=["bad"])
    feed(guard, ["a ", "b", "ad"])
    assert guard.tokens == [0]
    step = guard.push(7, b"good")
    assert step.text == "good"
    assert guard.shown == "a good"


def test_stop_before_a_banned_string_wins() -> None:
    guard = OutputGuard(stops=["END"], banned=["forbidden"])
    step = guard.push(0, b"okEND forbidden")
    assert step.stop == "END"
    assert step.text == "ok"
    assert step.rewind_to is None


def test_multibyte_characters_split_over_tokens_are_whole() -> None:
    guard = OutputGuard()
    heart = "é♥".encode()
    steps = [guard.push(0, heart[:1]), guard.push(1, heart[1:3]), guard.push(2, heart[3:])]
    assert [step.text for step in steps] == ["", "é", "♥"]


def test_giving_up_ends_the_reply_before_the_banned_string() -> None:
    guard = OutputGuard(banned=["xyz"])
    assert guard.push(0, b"ab").text == "ab"
    assert guard.push(1, b" x").text == ""
    assert guard.push(2, b"yz").rewind_to == 1
    assert guard.give_up() == ""
    assert guard.shown == "ab"


def test_a_rewind_cannot_complete_a_stop_string_begun_in_shown_text() -> None:
    guard = OutputGuard(stops=["END"], banned=["bab"])
    steps = [guard.push(i, piece.encode()) for i, piece in enumerate(["E", "N", "b", "ab"])]
    assert steps[-1].rewind_to == 2
    assert guard.shown == ""
    assert guard.push(2, b"D").stop == "END"
    assert guard.shown == ""


words = st.sampled_from(["a", "b", "ab", "ba", " ", "<", "|", "end", "E", "N", "D", "x"])


@given(pieces=st.lists(words, max_size=30))
def test_banned_text_never_reaches_the_reader(pieces: list[str]) -> None:
    banned = ["bab", "<|end"]
    guard = OutputGuard(stops=["END"], banned=banned)
    shown = ""
    for token, piece in enumerate(pieces):
        step = guard.push(token, piece.encode())
        shown += step.text
        assert shown == guard.shown
        if step.stop is not None:
            break
        if step.rewind_to is not None:
            # The engine would resample; here the next piece simply follows.
            assert len(guard.tokens) == step.rewind_to
    else:
        shown += guard.finish()
    for text in banned:
        assert text not in shown.lower()
    assert "END" not in shown
