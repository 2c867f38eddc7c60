"""Usage on the web: a user's tier, limits and usage (API and page), admins' usage per user
and in total, setting tiers, and the daily quota answering 429 with Retry-After."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from galatea.bootstrap import Services
from galatea.config import Settings
from galatea.core.usage import UsageCounts
from galatea.core.users import Role
from galatea.inference.scheduling import default_tiers
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.errors import Unavailable
from galatea.web.errors import service_status
from tests.conftest import START
from tests.web.chat_setup import app, events, make_character, make_chat, scripted  # noqa: F401
from tests.web.conftest import PASSWORD, Browser

TODAY = START.date().isoformat()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A free tier of two messages a day."""
    tiers = default_tiers().to_mapping()
    tiers["free"]["messages_per_day"] = 2
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps(tiers))
    return Settings(database_url=database_url, data_dir=tmp_path / "data", tiers_file=path)


@pytest.fixture
async def admin(services_of_app: Services, new_browser: Callable[[], Browser]) -> Browser:
    await services_of_app.accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)
    browser = new_browser()
    await browser.sign_in("root")
    return browser


async def user_id(services: Services, username: str) -> str:
    return (await services.accounts.find_user(username)).id


async def test_a_user_sees_their_tier_limits_and_usage(
    alice: Browser, services_of_app: Services
) -> None:
    fresh = (await alice.call("GET", "/api/v1/me/usage")).json()
    assert fresh["tier"]["name"] == "free"
    assert fresh["tier"]["messages_per_day"] == 2
    assert fresh["tier"]["replies_in_progress"] == 2
    assert fresh["messages_left"] == 2
    assert fresh["history"] == []
    assert fresh["resets_at"].startswith("2025-01-02T00:00:00")
    await services_of_app.usage.record(
        await user_id(services_of_app, "alice"), UsageCounts(1, 1200, 800, 45)
    )
    used = (await alice.call("GET", "/api/v1/me/usage")).json()
    assert used["today"] == {
        "messages": 1,
        "prompt_tokens": 1200,
        "cached_prompt_tokens": 800,
        "generated_tokens": 45,
    }
    assert used["messages_left"] == 1
    assert used["history"] == [{"day": TODAY, "usage": used["today"]}]
    page = await alice.page("/usage")
    assert page.status_code == 200
    assert "1 of 2 messages used" in page.text
    assert "1,200" in page.text
    tiers = (await alice.call("GET", "/api/v1/tiers")).json()
    assert [tier["name"] for tier in tiers] == ["free", "plus", "pro"]


async def test_usage_needs_an_account(anonymous: Browser) -> None:
    assert (await anonymous.call("GET", "/api/v1/me/usage")).status_code == 401
    assert (await anonymous.call("GET", "/api/v1/tiers")).status_code == 401
    page = await anonymous.client.get("/usage")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/sign-in")


async def test_the_daily_quota_answers_429_until_midnight_utc(alice: Browser) -> None:
    chat = await make_chat(alice, await make_character(alice))
    path = f"/api/v1/chats/{chat['id']}/messages"
    for text in ("one", "two"):
        answer = await alice.call("POST", path, json={"text": text})
        assert [kind for kind, _ in events(answer)][-1] == "done"
    refused = await alice.call("POST", path, json={"text": "three"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(12 * 3600)  # the clock says 12:00 UTC
    assert "all 2 messages the free tier allows per day" in refused.json()["error"]
    shown = (await alice.call("GET", f"/api/v1/chats/{chat['id']}/messages")).json()
    assert "three" not in json.dumps(shown)


async def test_admins_see_usage_per_user_and_in_total(
    admin: Browser, alice: Browser, bob: Browser, services_of_app: Services
) -> None:
    alice_id = await user_id(services_of_app, "alice")
    bob_id = await user_id(services_of_app, "bob")
    await services_of_app.usage.record(alice_id, UsageCounts(1, 100, 0, 10))
    await services_of_app.usage.record(bob_id, UsageCounts(3, 3000, 1000, 300))
    overview = (await admin.call("GET", "/api/v1/admin/usage")).json()
    assert [(item["username"], item["usage"]["messages"]) for item in overview["items"]] == [
        ("bob", 3),
        ("alice", 1),
    ]
    assert overview["total"]["generated_tokens"] == 310
    assert overview["users_with_usage"] == 2
    assert (overview["since"], overview["until"]) == (TODAY, TODAY)
    days = (await admin.call("GET", f"/api/v1/admin/usage/{bob_id}")).json()
    assert days == [{"day": TODAY, "usage": overview["items"][0]["usage"]}]
    assert (await admin.call("GET", "/api/v1/admin/usage/nobody")).status_code == 404
    before = await admin.call("GET", "/api/v1/admin/usage", params={"until": "2024-12-31"})
    assert before.json()["items"] == []
    backwards = await admin.call(
        "GET", "/api/v1/admin/usage", params={"since": "2025-01-02", "until": "2025-01-01"}
    )
    assert backwards.status_code == 422
    page = await admin.page("/admin/usage")
    assert page.status_code == 200
    assert "3,000" in page.text
    assert "2 users with usage" in page.text
    bad = await admin.page("/admin/usage?since=yesterday")
    assert bad.status_code == 422
    assert "since: must be a date like 2025-01-31" in bad.text


async def test_admins_set_tiers_through_the_api_and_the_page(
    admin: Browser, bob: Browser, services_of_app: Services
) -> None:
    bob_id = await user_id(services_of_app, "bob")
    moved = await admin.call("PUT", f"/api/v1/admin/users/{bob_id}/tier", json={"tier": "pro"})
    assert moved.status_code == 200
    assert moved.json()["tier"] == "pro"
    assert (await bob.call("GET", "/api/v1/me/usage")).json()["messages_left"] is None
    wrong = await admin.call("PUT", f"/api/v1/admin/users/{bob_id}/tier", json={"tier": "gold"})
    assert wrong.status_code == 422
    assert "configured: free, plus, pro" in wrong.json()["error"]
    missing = await admin.call("PUT", "/api/v1/admin/users/nobody/tier", json={"tier": "pro"})
    assert missing.status_code == 404
    await services_of_app.usage.record(bob_id, UsageCounts(messages=1))
    await admin.page("/admin/usage?since=2025-01-01")
    sent = await admin.submit(
        f"/admin/usage/users/{bob_id}/tier",
        {"tier": "plus", "back": "/admin/usage?since=2025-01-01"},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/admin/usage?since=2025-01-01&notice=saved"
    assert (await services_of_app.accounts.get_user(bob_id)).tier == "plus"
    offsite = await admin.submit(
        f"/admin/usage/users/{bob_id}/tier", {"tier": "free", "back": "//evil.example/"}
    )
    assert offsite.headers["location"] == "/admin/usage?notice=saved"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/admin/usage", None),
        ("GET", "/api/v1/admin/usage/someone", None),
        ("PUT", "/api/v1/admin/users/someone/tier", {"tier": "pro"}),
    ],
)
async def test_only_admins_see_everyones_usage_or_set_tiers(
    alice: Browser, method: str, path: str, body: dict[str, str] | None
) -> None:
    answer = await alice.call(method, path, json=body) if body else await alice.call(method, path)
    assert answer.status_code == 403
    assert (await alice.page("/admin/usage")).status_code == 403
    form = await alice.submit("/admin/usage/users/someone/tier", {"tier": "pro"})
    assert form.status_code == 403


def test_an_unreachable_shared_store_is_a_503_in_words() -> None:
    error = Unavailable("the shared usage limits cannot be reached right now; try again")
    assert service_status(error) == 503
