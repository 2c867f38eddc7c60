"""In a real browser: sign up, import a card, find it in the library, edit, export, age gate."""

import re

import pytest
from playwright.sync_api import Page, expect

from galatea.services.cards import import_card
from tests.browser.conftest import LiveServer, assert_no_console_errors, screenshot, sign_up
from tests.formats.make_fixtures import fixture

pytestmark = pytest.mark.browser


def _import(page: Page, *names: str, visibility: str = "public") -> None:
    page.goto("/characters/import")
    page.locator("#files").set_input_files(
        [
            {"name": name, "mimeType": "application/octet-stream", "buffer": fixture(name)}
            for name in names
        ]
    )
    page.locator("#visibility").select_option(visibility)
    page.get_by_role("button", name="Import").click()


def test_sign_up_import_a_card_and_find_it_in_the_library(page: Page) -> None:
    page.goto("/")
    screenshot(page, "library-empty")
    sign_up(page, "alice")
    _import(page, "v2_after_idat.png", "svg_named.png")
    expect(page.get_by_text("Imported as")).to_be_visible()
    expect(page.get_by_text("this is an SVG image, not a character card")).to_be_visible()
    screenshot(page, "import-results")
    page.goto("/library")
    card = page.locator(".character-card", has_text="Maren Holt")
    expect(card).to_be_visible()
    expect(card.locator("img")).to_have_attribute("src", re.compile(r"/avatar\?v=[0-9a-f]+$"))
    screenshot(page, "library")
    card.get_by_role("link", name="Maren Holt").click()
    expect(page.get_by_role("heading", name="Maren Holt")).to_be_visible()
    expect(page.get_by_role("button", name="Start chat")).to_be_visible()
    expect(page.locator(".greeting").first).to_contain_text("You're the navigator?")
    screenshot(page, "character")
    assert_no_console_errors(page)


def test_a_new_user_adds_the_sample_character_and_opens_a_chat(page: Page) -> None:
    sign_up(page, "alice")
    page.goto("/characters/mine")
    page.get_by_role("button", name="Add Wren to my characters").click()
    expect(page.get_by_role("heading", name="Wren")).to_be_visible()
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator(".message").first).to_contain_text("lamplight spills onto the wet stones")
    expect(page.get_by_placeholder(re.compile("Write as alice"))).to_be_visible()
    assert_no_console_errors(page)


def test_the_library_search_updates_in_place(page: Page, live_server: LiveServer) -> None:
    token = live_server.new_account("maker")
    with live_server.api(token) as api:
        for name, tags in (("Anna", ["sci-fi"]), ("Bertrand", ["fantasy"])):
            api.post(
                "/api/v1/characters", json={"name": name, "tags": tags, "visibility": "public"}
            )
    page.goto("/library")
    expect(page.locator(".character-card")).to_have_count(2)
    page.get_by_role("searchbox", name="Search").fill("bert")
    expect(page.locator(".character-card")).to_have_count(1)
    expect(page.locator(".character-card")).to_contain_text("Bertrand")
    assert "q=bert" in page.url
    page.get_by_role("link", name="fantasy").click()
    expect(page.locator(".character-card")).to_have_count(1)
    assert_no_console_errors(page)


def test_edit_a_character_in_the_form(page: Page) -> None:
    sign_up(page, "alice")
    _import(page, "v3.json", visibility="private")
    page.get_by_role("link", name="Ixchel").click()
    page.get_by_role("link", name="Edit").click()
    page.locator("#scenario").fill("A storm over the observatory.")
    page.get_by_role("button", name="Add another greeting").click()
    page.locator("textarea[name=alternate_greetings]").last.fill("A brand new greeting.")
    page.locator("#visibility").select_option("public")
    screenshot(page, "character-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_text("Scenario").click()
    expect(page.get_by_text("A storm over the observatory.")).to_be_visible()
    expect(page.get_by_text("2 alternate greetings")).to_be_visible()
    assert_no_console_errors(page)


def test_export_downloads_the_card_in_each_format(page: Page) -> None:
    sign_up(page, "alice")
    _import(page, "card.charx", visibility="private")
    page.get_by_role("link", name="Ixchel").click()
    original = import_card(fixture("card.charx")).character
    for label, suffix in (("PNG card", ".png"), ("CharX", ".charx"), ("JSON (V3)", ".json")):
        with page.expect_download() as download:
            page.get_by_role("link", name=label).click()
        saved = download.value
        assert saved.suggested_filename == f"Ixchel{suffix}"
        path = saved.path()
        assert path is not None
        again = import_card(path.read_bytes()).character
        assert (again.name, again.character_book) == (original.name, original.character_book)


def test_adult_characters_wait_for_the_age_confirmation(
    page: Page, live_server: LiveServer
) -> None:
    token = live_server.new_account("maker")
    with live_server.api(token) as api:
        adult = api.post(
            "/api/v1/characters", json={"name": "Nightshade", "visibility": "public", "adult": True}
        ).json()
    page.goto("/library")
    expect(page.get_by_text("Nightshade")).to_have_count(0)
    sign_up(page, "bob")
    page.goto("/library")
    expect(page.get_by_text("Nightshade")).to_have_count(0)
    response = page.goto(f"/characters/{adult['id']}")
    assert response is not None and response.status == 404
    page.goto("/settings")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="I am 18 or older").click()
    expect(page.get_by_text("Adult characters are now shown to you.")).to_be_visible()
    screenshot(page, "settings")
    page.goto("/library")
    expect(page.locator(".character-card", has_text="Nightshade")).to_be_visible()
    expect(page.locator(".badge-adult")).to_be_visible()
    assert_no_console_errors(page, allow=("404",))


def test_pages_fit_a_phone_screen(page: Page, live_server: LiveServer) -> None:
    token = live_server.new_account("maker")
    with live_server.api(token) as api:
        api.post(
            "/api/v1/characters",
            json={
                "name": "A character with a rather long name indeed",
                "visibility": "public",
                "tags": ["one", "two", "three", "four", "five"],
                "creator_notes": "x " * 300,
            },
        )
    page.set_viewport_size({"width": 390, "height": 844})
    sign_up(page, "phoneuser")
    for path, name in (
        ("/library", "mobile-library"),
        ("/characters/new", "mobile-form"),
        ("/settings", "mobile-settings"),
    ):
        page.goto(path)
        overflow = page.evaluate(
            "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        screenshot(page, name)
    assert_no_console_errors(page)
