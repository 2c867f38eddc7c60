"""Lore keys: whole-word plain keys and regex keys with a bounded worst case."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.lore_keys import (
    MAX_REGEX_TEXT,
    STEP_BUDGET,
    ScanText,
    UnsafePattern,
    is_slash_pattern,
    parse_regex_key,
)


def plain(key: str, text: str, *, case_sensitive: bool = False, whole_words: bool = True) -> bool:
    return ScanText(text).contains_plain(
        key, case_sensitive=case_sensitive, whole_words=whole_words
    )


@pytest.mark.parametrize(
    ("key", "text", "found"),
    [
        ("cat", "The cat sleeps.", True),
        ("cat", "A category error.", False),
        ("Cat", "the CAT", True),
        ("new york", "I love New York!", True),
        ("c++", "she writes c++ daily", True),
        ("猫", "我的猫很可爱", True),  # no spaces between words: no word boundaries
        ("고양이", "고양이가 잔다", True),
        ("", "anything", False),
    ],
)
def test_plain_keys_match_whole_words_case_insensitively(key: str, text: str, found: bool) -> None:
    assert plain(key, text) is found


def test_plain_key_case_sensitivity_and_partial_words_can_be_asked_for() -> None:
    assert not plain("Cat", "the cat", case_sensitive=True)
    assert plain("cat", "category", whole_words=False)


def test_ascii_prefilter_never_hides_a_case_insensitive_match() -> None:
    assert plain("kelvin", "\u212aELVIN")  # KELVIN SIGN folds to k
    assert plain("s", "\u017f")  # LATIN SMALL LETTER LONG S folds to s


@pytest.mark.parametrize(
    ("key", "text", "found"),
    [
        (r"/\bsword(s)?\b/i", "Two SWORDS hang there.", True),
        (r"/\bsword(s)?\b/", "Two SWORDS hang there.", False),
        (r"\bsword\b", "A Sword!", True),
        (r"/^storm/m", "calm\nstorm rising", True),
        (r"/(?<kind>north|south) gate/", "the north gate", True),
        ("/dragon.*fire/i", "The dragon breathes FIRE.", True),
        (r"(?:north|south)\s+gate", "the south   gate", True),
        (r"\w+\s+\w+x", "alpha betax", True),
    ],
)
def test_regex_keys_match_with_their_flags(key: str, text: str, found: bool) -> None:
    assert parse_regex_key(key, case_sensitive=False).search(text) is found


def test_a_bare_regex_follows_the_entry_case_sensitivity() -> None:
    assert not parse_regex_key("Sword", case_sensitive=True).search("sword")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("(a+)+$", "catastrophically"),
        ("(.*a){20}", "catastrophically"),
        ("a.*b.*c", "catastrophically"),
        ("(a|aa)*c", "catastrophically"),
        ("a{1000}{1000}", "not a valid pattern"),
        (r"(a)\1", "backreferences"),
        ("(?P<x>a)(?(x)b|c)", "backreferences"),
        ("[unclosed", "not a valid pattern"),
        ("a" * 1001, "limit is 1000"),
    ],
)
def test_dangerous_or_invalid_regex_keys_are_refused_with_a_reason(key: str, reason: str) -> None:
    with pytest.raises(UnsafePattern, match=reason):
        parse_regex_key(key, case_sensitive=False)


HOSTILE_TEXTS = [
    "a" * 50_000,
    "ab" * 25_000,
    "1" * 50_000,
    " " * 50_000,
    ("a" * 50 + "b") * 1000,
    "dragon " * 7000,
]


@pytest.mark.parametrize(
    "key",
    [r"\d+px", "/dragon.*fire/i", r"[a-z]+@[a-z]+\.com", r"\w+\s+\w+x", r"\s+$", ".*"],
)
def test_accepted_regex_keys_are_bounded_on_hostile_text(key: str) -> None:
    compiled = parse_regex_key(key, case_sensitive=False)
    assert compiled.cost(len(HOSTILE_TEXTS[0])) <= STEP_BUDGET
    for text in HOSTILE_TEXTS:
        compiled.search(text)  # each ends within the step budget (tens of milliseconds)


def test_matches_within_a_quarter_window_are_found_across_window_edges() -> None:
    compiled = parse_regex_key("/dragon.*fire/", case_sensitive=True)
    assert compiled.window < MAX_REGEX_TEXT
    for offset in range(0, 2 * compiled.window, 7):
        text = "x" * offset + "dragon fire" + "y" * (3 * compiled.window)
        assert compiled.search(text), offset


def test_a_word_boundary_at_a_window_edge_is_not_a_false_match() -> None:
    compiled = parse_regex_key(r"/\bgate\b.*/", case_sensitive=True)
    window = compiled.window
    # "gateway" cut at a window's end must not look like the word "gate".
    text = "x " * ((window - 4) // 2) + "gateway " * 200
    assert text.find("gateway") < window < text.find("gateway") + 7
    assert not compiled.search(text)


def test_regex_keys_only_see_the_most_recent_text() -> None:
    compiled = parse_regex_key("needle", case_sensitive=False)
    assert not compiled.search("needle" + "x" * MAX_REGEX_TEXT)
    assert compiled.search("x" * MAX_REGEX_TEXT + "needle")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a", "b", ".", "*", "+", "?", "(", ")", "|", "{2,5}", r"\s", r"\w", "[ab]"]
        ),
        max_size=14,
    ).map("".join)
)
def test_any_pattern_is_refused_or_runs_within_its_bound(pattern: str) -> None:
    try:
        compiled = parse_regex_key(pattern, case_sensitive=False)
    except UnsafePattern:
        return
    assert compiled.cost(MAX_REGEX_TEXT) <= STEP_BUDGET
    short = "ab a b aab\nbba  ab"  # shorter than any window: same answer as plain re
    assert compiled.search(short) == (compiled.pattern.search(short) is not None)
    compiled.search("ab a b aab " * 2000)  # and a long text ends within the budget


@pytest.mark.parametrize(
    ("key", "text", "found"),
    [
        (r"/blue\s*(eyes|hair)/i", "Her BLUE   hair.", True),
        (r"(?>a+)b", "caab", True),
        (r"(?:ab|cd){2,3}x", "abcdx", True),
        (r"[^,]+,[^,]+,x", "a,b,x", True),
        (r"x[^\d\s]+y", "x12y xaby", True),
        (r"\s+(gate)", "the  gate", True),
        ("a{9000}", "a" * 100, False),  # longer than any window: can never match
        ("/ab/zz", "see /ab/zz here", True),  # not a flag suffix: the whole key is the pattern
    ],
)
def test_realistic_regex_keys_are_accepted_and_behave_like_re(
    key: str, text: str, found: bool
) -> None:
    assert parse_regex_key(key, case_sensitive=False).search(text) is found


@settings(max_examples=400, deadline=None)
@given(
    key=st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True),
    text=st.text(alphabet=st.sampled_from(list("abAB01_ .,'\n-éſK")), max_size=60),
    case_sensitive=st.booleans(),
)
def test_one_word_keys_agree_with_a_whole_word_search(
    key: str, text: str, case_sensitive: bool
) -> None:
    flags = 0 if case_sensitive else re.IGNORECASE
    searched = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text, flags) is not None
    assert plain(key, text, case_sensitive=case_sensitive) == searched


@pytest.mark.parametrize(
    ("key", "slashed"),
    [
        ("/dragon/", True),
        (r"/\bdragons?\b/gi", True),
        ("/a/b/", True),
        ("/ab/zz", False),
        ("//", False),
        ("/", False),
        ("dragon", False),
        ("and/or", False),
        ("/usr/local", False),
    ],
)
def test_keys_written_between_slashes_with_flags_are_patterns(key: str, slashed: bool) -> None:
    assert is_slash_pattern(key) is slashed
