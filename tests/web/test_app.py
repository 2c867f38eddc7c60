"""The app as a whole: security headers, Host checks, error answers, OpenAPI, static files."""

import re

import httpx
import pytest
from fastapi import FastAPI

from galatea.inference.errors import (
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailable,
    InferenceError,
    RequestRejected,
    StreamInterrupted,
)
from galatea.inference.scheduling.errors import QueueFull
from galatea.web.errors import describe_inference_error
from tests.web.conftest import Browser, client_for
from tests.web.markup_checks import unsafe_markup


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/health", "/static/css/site.css", "/nowhere", "/api/v1/nowhere"]
)
async def test_every_answer_carries_the_security_headers(anonymous: Browser, path: str) -> None:
    response = await anonymous.page(path)
    headers = response.headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "img-src 'self' data: blob:" in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert re.fullmatch(r"[0-9a-f]{16}", headers["x-request-id"])
    assert "strict-transport-security" not in headers


async def test_pages_are_not_cached_but_static_files_are(anonymous: Browser) -> None:
    page = await anonymous.page("/")
    assert page.headers["cache-control"] == "no-store"
    stylesheet = re.search(r'href="(/static/css/site\.css\?v=[0-9a-f]+)"', page.text)
    assert stylesheet is not None
    static = await anonymous.page(stylesheet.group(1))
    assert static.status_code == 200 and "max-age" in static.headers["cache-control"]


@pytest.mark.parametrize("path", ["/", "/sign-in", "/sign-up", "/library?q=x&tag=y"])
async def test_pages_run_only_the_sites_own_scripts(anonymous: Browser, path: str) -> None:
    page = await anonymous.page(path)
    assert page.status_code == 200
    assert unsafe_markup(page.text) == []
    assert re.search(r'<script src="/static/vendor/htmx\.min\.js\?v=', page.text)


@pytest.mark.parametrize(
    "host", ["attacker.example", "localhost.attacker.example", "127.0.0.2", "[::2]:8000"]
)
@pytest.mark.parametrize("path", ["/", "/static/css/site.css", "/api/v1/health"])
async def test_a_foreign_host_name_is_refused_everywhere(
    app: FastAPI, host: str, path: str
) -> None:
    async with client_for(app) as client:
        response = await client.get(path, headers={"Host": host})
    assert response.status_code == 400
    assert response.json() == {"error": "unknown host name"}


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"])
async def test_the_configured_host_names_are_served(app: FastAPI, host: str) -> None:
    async with client_for(app) as client:
        response = await client.get("/api/v1/health", headers={"Host": host})
    assert response.status_code == 200


async def test_api_errors_are_json_and_never_echo_markup(anonymous: Browser) -> None:
    response = await anonymous.page("/api/v1/characters/<svg onload=alert(1)>")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "character not found"}
    missing = await anonymous.page("/api/v1/<script>x</script>")
    assert missing.json() == {"error": "there is nothing here"}


async def test_page_errors_are_pages_with_escaped_text(anonymous: Browser) -> None:
    response = await anonymous.page("/characters/<svg onload=alert(1)>")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<svg" not in response.text
    assert "character not found" in response.text


async def test_validation_errors_name_the_field(alice: Browser) -> None:
    response = await alice.call("GET", "/api/v1/characters?limit=1000")
    assert response.status_code == 422
    body = response.json()
    assert body["error"].startswith("query.limit: ")
    assert body["errors"][0]["field"] == "query.limit"
    assert "input" not in body["errors"][0]


async def test_an_unexpected_error_answers_with_a_request_id_only(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internal detail /srv/galatea/db.py line 42")

    app.add_api_route("/api/v1/explode", explode)
    async with client_for(app, raise_errors=False) as client:
        response = await client.get("/api/v1/explode")
    assert response.status_code == 500
    body = response.json()
    assert body == {"error": "something went wrong on the server", "request_id": body["request_id"]}
    assert response.headers["x-request-id"] == body["request_id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "secret" not in response.text


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (QueueFull("queue of tier free is full", retry_after=2.2), 429, "try again in 3 seconds"),
        (BackendUnavailable("connect to 10.0.0.5:8080 refused"), 503, "cannot be reached"),
        (BackendTimeout("read timeout after 120 s"), 504, "did not answer in time"),
        (StreamInterrupted("peer closed"), 502, "broke off"),
        (BackendHTTPError(500, "Traceback ... /home/ops/secret"), 502, "reported an error"),
        (RequestRejected("the prompt is longer than the context"), 422, "the prompt is longer"),
        (InferenceError("odd"), 502, "the text generator failed"),
    ],
)
async def test_generation_failures_are_told_in_words(
    app: FastAPI, error: InferenceError, status: int, message: str
) -> None:
    async def fail() -> None:
        raise error

    app.add_api_route("/api/v1/fail", fail)
    async with client_for(app) as client:
        response = await client.get("/api/v1/fail")
    assert response.status_code == status
    assert message in response.json()["error"]
    for secret in ("10.0.0.5", "Traceback", "/home/ops", "tier free"):
        assert secret not in response.text
    if status == 429:
        assert response.headers["retry-after"] == "3"
    assert describe_inference_error(error)[0] == status


async def test_the_openapi_schema_lists_the_stable_routes(anonymous: Browser) -> None:
    schema = (await anonymous.page("/api/v1/openapi.json")).json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/users"] and "post" in paths["/api/v1/tokens"]
    assert "post" in paths["/api/v1/characters/import"]
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/characters/{character_id}"])
    assert "get" in paths["/api/v1/characters/{character_id}/export"]
    assert not any(path.startswith(("/characters", "/sign-in", "/library")) for path in paths)


async def test_interactive_docs_are_off_by_default(anonymous: Browser) -> None:
    for path in ("/docs", "/redoc", "/api/v1/docs"):
        assert (await anonymous.page(path)).status_code == 404


async def test_the_health_route_answers(app: FastAPI) -> None:
    async with client_for(app) as client:
        assert (await client.get("/api/v1/health")).json() == {"status": "ok"}


async def test_a_request_from_anywhere_keeps_its_session_cookie_flags(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        page = await client.get("/sign-up")
        cookie = page.headers["set-cookie"]
    assert "galatea_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_refusals_are_logged_on_one_line(
    alice: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="galatea.web"):
        await alice.client.post("/settings/age", data={"csrf_token": "forged\r\nlog: entry"})
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 1 and "\n" not in refusals[0]
    assert "POST '/settings/age' from " in refusals[0] and ": 403 " in refusals[0]


async def test_a_signed_out_visitor_is_offered_to_sign_in(anonymous: Browser) -> None:
    await anonymous.page("/sign-in")
    response = await anonymous.submit("/characters/new", {"name": "x"})
    assert response.status_code == 401
    assert 'href="/sign-in"' in response.text and "sign in first" in response.text
