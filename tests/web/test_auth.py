"""Accounts on the web: sign-up, sign-in, sessions in cookies, passwords, tokens, age."""

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from galatea.bootstrap import Services
from galatea.config import AccountSettings, Settings
from galatea.core.users import Role
from galatea.services.accounts import LOCAL_OPERATOR
from tests.web.conftest import PASSWORD, Browser, client_for

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]


async def test_signing_up_signs_in_with_a_safe_cookie(anonymous: Browser) -> None:
    await anonymous.page("/sign-up")
    response = await anonymous.submit(
        "/sign-up", {"username": "alice", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert (response.status_code, response.headers["location"]) == (303, "/characters/mine")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("galatea_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    me = await anonymous.call("GET", "/api/v1/me")
    assert me.json()["username"] == "alice"
    assert (await anonymous.page("/characters/mine")).status_code == 200


async def test_sign_up_errors_are_shown_in_the_form(anonymous: Browser) -> None:
    await anonymous.page("/sign-up")
    short = await anonymous.submit(
        "/sign-up", {"username": "alice", "password": "short", "password_again": "short"}
    )
    assert short.status_code == 422 and "at least 8" in short.text
    assert 'value="alice"' in short.text
    differ = await anonymous.submit(
        "/sign-up", {"username": "alice", "password": PASSWORD, "password_again": PASSWORD + "x"}
    )
    assert differ.status_code == 422 and "the two passwords differ" in differ.text


async def test_the_api_signs_up_with_the_stable_shape(app: FastAPI) -> None:
    async with client_for(app) as client:
        created = await client.post(
            "/api/v1/users", json={"username": "alice", "password": PASSWORD}
        )
        again = await client.post("/api/v1/users", json={"username": "ALICE", "password": PASSWORD})
    assert created.status_code == 201
    assert set(created.json()) == {"id", "username", "role", "created_at"}
    assert created.json()["role"] == "user"
    assert again.status_code == 409 and "taken" in again.json()["error"]


async def test_sign_up_refuses_server_owned_fields(app: FastAPI) -> None:
    async with client_for(app) as client:
        response = await client.post(
            "/api/v1/users", json={"username": "mallory", "password": PASSWORD, "role": "admin"}
        )
        token = await client.post(
            "/api/v1/tokens", json={"username": "mallory", "password": PASSWORD}
        )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "role"
    assert token.status_code == 401


async def test_the_first_account_is_not_an_admin(app: FastAPI) -> None:
    async with client_for(app) as client:
        created = await client.post(
            "/api/v1/users", json={"username": "first", "password": PASSWORD}
        )
    assert created.json()["role"] == "user"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/personas", "/personas"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
async def test_sign_in_goes_back_to_a_local_page_only(
    new_browser: Callable[[], Browser], bob: Browser, target: str, location: str
) -> None:
    browser = new_browser()
    await browser.page("/sign-in")
    response = await browser.submit(
        "/sign-in", {"username": "bob", "password": PASSWORD, "next": target}
    )
    assert (response.status_code, response.headers["location"]) == (303, location)


async def test_a_wrong_password_and_an_unknown_user_read_the_same(
    anonymous: Browser, bob: Browser
) -> None:
    await anonymous.page("/sign-in")
    wrong = await anonymous.submit("/sign-in", {"username": "bob", "password": "not it at all"})
    unknown = await anonymous.submit("/sign-in", {"username": "nobody", "password": "not it"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "wrong username or password" in wrong.text and "wrong username or password" in unknown.text
    )
    assert "set-cookie" not in wrong.headers or "galatea_session" not in wrong.headers["set-cookie"]


async def test_the_eleventh_wrong_password_is_refused_for_a_while(
    new_browser: Callable[[], Browser], bob: Browser
) -> None:
    statuses = []
    for _ in range(11):
        # A new address each time: the per-account limit holds whatever the address.
        browser = new_browser()
        await browser.page("/sign-in")
        response = await browser.submit("/sign-in", {"username": "bob", "password": "guess"})
        statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429]
    assert int(response.headers["retry-after"]) > 0
    assert "too many failed sign-ins" in response.text
    via_api = await new_browser().client.post(
        "/api/v1/tokens", json={"username": "bob", "password": PASSWORD}
    )
    assert via_api.status_code == 429 and int(via_api.headers["retry-after"]) > 0
    assert via_api.json()["retry_after"] > 0


async def test_signing_out_ends_the_session_on_the_server(alice: Browser, app: FastAPI) -> None:
    cookie = alice.client.cookies["galatea_session"]
    response = await alice.submit("/sign-out")
    assert response.headers["location"] == "/?notice=signed-out"
    assert 'galatea_session=""' in response.headers["set-cookie"]
    async with client_for(app, cookies={"galatea_session": cookie}) as replay:
        assert (await replay.get("/api/v1/me")).status_code == 401


async def test_a_password_change_ends_the_other_sessions(
    alice: Browser, new_browser: Callable[[], Browser]
) -> None:
    other = new_browser()
    await other.sign_in("alice")
    assert (await other.call("GET", "/api/v1/me")).status_code == 200
    response = await alice.submit(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "new_password_again": "a brand new passphrase",
        },
    )
    assert response.headers["location"] == "/settings?notice=password-changed"
    assert (await other.call("GET", "/api/v1/me")).status_code == 401
    assert (await alice.call("GET", "/api/v1/me")).status_code == 200
    page = await alice.page("/settings?notice=password-changed")
    assert "your other sessions have ended" in page.text


async def test_a_password_change_needs_the_current_password(alice: Browser) -> None:
    response = await alice.submit(
        "/settings/password",
        {"current_password": "nope", "new_password": "x" * 12, "new_password_again": "x" * 12},
    )
    assert response.status_code == 401 and "wrong username or password" in response.text
    api = await alice.call(
        "POST",
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another passphrase"},
    )
    assert api.status_code == 204


async def test_sessions_can_be_listed_and_ended(
    alice: Browser, new_browser: Callable[[], Browser]
) -> None:
    other = new_browser()
    await other.sign_in("alice")
    sessions = (await alice.call("GET", "/api/v1/me/sessions")).json()
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    theirs = next(s for s in sessions if not s["current"])
    assert theirs["address"] == other.address
    ended = await alice.submit(f"/settings/sessions/{theirs['id']}/end")
    assert ended.status_code == 303
    assert (await other.call("GET", "/api/v1/me")).status_code == 401


async def test_a_token_is_shown_once_and_works_until_revoked(alice: Browser, app: FastAPI) -> None:
    await alice.page("/settings/tokens")
    created = await alice.submit("/settings/tokens", {"name": "my script"})
    assert created.status_code == 200 and "shown only this once" in created.text
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("gal_")
    again = await alice.page("/settings/tokens")
    assert secret not in again.text and "my script" in again.text
    async with client_for(app, headers={"Authorization": f"Bearer {secret}"}) as script:
        assert (await script.get("/api/v1/me")).json()["username"] == "alice"
        token_id = (await script.get("/api/v1/tokens")).json()[0]["id"]
        assert (await script.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
        refused = await script.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"


async def test_the_token_route_keeps_its_stable_shape(app: FastAPI, alice: Browser) -> None:
    async with client_for(app) as client:
        response = await client.post(
            "/api/v1/tokens", json={"username": "alice", "password": PASSWORD}
        )
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("gal_") and body["name"] == "API token"


@pytest.mark.parametrize(
    "header", ["Bearer gal_notarealtoken", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Token x"]
)
async def test_a_bad_authorization_header_is_401_even_on_public_routes(
    app: FastAPI, header: str
) -> None:
    async with client_for(app, headers={"Authorization": header}) as client:
        response = await client.get("/api/v1/characters")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


async def test_a_page_that_needs_an_account_sends_visitors_to_sign_in(anonymous: Browser) -> None:
    response = await anonymous.page("/characters/mine?sort=name")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fcharacters%2Fmine%3Fsort%3Dname"
    assert (await anonymous.page("/api/v1/me")).status_code == 401


async def test_age_is_confirmed_once_from_the_settings_page(alice: Browser) -> None:
    page = await alice.page("/settings")
    assert "I am 18 or older" in page.text
    response = await alice.submit("/settings/age")
    assert response.headers["location"] == "/settings?notice=age-confirmed"
    assert (await alice.call("GET", "/api/v1/me")).json()["age_confirmed"] is True
    assert "I am 18 or older" not in (await alice.page("/settings")).text


async def test_a_disabled_account_loses_its_sessions_and_tokens(
    alice: Browser, services_of_app: Services, api_client: ApiClient
) -> None:
    script = await api_client("alice")
    admin = await services_of_app.accounts.create_user(
        LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN
    )
    me = (await script.get("/api/v1/me")).json()
    await services_of_app.accounts.set_disabled(admin, me["id"], True)
    assert (await script.get("/api/v1/me")).status_code == 401
    assert (await alice.call("GET", "/api/v1/me")).status_code == 401
    again = await alice.sign_in("alice")
    assert again.status_code == 401 and "disabled" in again.text


async def test_the_api_session_route_signs_in_and_out(app: FastAPI, alice: Browser) -> None:
    async with client_for(app) as client:
        signed_in = await client.post(
            "/api/v1/session", json={"username": "alice", "password": PASSWORD}
        )
        token = signed_in.json()["csrf_token"]
        assert (await client.get("/api/v1/me")).status_code == 200
        refused = await client.delete("/api/v1/session")
        signed_out = await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
        after = await client.get("/api/v1/me")
    assert refused.status_code == 403
    assert (signed_out.status_code, after.status_code) == (204, 401)


class TestClosedSignUp:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            accounts=AccountSettings(signup_open=False),
        )

    async def test_nobody_can_sign_up(self, anonymous: Browser) -> None:
        page = await anonymous.page("/sign-up")
        assert "Sign-up is closed" in page.text
        assert 'href="/sign-up"' not in (await anonymous.page("/")).text
        response = await anonymous.client.post(
            "/api/v1/users", json={"username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 403 and "closed" in response.json()["error"]


async def test_signing_in_again_ends_the_browsers_previous_session(
    alice: Browser, app: FastAPI
) -> None:
    old = alice.client.cookies["galatea_session"]
    async with client_for(app, cookies={"galatea_session": old}) as same_browser:
        again = await same_browser.post(
            "/api/v1/session",
            json={"username": "alice", "password": PASSWORD},
            headers={"X-CSRF-Token": alice.csrf},
        )
        assert again.status_code == 200
    async with client_for(app, cookies={"galatea_session": old}) as replay:
        assert (await replay.get("/api/v1/me")).status_code == 401
