"""Malformed, oversized and hostile requests: a clear one-line 4xx, never a 500, nothing stored.

security.md S11 (input is never echoed into HTML), S17 (pathological JSON and text) and promise
7 (malformed input gets a 4xx). Several cases here were 500s before (marked "was 500").
"""

from collections.abc import Awaitable, Callable

import httpx
import pytest

from galatea.bootstrap import Services
from galatea.core.users import Role
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.validation import MAX_OFFSET
from tests.web.conftest import PASSWORD, Browser
from tests.web.markup_checks import unsafe_markup

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]
MARKUP = "<script>alert(1)</script>"


@pytest.fixture
async def script(alice: Browser, api_client: ApiClient) -> httpx.AsyncClient:
    """Alice's API client with a token."""
    return await api_client("alice")


@pytest.fixture
async def root(services_of_app: Services, api_client: ApiClient) -> httpx.AsyncClient:
    """An admin's API client."""
    await services_of_app.accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)
    return await api_client("root")


async def _character_count(client: httpx.AsyncClient) -> int:
    total: int = (await client.get("/api/v1/me/characters")).json()["total"]
    return total


def _one_line_json_error(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    message: str = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


async def test_a_content_length_of_thousands_of_digits_is_too_large(
    script: httpx.AsyncClient,
) -> None:
    # Was 500: int() refuses to read more than 4,300 digits.
    headers = {"content-type": "application/json", "content-length": "9" * 5000}
    response = await script.post("/api/v1/characters", content=b'{"name": "x"}', headers=headers)
    assert response.status_code == 413
    assert "larger than the limit" in _one_line_json_error(response)
    assert await _character_count(script) == 0


@pytest.mark.parametrize("path", ["/api/v1/characters", "/api/v1/me/characters", "/api/v1/chats"])
async def test_listing_offsets_past_the_databases_integers_are_refused(
    script: httpx.AsyncClient, path: str
) -> None:
    # Was 500 ("Python int too large to convert to SQLite INTEGER").
    response = await script.get(path, params={"offset": 2**64})
    assert response.status_code == 422
    assert _one_line_json_error(response).startswith("query.offset: ")
    deepest = await script.get(path, params={"offset": MAX_OFFSET})
    assert deepest.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/admin/users", "/api/v1/admin/usage"])
async def test_admin_listings_refuse_offsets_past_the_limit(
    root: httpx.AsyncClient, path: str
) -> None:
    response = await root.get(path, params={"offset": MAX_OFFSET + 1})
    assert response.status_code == 422
    assert _one_line_json_error(response).startswith("query.offset: ")


async def test_the_services_bound_offsets_whoever_calls_them(services_of_app: Services) -> None:
    page = await services_of_app.characters.library(None, offset=2**70)
    assert (page.items, page.total) == ([], 0)
    admin = await services_of_app.accounts.create_user(
        LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN
    )
    with pytest.raises(Exception, match="offset: must be between 0 and"):
        await services_of_app.accounts.list_users(admin, offset=2**70)


@pytest.mark.parametrize("value", ["1", "-3.3e-99", "1700000000", "2025-1-1", "yesterday"])
async def test_a_usage_day_must_be_written_as_a_day(root: httpx.AsyncClient, value: str) -> None:
    # A number used to be read as seconds since 1970 ("until=1" meant 1970-01-01).
    response = await root.get("/api/v1/admin/usage", params={"until": value})
    assert response.status_code == 422
    assert "query.until" in _one_line_json_error(response)
    good = await root.get("/api/v1/admin/usage", params={"since": "2025-01-01"})
    assert good.status_code == 200


async def test_a_nul_in_a_search_is_named_for_what_it_is(script: httpx.AsyncClient) -> None:
    response = await script.get("/api/v1/characters", params={"q": "fern\x00"})
    assert response.status_code == 422
    assert _one_line_json_error(response) == "q: must not contain NUL characters"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"name": "x", "character_book": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "json"),
        (b'{"name": "x", "character_book": {"scan_depth": ' + b"9" * 5000 + b"}}", "json"),
        (b'{"name": "\xff\xfe"}', "json"),
        (b'{"name": "\\ud800"}', "json"),
        (b'{"name": "x", "tags": [NaN]}', "json"),
        (b"[1, 2]", "json"),
        (b'{"name": "x"', "json"),
        (b"name=x", "application/x-www-form-urlencoded"),
        (b'{"name": "x"}', "text/plain"),
    ],
)
async def test_a_hostile_json_body_is_a_client_error_and_stores_nothing(
    script: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    media = "application/json" if content_type == "json" else content_type
    response = await script.post(
        "/api/v1/characters", content=body, headers={"content-type": media}
    )
    assert 400 <= response.status_code < 500, response.text
    _one_line_json_error(response)
    assert await _character_count(script) == 0


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"/api/v1/characters?sort={MARKUP}", {}),
        (f"/api/v1/characters/{MARKUP}/export?format={MARKUP}", {}),
        ("/api/v1/me", {"Authorization": f"Bearer {MARKUP}"}),
        ("/api/v1/me", {"Authorization": MARKUP}),
        (f"/api/v1/chats/x/stream?after={MARKUP}", {"Last-Event-ID": MARKUP}),
    ],
)
async def test_api_errors_never_echo_markup(
    anonymous: Browser, path: str, headers: dict[str, str]
) -> None:
    response = await anonymous.client.get(path, headers=headers)
    assert 400 <= response.status_code < 500
    _one_line_json_error(response)
    assert "<script" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/library?sort={MARKUP}",
        f"/library?page={MARKUP}",
        f"/library?q={MARKUP}&tag={MARKUP}",
        f"/sign-in?next={MARKUP}",
        f"/characters/{MARKUP}",
        f"/chats/{MARKUP}",
        f"/{MARKUP}",
    ],
)
async def test_page_errors_show_hostile_input_as_text(
    alice: Browser, anonymous: Browser, path: str
) -> None:
    for browser in (alice, anonymous):
        response = await browser.page(path, follow_redirects=True)
        assert response.headers["content-type"].startswith("text/html")
        assert "<script>alert" not in response.text
        assert unsafe_markup(response.text) == []
