"""The characters API: stable routes, card fields at top level, import / export, avatars."""

import io
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PillowImage

from galatea.services.cards import import_card
from tests.formats.make_fixtures import fixture
from tests.web.conftest import Browser, client_for

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]

PUBLIC_FIELDS = {
    "id", "name", "nickname", "description", "personality", "scenario", "first_mes",
    "alternate_greetings", "group_only_greetings", "mes_example", "system_prompt",
    "post_history_instructions", "creator_notes", "tags", "creator", "character_version",
    "character_book", "visibility", "adult", "owner", "avatar_url", "chat_count",
    "created_at", "updated_at",
}  # fmt: skip
SUMMARY_FIELDS = {
    "id", "name", "creator", "tags", "summary", "visibility", "adult", "owner", "avatar_url",
    "chat_count", "created_at", "updated_at",
}  # fmt: skip


def png(size: tuple[int, int] = (10, 10)) -> bytes:
    output = io.BytesIO()
    PillowImage.new("RGB", size, (10, 200, 10)).save(output, format="PNG")
    return output.getvalue()


@pytest.fixture
async def script(alice: Browser, api_client: ApiClient) -> httpx.AsyncClient:
    return await api_client("alice")


async def _import(client: httpx.AsyncClient, name: str, **form: str) -> dict[str, object]:
    response = await client.post(
        "/api/v1/characters/import", files={"file": (name, fixture(name))}, data=form
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_import_publish_list_and_open_with_the_stable_routes(
    script: httpx.AsyncClient, app: FastAPI
) -> None:
    imported = await _import(script, "v2_after_idat.png")
    assert set(imported) == PUBLIC_FIELDS
    assert (imported["name"], imported["visibility"], imported["owner"]) == (
        "Maren Holt",
        "private",
        {"id": imported["owner"]["id"], "username": "alice"},  # type: ignore[index]
    )
    assert imported["character_book"] is not None
    assert str(imported["avatar_url"]).startswith(f"/api/v1/characters/{imported['id']}/avatar")
    async with client_for(app) as visitor:
        assert (await visitor.get(f"/api/v1/characters/{imported['id']}")).status_code == 404
        published = await script.patch(
            f"/api/v1/characters/{imported['id']}", json={"visibility": "public"}
        )
        assert published.status_code == 200 and published.json()["visibility"] == "public"
        listed = await visitor.get("/api/v1/characters?q=maren&tag=Airship&sort=popular")
        opened = await visitor.get(f"/api/v1/characters/{imported['id']}")
    assert [item["id"] for item in listed.json()["items"]] == [imported["id"]]
    assert set(listed.json()["items"][0]) == SUMMARY_FIELDS
    assert listed.json()["total"] == 1
    assert opened.json()["first_mes"].startswith("You're the navigator?")


async def test_the_sample_character_is_added_as_a_private_copy(
    script: httpx.AsyncClient, bob: Browser, api_client: ApiClient
) -> None:
    added = await script.post("/api/v1/characters/sample")
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["name"], body["visibility"], body["adult"]) == ("Wren", "private", False)
    assert body["alternate_greetings"] and "Saltmarrow" in body["description"]
    again = (await script.post("/api/v1/characters/sample")).json()
    assert again["id"] != body["id"]  # each call is a copy the user may edit freely
    other = await api_client("bob")
    assert (await other.get(f"/api/v1/characters/{body['id']}")).status_code == 404


async def test_every_export_format_downloads_the_stored_card(script: httpx.AsyncClient) -> None:
    imported = await _import(script, "card.charx")
    url = f"/api/v1/characters/{imported['id']}/export"
    expected = {
        "png": ("image/png", "Ixchel.png"),
        "json": ("application/json", "Ixchel.json"),
        "json_v2": ("application/json", "Ixchel.json"),
        "charx": ("application/zip", "Ixchel.charx"),
    }
    original = import_card(fixture("card.charx")).character
    for fmt, (media_type, filename) in expected.items():
        response = await script.get(url, params={"format": fmt})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert f'filename="{filename}"' in response.headers["content-disposition"]
        assert response.headers["content-disposition"].startswith("attachment;")
        again = import_card(response.content).character
        assert (again.name, again.character_book) == (original.name, original.character_book)
    bad = await script.get(url, params={"format": "yaml"})
    assert bad.status_code == 422


async def test_a_character_made_through_the_api_can_be_edited_field_by_field(
    script: httpx.AsyncClient,
) -> None:
    created = await script.post(
        "/api/v1/characters",
        json={"name": "Wren", "nickname": "W", "tags": ["cozy"], "first_mes": "Hi.", "adult": True},
    )
    assert created.status_code == 201
    character = created.json()
    assert (character["adult"], character["nickname"], character["tags"]) == (True, "W", ["cozy"])
    url = f"/api/v1/characters/{character['id']}"
    book = {"entries": [{"keys": ["lamp"], "content": "Old lamp.", "enabled": True}]}
    edited = await script.patch(url, json={"nickname": None, "character_book": book})
    body = edited.json()
    assert (body["nickname"], body["first_mes"], body["tags"]) == (None, "Hi.", ["cozy"])
    assert body["character_book"]["entries"][0]["content"] == "Old lamp."
    assert (await script.delete(url)).status_code == 204
    assert (await script.get(url)).status_code == 404


@pytest.mark.parametrize(
    "field",
    [
        {"owner": {"id": "x", "username": "mallory"}},
        {"owner_id": "x"},
        {"id": "abc"},
        {"chat_count": 1000},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"avatar_url": "data:image/svg+xml,<svg onload=alert(1)>"},
        {"extensions": {"x": 1}},
    ],
)
async def test_server_owned_fields_are_refused(
    script: httpx.AsyncClient, field: dict[str, object]
) -> None:
    created = (await script.post("/api/v1/characters", json={"name": "Wren"})).json()
    url = f"/api/v1/characters/{created['id']}"
    patched = await script.patch(url, json=field)
    posted = await script.post("/api/v1/characters", json={"name": "Other", **field})
    assert patched.status_code == posted.status_code == 422
    assert (await script.get(url)).json() == created
    assert (await script.get("/api/v1/me/characters")).json()["total"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"description": "x" * 200_001}, "description"),
        ({"tags": ["t"] * 65}, "tags"),
        ({"visibility": "everyone"}, "visibility"),
        ({"description": 5}, "description"),
    ],
)
async def test_a_bad_value_is_a_422_naming_the_field(
    script: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    created = (await script.post("/api/v1/characters", json={"name": "Wren"})).json()
    response = await script.patch(f"/api/v1/characters/{created['id']}", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_a_deeply_nested_body_is_a_client_error(script: httpx.AsyncClient) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    response = await script.post(
        "/api/v1/characters",
        content=f'{{"name": "x", "character_book": {nested}}}',
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("svg_named.png", 415, "this is an SVG image"),
        ("bad_crc.png", 422, "bad CRC"),
        ("zip_slip.charx", 422, "file: "),
        ("pixel_flood.png", 422, "file: "),
    ],
)
async def test_a_bad_card_file_is_refused_in_one_line(
    script: httpx.AsyncClient, name: str, status: int, message: str
) -> None:
    response = await script.post("/api/v1/characters/import", files={"file": (name, fixture(name))})
    assert response.status_code in (status, 413), response.text
    assert message in response.json()["error"] and "\n" not in response.json()["error"]
    assert (await script.get("/api/v1/me/characters")).json()["total"] == 0


async def test_a_batch_import_reports_each_file(script: httpx.AsyncClient) -> None:
    response = await script.post(
        "/api/v1/characters/import-batch",
        files=[
            ("files", ("a.json", fixture("v2.json"))),
            ("files", ("b.png", fixture("bad_crc.png"))),
        ],
        data={"visibility": "unlisted"},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["filename"], r["ok"]) for r in results] == [("a.json", True), ("b.png", False)]
    assert results[0]["character"]["visibility"] == "unlisted"
    assert "bad CRC" in results[1]["error"]


async def test_an_avatar_is_re_encoded_and_served_safely(
    script: httpx.AsyncClient, app: FastAPI
) -> None:
    created = (
        await script.post("/api/v1/characters", json={"name": "Wren", "visibility": "public"})
    ).json()
    url = f"/api/v1/characters/{created['id']}/avatar"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    refused = await script.put(url, files={"file": ("avatar.png", svg, "image/png")})
    assert refused.status_code == 415
    stored = await script.put(
        url, files={"file": ("a.png", png() + b"<html><script>alert(1)</script>")}
    )
    avatar_url = stored.json()["avatar_url"]
    assert avatar_url.startswith(url + "?v=")
    async with client_for(app) as visitor:
        served = await visitor.get(avatar_url)
        cached = await visitor.get(avatar_url, headers={"If-None-Match": served.headers["etag"]})
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    assert b"<script>" not in served.content
    assert cached.status_code == 304
    assert (await script.delete(url)).status_code == 204
    assert (await script.get(url)).status_code == 404


async def test_adult_characters_are_hidden_until_the_age_is_confirmed(
    script: httpx.AsyncClient, bob: Browser, app: FastAPI
) -> None:
    adult = (
        await script.post(
            "/api/v1/characters", json={"name": "Night", "visibility": "public", "adult": True}
        )
    ).json()
    async with client_for(app) as visitor:
        assert (await visitor.get("/api/v1/characters")).json()["total"] == 0
        assert (await visitor.get(f"/api/v1/characters/{adult['id']}")).status_code == 404
        export = await visitor.get(f"/api/v1/characters/{adult['id']}/export")
        assert export.status_code == 404
    assert (await bob.call("GET", f"/api/v1/characters/{adult['id']}")).status_code == 404
    await bob.call("POST", "/api/v1/me/age-confirmation")
    assert (await bob.call("GET", "/api/v1/characters")).json()["total"] == 1
    assert (await bob.call("GET", f"/api/v1/characters/{adult['id']}")).status_code == 200


async def test_an_unlisted_character_opens_by_link_but_is_not_listed(
    script: httpx.AsyncClient, app: FastAPI
) -> None:
    created = (
        await script.post("/api/v1/characters", json={"name": "Link", "visibility": "unlisted"})
    ).json()
    async with client_for(app) as visitor:
        assert (await visitor.get("/api/v1/characters")).json()["total"] == 0
        assert (await visitor.get(f"/api/v1/characters/{created['id']}")).status_code == 200


async def test_someone_elses_public_character_is_read_only(
    script: httpx.AsyncClient, bob: Browser
) -> None:
    created = (
        await script.post("/api/v1/characters", json={"name": "Open", "visibility": "public"})
    ).json()
    url = f"/api/v1/characters/{created['id']}"
    assert (await bob.call("GET", url)).status_code == 200
    assert (await bob.call("PATCH", url, json={"name": "Stolen"})).status_code == 403
    assert (await bob.call("DELETE", url)).status_code == 403
    assert (await script.get(url)).json()["name"] == "Open"


async def test_my_characters_lists_every_visibility(script: httpx.AsyncClient) -> None:
    for visibility in ("private", "unlisted", "public"):
        await script.post("/api/v1/characters", json={"name": visibility, "visibility": visibility})
    mine = (await script.get("/api/v1/me/characters?sort=name")).json()
    assert [item["name"] for item in mine["items"]] == ["private", "public", "unlisted"]


async def test_the_library_pages_through_results(script: httpx.AsyncClient) -> None:
    for index in range(5):
        await script.post("/api/v1/characters", json={"name": f"C{index}", "visibility": "public"})
    page = (await script.get("/api/v1/characters?sort=name&offset=2&limit=2")).json()
    assert ([item["name"] for item in page["items"]], page["total"]) == (["C2", "C3"], 5)
    assert (page["offset"], page["limit"]) == (2, 2)


SEEDS = ["v2.json", "v3.json", "v2_after_idat.png", "card.charx"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(SEEDS),
    position=st.integers(min_value=0, max_value=10_000),
    junk=st.binary(min_size=1, max_size=8),
)
async def test_a_mangled_card_never_breaks_the_server(
    script: httpx.AsyncClient, seed: str, position: int, junk: bytes
) -> None:
    data = fixture(seed)
    position %= len(data)
    mangled = data[:position] + junk + data[position + len(junk) :]
    response = await script.post("/api/v1/characters/import", files={"file": (seed, mangled)})
    assert response.status_code in (201, 413, 415, 422), response.text
    if response.status_code != 201:
        assert set(response.json()) == {"error", "field"}
    assert json.dumps(response.json())
