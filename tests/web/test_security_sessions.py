"""Sessions, tokens and secrets seen from the outside (security.md S4, S5, S6, S22, S23).

The service tests cover expiry, hashing and limits one use case at a time; these check what a
browser or a script can do over HTTP: plant a session, claim an identity by header, dodge the
sign-in limit by switching routes, tell accounts apart, or find a secret where it should not be.
"""

import logging
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from galatea.bootstrap import Services
from galatea.storage.tables import Base
from galatea.web.auth import SESSION_COOKIE
from tests.web.conftest import PASSWORD, Browser, client_for

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]
WRONG = "not the password at all"


async def test_a_session_planted_before_sign_in_is_never_the_victims(
    app: FastAPI, new_browser: Callable[[], Browser], bob: Browser
) -> None:
    # A token of the attacker's choosing, and one the server issued them before they signed
    # out, put in the victim's cookie jar: signing in must not bring either to life.
    attacker = new_browser()
    await attacker.sign_up("mallory")
    spent = attacker.client.cookies[SESSION_COOKIE]
    await attacker.submit("/sign-out")
    for planted in (spent, "chosen-by-the-attacker-0123456789abcdef"):
        victim = new_browser()
        victim.client.cookies.set(SESSION_COOKIE, planted, domain="localhost.local")
        await victim.page("/sign-in")
        signed_in = await victim.submit("/sign-in", {"username": "bob", "password": PASSWORD})
        assert signed_in.status_code == 303
        issued = victim.client.cookies[SESSION_COOKIE]
        assert issued != planted and len(issued) >= 22  # at least 128 random bits
        async with client_for(app, cookies={SESSION_COOKIE: planted}) as replay:
            me = await replay.get("/api/v1/me")
        assert me.status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Remote-User", "X-Remote-User", "X-Authentik-Username", "X-Forwarded-User", "X-User"],
)
async def test_no_header_signs_anyone_in(app: FastAPI, bob: Browser, header: str) -> None:
    async with client_for(app, headers={header: "bob", "X-Forwarded-For": "127.0.0.1"}) as client:
        me = await client.get("/api/v1/me")
        page = await client.get("/settings")
    assert me.status_code == 401
    assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")


@pytest.mark.parametrize("name", ["token", "access_token", "api_key", "session"])
async def test_a_token_in_the_address_is_not_a_credential(
    app: FastAPI, api_client: ApiClient, bob: Browser, name: str
) -> None:
    # Addresses end up in logs, histories and Referer headers; only the header counts.
    script = await api_client("bob")
    secret = script.headers["authorization"].removeprefix("Bearer ")
    async with client_for(app) as client:
        me = await client.get("/api/v1/me", params={name: secret})
    assert me.status_code == 401


async def test_the_sign_in_limit_holds_across_every_route_that_checks_a_password(
    app: FastAPI, new_browser: Callable[[], Browser], bob: Browser
) -> None:
    for attempt in range(10):
        browser = new_browser()
        await browser.page("/sign-in")
        if attempt % 2:
            answer = await browser.submit("/sign-in", {"username": "bob", "password": WRONG})
        else:
            answer = await browser.client.post(
                "/api/v1/tokens", json={"username": "bob", "password": WRONG}
            )
        assert answer.status_code == 401
    right = {"username": "bob", "password": PASSWORD}
    async with client_for(app) as client:
        token = await client.post("/api/v1/tokens", json=right)
        session = await client.post("/api/v1/session", json=right)
    page_browser = new_browser()
    await page_browser.page("/sign-in")
    page = await page_browser.submit("/sign-in", right)
    assert token.status_code == session.status_code == page.status_code == 429
    assert "retry-after" in token.headers and "retry-after" in session.headers
    password_change = await bob.call(
        "POST",
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a different passphrase"},
    )
    assert password_change.status_code == 429


@pytest.mark.parametrize("route", ["/api/v1/tokens", "/api/v1/session"])
async def test_an_unknown_user_and_a_wrong_password_answer_alike(
    app: FastAPI, bob: Browser, route: str
) -> None:
    async with client_for(app) as client:
        unknown = await client.post(route, json={"username": "nobody", "password": WRONG})
    async with client_for(app) as client:
        wrong = await client.post(route, json={"username": "bob", "password": WRONG})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"error": "wrong username or password"}
    assert unknown.headers.keys() == wrong.headers.keys()


async def _every_stored_value(services: Services) -> str:
    cells: list[str] = []
    async with services.database.session(write=False) as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                cells.extend(repr(value) for value in row)
    return "\n".join(cells)


async def test_no_password_token_or_session_is_stored_or_logged_in_clear(
    app: FastAPI,
    services_of_app: Services,
    new_browser: Callable[[], Browser],
    api_client: ApiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "an unusual passphrase 7Qx"
    browser = new_browser()
    await browser.sign_up("carol", password)
    cookie = browser.client.cookies[SESSION_COOKIE]
    script = await api_client("carol", password)
    secret = script.headers["authorization"].removeprefix("Bearer ")
    assert (await script.get("/api/v1/me")).status_code == 200
    async with client_for(app, headers={"Authorization": f"Bearer {secret}x"}) as forged:
        assert (await forged.get("/api/v1/me")).status_code == 401
    new_password = "another unusual passphrase 9Zr"
    changed = await browser.call(
        "POST",
        "/api/v1/me/password",
        json={"current_password": password, "new_password": new_password},
    )
    assert changed.status_code == 204, changed.text
    wrong = new_browser()
    await wrong.page("/sign-in")
    await wrong.submit("/sign-in", {"username": "carol", "password": f"{new_password}!"})

    stored = await _every_stored_value(services_of_app)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "the run logged nothing, so the log check proves nothing"
    for value in (password, new_password, f"{new_password}!", secret, cookie):
        assert value not in stored
        assert value not in logged
    assert re.search(r"\$argon2id\$", stored)
