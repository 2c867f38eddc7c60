"""Trusted proxies (client address, HTTPS) and request body limits, with small limits set."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from galatea.config import Settings, WebSettings
from galatea.web.middleware.hosts import host_name, is_allowed_host
from galatea.web.middleware.proxies import forwarded_client, parse_networks
from tests.web.conftest import PASSWORD, Browser, client_for

PROXY = "10.2.0.1"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    web = WebSettings(
        trusted_proxies=[PROXY, "fd00::/8"],
        max_body_bytes=2048,
        max_upload_bytes=8192,
        allowed_hosts=["localhost", "*.galatea.test"],
    )
    return Settings(database_url=database_url, data_dir=tmp_path / "data", web=web)


async def _sign_in_from(app: FastAPI, peer: str, headers: dict[str, str]) -> list[str]:
    async with client_for(app, address=peer) as client:
        await client.post("/api/v1/users", json={"username": "alice", "password": PASSWORD})
        signed_in = await client.post(
            "/api/v1/session", json={"username": "alice", "password": PASSWORD}, headers=headers
        )
        assert signed_in.status_code == 200, signed_in.text
        sessions = await client.get("/api/v1/me/sessions")
        return [session["address"] for session in sessions.json()]


async def test_a_trusted_proxy_names_the_client(app: FastAPI) -> None:
    headers = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    assert await _sign_in_from(app, PROXY, headers) == ["203.0.113.7"]


async def test_anyone_else_cannot_claim_an_address(app: FastAPI) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8"}
    assert await _sign_in_from(app, "192.0.2.50", headers) == ["192.0.2.50"]


async def test_rotating_forwarded_addresses_do_not_escape_the_sign_in_limit(app: FastAPI) -> None:
    statuses = []
    async with client_for(app, address="192.0.2.60") as client:
        for attempt in range(26):
            response = await client.post(
                "/api/v1/tokens",
                json={"username": f"nobody{attempt}", "password": "wrong password"},
                headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
            )
            statuses.append(response.status_code)
    assert statuses == [401] * 25 + [429]


async def test_https_at_a_trusted_proxy_makes_the_cookie_secure(app: FastAPI) -> None:
    async with client_for(app, address=PROXY) as client:
        page = await client.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-galatea_csrf=") and "Secure" in cookie
    assert page.headers["strict-transport-security"].startswith("max-age=")


async def test_a_client_cannot_claim_https(app: FastAPI) -> None:
    async with client_for(app, address="192.0.2.70") as client:
        page = await client.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert page.headers["set-cookie"].startswith("galatea_csrf=")
    assert "strict-transport-security" not in page.headers


async def test_a_json_body_over_the_limit_is_refused_before_reading(app: FastAPI) -> None:
    async with client_for(app) as client:
        response = await client.post(
            "/api/v1/users",
            content=b"{" + b" " * 4096 + b"}",
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json() == {"error": "the request body is larger than the limit of 2048 bytes"}


async def test_a_streamed_body_is_cut_off_at_the_limit(app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": "'
        for _ in range(10):
            yield b"x" * 512

    async with client_for(app) as client:
        response = await client.post(
            "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert "2048 bytes" in response.json()["error"]


async def test_uploads_have_their_own_larger_limit(alice: Browser) -> None:
    small = await alice.call(
        "POST",
        "/api/v1/characters/import",
        files={"file": ("c.json", b'{"name": "Tiny"}' + b" " * 3000)},
    )
    assert small.status_code == 201, small.text
    large = await alice.call(
        "POST", "/api/v1/characters/import", files={"file": ("c.json", b"{" + b" " * 9000 + b"}")}
    )
    assert large.status_code == 413


async def test_a_wildcard_host_pattern_covers_subdomains_only(app: FastAPI) -> None:
    async with client_for(app) as client:
        sub = await client.get("/api/v1/health", headers={"Host": "chat.galatea.test"})
        bare = await client.get("/api/v1/health", headers={"Host": "galatea.test"})
        evil = await client.get("/api/v1/health", headers={"Host": "evilgalatea.test"})
    assert (sub.status_code, bare.status_code, evil.status_code) == (200, 400, 400)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Example.ORG:8000", "example.org"),
        ("[::1]:8000", "::1"),
        ("[::1", ""),
        ("example.org.", "example.org"),
        ("", ""),
    ],
)
def test_host_names_are_read_from_the_header(header: str, name: str) -> None:
    assert host_name(header) == name


def test_an_empty_host_is_never_allowed() -> None:
    assert not is_allowed_host("", ["localhost", "*.example.org"])


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7, 10.2.0.1", "203.0.113.7"),
        ("1.1.1.1, 203.0.113.7, 10.2.0.1", "203.0.113.7"),
        ("10.2.0.1", "10.2.0.1"),
        ("", None),
    ],
)
def test_the_client_is_the_last_hop_no_proxy_added(header: str, client: str | None) -> None:
    assert forwarded_client(header, parse_networks([PROXY])) == client


def test_a_malformed_proxy_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"trusted proxy 'proxy.local' is not an IP address"):
        parse_networks(["proxy.local"])
