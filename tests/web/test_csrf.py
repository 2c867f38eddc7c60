"""Cross-site request forgery: every state-changing route is covered, and the checks bite."""

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from galatea.web.csrf import protect
from tests.web.conftest import PASSWORD, Browser, client_for

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]
SAFE = {"GET", "HEAD", "OPTIONS"}


def _calls(dependant: Dependant) -> set[object]:
    found = {dependant.call}
    for child in dependant.dependencies:
        found |= _calls(child)
    return found


def test_every_route_that_changes_state_checks_csrf(app: FastAPI) -> None:
    unsafe_routes = 0
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            assert context.path == "/static", f"unexpected mount {context.path}"
            continue
        methods = context.methods or set()
        if not methods - SAFE:
            continue
        unsafe_routes += 1
        dependant = getattr(context, "dependant", None)
        assert dependant is not None, f"{context.path} bypasses FastAPI's dependencies"
        assert protect in _calls(dependant), f"{context.path} lacks the CSRF check"
    assert unsafe_routes > 30


@pytest.mark.parametrize(
    "path",
    ["/characters/new", "/settings/password", "/settings/age", "/personas", "/sign-out"],
)
async def test_a_form_without_the_token_is_refused(alice: Browser, path: str) -> None:
    response = await alice.client.post(path, data={"name": "x"})
    assert response.status_code == 403
    assert "CSRF token" in response.text
    stale = await alice.client.post(path, data={"csrf_token": "x" * 43, "name": "x"})
    assert stale.status_code == 403


async def test_a_cross_site_post_is_refused_even_with_the_token(alice: Browser) -> None:
    foreign = await alice.client.post(
        "/settings/age",
        data={"csrf_token": alice.csrf},
        headers={"Origin": "https://attacker.example"},
    )
    marked = await alice.client.post(
        "/settings/age", data={"csrf_token": alice.csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    null = await alice.client.post(
        "/settings/age", data={"csrf_token": alice.csrf}, headers={"Origin": "null"}
    )
    assert foreign.status_code == marked.status_code == null.status_code == 403
    assert (await alice.call("GET", "/api/v1/me")).json()["age_confirmed"] is False
    same = await alice.client.post(
        "/settings/age",
        data={"csrf_token": alice.csrf},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 303


async def test_cookie_authenticated_api_calls_need_the_header(alice: Browser) -> None:
    without = await alice.client.post("/api/v1/me/age-confirmation")
    assert without.status_code == 403
    with_header = await alice.call("POST", "/api/v1/me/age-confirmation")
    assert with_header.status_code == 200 and with_header.json()["age_confirmed"] is True


async def test_a_text_plain_body_is_not_read_as_json(alice: Browser, api_client: ApiClient) -> None:
    body = '{"name": "Forged"}'
    cookie = await alice.client.post(
        "/api/v1/characters", content=body, headers={"Content-Type": "text/plain"}
    )
    assert cookie.status_code == 403
    script = await api_client("alice")
    bearer = await script.post(
        "/api/v1/characters", content=body, headers={"Content-Type": "text/plain"}
    )
    assert bearer.status_code == 422
    mine = await script.get("/api/v1/me/characters")
    assert mine.json()["total"] == 0


async def test_bearer_requests_need_no_csrf_token(alice: Browser, api_client: ApiClient) -> None:
    script = await api_client("alice")
    response = await script.post("/api/v1/characters", json={"name": "Scripted"})
    assert response.status_code == 201


async def test_signing_in_needs_the_pre_session_token(app: FastAPI, bob: Browser) -> None:
    async with client_for(app) as forger:
        forged = await forger.post("/sign-in", data={"username": "bob", "password": PASSWORD})
        assert forged.status_code == 403 and "galatea_session" not in forger.cookies
        page = await forger.get("/sign-in")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert forger.cookies["galatea_csrf"] == token
        signed_in = await forger.post(
            "/sign-in", data={"username": "bob", "password": PASSWORD, "csrf_token": token}
        )
    assert signed_in.status_code == 303


async def test_a_session_gets_a_new_token_at_sign_in(anonymous: Browser, bob: Browser) -> None:
    await anonymous.page("/sign-in")
    before = anonymous.csrf
    await anonymous.submit("/sign-in", {"username": "bob", "password": PASSWORD})
    await anonymous.page("/settings")
    assert anonymous.csrf != before
    assert anonymous.csrf != bob.csrf


async def test_anonymous_api_calls_act_as_nobody_without_a_token(app: FastAPI) -> None:
    async with client_for(app) as script:
        created = await script.post(
            "/api/v1/users", json={"username": "scripted", "password": PASSWORD}
        )
    assert created.status_code == 201


async def test_no_other_site_is_allowed_to_read_answers(app: FastAPI) -> None:
    async with client_for(app) as client:
        preflight = await client.options(
            "/api/v1/characters",
            headers={
                "Origin": "https://attacker.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token, content-type",
            },
        )
        simple = await client.get("/api/v1/health", headers={"Origin": "https://attacker.example"})
    for response in (preflight, simple):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers
