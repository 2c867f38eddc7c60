"""Who may see and change what: every viewer against every kind of character and chat."""

from dataclasses import replace

import pytest

from galatea.core.characters import Character
from galatea.core.personas import Persona
from galatea.core.records import (
    CharacterRecord,
    CharacterSort,
    ChatRecord,
    PersonaRecord,
    PresetRecord,
    Visibility,
)
from galatea.core.users import Role, User
from galatea.services import access
from galatea.services.errors import Forbidden, NotFound
from tests.conftest import START

OWNER = User(id="owner", username="owner", created_at=START)
OTHER = User(id="other", username="other", created_at=START)
ADULT = User(id="adult", username="adult", created_at=START, age_confirmed=True)
MODERATOR = User(id="mod", username="mod", created_at=START, role=Role.MODERATOR)
ADMIN = User(id="admin", username="admin", created_at=START, role=Role.ADMIN)
VIEWERS: dict[str, User | None] = {
    "owner": OWNER,
    "other": OTHER,
    "adult": ADULT,
    "moderator": MODERATOR,
    "admin": ADMIN,
    "anonymous": None,
}


def _character(visibility: Visibility, adult: bool) -> CharacterRecord:
    return CharacterRecord(
        character=Character(name="Wren"),
        owner_id=OWNER.id,
        created_at=START,
        updated_at=START,
        visibility=visibility,
        is_adult=adult,
        id="c1",
    )


# (visibility, adult) -> viewers who may open the character
OPENERS = {
    (Visibility.PUBLIC, False): {"owner", "other", "adult", "moderator", "admin", "anonymous"},
    (Visibility.UNLISTED, False): {"owner", "other", "adult", "moderator", "admin", "anonymous"},
    (Visibility.PRIVATE, False): {"owner", "admin"},
    (Visibility.PUBLIC, True): {"owner", "adult", "admin"},
    (Visibility.UNLISTED, True): {"owner", "adult", "admin"},
    (Visibility.PRIVATE, True): {"owner", "admin"},
}


@pytest.mark.parametrize(("visibility", "adult"), list(OPENERS))
@pytest.mark.parametrize("viewer", list(VIEWERS))
def test_who_may_open_a_character(visibility: Visibility, adult: bool, viewer: str) -> None:
    record = _character(visibility, adult)
    allowed = viewer in OPENERS[(visibility, adult)]
    assert access.can_view_character(VIEWERS[viewer], record) is allowed
    if allowed:
        assert access.visible_character(VIEWERS[viewer], record) is record
    else:
        with pytest.raises(NotFound, match="character not found"):
            access.visible_character(VIEWERS[viewer], record)


@pytest.mark.parametrize("viewer", list(VIEWERS))
def test_only_the_owner_and_admins_edit_and_the_rest_learn_nothing_new(viewer: str) -> None:
    public, private = _character(Visibility.PUBLIC, False), _character(Visibility.PRIVATE, False)
    user = VIEWERS[viewer]
    if viewer in {"owner", "admin"}:
        assert access.editable_character(user, public) is public
        assert access.editable_character(user, private) is private
        return
    with pytest.raises(Forbidden):
        access.editable_character(user, public)
    with pytest.raises(NotFound):
        access.editable_character(user, private)


def test_a_missing_character_and_a_hidden_one_look_the_same() -> None:
    with pytest.raises(NotFound) as missing:
        access.visible_character(OTHER, None)
    with pytest.raises(NotFound) as hidden:
        access.visible_character(OTHER, _character(Visibility.PRIVATE, False))
    assert str(missing.value) == str(hidden.value)


def test_a_disabled_owner_is_treated_as_a_stranger() -> None:
    record = _character(Visibility.PRIVATE, False)
    assert not access.can_view_character(replace(OWNER, disabled=True), record)


@pytest.mark.parametrize(
    ("viewer", "mine", "owner_id", "include_adult"),
    [
        (None, False, None, False),
        (OTHER, False, None, False),
        (ADULT, False, None, True),
        (OTHER, True, "other", True),
    ],
)
def test_library_queries_follow_the_viewer(
    viewer: User | None, mine: bool, owner_id: str | None, include_adult: bool
) -> None:
    query = access.library_query(viewer, text="wren", sort=CharacterSort.POPULAR, mine=mine)
    assert (query.owner_id, query.include_adult, query.text) == (owner_id, include_adult, "wren")


def test_library_pages_are_bounded_and_my_characters_need_a_user() -> None:
    query = access.library_query(None, offset=-5, limit=10_000)
    assert (query.offset, query.limit) == (0, access.MAX_LIBRARY_PAGE)
    with pytest.raises(NotFound):
        access.library_query(None, mine=True)


def _owned() -> list[tuple[str, object]]:
    return [
        (
            "chat",
            ChatRecord(owner_id="owner", character_id=None, created_at=START, updated_at=START),
        ),
        (
            "persona",
            PersonaRecord(persona=Persona(), owner_id="owner", created_at=START, updated_at=START),
        ),
        (
            "preset",
            PresetRecord(
                owner_id="owner", name="p", settings={}, created_at=START, updated_at=START
            ),
        ),
    ]


CHECKS = {
    "chat": (access.readable_chat, access.writable_chat),
    "persona": (access.readable_persona, access.writable_persona),
    "preset": (access.readable_preset, access.writable_preset),
}


@pytest.mark.parametrize(("kind", "record"), _owned())
@pytest.mark.parametrize("viewer", list(VIEWERS))
def test_chats_personas_and_presets_belong_to_their_owner(
    kind: str, record: object, viewer: str
) -> None:
    readable, writable = CHECKS[kind]
    user = VIEWERS[viewer]
    if viewer == "owner":
        assert readable(user, record) is record  # type: ignore[operator]
        assert writable(user, record) is record  # type: ignore[operator]
    elif viewer == "admin":
        assert readable(user, record) is record  # type: ignore[operator]
        with pytest.raises(Forbidden):
            writable(user, record)  # type: ignore[operator]
    else:
        with pytest.raises(NotFound, match=f"{kind} not found"):
            readable(user, record)  # type: ignore[operator]
        with pytest.raises(NotFound):
            writable(user, record)  # type: ignore[operator]
