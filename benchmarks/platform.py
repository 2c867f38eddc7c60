"""`galatea bench platform`: what the platform adds to the time to the first token.

The backend is a `ScriptedBackend` that answers instantly, so every millisecond measured is
the platform's own: authentication, loading the chat, resolving settings, assembling the
prompt (counting on the backend's tokenizer from a worker thread), queueing through the fair
scheduler, committing the user's message, starting the reply job and writing SSE.

- TTFT through `POST /api/v1/chats/{id}/messages` with a Bearer token, the real app in this
  process on a fresh SQLite file, called as an ASGI app: the time from the call to the first
  body chunk holding an `event: token`. Chats grow as a user's would (each send adds two
  messages); several chats are used in turn.
- Baseline, in the same run: the time to the first `TextDelta` when calling the same
  backend's `stream()` directly with the prompt the platform built.
- The same TTFT through a real uvicorn server on 127.0.0.1 and an HTTP client reading the
  stream, against that server's floor: a round trip of the trivial `/api/v1/health` route.
  (Here the loopback round trip of uvicorn's h11 server is itself about 40 ms, whatever the
  app does, so the HTTP figure is reported against it rather than against the backend.)

Figures are p50 and p95 in milliseconds; each platform figure's ratio is against the
baseline's same percentile, and an `overhead` figure gives the p50 difference.
"""

import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.scripted import ScriptedBackend
from galatea.services.engines import BackendSource
from galatea.services.passwords import Argon2PasswordHasher
from galatea.web.app import create_app

Figure = dict[str, Any]
PASSWORD = "correct horse battery staple"
REPLY = "Of course! The ferns by the window are my favourites, they love the morning light."
CARD = {
    "name": "Ava",
    "description": "{{char}} is a cheerful botanist who talks to {{user}} about plants. " * 6,
    "personality": "Warm, curious, a little scatterbrained.",
    "scenario": "A greenhouse on a rainy afternoon.",
    "first_mes": "Hello {{user}}! Mind the puddles, come in.",
    "mes_example": "<START>\n{{user}}: Hi!\n{{char}}: Oh, hello there! *waves a trowel*",
}


BENCH_TIER = {
    "weight": 1.0,
    "max_context_tokens": 8192,
    "max_reply_tokens": 250,
    "messages_per_day": None,
    "concurrency": 4,
    "queue_cap": 100,
    "queued_per_user": 4,
    "ageing_bound_s": 60.0,
}
"""One tier without a daily message allowance, so a long run is never refused."""


def _settings(data_dir: Path) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    tiers = data_dir / "tiers.json"
    tiers.write_text(json.dumps({"free": BENCH_TIER}))
    return Settings(data_dir=data_dir, tiers_file=tiers)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class FirstToken:
    """An ASGI `send` that notes when the first token event leaves the app."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.status = 0
        self.body = bytearray()

    async def __call__(self, message: dict[str, Any]) -> None:
        """Record the status, the body, and the moment of the first token."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            self.body.extend(chunk)
            if self.at is None and b"event: token" in chunk:
                self.at = time.perf_counter()


async def _asgi_send(app: Any, token: str, chat_id: str, text: str) -> float:
    """Seconds from calling the app to the first token event of the reply."""
    body = json.dumps({"text": text}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/v1/chats/{chat_id}/messages",
        "raw_path": f"/api/v1/chats/{chat_id}/messages".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"accept", b"text/event-stream"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
        "state": {},
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {"type": "http.disconnect"}

    sink = FirstToken()
    started = time.perf_counter()
    await app(scope, receive, sink)
    if sink.status != 200 or sink.at is None:
        raise RuntimeError(f"the send failed ({sink.status}): {bytes(sink.body[:300])!r}")
    return sink.at - started


async def _prepare(services: Services, chats: int) -> tuple[str, list[str]]:
    """A user with a Bearer token and `chats` chats with one character."""
    user = await services.accounts.sign_up("bencher", PASSWORD, address=None)
    token = await services.api_tokens.create(user, "bench")
    character = await services.characters.create(user, CARD)
    chat_ids = [(await services.chats.start(user, character.id)).id for _ in range(chats)]
    return token.secret, chat_ids


async def _baseline(backend: ScriptedBackend, requests: list[GenerationRequest]) -> list[float]:
    samples = []
    for request in requests:
        started = time.perf_counter()
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                samples.append(time.perf_counter() - started)
                break
    return samples


async def _in_process(data_dir: Path, turns: int, chats: int) -> tuple[list[float], list[float]]:
    settings = _settings(data_dir)
    backend = ScriptedBackend(replies=[REPLY])
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
    source = BackendSource("instant", "default", 8, lambda: backend)
    services = build_services(settings, hasher=hasher, backends=[source])
    app = create_app(settings, services=services)
    async with app.router.lifespan_context(app):
        token, chat_ids = await _prepare(services, chats)
        for chat_id in chat_ids:  # warm up: imports, first queries, the backend's opening
            await _asgi_send(app, token, chat_id, "Hello!")
        samples = []
        for turn in range(turns):
            chat_id = chat_ids[turn % len(chat_ids)]
            # The answer ends when the reply's stream closes, after it was saved.
            samples.append(await _asgi_send(app, token, chat_id, f"Question number {turn}?"))
        # The same backend, asked directly with the prompts the platform built, in turn.
        requests = list(backend.requests[-turns:])
        baseline = await _baseline(backend, requests)
    return samples, baseline


@contextmanager
def _live_server(app: Any) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the benchmark's server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def _over_http(data_dir: Path, turns: int, chats: int) -> tuple[list[float], list[float]]:
    settings = _settings(data_dir)
    backend = ScriptedBackend(replies=[REPLY])
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
    source = BackendSource("instant", "default", 8, lambda: backend)
    services = build_services(settings, hasher=hasher, backends=[source])
    samples = []
    with _live_server(create_app(settings, services=services)) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            account = {"username": "bencher", "password": PASSWORD}
            client.post("/api/v1/users", json=account).raise_for_status()
            token = client.post("/api/v1/tokens", json=account).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            character = client.post("/api/v1/characters", json=CARD).json()["id"]
            chat_ids = [
                client.post("/api/v1/chats", json={"character_id": character}).json()["id"]
                for _ in range(chats)
            ]
            for turn in range(turns + chats):
                chat_id = chat_ids[turn % chats]
                started = time.perf_counter()
                first = None
                with client.stream(
                    "POST", f"/api/v1/chats/{chat_id}/messages", json={"text": f"Q{turn}?"}
                ) as response:
                    for line in response.iter_lines():
                        if first is None and line == "event: token":
                            first = time.perf_counter() - started
                if first is None:
                    raise RuntimeError("no token came over HTTP")
                if turn >= chats:  # the first send of each chat warms up
                    samples.append(first)
            # The same server's floor: a round trip of the trivial health route.
            floor = []
            for _ in range(turns):
                started = time.perf_counter()
                client.get("/api/v1/health").raise_for_status()
                floor.append(time.perf_counter() - started)
    return samples, floor


def _figures(name: str, samples: list[float], baseline: list[float]) -> list[Figure]:
    figures = []
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        value = _percentile(samples, fraction) * 1000
        base = _percentile(baseline, fraction) * 1000
        figures.append(
            {
                "name": f"{name} {label}",
                "value": round(value, 3),
                "baseline": round(base, 4),
                "ratio": round(value / base, 1) if base else None,
                "unit": "ms",
            }
        )
    return figures


def run(*, quick: bool = False, data_dir: Path | None = None) -> list[Figure]:
    """Measure the platform's TTFT overhead against calling the backend directly."""
    del data_dir  # a throwaway directory: the bench must not touch the site's own data
    turns, chats = (20, 2) if quick else (200, 5)
    with tempfile.TemporaryDirectory(prefix="galatea-bench-platform-") as folder:
        root = Path(folder)
        samples, baseline = asyncio.run(_in_process(root / "asgi", turns, chats))
        http, floor = _over_http(root / "http", turns, chats)
    overhead = statistics.median(samples) - statistics.median(baseline)
    return [
        *_figures("TTFT via POST /messages, in-process ASGI", samples, baseline),
        *_figures("TTFT via POST /messages over HTTP (vs health route)", http, floor),
        {
            "name": "platform overhead on TTFT, p50 (in-process)",
            "value": round(overhead * 1000, 3),
            "baseline": None,
            "ratio": None,
            "unit": "ms",
        },
    ]
