"""The payment webhook endpoint: really signed events move users between tiers; replays,
bad signatures and oversized bodies are refused; without a secret there is no endpoint."""

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from galatea.bootstrap import Services
from galatea.config import BillingSettings, Settings
from tests.conftest import FakeClock
from tests.web.conftest import Browser, client_for

SECRET = "whsec_web_51b0"
PATH = "/api/v1/billing/webhook"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        billing=BillingSettings(webhook_secret=SECRET),
    )


def signature(body: bytes, at: float, secret: str = SECRET) -> str:
    stamp = int(at)
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


async def deliver(
    client: httpx.AsyncClient, payload: dict[str, object], at: float, secret: str = SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post(
        PATH,
        content=body,
        headers={
            "Content-Type": "application/json",
            "Galatea-Signature": signature(body, at, secret),
        },
    )


async def test_a_signed_event_moves_a_user_between_tiers(
    app: FastAPI, alice: Browser, services_of_app: Services, clock: FakeClock
) -> None:
    alice_id = (await services_of_app.accounts.find_user("alice")).id
    event = {
        "id": "evt_web_1",
        "type": "tier.changed",
        "data": {"user_id": alice_id, "tier": "pro"},
    }
    async with client_for(app) as provider:
        applied = await deliver(provider, event, clock.now().timestamp())
        assert applied.status_code == 200
        assert applied.json() == {"status": "applied", "event_id": "evt_web_1"}
        assert (await alice.call("GET", "/api/v1/me")).json()["tier"] == "pro"
        replayed = await deliver(provider, event, clock.now().timestamp())
        assert replayed.json()["status"] == "duplicate"
        forged = await deliver(
            provider, {**event, "id": "evt_web_2"}, clock.now().timestamp(), "guess"
        )
        assert forged.status_code == 400
        assert forged.json() == {"error": "the signature does not match the body"}
        stale = await deliver(
            provider, {**event, "id": "evt_web_3"}, clock.now().timestamp() - 3600
        )
        assert stale.status_code == 400
        assert "away from this server's time" in stale.json()["error"]
        unsigned = await provider.post(PATH, json=event)
        assert unsigned.status_code == 400
        huge = b'{"id": "evt_big", "pad": "' + b"x" * 70_000 + b'"}'
        big = await provider.post(
            PATH,
            content=huge,
            headers={"Galatea-Signature": signature(huge, clock.now().timestamp())},
        )
        assert big.status_code == 413
        ghost = {"id": "evt_web_4", "type": "tier.changed", "data": {"user_id": "x", "tier": "pro"}}
        assert (await deliver(provider, ghost, clock.now().timestamp())).status_code == 404
    assert (await alice.call("GET", "/api/v1/me")).json()["tier"] == "pro"


async def test_a_browser_session_cannot_forge_an_event(alice: Browser, clock: FakeClock) -> None:
    body = b'{"id": "evt_x", "type": "tier.changed", "data": {"username": "alice", "tier": "pro"}}'
    answer = await alice.call("POST", PATH, content=body)
    assert answer.status_code == 400
    assert (await alice.call("GET", "/api/v1/me")).json()["tier"] == "free"


class TestWithoutASecret:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return Settings(database_url=database_url, data_dir=tmp_path / "data")

    async def test_the_webhook_does_not_exist(self, app: FastAPI) -> None:
        body = b"{}"
        async with client_for(app) as provider:
            answer = await provider.post(
                PATH, content=body, headers={"Galatea-Signature": signature(body, time.time(), "")}
            )
        assert answer.status_code == 404
