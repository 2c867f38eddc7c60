"""Personas on the web: several per user, a default, avatars; API and pages."""

import io
from collections.abc import Awaitable, Callable

import httpx
import pytest
from PIL import Image as PillowImage

from tests.web.conftest import Browser

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]


def jpeg() -> bytes:
    output = io.BytesIO()
    PillowImage.new("RGB", (9, 9), (1, 100, 200)).save(output, format="JPEG")
    return output.getvalue()


@pytest.fixture
async def script(alice: Browser, api_client: ApiClient) -> httpx.AsyncClient:
    return await api_client("alice")


async def test_personas_through_the_api(script: httpx.AsyncClient) -> None:
    first = await script.post("/api/v1/personas", json={"name": "Ann", "description": "Brave."})
    second = await script.post("/api/v1/personas", json={"name": "Bea"})
    assert first.status_code == second.status_code == 201
    assert (first.json()["default"], second.json()["default"]) == (True, False)
    made_default = await script.patch(
        f"/api/v1/personas/{second.json()['id']}", json={"default": True, "description": "Kind."}
    )
    assert made_default.json()["default"] is True and made_default.json()["description"] == "Kind."
    listed = (await script.get("/api/v1/personas")).json()
    assert [(p["name"], p["default"]) for p in listed] == [("Bea", True), ("Ann", False)]
    assert (await script.delete(f"/api/v1/personas/{second.json()['id']}")).status_code == 204
    assert [p["default"] for p in (await script.get("/api/v1/personas")).json()] == [True]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "A", "description": "x" * 20_001}, "description"),
        ({"name": "A", "owner_id": "x"}, "owner_id"),
    ],
)
async def test_a_bad_persona_is_refused(
    script: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await script.post("/api/v1/personas", json=body)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field


async def test_a_persona_avatar_is_re_encoded(script: httpx.AsyncClient) -> None:
    persona = (await script.post("/api/v1/personas", json={"name": "Ann"})).json()
    url = f"/api/v1/personas/{persona['id']}/avatar"
    stored = await script.put(url, files={"file": ("me.jpg", jpeg())})
    assert stored.json()["avatar_url"].startswith(url)
    served = await script.get(stored.json()["avatar_url"])
    assert served.headers["content-type"] == "image/jpeg"
    refused = await script.put(url, files={"file": ("me.svg", b"<svg/>")})
    assert refused.status_code == 415
    assert (await script.delete(url)).status_code == 204
    assert (await script.get(url)).status_code == 404


async def test_personas_through_the_pages(alice: Browser) -> None:
    await alice.page("/personas")
    created = await alice.submit("/personas", {"name": "Ann", "description": "A traveller."})
    assert created.headers["location"] == "/personas?notice=saved"
    await alice.submit("/personas", {"name": "Bea", "default": "on"})
    page = await alice.page("/personas")
    assert page.text.index("Bea") < page.text.index("Ann")
    personas = (await alice.call("GET", "/api/v1/personas")).json()
    ann = next(p for p in personas if p["name"] == "Ann")
    edit = await alice.page(f"/personas/{ann['id']}/edit")
    assert "A traveller." in edit.text
    saved = await alice.submit(
        f"/personas/{ann['id']}/edit",
        {"name": "Ann Lee", "description": "A traveller."},
        files={"avatar": ("a.jpg", jpeg(), "image/jpeg")},
    )
    assert saved.status_code == 303
    await alice.page("/personas")
    await alice.submit(f"/personas/{ann['id']}/default")
    after = {p["name"]: p for p in (await alice.call("GET", "/api/v1/personas")).json()}
    assert after["Ann Lee"]["default"] is True and after["Ann Lee"]["avatar_url"] is not None
    await alice.submit(f"/personas/{ann['id']}/delete")
    assert [p["name"] for p in (await alice.call("GET", "/api/v1/personas")).json()] == ["Bea"]


async def test_a_bad_persona_form_shows_its_error(alice: Browser) -> None:
    await alice.page("/personas")
    response = await alice.submit("/personas", {"name": "  ", "description": "Kept"})
    assert response.status_code == 422 and "name: must not be empty" in response.text
    assert "Kept" in response.text
    persona = (await alice.call("POST", "/api/v1/personas", json={"name": "Ann"})).json()
    await alice.page(f"/personas/{persona['id']}/edit")
    bad = await alice.submit(
        f"/personas/{persona['id']}/edit",
        {"name": "Ann", "description": ""},
        files={"avatar": ("a.png", b"\x89PNG\r\n\x1a\nbroken", "image/png")},
    )
    assert bad.status_code == 422 and "damaged" in bad.text
