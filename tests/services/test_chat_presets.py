"""Presets: checked settings, names unique per user, and how a chat's settings resolve."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galatea.bootstrap import Services
from galatea.services.chats import ChatChanges
from galatea.services.errors import Conflict, InvalidInput, NotFound
from galatea.services.generation import ROLEPLAY_SAMPLING
from galatea.services.presets import FIELDS, check_settings, resolve_settings
from tests.services.chat_setup import Cast, cast, chat_services, scripted  # noqa: F401


def test_defaults_resolve_to_the_roleplay_settings() -> None:
    settings = resolve_settings()
    assert settings.sampling == ROLEPLAY_SAMPLING
    assert settings.template is None
    assert settings.max_reply_tokens == 250


def test_later_layers_win_and_samplers_land_in_the_sampling_params() -> None:
    settings = resolve_settings(
        {"temperature": 0.5, "max_reply_tokens": 100, "author_note": "Rainy day."},
        {"temperature": 0.9, "top_k": 40},
    )
    assert settings.sampling.temperature == 0.9
    assert settings.sampling.top_k == 40
    assert settings.sampling.min_p == ROLEPLAY_SAMPLING.min_p
    assert settings.max_reply_tokens == 100
    assert settings.author_note == "Rainy day."


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"temperature": "hot"}, "settings.temperature"),
        ({"temperature": 9}, "settings.temperature"),
        ({"top_k": 1.5}, "settings.top_k"),
        ({"max_reply_tokens": None}, "settings.max_reply_tokens"),
        ({"template": "no-such-format"}, "settings.template"),
        ({"grammar": "root ::= x"}, "settings.grammar"),
        ({"seed": True}, "settings.seed"),
        ({"temperature": float("nan")}, "settings.temperature"),
        ({"author_note": "x" * 20_001}, "settings.author_note"),
        ({"system_prompt": 5}, "settings.system_prompt"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_settings(raw)
    assert caught.value.field == field


def test_form_strings_are_read_as_numbers_and_empty_means_default() -> None:
    clean = check_settings({"temperature": "0.7", "top_k": "40", "context_length": "", "seed": ""})
    assert clean == {"temperature": 0.7, "top_k": 40, "context_length": None, "seed": None}


@given(
    st.dictionaries(
        st.sampled_from([f.name for f in FIELDS] + ["unknown", "logit_bias"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(10**12), 10**12),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=40),
        ),
        max_size=6,
    )
)
def test_any_settings_are_either_refused_clearly_or_resolve(raw: dict[str, Any]) -> None:
    try:
        clean = check_settings(raw)
    except InvalidInput as error:
        refused: InvalidInput | None = error
    else:
        refused = None
    if refused is not None:
        assert refused.field.startswith("settings.")
        return
    settings = resolve_settings(clean)
    assert settings.max_reply_tokens >= 1
    assert 0 <= settings.sampling.temperature <= 5


async def test_presets_belong_to_their_owner_and_names_are_unique_per_user(
    chat_services: Services, cast: Cast
) -> None:
    presets = chat_services.presets
    mine = await presets.create(cast.alice, "Creative", {"temperature": 1.2})
    with pytest.raises(Conflict, match="already"):
        await presets.create(cast.alice, "creative", {})
    theirs = await presets.create(cast.bob, "Creative", {})
    assert [p.name for p in await presets.list_presets(cast.alice)] == ["Creative"]
    for attempt in (
        presets.get(cast.bob, mine.id),
        presets.update(cast.bob, mine.id, name="Stolen"),
        presets.delete(cast.bob, mine.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    renamed = await presets.update(cast.alice, mine.id, name="Wild", settings={"top_p": 0.9})
    assert (renamed.name, renamed.settings) == ("Wild", {"top_p": 0.9})
    await presets.delete(cast.alice, mine.id)
    assert await presets.list_presets(cast.alice) == []
    assert (await presets.get(cast.bob, theirs.id)).name == "Creative"


async def test_a_chat_uses_its_preset_else_the_default_preset_then_its_overrides(
    chat_services: Services, cast: Cast
) -> None:
    chat = await chat_services.chats.start(cast.alice, cast.character.id)
    view = await chat_services.chats.settings(cast.alice, chat.id)
    assert view.effective["temperature"] == ROLEPLAY_SAMPLING.temperature

    await chat_services.presets.create(cast.alice, "default", {"temperature": 0.4})
    view = await chat_services.chats.settings(cast.alice, chat.id)
    assert view.effective["temperature"] == 0.4

    chosen = await chat_services.presets.create(cast.alice, "Focused", {"temperature": 0.2})
    await chat_services.chats.update(
        cast.alice, chat.id, ChatChanges(preset_id=chosen.id, settings={"max_reply_tokens": 90})
    )
    view = await chat_services.chats.settings(cast.alice, chat.id)
    assert view.preset_values == {"temperature": 0.2}
    assert view.overrides == {"max_reply_tokens": 90}
    assert (view.effective["temperature"], view.effective["max_reply_tokens"]) == (0.2, 90)

    # A deleted preset leaves the chat on the Default preset again.
    await chat_services.presets.delete(cast.alice, chosen.id)
    view = await chat_services.chats.settings(cast.alice, chat.id)
    assert view.effective["temperature"] == 0.4
    with pytest.raises(InvalidInput, match="top_k"):
        await chat_services.chats.update(cast.alice, chat.id, ChatChanges(settings={"top_k": -1}))
