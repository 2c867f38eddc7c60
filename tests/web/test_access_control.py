"""Access control: every endpoint that takes an object's id, tried by someone else, is a 404.

The table of endpoints and object kinds is in `access_table.py` (other areas add theirs there).
"""

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.web.access_table import ENDPOINTS, EXEMPT_ROUTES, OBJECT_FACTORIES, Endpoint, Owner
from tests.web.conftest import Browser

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]
_PLACEHOLDER = re.compile(r"\{[^}]+\}")


def _shape(method: str, path: str) -> tuple[str, str]:
    return method, _PLACEHOLDER.sub("{}", path.split("?", 1)[0])


def test_the_table_covers_every_route_that_takes_an_id(app: FastAPI) -> None:
    in_table = {_shape(e.method, e.path) for e in ENDPOINTS}
    missing = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if "{" not in path:
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            shape = _shape(method, path)
            if shape not in in_table and shape not in EXEMPT_ROUTES:
                missing.append(f"{method} {path}")
    assert missing == [], "add these to tests/web/access_table.py"


async def _call(
    endpoint: Endpoint, path: str, browser: Browser, script: httpx.AsyncClient | None
) -> list[httpx.Response]:
    answers = []
    if endpoint.is_page:
        if endpoint.method == "GET":
            answers.append(await browser.page(path))
        else:
            answers.append(await browser.submit(path, endpoint.form or {}))
        return answers
    options = {"json": endpoint.json, "files": endpoint.files}
    options = {key: value for key, value in options.items() if value is not None}
    answers.append(await browser.call(endpoint.method, path, **options))
    if script is not None:
        answers.append(await script.request(endpoint.method, path, **options))
    return answers


async def test_another_user_gets_404_from_every_object_endpoint(
    alice: Browser, bob: Browser, api_client: ApiClient
) -> None:
    owner = Owner(alice, await api_client("alice"))
    ids = {kind: await make(owner) for kind, make in OBJECT_FACTORIES.items()}
    intruder = await api_client("bob")
    await bob.page("/settings")
    failures = []
    for endpoint in ENDPOINTS:
        path = endpoint.path.format(**ids)
        for answer in await _call(endpoint, path, bob, intruder):
            if answer.status_code != 404:
                failures.append(f"{endpoint.method} {endpoint.path}: {answer.status_code}")
    assert failures == []
    character = await owner.script.get(f"/api/v1/characters/{ids['character']}")
    assert (character.status_code, character.json()["name"]) == (200, "Private")
    assert character.json()["avatar_url"] is not None
    persona = await owner.script.get(f"/api/v1/personas/{ids['persona']}")
    assert (persona.json()["name"], persona.json()["avatar_url"] is not None) == ("Ann", True)
    assert (await alice.call("GET", "/api/v1/me")).status_code == 200


def _label(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.method == "GET"], ids=_label)
async def test_a_visitor_never_sees_a_private_object(
    alice: Browser, anonymous: Browser, api_client: ApiClient, endpoint: Endpoint
) -> None:
    owner = Owner(alice, await api_client("alice"))
    ids = {kind: await make(owner) for kind, make in OBJECT_FACTORIES.items()}
    response = await anonymous.page(endpoint.path.format(**ids))
    # Not found, or asked to sign in first: never the object, never a hint that it exists.
    assert response.status_code in (401, 303, 404)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/sign-in?next=")
    assert "Private" not in response.text and "Ann" not in response.text
