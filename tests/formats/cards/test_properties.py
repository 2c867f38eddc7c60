"""Property tests: generated characters round-trip through every format, and mutated files
raise nothing but `CardError` (no crash, no hang, bounded memory)."""

import contextlib
import tracemalloc
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from galatea.core.characters import Asset, Character
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.formats.cards import DEFAULT_LIMITS, CardError, read_card, write_card
from galatea.formats.cards.card_reading import main_icon
from galatea.formats.cards.payloads import decode_base64, encode_base64
from tests.formats.make_fixtures import LARGE_FIXTURES, SMALL_FIXTURES, fixture

# Any Unicode except lone surrogates (not text, refused on import); CR, LF, tabs included.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
SHORT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
NAME = SHORT.filter(lambda name: name.strip() != "")
NUMBER = st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False))
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(SHORT, inner, max_size=3)),
    max_leaves=8,
)
EXTENSIONS = st.dictionaries(SHORT, JSON_VALUES, max_size=3)


def unknown_keys(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.text("abcxyz_", min_size=1, max_size=8).map(lambda key: "x_" + key),
        JSON_VALUES,
        max_size=2,
    ).filter(lambda extra: not set(extra) & known)


ENTRIES = st.builds(
    LoreEntry,
    keys=st.lists(SHORT, max_size=3),
    content=TEXT,
    enabled=st.booleans(),
    insertion_order=NUMBER,
    use_regex=st.booleans(),
    case_sensitive=st.none() | st.booleans(),
    constant=st.none() | st.booleans(),
    selective=st.none() | st.booleans(),
    secondary_keys=st.none() | st.lists(SHORT, max_size=2),
    position=st.none() | st.sampled_from(["before_char", "after_char", "at_depth"]),
    name=st.none() | SHORT,
    priority=st.none() | NUMBER,
    id=st.none() | st.integers(0, 10**6) | SHORT,
    comment=st.none() | SHORT,
    extensions=EXTENSIONS,
    extra=unknown_keys(set()),
)
BOOKS = st.builds(
    Lorebook,
    entries=st.lists(ENTRIES, max_size=3),
    name=st.none() | SHORT,
    description=st.none() | TEXT,
    scan_depth=st.none() | st.integers(0, 100),
    token_budget=st.none() | st.integers(0, 10**6),
    recursive_scanning=st.none() | st.booleans(),
    extensions=EXTENSIONS,
    extra=unknown_keys(set()),
)
ASSETS = st.builds(
    Asset,
    type=st.sampled_from(["icon", "background", "emotion", "x_custom"]),
    uri=st.sampled_from(["ccdefault:", "https://example.org/a.png", "embeded://assets/x.png"]),
    name=SHORT,
    ext=st.sampled_from(["png", "webp", "unknown"]),
    extra=unknown_keys(set()),
)
CHARACTERS = st.builds(
    Character,
    name=NAME,
    description=TEXT,
    personality=TEXT,
    scenario=TEXT,
    first_mes=TEXT,
    mes_example=TEXT,
    creator_notes=TEXT,
    system_prompt=TEXT,
    post_history_instructions=TEXT,
    alternate_greetings=st.lists(TEXT, max_size=3),
    group_only_greetings=st.lists(TEXT, max_size=2),
    tags=st.lists(SHORT, max_size=3),
    creator=SHORT,
    character_version=SHORT,
    extensions=EXTENSIONS,
    character_book=st.none() | BOOKS,
    assets=st.none() | st.lists(ASSETS, max_size=2),
    nickname=st.none() | SHORT,
    creator_notes_multilingual=st.none()
    | st.dictionaries(st.sampled_from(["en", "ja", "fr"]), TEXT),
    source=st.none() | st.lists(SHORT, max_size=2),
    creation_date=st.none() | NUMBER,
    modification_date=st.none() | NUMBER,
    extra=unknown_keys(set()),
)


def carried_assets(character: Character, fmt: str) -> list[Asset] | None:
    """The asset entries a file of `fmt` keeps when no embedded file's bytes are given: every
    entry except `embeded://` ones; a PNG names its main icon `ccdefault:` (the PNG itself)."""
    if character.assets is None:
        return None
    icon = main_icon(character.assets)
    kept = []
    for asset in character.assets:
        if not asset.uri.startswith("embeded://"):
            kept.append(asset)
        elif fmt == "png" and asset is icon:
            kept.append(replace(asset, uri="ccdefault:", ext="png"))
    return kept


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(character=CHARACTERS, fmt=st.sampled_from(["json", "json_v2", "png", "charx"]))
def test_any_character_round_trips_through_every_format(character: Character, fmt: str) -> None:
    again = read_card(write_card(character, fmt)).character  # type: ignore[arg-type]
    assert again == replace(character, assets=carried_assets(character, fmt))


@given(st.binary(max_size=300))
def test_base64_round_trips_any_bytes(raw: bytes) -> None:
    assert decode_base64(encode_base64(raw), "test", 1000) == raw


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: flip a byte, insert one, delete one or truncate."""
    buffer = bytearray(data)
    for kind, position, value in edits:
        if not buffer:
            break
        at = position % len(buffer)
        if kind == 0:
            buffer[at] ^= value or 1
        elif kind == 1:
            buffer.insert(at, value)
        elif kind == 2:
            del buffer[at]
        else:
            del buffer[at:]
    return bytes(buffer)


EDITS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2**20), st.integers(0, 255)), max_size=6
)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(SMALL_FIXTURES)), edits=EDITS)
def test_mutated_files_raise_nothing_but_card_errors(
    name: str, edits: list[tuple[int, int, int]]
) -> None:
    data = mutate(fixture(name), edits)
    with contextlib.suppress(CardError):
        read_card(data)


@settings(max_examples=200, deadline=None)
@given(
    head=st.sampled_from(
        [b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x01\x00\x00WEBP", b"PK\x03\x04", b"{", b"\xff\xd8\xff"]
    ),
    tail=st.binary(max_size=400),
)
def test_random_bytes_behind_a_real_signature_raise_only_card_errors(
    head: bytes, tail: bytes
) -> None:
    with contextlib.suppress(CardError):
        read_card(head + tail)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(LARGE_FIXTURES))
def test_hostile_inputs_are_refused_within_a_memory_budget(name: str) -> None:
    data = fixture(name)
    # Default limits, except fewer JSON values: the exact value count walks strings one by one,
    # which tracemalloc slows down; memory does not depend on where that count stops.
    limits = replace(DEFAULT_LIMITS, max_json_values=50_000)
    tracemalloc.start()
    try:
        with pytest.raises(CardError):
            read_card(data, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The largest single allowance is one 32 MiB zip member; nothing may balloon past it.
    assert peak < 48 * 1024 * 1024
