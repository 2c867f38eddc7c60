"""In a real browser: a user's usage page (tier, limits, the day's allowance), on a desktop and
a phone, and an admin's view of everyone's usage with a tier changed from it."""

import asyncio
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from galatea.bootstrap import build_services
from galatea.config import Settings
from galatea.core.usage import UsageCounts
from galatea.core.users import Role
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.app import create_app
from tests.browser.conftest import (
    PASSWORD,
    assert_no_console_errors,
    screenshot,
    sign_up,
    start_live_server,
)

pytestmark = pytest.mark.browser


def test_a_user_sees_tier_limits_and_usage(page: Page) -> None:
    sign_up(page, "alice")
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Your tier: free")).to_be_visible()
    expect(page.get_by_text("0 of 200 messages used")).to_be_visible()
    expect(page.locator("progress#messages-used")).to_have_attribute("max", "200")
    expect(page.get_by_role("cell", name="pro")).to_be_visible()
    screenshot(page, "usage")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("heading", name="Your tier: free")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the usage page must not scroll sideways on a phone"
    screenshot(page, "usage-phone")
    assert_no_console_errors(page)


def arrange(settings: Settings, hasher: Argon2PasswordHasher) -> None:
    """An admin, and a user with usage today, stored before the server starts (in a thread of
    its own: Playwright's loop is running in this one)."""

    async def go() -> None:
        services = build_services(settings, hasher=hasher)
        await services.start()
        try:
            await services.accounts.create_user(LOCAL_OPERATOR, "root", PASSWORD, role=Role.ADMIN)
            bob = await services.accounts.create_user(LOCAL_OPERATOR, "bob", PASSWORD)
            await services.usage.record(bob.id, UsageCounts(2, 1500, 500, 80))
        finally:
            await services.close()

    worker = threading.Thread(target=lambda: asyncio.run(go()))
    worker.start()
    worker.join()


def test_an_admin_moves_a_busy_user_to_another_tier(chromium: Browser, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
    arrange(settings, hasher)
    app = create_app(settings, services=build_services(settings, hasher=hasher))
    with start_live_server(app) as server:
        context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto("/sign-in")
            page.locator("#username").fill("root")
            page.locator("#password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            page.goto("/admin/usage")
            expect(page.get_by_text("1 user with usage")).to_be_visible()
            row = page.locator("tr", has_text="bob")
            expect(row.get_by_role("cell", name="1,500")).to_be_visible()
            row.get_by_label("Tier of bob").select_option("plus")
            row.get_by_role("button", name="Set tier").click()
            expect(page.get_by_text("Saved.")).to_be_visible()
            tier = page.locator("tr", has_text="bob").get_by_label("Tier of bob")
            expect(tier).to_have_value("plus")
            screenshot(page, "usage-admin")
        finally:
            context.close()
