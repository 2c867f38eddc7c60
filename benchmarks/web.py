"""`galatea bench web`: server time per request for the character library with 10,000 characters.

The real app (`create_app`) runs in this process on a fresh SQLite file under a temporary
directory, seeded with 10,000 characters from 50 owners (80 % public, 10 % of those adult,
tags from a pool of 40, chat counts spread like a popularity curve). Requests go through an
in-process ASGI client, one at a time; a wrapper around the app measures the server time of
each request, from the call into the app to the end of the response body, so the client's
own work is not counted.

Scenarios, each timed over the same number of requests: the library newest first, most
chatted first, a text search, a tag filter, a signed-in user who confirmed their age (adult
characters included), a user's own characters, and one character's page data. The baseline
is the trivial `/api/v1/health` route in the same run: the figures' ratios say how much more
a library request costs than the app's fixed per-request overhead.
"""

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.core.characters import Character
from galatea.core.records import CharacterRecord, Visibility
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.app import create_app

Figure = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]

CHARACTERS = 10_000
OWNERS = 50
TAGS = [f"tag{n:02}" for n in range(40)]
BATCH = 500
PASSWORD = "correct horse battery staple"
WORDS = [
    "lighthouse", "keeper", "airship", "captain", "knight", "witch", "detective", "pirate",
    "scholar", "baker", "ranger", "android", "oracle", "bard", "merchant", "alchemist",
    "courier", "gardener", "astronomer", "smuggler",
]  # fmt: skip


class ServerTimer:
    """Wraps an ASGI app and records how long each HTTP request spends inside it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.durations: list[float] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Time the request from entry to the last body message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.durations.append(time.perf_counter() - started)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _seed(services: Services, count: int) -> tuple[str, str]:
    """Store `count` characters; returns (an owner's username, a public character's id)."""
    rng = random.Random(7)
    owners = [
        await services.accounts.sign_up(f"owner{n:02}", PASSWORD, address=None)
        for n in range(OWNERS)
    ]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    public_id = ""
    for first in range(0, count, BATCH):
        async with services.uow() as uow:
            for index in range(first, min(first + BATCH, count)):
                name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {index}"
                record = CharacterRecord(
                    character=Character(
                        name=name,
                        description=" ".join(rng.choices(WORDS, k=60)),
                        creator_notes=" ".join(rng.choices(WORDS, k=30)),
                        first_mes="Hello there. " * 20,
                        tags=rng.sample(TAGS, 3),
                        creator=f"creator{index % 97}",
                    ),
                    owner_id=owners[index % OWNERS].id,
                    created_at=start + timedelta(minutes=index),
                    updated_at=start + timedelta(minutes=index),
                    visibility=Visibility.PUBLIC if rng.random() < 0.8 else Visibility.PRIVATE,
                    is_adult=rng.random() < 0.1,
                    chat_count=int(rng.paretovariate(1.2)) - 1,
                )
                if record.visibility is Visibility.PUBLIC and not record.is_adult:
                    public_id = record.id
                await uow.characters.add(record)
            await uow.commit()
    return owners[0].username, public_id


async def _time(
    client: httpx.AsyncClient, timer: ServerTimer, url: str, requests: int
) -> list[float]:
    for _ in range(max(3, requests // 10)):  # warm caches and the connection pool
        (await client.get(url)).raise_for_status()
    timer.durations.clear()
    for _ in range(requests):
        (await client.get(url)).raise_for_status()
    return list(timer.durations)


async def _run(count: int, requests: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="galatea-bench-web-") as folder:
        settings = Settings(data_dir=Path(folder) / "data")
        hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
        services = build_services(settings, hasher=hasher)
        app = create_app(settings, services=services)
        timer = ServerTimer(app)
        async with app.router.lifespan_context(app):
            owner, public_id = await _seed(services, count)
            transport = httpx.ASGITransport(app=timer, client=("127.0.0.1", 9))
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                token = await c.post(
                    "/api/v1/tokens", json={"username": owner, "password": PASSWORD}
                )
                bearer = {"Authorization": f"Bearer {token.json()['token']}"}
                await c.post("/api/v1/me/age-confirmation", headers=bearer)
                baseline = await _time(c, timer, "/api/v1/health", requests)
                scenarios = {
                    "library_new": "/api/v1/characters?sort=new",
                    "library_popular": "/api/v1/characters?sort=popular",
                    "library_search": "/api/v1/characters?q=keeper",
                    "library_tag": "/api/v1/characters?tag=tag07&sort=popular",
                    "library_page_40": "/api/v1/characters?sort=new&offset=960&limit=24",
                    "library_page_html": "/library?sort=popular",
                    "character": f"/api/v1/characters/{public_id}",
                }
                results = {
                    name: await _time(c, timer, url, requests) for name, url in scenarios.items()
                }
                c.headers.update(bearer)
                results["library_adult_ok"] = await _time(c, timer, "/api/v1/characters", requests)
                results["my_characters"] = await _time(c, timer, "/api/v1/me/characters", requests)
    return _figures(baseline, results, count)


def _figures(baseline: list[float], results: dict[str, list[float]], count: int) -> list[Figure]:
    figures: list[Figure] = []
    base = {"p50": _percentile(baseline, 0.5), "p95": _percentile(baseline, 0.95)}
    for name, samples in results.items():
        for label, fraction in (("p50", 0.5), ("p95", 0.95)):
            value = _percentile(samples, fraction)
            figures.append(
                {
                    "name": f"web_{name}_{label}_ms ({count} characters)",
                    "value": round(value * 1000, 3),
                    "baseline": round(base[label] * 1000, 3),
                    "ratio": value / base[label],
                    "unit": "ms (baseline: /api/v1/health)",
                }
            )
    figures.append(
        {
            "name": "web_health_mean_ms",
            "value": round(statistics.fmean(baseline) * 1000, 3),
            "baseline": None,
            "ratio": None,
            "unit": "ms",
        }
    )
    return figures


def run(*, quick: bool = False) -> list[Figure]:
    """The figures: p50 and p95 server time per scenario, against the health route."""
    if quick:
        return asyncio.run(_run(1_000, 30))
    return asyncio.run(_run(CHARACTERS, 200))
