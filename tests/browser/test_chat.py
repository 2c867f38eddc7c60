"""In a real browser: a chat with a streamed reply, swipes, editing, stopping, a reload in the
middle of a reply that rejoins it, impersonation, export, and the phone layout.

The live server generates with a scripted backend that writes a word every few hundredths of
a second, so a reply takes long enough to be watched, stopped and reloaded in the middle.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from galatea.bootstrap import build_services
from galatea.config import Settings
from galatea.inference.scripted import ScriptedBackend
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.app import create_app
from tests.browser.conftest import (
    PASSWORD,
    LiveServer,
    assert_no_console_errors,
    screenshot,
    sign_up,
    start_live_server,
)
from tests.services.chat_setup import scripted_source

pytestmark = pytest.mark.browser

FIRST_REPLY = "*smiles warmly* Welcome to my **greenhouse**, the ferns are thriving."
SECOND_REPLY = "Oh, a visitor! Mind the cactus by the door."
LONG_REPLY = " ".join(f"petal{i}" for i in range(120)) + " THE-END"
CARD = {
    "name": "Ava",
    "description": "{{char}} is a botanist.",
    "first_mes": "Hello {{user}}, I am {{char}}. Come in!",
    "alternate_greetings": ["Back again, {{user}}?"],
    "visibility": "private",
}


@pytest.fixture
def scripted() -> ScriptedBackend:
    """The backend of the live server; tests set its replies."""
    return ScriptedBackend(replies=[FIRST_REPLY, SECOND_REPLY], token_delay=0.03)


@pytest.fixture
def live_server(tmp_path: Path, scripted: ScriptedBackend) -> Iterator[LiveServer]:
    """Galatea on SQLite, generating with the scripted backend."""
    settings = Settings(data_dir=tmp_path / "data")
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
    services = build_services(settings, hasher=hasher, backends=[scripted_source(scripted)])
    with start_live_server(create_app(settings, services=services)) as server:
        yield server


def open_new_chat(page: Page, live_server: LiveServer, username: str = "alice") -> str:
    """Sign up, make a character through the API, and start a chat from its page."""
    sign_up(page, username)
    with live_server.api() as client:
        token = client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        character = client.post("/api/v1/characters", json=CARD, headers=headers)
    page.goto(f"/characters/{character.json()['id']}")
    page.get_by_role("button", name="Start chat").click()
    page.wait_for_url(re.compile(r"/chats/[\w-]+$"))
    return page.url.rsplit("/", 1)[1]


def send(page: Page, text: str) -> None:
    page.locator("#composer-text").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def last_reply(page: Page) -> Locator:
    return page.locator(".message-character").last


def test_a_streamed_reply_then_swipes_and_an_edit(page: Page, live_server: LiveServer) -> None:
    open_new_chat(page, live_server)
    greeting = page.locator(".message-character").first
    expect(greeting).to_contain_text("Hello alice, I am Ava. Come in!")
    expect(greeting.locator(".swipe-count")).to_have_text("1/2")
    screenshot(page, "chat-greeting")

    send(page, "Hello! May I see your plants?")
    # While it streams, the text grows in a bubble of its own, and Stop replaces Send.
    streaming = page.locator(".message-streaming.message-character")
    expect(streaming).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(page.locator(".message-user").last).to_contain_text("May I see your plants?")
    # Once saved, the reply is re-rendered from the server with its Markdown.
    expect(last_reply(page).locator("strong")).to_have_text("greenhouse")
    expect(last_reply(page).locator("em")).to_have_text("smiles warmly")
    expect(page.locator(".message-streaming")).to_have_count(0)
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    screenshot(page, "chat-reply")

    # Past the newest version, the right arrow writes another one; the left goes back.
    last_reply(page).get_by_role("button", name="Write a new version").click()
    expect(last_reply(page)).to_contain_text("Mind the cactus")
    expect(last_reply(page).locator(".swipe-count")).to_have_text("2/2")
    last_reply(page).get_by_role("button", name="Previous version").click()
    expect(last_reply(page).locator(".swipe-count")).to_have_text("1/2")
    expect(last_reply(page)).to_contain_text("the ferns are thriving")

    # The greeting's alternate is a swipe too: a branch of its own, without the talk so far,
    # which comes back with the first greeting.
    page.locator(".message-character").first.get_by_role("button", name="Next version").click()
    expect(page.locator(".message-character").first).to_contain_text("Back again, alice?")
    expect(page.locator(".message")).to_have_count(1)
    page.locator(".message-character").first.get_by_role("button", name="Next version").click()
    expect(page.locator(".message")).to_have_count(3)

    reply = last_reply(page)
    reply.get_by_role("button", name="Edit").click()
    editor = reply.locator("textarea")
    expect(editor).to_have_value(FIRST_REPLY)
    editor.fill("An edited reply with _feeling_.")
    reply.get_by_role("button", name="Save").click()
    expect(last_reply(page).locator("em")).to_have_text("feeling")
    page.reload()
    expect(last_reply(page)).to_contain_text("An edited reply with feeling.")
    assert_no_console_errors(page)


def test_a_reload_in_the_middle_of_a_reply_rejoins_it(
    page: Page, live_server: LiveServer, scripted: ScriptedBackend
) -> None:
    scripted.replies = [LONG_REPLY]
    open_new_chat(page, live_server)
    send(page, "Tell me a long story.")
    streaming = page.locator(".message-streaming.message-character .message-body")
    expect(streaming).to_contain_text("petal3")
    page.reload()
    # The reloaded page knows a reply is being written and follows it from the start.
    expect(page.locator("#chat")).to_have_attribute("data-generating", "true")
    expect(page.locator(".message-streaming .message-body")).to_contain_text("petal1 petal2")
    screenshot(page, "chat-rejoined")
    expect(last_reply(page)).to_contain_text("THE-END", timeout=20_000)
    expect(page.locator(".message-streaming")).to_have_count(0)
    # Exactly one reply was stored, whole.
    texts = page.locator(".message-character .message-body").all_inner_texts()
    assert texts[-1].strip() == LONG_REPLY
    assert len(texts) == 2
    assert_no_console_errors(page)


def test_stop_keeps_the_text_so_far(
    page: Page, live_server: LiveServer, scripted: ScriptedBackend
) -> None:
    scripted.replies = [LONG_REPLY]
    open_new_chat(page, live_server)
    send(page, "Go on and on.")
    expect(page.locator(".message-streaming.message-character .message-body")).to_contain_text(
        "petal2"
    )
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#chat-status")).to_have_text("Stopped; the text so far is kept.")
    reply = last_reply(page)
    expect(reply.locator(".badge-warn")).to_have_text("incomplete")
    assert "THE-END" not in reply.inner_text()
    # Continue finishes the same message.
    scripted.replies = [" and the rest."]
    page.get_by_role("button", name="Continue").click()
    expect(last_reply(page)).to_contain_text("and the rest.")
    expect(last_reply(page).locator(".badge-warn")).to_have_count(0)
    assert_no_console_errors(page)


def test_impersonate_drafts_the_next_message_in_the_box(
    page: Page, live_server: LiveServer, scripted: ScriptedBackend
) -> None:
    scripted.replies = ["alice: Could I take a cutting home?"]
    open_new_chat(page, live_server)
    page.get_by_role("button", name="Impersonate").click()
    expect(page.locator("#composer-text")).to_have_value("Could I take a cutting home?")
    expect(page.locator(".message")).to_have_count(1)
    assert_no_console_errors(page)


def test_the_prompt_inspector_and_export(page: Page, live_server: LiveServer) -> None:
    open_new_chat(page, live_server)
    send(page, "Hi")
    expect(last_reply(page).locator("strong")).to_have_text("greenhouse")
    last_reply(page).get_by_role("button", name="Prompt").click()
    dialog = page.locator("#inspector")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("tokens")
    expect(dialog.locator(".inspector-section summary").first).to_contain_text("system")
    screenshot(page, "chat-inspector")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    page.locator("details summary", has_text="Chat").last.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export (SillyTavern JSONL)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    header, *messages = (json.loads(line) for line in lines)
    assert header["character_name"] == "Ava"
    assert [m["mes"] for m in messages][-2:] == ["Hi", FIRST_REPLY]
    assert len(messages[0]["swipes"]) == 2
    assert_no_console_errors(page)


def test_the_chat_fits_a_phone(chromium: Browser, live_server: LiveServer) -> None:
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    try:
        open_new_chat(page, live_server, "phoebe")
        send(page, "Hello from my phone")
        expect(last_reply(page).locator("strong")).to_have_text("greenhouse")
        expect(page.locator("#composer-text")).to_be_in_viewport()
        overflow = page.evaluate(
            "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        assert overflow <= 1
        screenshot(page, "chat-phone")
    finally:
        context.close()
