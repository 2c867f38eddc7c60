"""The chat JSON API on SQLite and PostgreSQL, with a scripted backend: stable routes, streamed
replies, message tools, files, presets, and the errors a client sees."""

# ruff: noqa: F811  (fixtures come from chat_setup by name; test parameters reuse them)

import asyncio
import json

import httpx

from galatea.bootstrap import Services
from galatea.inference.errors import BackendHTTPError
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure
from galatea.services.reply_streams import ReplyStream
from tests.web.chat_setup import (  # noqa: F401
    ApiClient,
    app,
    event_kinds,
    events,
    make_character,
    make_chat,
    scripted,
    streamed,
)
from tests.web.conftest import Browser

SLOW_REPLY = " ".join(f"leaf{i}" for i in range(300))


async def wait_until_generating(client: httpx.AsyncClient, chat_id: str) -> None:
    for _ in range(400):
        if (await client.get(f"/api/v1/chats/{chat_id}")).json()["generating"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the reply never started")


async def wait_until_text(services: Services, chat_id: str) -> None:
    for _ in range(400):
        stream = await services.chat_turns.streams.get(chat_id)
        if isinstance(stream, ReplyStream) and stream.text:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no text was streamed")


async def test_the_stable_routes_keep_their_shape(alice: Browser, api_client: ApiClient) -> None:
    character_id = await make_character(alice)
    script = await api_client("alice")
    created = await script.post("/api/v1/chats", json={"character_id": character_id})
    assert created.status_code == 201
    chat = created.json()
    assert chat["id"]
    [greeting] = chat["messages"]
    assert greeting["shown_text"] == "Hello alice, I am Ava."
    assert (greeting["swipe_index"], greeting["swipe_count"]) == (0, 2)

    sent = await script.post(f"/api/v1/chats/{chat['id']}/messages", json={"text": "Hi Ava"})
    assert sent.status_code == 200
    assert event_kinds(sent) == ["accepted", "started", "token", "saved", "done"]
    assert streamed(sent) == "The ferns are lovely today."
    answer = dict(events(sent))
    assert answer["accepted"]["text"] == "Hi Ava"
    assert answer["done"] == {"status": "complete", "reason": "stop"}

    listed = await script.get(f"/api/v1/chats/{chat['id']}/messages")
    assert listed.status_code == 200
    path = listed.json()
    assert [m["text"] for m in path] == [
        "Hello {{user}}, I am {{char}}.",
        "Hi Ava",
        "The ferns are lovely today.",
    ]
    # The `saved` event is the stored message, in the same shape as the list's.
    assert answer["saved"] == path[-1]
    assert answer["accepted"] == {**path[1], "swipe_count": 1}


async def test_a_browser_sends_with_its_csrf_token_and_without_one_is_refused(
    alice: Browser,
) -> None:
    chat = await make_chat(alice, await make_character(alice))
    forged = await alice.client.post(
        f"/api/v1/chats/{chat['id']}/messages", json={"text": "forged"}
    )
    assert forged.status_code == 403
    sent = await alice.call("POST", f"/api/v1/chats/{chat['id']}/messages", json={"text": "ok"})
    assert streamed(sent) == "The ferns are lovely today."
    texts = [
        m["text"]
        for m in (await alice.call("GET", f"/api/v1/chats/{chat['id']}")).json()["messages"]
    ]
    assert "forged" not in texts


async def test_a_second_send_while_a_reply_runs_is_409_and_stop_keeps_the_text(
    alice: Browser, scripted: ScriptedBackend, services_of_app: Services
) -> None:
    scripted.replies = [SLOW_REPLY]
    scripted.token_delay = 0.005
    chat = await make_chat(alice, await make_character(alice))
    url = f"/api/v1/chats/{chat['id']}"
    first = asyncio.create_task(alice.call("POST", f"{url}/messages", json={"text": "one"}))
    await wait_until_generating(alice.client, chat["id"])
    second = await alice.call("POST", f"{url}/messages", json={"text": "two"})
    assert second.status_code == 409
    assert "already being written" in second.json()["error"]

    await wait_until_text(services_of_app, chat["id"])
    stopped = await alice.call("POST", f"{url}/stop")
    assert stopped.json() == {"stopped": True}
    answer = await first
    assert dict(events(answer))["done"] == {"status": "incomplete", "reason": "stopped"}
    path = (await alice.call("GET", f"{url}/messages")).json()
    assert [m["text"] for m in path[1:-1]] == ["one"]
    assert path[-1]["status"] == "incomplete"
    assert path[-1]["text"] == streamed(answer)
    assert (await alice.call("POST", f"{url}/stop")).json() == {"stopped": False}


async def test_a_reloaded_page_rejoins_the_running_reply(
    alice: Browser, scripted: ScriptedBackend
) -> None:
    scripted.token_delay = 0.005
    chat = await make_chat(alice, await make_character(alice))
    url = f"/api/v1/chats/{chat['id']}"
    assert (await alice.call("GET", f"{url}/stream")).status_code == 204
    first = asyncio.create_task(alice.call("POST", f"{url}/messages", json={"text": "hi"}))
    await wait_until_generating(alice.client, chat["id"])
    rejoined = await alice.call("GET", f"{url}/stream")
    assert streamed(rejoined) == "The ferns are lovely today."
    assert event_kinds(rejoined)[-2:] == ["saved", "done"]
    await first
    # Right after the end the stream can still be replayed, or read from a given event on.
    replay = await alice.call("GET", f"{url}/stream")
    numbered = [line for line in replay.text.splitlines() if line.startswith("id: ")]
    last_seen = int(numbered[-3].split()[1])
    tail = await alice.call("GET", f"{url}/stream", headers={"Last-Event-ID": str(last_seen)})
    assert event_kinds(tail) == ["saved", "done"]


async def test_a_backend_failure_reaches_the_client_in_words_with_the_partial_text_kept(
    alice: Browser, scripted: ScriptedBackend
) -> None:
    scripted.replies = [
        ScriptedFailure(BackendHTTPError(503, "upstream 10.1.2.3 exploded"), "Well, I")
    ]
    chat = await make_chat(alice, await make_character(alice))
    answer = await alice.call(
        "POST", f"/api/v1/chats/{chat['id']}/messages", json={"text": "Tell me"}
    )
    assert event_kinds(answer) == ["accepted", "started", "token", "saved", "error", "done"]
    assert dict(events(answer))["error"] == {"message": "the text generator reported an error"}
    assert "10.1.2.3" not in answer.text
    saved = dict(events(answer))["saved"]
    assert (saved["text"], saved["status"]) == ("Well, I", "incomplete")


async def test_message_tools_edit_hide_swipe_regenerate_continue_branch_delete(
    alice: Browser, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["First.", "Second.", " And more."]
    chat = await make_chat(alice, await make_character(alice))
    url = f"/api/v1/chats/{chat['id']}"
    await alice.call("POST", f"{url}/messages", json={"text": "Q"})
    regenerated = await alice.call("POST", f"{url}/regenerate", json={})
    saved = dict(events(regenerated))["saved"]
    assert (saved["text"], saved["swipe_index"], saved["swipe_count"]) == ("Second.", 1, 2)
    swiped = await alice.call("POST", f"{url}/messages/{saved['id']}/swipe", json={"step": -1})
    assert swiped.json()["messages"][-1]["text"] == "First."
    reply_id = swiped.json()["messages"][-1]["id"]
    continued = await alice.call("POST", f"{url}/continue", json={"message_id": reply_id})
    assert streamed(continued) == " And more."
    selected = await alice.call("POST", f"{url}/messages/{saved['id']}/select")
    assert selected.json()["messages"][-1]["text"] == "Second."

    edited = await alice.call("PATCH", f"{url}/messages/{reply_id}", json={"text": "Edited."})
    assert edited.json()["text"] == "Edited."
    user_id = selected.json()["messages"][1]["id"]
    hidden = await alice.call("PATCH", f"{url}/messages/{user_id}", json={"hidden": True})
    assert hidden.json()["hidden"] is True

    branched = await alice.call("POST", f"{url}/messages/{user_id}/branch", json={"title": "B"})
    assert branched.status_code == 201
    assert [m["text"] for m in branched.json()["messages"]][-1] == "Q"
    assert branched.json()["title"] == "B"

    deleted = await alice.call("DELETE", f"{url}/messages/{user_id}")
    assert user_id in deleted.json()["deleted"] and len(deleted.json()["deleted"]) == 3
    assert len((await alice.call("GET", f"{url}/messages")).json()) == 1


async def test_impersonate_streams_a_draft_and_stores_nothing(
    alice: Browser, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["Can we water the ferns together?"]
    chat = await make_chat(alice, await make_character(alice))
    url = f"/api/v1/chats/{chat['id']}"
    answer = await alice.call("POST", f"{url}/impersonate")
    assert dict(events(answer))["done"]["text"] == "Can we water the ferns together?"
    assert "saved" not in event_kinds(answer)
    assert len((await alice.call("GET", f"{url}/messages")).json()) == 1


async def test_the_prompt_inspector_shows_sections_with_counts(alice: Browser) -> None:
    chat = await make_chat(alice, await make_character(alice))
    url = f"/api/v1/chats/{chat['id']}"
    saved = dict(events(await alice.call("POST", f"{url}/messages", json={"text": "Hi"})))["saved"]
    info = (await alice.call("GET", f"{url}/messages/{saved['id']}/generation")).json()
    sections = info["runs"][0]["prompt"]["sections"]
    assert {"system", "character", "history"} <= {s["label"] for s in sections}
    assert sum(s["tokens"] for s in sections) > 0
    greeting_id = chat["messages"][0]["id"]
    missing = await alice.call("GET", f"{url}/messages/{greeting_id}/generation")
    assert missing.status_code == 404


async def test_chats_are_listed_renamed_configured_and_deleted(alice: Browser) -> None:
    character_id = await make_character(alice)
    chat = await make_chat(alice, character_id)
    url = f"/api/v1/chats/{chat['id']}"
    renamed = await alice.call(
        "PATCH", url, json={"title": "Greenhouse", "settings": {"top_k": 30}}
    )
    assert (renamed.json()["title"], renamed.json()["settings"]) == ("Greenhouse", {"top_k": 30})
    bad = await alice.call("PATCH", url, json={"settings": {"temperature": 99}})
    assert bad.status_code == 422
    assert bad.json()["field"] == "settings.temperature"
    forged = await alice.call("PATCH", url, json={"owner_id": "someone"})
    assert forged.status_code == 422
    settings = (await alice.call("GET", f"{url}/settings")).json()
    assert settings["effective"]["top_k"] == 30
    listed = (await alice.call("GET", f"/api/v1/chats?character_id={character_id}")).json()
    assert [(c["id"], c["title"], c["character_name"]) for c in listed] == [
        (chat["id"], "Greenhouse", "Ava")
    ]
    assert (await alice.call("DELETE", url)).status_code == 204
    assert (await alice.call("GET", url)).status_code == 404


async def test_export_then_import_keeps_the_swipes(alice: Browser) -> None:
    character_id = await make_character(alice)
    chat = await make_chat(alice, character_id)
    exported = await alice.call("GET", f"/api/v1/chats/{chat['id']}/export")
    assert exported.headers["content-disposition"].startswith("attachment;")
    first_line, greeting = (json.loads(line) for line in exported.text.splitlines())
    assert first_line["character_name"] == "Ava"
    assert len(greeting["swipes"]) == 2
    imported = await alice.call(
        "POST",
        "/api/v1/chats/import",
        data={"character_id": character_id},
        files={"file": ("chat.jsonl", exported.content, "application/jsonl")},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["messages"][0]["swipe_count"] == 2
    broken = await alice.call(
        "POST",
        "/api/v1/chats/import",
        data={"character_id": character_id},
        files={"file": ("chat.jsonl", b"{not json\n", "application/jsonl")},
    )
    assert broken.status_code == 422
    assert "line 1" in broken.json()["error"]


async def test_presets_api(alice: Browser, bob: Browser) -> None:
    fields = (await alice.call("GET", "/api/v1/presets/fields")).json()
    assert {"temperature", "max_reply_tokens", "template"} <= {f["name"] for f in fields}
    created = await alice.call(
        "POST", "/api/v1/presets", json={"name": "Calm", "settings": {"temperature": 0.3}}
    )
    assert created.status_code == 201
    preset = created.json()
    duplicate = await alice.call("POST", "/api/v1/presets", json={"name": "calm"})
    assert duplicate.status_code == 409
    changed = await alice.call(
        "PATCH", f"/api/v1/presets/{preset['id']}", json={"settings": {"top_p": 0.9}}
    )
    assert changed.json()["settings"] == {"top_p": 0.9}
    assert (await bob.call("GET", f"/api/v1/presets/{preset['id']}")).status_code == 404
    assert [p["name"] for p in (await alice.call("GET", "/api/v1/presets")).json()] == ["Calm"]
    assert (await alice.call("DELETE", f"/api/v1/presets/{preset['id']}")).status_code == 204


async def test_a_message_that_is_too_long_is_refused_in_words(alice: Browser) -> None:
    chat = await make_chat(alice, await make_character(alice))
    answer = await alice.call(
        "POST", f"/api/v1/chats/{chat['id']}/messages", json={"text": "x" * 40_000}
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "text: is 40000 characters long; the limit is 32000"


async def test_the_openapi_schema_lists_the_chat_routes(anonymous: Browser) -> None:
    schema = (await anonymous.page("/api/v1/openapi.json")).json()
    paths = schema["paths"]
    assert "/api/v1/chats/{chat_id}/messages" in paths
    assert "text/event-stream" in json.dumps(paths["/api/v1/chats/{chat_id}/messages"]["post"])
    assert "/api/v1/presets" in paths
