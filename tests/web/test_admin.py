"""Admin: accounts managed from the API and the page; everyone else gets 403."""

from collections.abc import Awaitable, Callable

import httpx
import pytest

from galatea.bootstrap import Services
from galatea.core.users import Role
from galatea.services.accounts import LOCAL_OPERATOR
from tests.web.conftest import PASSWORD, Browser

ApiClient = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def admin(services_of_app: Services, new_browser: Callable[[], Browser]) -> Browser:
    await services_of_app.accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)
    browser = new_browser()
    await browser.sign_in("root")
    return browser


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/admin/users", None),
        ("POST", "/api/v1/admin/users", {"username": "x", "password": PASSWORD, "role": "admin"}),
        ("PATCH", "/api/v1/admin/users/someone", {"role": "admin"}),
        ("POST", "/api/v1/admin/users/someone/password", {"new_password": PASSWORD}),
    ],
)
async def test_only_admins_may_manage_accounts(
    alice: Browser, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await alice.call(method, path, json=body)
    assert response.status_code == 403
    assert response.json() == {"error": "only an admin may do this"}
    assert (await alice.page("/admin/users")).status_code == 403
    assert (await alice.call("GET", "/api/v1/me")).json()["role"] == "user"


async def test_an_admin_manages_accounts_through_the_api(
    admin: Browser, bob: Browser, api_client: ApiClient
) -> None:
    users = (await admin.call("GET", "/api/v1/admin/users")).json()
    bob_id = next(u["id"] for u in users if u["username"] == "bob")
    made = await admin.call(
        "POST",
        "/api/v1/admin/users",
        json={"username": "mod", "password": PASSWORD, "role": "moderator"},
    )
    assert made.status_code == 201 and made.json()["role"] == "moderator"
    changed = await admin.call(
        "PATCH", f"/api/v1/admin/users/{bob_id}", json={"tier": "plus", "role": "moderator"}
    )
    assert (changed.json()["tier"], changed.json()["role"]) == ("plus", "moderator")
    script = await api_client("bob")
    reset = await admin.call(
        "POST", f"/api/v1/admin/users/{bob_id}/password", json={"new_password": "a new passphrase"}
    )
    assert reset.status_code == 204
    assert (await bob.call("GET", "/api/v1/me")).status_code == 401
    disabled = await admin.call("PATCH", f"/api/v1/admin/users/{bob_id}", json={"disabled": True})
    assert disabled.json()["disabled"] is True
    assert (await script.get("/api/v1/me")).status_code == 401


async def test_the_last_admin_cannot_demote_themselves(admin: Browser) -> None:
    me = (await admin.call("GET", "/api/v1/me")).json()
    response = await admin.call("PATCH", f"/api/v1/admin/users/{me['id']}", json={"role": "user"})
    assert response.status_code == 409 and "only admin" in response.json()["error"]


async def test_an_admin_manages_accounts_through_the_page(admin: Browser, bob: Browser) -> None:
    page = await admin.page("/admin/users")
    assert page.status_code == 200 and "bob" in page.text
    bob_id = next(
        u["id"]
        for u in (await admin.call("GET", "/api/v1/admin/users")).json()
        if u["username"] == "bob"
    )
    saved = await admin.submit(
        f"/admin/users/{bob_id}", {"role": "user", "tier": "pro", "disabled": "on"}
    )
    assert saved.headers["location"] == "/admin/users?notice=saved"
    after = next(
        u for u in (await admin.call("GET", "/api/v1/admin/users")).json() if u["username"] == "bob"
    )
    assert (after["tier"], after["disabled"]) == ("pro", True)
    await admin.page("/admin/users")
    created = await admin.submit(
        "/admin/users", {"username": "carol", "password": PASSWORD, "role": "user"}
    )
    assert created.status_code == 303
    taken = await admin.submit(
        "/admin/users", {"username": "carol", "password": PASSWORD, "role": "user"}
    )
    assert taken.status_code == 409 and "taken" in taken.text
