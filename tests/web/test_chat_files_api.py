"""Chat files through the JSON API on SQLite and PostgreSQL: a SillyTavern chat imported and
exported again keeps its data (per-message extra, swipe_info, generation times, avatars, the
chat's metadata), which the message API never shows; replies generated here export their
model and token count where SillyTavern writes them."""

import json
from typing import Any

# The fixtures come from chat_setup by name.
from tests.web.chat_setup import (  # noqa: F401
    app,
    events,
    make_character,
    make_chat,
    scripted,
)
from tests.web.conftest import Browser

HEADER = {
    "user_name": "Alex",
    "character_name": "Seraphina",
    "create_date": "2024-05-01@14h03m21s",
    "chat_metadata": {
        "note_prompt": "It is raining.",
        "note_interval": 1,
        "note_depth": 4,
        "variables": {"trust": 3},
        "tainted": True,
    },
}
GREETING = {
    "name": "Seraphina",
    "is_user": False,
    "is_system": False,
    "send_date": "May 1, 2024 2:03pm",
    "mes": "Welcome back.",
    "extra": {},
    "swipe_id": 0,
    "swipes": ["Welcome back.", "You came!"],
    "swipe_info": [],
}
USER = {
    "name": "Alex",
    "is_user": True,
    "is_system": False,
    "send_date": "May 1, 2024 2:04pm",
    "mes": "What's new?",
    "extra": {"token_count": 4},
    "force_avatar": "User Avatars/alex.png",
}
REPLY = {
    "extra": {
        "api": "openai",
        "model": "some-model",
        "token_count": 9,
        "reasoning": "She should mention the storm.",
        "reasoning_duration": 1200,
        "display_text": "<b>The forest is quiet.</b>",
    },
    "name": "Seraphina",
    "is_user": False,
    "send_date": "2024-05-01T14:05:30.000Z",
    "mes": "The forest is quiet.",
    "title": "",
    "gen_started": "2024-05-01T14:05:28.000Z",
    "gen_finished": "2024-05-01T14:05:30.000Z",
    "bookmark_link": "Branch #1",
    "swipe_id": 1,
    "swipes": ["A storm is coming.", "The forest is quiet."],
    "swipe_info": [
        {
            "send_date": "2024-05-01T14:05:10.000Z",
            "gen_started": "2024-05-01T14:05:08.000Z",
            "gen_finished": "2024-05-01T14:05:10.000Z",
            "extra": {"api": "openai", "model": "some-model", "token_count": 5},
        },
        {
            "send_date": "2024-05-01T14:05:30.000Z",
            "gen_started": "2024-05-01T14:05:28.000Z",
            "gen_finished": "2024-05-01T14:05:30.000Z",
            "extra": {
                "api": "openai",
                "model": "some-model",
                "token_count": 9,
                "reasoning": "She should mention the storm.",
                "reasoning_duration": 1200,
            },
        },
    ],
}
SILLYTAVERN_CHAT = "\n".join(json.dumps(line) for line in (HEADER, GREETING, USER, REPLY))


async def _import(browser: Browser, character_id: str, data: bytes) -> dict[str, Any]:
    response = await browser.call(
        "POST",
        "/api/v1/chats/import",
        data={"character_id": character_id},
        files={"file": ("chat.jsonl", data, "application/jsonl")},
    )
    assert response.status_code == 201, response.text
    chat: dict[str, Any] = response.json()
    return chat


async def _export(browser: Browser, chat_id: str) -> list[dict[str, Any]]:
    response = await browser.call("GET", f"/api/v1/chats/{chat_id}/export")
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.split("\n")]


async def test_a_sillytavern_chat_imported_and_exported_keeps_its_data(alice: Browser) -> None:
    character_id = await make_character(alice)
    chat = await _import(alice, character_id, SILLYTAVERN_CHAT.encode())
    header, *lines = await _export(alice, chat["id"])
    assert lines == [GREETING, USER, REPLY]
    assert header["chat_metadata"] == HEADER["chat_metadata"]
    assert header["create_date"] == HEADER["create_date"]
    # Kept data is for export only: the message API shows none of it.
    shown = (await alice.call("GET", f"/api/v1/chats/{chat['id']}/messages")).json()
    assert [m["text"] for m in shown] == ["Welcome back.", "What's new?", "The forest is quiet."]
    assert not any({"extra", "swipe_info", "reasoning"} & set(m) for m in shown)
    assert "storm" not in json.dumps(shown)


async def test_swiping_then_exporting_writes_that_swipes_own_data(alice: Browser) -> None:
    chat = await _import(alice, await make_character(alice), SILLYTAVERN_CHAT.encode())
    reply = (await alice.call("GET", f"/api/v1/chats/{chat['id']}/messages")).json()[-1]
    swiped = await alice.call(
        "POST", f"/api/v1/chats/{chat['id']}/messages/{reply['id']}/swipe", json={"step": -1}
    )
    assert swiped.status_code == 200, swiped.text
    *_, line = await _export(alice, chat["id"])
    assert (line["mes"], line["swipe_id"]) == ("A storm is coming.", 0)
    assert line["extra"] == REPLY["swipe_info"][0]["extra"]
    assert line["send_date"] == "2024-05-01T14:05:10.000Z"
    assert line["swipe_info"] == REPLY["swipe_info"]


async def test_a_reply_generated_here_exports_its_model_and_token_count(alice: Browser) -> None:
    chat = await make_chat(alice, await make_character(alice))
    sent = await alice.call("POST", f"/api/v1/chats/{chat['id']}/messages", json={"text": "Hi"})
    assert dict(events(sent))["done"]["status"] == "complete"
    *_, line = await _export(alice, chat["id"])
    assert line["mes"] == "The ferns are lovely today."
    assert line["extra"] == {"model": "default", "token_count": 5}
    assert line["gen_started"] <= line["gen_finished"]
    assert line["swipe_info"][0]["extra"] == line["extra"]


async def test_kept_data_over_its_bound_is_refused_naming_the_line(alice: Browser) -> None:
    character_id = await make_character(alice)
    huge = {**USER, "extra": {"reasoning": "x" * 70_000}}
    data = "\n".join(json.dumps(line) for line in (HEADER, GREETING, huge)).encode()
    response = await alice.call(
        "POST",
        "/api/v1/chats/import",
        data={"character_id": character_id},
        files={"file": ("chat.jsonl", data, "application/jsonl")},
    )
    assert response.status_code == 422
    assert "line 3: a message's extra data" in response.json()["error"]
    assert (await alice.call("GET", "/api/v1/chats")).json() == []
