"""Macros: names, originals, random/pick/roll, time, comments, legacy tags, hostile input."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.prompting.macros import MacroContext, describe_duration, expand_macros
from tests.core.factories import NOW


def context(**overrides: object) -> MacroContext:
    values: dict[str, object] = {
        "char": "Aria",
        "user": "Sam",
        "chat_id": "chat-1",
        "clock": lambda: NOW,
        "rng": random.Random(3),
    }
    values.update(overrides)
    return MacroContext(**values)  # type: ignore[arg-type]


def expand(text: str, **overrides: object) -> str:
    return expand_macros(text, context(**overrides)).text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{char}} greets {{user}}.", "Aria greets Sam."),
        ("{{CHAR}} and {{User}}", "Aria and Sam"),
        ("<USER> meets <bot>", "Sam meets Aria"),
        ("{{ char }}", "Aria"),
        ("a{{// a note for the author}}b", "ab"),
        ("a{{comment: hidden}}b", "ab"),
        ("a{{hidden_key:dragon}}b", "ab"),
        ("{{reverse:abc}}", "cba"),
        ("{{unknown}} stays", "{{unknown}} stays"),
        ("{{char", "{{char"),
        ("char}}", "char}}"),
        ("{{{char}}}", "{Aria}"),
        ("{{random}}", "{{random}}"),
        ("{{roll:banana}}", "{{roll:banana}}"),
        ("", ""),
    ],
)
def test_expands_the_fixed_vocabulary_and_leaves_the_rest(text: str, expected: str) -> None:
    assert expand(text) == expected


def test_a_name_that_looks_like_a_macro_is_not_expanded_again() -> None:
    assert expand("{{user}} says hi", user="{{char}}") == "{{char}} says hi"


def test_original_is_the_default_a_card_override_replaces() -> None:
    assert expand("Card rules. {{original}}", original="Be nice.") == "Card rules. Be nice."


def test_nested_macros_expand_innermost_first() -> None:
    assert expand("{{random::{{char}}::{{char}}}}") == "Aria"


def test_random_chooses_among_double_colon_options() -> None:
    seen = {expand("{{random::red::green::blue}}", rng=random.Random(seed)) for seed in range(40)}
    assert seen == {"red", "green", "blue"}


def test_random_with_commas_honours_escaped_commas() -> None:
    seen = {expand(r"{{random:a\, b,c}}", rng=random.Random(seed)) for seed in range(40)}
    assert seen == {"a, b", "c"}


def test_pick_is_stable_for_a_chat_and_varies_between_chats() -> None:
    text = "{{pick::one::two::three::four::five}}"
    firsts = {expand(text, chat_id="chat-1", rng=random.Random(seed)) for seed in range(10)}
    assert len(firsts) == 1
    across = {expand(text, chat_id=f"chat-{n}") for n in range(40)}
    assert len(across) > 1


def test_pick_at_two_places_of_a_text_can_differ() -> None:
    text = " ".join(["{{pick::a::b::c::d::e::f::g::h}}"] * 12)
    assert len(set(expand(text).split())) > 1


@pytest.mark.parametrize("formula", ["1d20", "d20", "20", " 1 d 20 "])
def test_roll_stays_within_the_dice(formula: str) -> None:
    values = {int(expand(f"{{{{roll:{formula}}}}}", rng=random.Random(s))) for s in range(200)}
    assert min(values) >= 1
    assert max(values) <= 20
    assert len(values) > 10


def test_roll_with_double_colon_several_dice_and_a_modifier() -> None:
    values = {int(expand("{{roll::2d6+3}}", rng=random.Random(s))) for s in range(300)}
    assert values == set(range(5, 16))


@pytest.mark.parametrize("formula", ["0d6", "101d6", "1d0", "1d9999999"])
def test_roll_refuses_absurd_dice(formula: str) -> None:
    assert expand(f"{{{{roll:{formula}}}}}") == f"{{{{roll:{formula}}}}}"


def test_time_date_and_weekday_come_from_the_clock() -> None:
    assert expand("{{time}} {{date}} {{weekday}}") == "15:09 March 14, 2025 Friday"


def test_time_macros_stay_when_there_is_no_clock() -> None:
    assert expand("{{time}}", clock=None) == "{{time}}"


def test_idle_duration_counts_from_the_last_user_message() -> None:
    later = NOW - timedelta(hours=3, minutes=5)
    assert expand("{{idle_duration}}", last_user_message_at=later) == "3 hours"
    assert expand("{{idle_duration}}") == "just now"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5, "just now"), (60, "a minute"), (150, "2 minutes"), (3600, "an hour"), (86_400, "a day")],
)
def test_describe_duration(seconds: float, words: str) -> None:
    assert describe_duration(seconds) == words


def test_volatile_macros_are_reported() -> None:
    assert expand_macros("{{time}}", context()).volatile
    assert expand_macros("{{random::a::b}}", context()).volatile
    assert not expand_macros("{{pick::a::b}} {{char}}", context()).volatile


def test_names_only_leaves_everything_else() -> None:
    result = expand_macros("{{char}} {{time}} {{random::a::b}} <USER>", context(), names_only=True)
    assert result.text == "Aria {{time}} {{random::a::b}} Sam"


@pytest.mark.parametrize(
    "hostile",
    ["{{ ''.__class__ }}", "{% for x in y %}{{x}}{% endfor %}", "{0.__class__}", "${7*7}"],
)
def test_template_injection_renders_literally(hostile: str) -> None:
    assert expand(hostile) == hostile


@pytest.mark.timeout(20)  # a hang guard: this takes ~0.2 s, a quadratic expander minutes
def test_deep_nesting_and_huge_input_expand() -> None:
    nested = "{{" * 200_000 + "char" + "}}" * 200_000
    wide = "{{char}}" * 200_000
    assert expand(wide) == "Aria" * 200_000
    nested_out = expand(nested)
    assert "Aria" in nested_out
    assert len(nested_out) < len(nested)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"{}:<>/ab,\\", "{{", "}}", "char", "user", "random::", "pick:", "<bot>"])
    ).map("".join)
)
def test_any_text_expands_without_error_and_without_blowing_up(text: str) -> None:
    result = expand_macros(text, context(clock=lambda: datetime(2025, 1, 1, tzinfo=UTC)))
    assert len(result.text) <= 4 * len(text) + 16


@settings(max_examples=200, deadline=None)
@given(st.text().filter(lambda t: "{{" not in t and "<" not in t))
def test_text_without_macros_is_unchanged(text: str) -> None:
    assert expand(text) == text


def test_nesting_deeper_than_the_limit_stays_literal() -> None:
    deep = "{{reverse:" * 20 + "ab" + "}}" * 20
    result = expand(deep)
    assert result.count("{{reverse:") == 4  # the 16 innermost levels expanded, the rest kept
    assert result.endswith("}}" * 4)


def test_time_macros_take_no_argument() -> None:
    assert expand("{{time:utc}}") == "{{time:utc}}"
