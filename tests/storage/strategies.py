"""Hypothesis strategies for domain objects as messy as real cards make them."""

from hypothesis import strategies as st

from galatea.core.characters import Asset, Character
from galatea.core.lorebooks import Lorebook, LoreEntry

# Any code point, surrogates and NUL included: JSON escapes in a card can produce them all.
any_text = st.text(st.characters(exclude_categories=()), max_size=12)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=6,
)
json_objects = st.dictionaries(any_text, json_values, max_size=3)
numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
optional_bool = st.none() | st.booleans()

lore_entries = st.builds(
    LoreEntry,
    keys=st.lists(any_text, max_size=3),
    content=any_text,
    enabled=st.booleans(),
    insertion_order=numbers,
    use_regex=st.booleans(),
    case_sensitive=optional_bool,
    constant=optional_bool,
    selective=optional_bool,
    secondary_keys=st.none() | st.lists(any_text, max_size=2),
    position=st.none() | any_text,
    name=st.none() | any_text,
    priority=st.none() | numbers,
    id=st.none() | st.integers() | any_text,
    comment=st.none() | any_text,
    extensions=json_objects,
    extra=json_objects,
)
lorebooks = st.builds(
    Lorebook,
    entries=st.lists(lore_entries, max_size=3),
    name=st.none() | any_text,
    description=st.none() | any_text,
    scan_depth=st.none() | st.integers(),
    token_budget=st.none() | st.integers(),
    recursive_scanning=optional_bool,
    extensions=json_objects,
    extra=json_objects,
)
assets = st.builds(
    Asset, type=any_text, uri=any_text, name=any_text, ext=any_text, extra=json_objects
)
characters = st.builds(
    Character,
    name=any_text,
    description=any_text,
    personality=any_text,
    scenario=any_text,
    first_mes=any_text,
    mes_example=any_text,
    creator_notes=any_text,
    system_prompt=any_text,
    post_history_instructions=any_text,
    alternate_greetings=st.lists(any_text, max_size=3),
    group_only_greetings=st.lists(any_text, max_size=2),
    tags=st.lists(any_text, max_size=4),
    creator=any_text,
    character_version=any_text,
    extensions=json_objects,
    character_book=st.none() | lorebooks,
    assets=st.none() | st.lists(assets, max_size=2),
    nickname=st.none() | any_text,
    creator_notes_multilingual=st.none() | st.dictionaries(any_text, any_text, max_size=2),
    source=st.none() | st.lists(any_text, max_size=2),
    creation_date=st.none() | numbers,
    modification_date=st.none() | numbers,
    extra=json_objects,
)
