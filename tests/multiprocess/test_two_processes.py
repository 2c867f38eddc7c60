"""Two `galatea serve` processes on one PostgreSQL database and one Redis, as behind a load
balancer: per-user limits hold across both, both share one fair queue, and a reply started
through one is followed and stopped through the other.

The processes generate with the `scripted` backend kind (a fixed reply, a fixed time per word),
configured through settings like any backend: two slots for the whole deployment.
"""

import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from galatea.inference.scheduling import default_tiers
from galatea.storage import schema
from galatea.web.sse import parse_events
from tests.conftest import create_postgres_database, drop_postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery staple"
SECRET = "whsec_multiprocess"
WORDS = 8
WORD_DELAY = 0.25
REPLY = " ".join(f"word{n}" for n in range(WORDS))
REPLY_SECONDS = WORDS * WORD_DELAY
CARD = {"name": "Ava", "description": "A botanist.", "first_mes": "Hello {{user}}."}


@dataclass
class Deployment:
    """The two app processes' addresses and the logs they write."""

    urls: list[str]
    logs: list[Path]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"galatea serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"galatea serve did not answer within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def deployment(
    postgres_server: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Two `galatea serve` processes sharing a fresh database and a Redis key prefix."""
    root = tmp_path_factory.mktemp("deployment")
    database = create_postgres_database(postgres_server)
    asyncio.run(schema.upgrade(database))
    tiers = default_tiers().to_mapping()
    tiers["free"].update(messages_per_day=3, concurrency=1, queued_per_user=1)
    tiers_file = root / "tiers.json"
    tiers_file.write_text(json.dumps(tiers))
    backend = {
        "kind": "scripted",
        "slots": 2,
        "options": {"reply": REPLY, "token_delay": WORD_DELAY},
    }
    env = {
        **os.environ,
        "GALATEA_DATABASE_URL": database,
        "GALATEA_REDIS_URL": redis_url,
        "GALATEA_REDIS_PREFIX": f"test:{uuid.uuid4().hex}:",
        "GALATEA_BACKENDS": json.dumps([backend]),
        "GALATEA_TIERS_FILE": str(tiers_file),
        "GALATEA_BILLING__WEBHOOK_SECRET": SECRET,
        "GALATEA_ACCOUNTS__PASSWORD_HASH_MEMORY_KIB": "47104",
        "GALATEA_ACCOUNTS__PASSWORD_HASH_TIME_COST": "1",
    }
    galatea = Path(sys.executable).with_name("galatea")
    processes: list[subprocess.Popen[bytes]] = []
    urls, logs = [], []
    try:
        for number in range(2):
            port = free_port()
            log = root / f"serve-{number}.log"
            with log.open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        [str(galatea), "serve", "--port", str(port)],
                        env={**env, "GALATEA_DATA_DIR": str(root / f"data-{number}")},
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        for url, process, log in zip(urls, processes, logs, strict=True):
            wait_until_serving(url, process, log)
        yield Deployment(urls, logs)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drop_postgres_database(postgres_server, database)


@dataclass
class Reply:
    """One reply's answer as a client read it: events with the time each arrived."""

    status: int
    events: list[tuple[float, str, Any]] = field(default_factory=list)
    body: str = ""

    def kinds(self) -> list[str]:
        kinds: list[str] = []
        for _, kind, _ in self.events:
            if not (kind == "token" and kinds and kinds[-1] == "token"):
                kinds.append(kind)
        return kinds

    def waited(self) -> bool:
        """Whether the reply was told its place in line before it started."""
        kinds = self.kinds()
        return "queued" in kinds and kinds.index("queued") < kinds.index("started")

    def last(self, kind: str) -> float:
        return max(moment for moment, seen, _ in self.events if seen == kind)

    def at(self, kind: str) -> float:
        return next(moment for moment, seen, _ in self.events if seen == kind)

    def text(self) -> str:
        return "".join(data["text"] for _, kind, data in self.events if kind == "token")

    def done(self) -> dict[str, Any]:
        data: dict[str, Any] = next(data for _, kind, data in self.events if kind == "done")
        return data


class Site:
    """A user's scripts talking to both processes."""

    def __init__(self, urls: list[str], token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = [
            httpx.AsyncClient(base_url=url, headers=headers, timeout=30) for url in urls
        ]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def call(self, process: int, method: str, path: str, **options: Any) -> httpx.Response:
        return await self.clients[process].request(method, path, **options)

    async def stream(
        self,
        process: int,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        seen: tuple[str, asyncio.Event] | None = None,
    ) -> Reply:
        """POST (or GET without a body) an event-stream route and read it to its end;
        `seen` = (kind, event): the event is set when the first event of that kind arrives."""
        method = "GET" if json_body is None else "POST"
        reply = Reply(0)
        try:
            async with self.clients[process].stream(method, path, json=json_body) as answer:
                reply.status = answer.status_code
                buffer = ""
                async for chunk in answer.aiter_text():
                    buffer += chunk
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        for kind, data in parse_events(block + "\n\n"):
                            reply.events.append((time.monotonic(), kind, data))
                            if seen is not None and kind == seen[0]:
                                seen[1].set()
                reply.body = buffer
        finally:
            if seen is not None:
                seen[1].set()  # never leave a waiter hanging on a refused request
        return reply


@asynccontextmanager
async def member(deployment: Deployment, username: str) -> AsyncIterator[Site]:
    """Sign up through the first process, take a token through the second."""
    async with httpx.AsyncClient(base_url=deployment.urls[0]) as first:
        made = await first.post("/api/v1/users", json={"username": username, "password": PASSWORD})
        assert made.status_code == 201, made.text
    async with httpx.AsyncClient(base_url=deployment.urls[1]) as second:
        grant = await second.post(
            "/api/v1/tokens", json={"username": username, "password": PASSWORD}
        )
        assert grant.status_code == 201, grant.text
    site = Site(deployment.urls, grant.json()["token"])
    try:
        yield site
    finally:
        await site.aclose()


async def new_chat(site: Site, process: int = 0, *, reply_tokens: int = 16) -> str:
    """A chat whose replies are planned at `reply_tokens` (the queue plans run times from it;
    the scripted reply is shorter)."""
    character = await site.call(process, "POST", "/api/v1/characters", json=CARD)
    assert character.status_code == 201, character.text
    chat = await site.call(
        process, "POST", "/api/v1/chats", json={"character_id": character.json()["id"]}
    )
    assert chat.status_code == 201, chat.text
    chat_id: str = chat.json()["id"]
    settings = {"settings": {"max_reply_tokens": reply_tokens}}
    changed = await site.call(process, "PATCH", f"/api/v1/chats/{chat_id}", json=settings)
    assert changed.status_code == 200, changed.text
    return chat_id


async def send(site: Site, process: int, chat_id: str, text: str) -> Reply:
    return await site.stream(process, f"/api/v1/chats/{chat_id}/messages", json_body={"text": text})


async def sending(
    site: Site, process: int, chat_id: str, text: str, *, until: str = "started"
) -> "asyncio.Task[Reply]":
    """Start sending, and return once the reply's first `until` event arrived."""
    seen = asyncio.Event()
    path = f"/api/v1/chats/{chat_id}/messages"
    task = asyncio.create_task(
        site.stream(process, path, json_body={"text": text}, seen=(until, seen))
    )
    await asyncio.wait_for(seen.wait(), 60)
    return task


async def upgrade(site: Site, process: int, tier: str) -> None:
    """Move the user to `tier` with a signed payment event, as a provider would."""
    me = (await site.call(process, "GET", "/api/v1/me")).json()
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "tier.changed",
            "data": {"user_id": me["id"], "tier": tier},
        }
    ).encode()
    stamp = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(base_url=site.clients[process].base_url) as provider:
        answer = await provider.post(
            "/api/v1/billing/webhook",
            content=body,
            headers={
                "Galatea-Signature": f"t={stamp},v1={mac}",
                "Content-Type": "application/json",
            },
        )
    assert answer.json()["status"] == "applied", answer.text


async def test_per_user_limits_hold_across_both_processes(deployment: Deployment) -> None:
    async with member(deployment, "alice") as alice:
        chats = [await new_chat(alice) for _ in range(3)]
        # Free: two replies in progress at most, wherever they were sent.
        # The first one runs; the second waits behind it (free: one running at a time).
        running = [
            await sending(alice, 0, chats[0], "one", until="token"),
            await sending(alice, 1, chats[1], "two", until="accepted"),
        ]
        third = await alice.call(
            0, "POST", f"/api/v1/chats/{chats[2]}/messages", json={"text": "x"}
        )
        assert third.status_code == 429, third.text
        assert "already have 2 replies in progress" in third.json()["error"]
        first, second = await asyncio.gather(*running)
        assert first.done()["status"] == second.done()["status"] == "complete"
        # Free: three messages a day, counted over both processes.
        assert (await send(alice, 1, chats[2], "three")).done()["status"] == "complete"
        for process in (0, 1):
            refused = await alice.call(
                process, "POST", f"/api/v1/chats/{chats[2]}/messages", json={"text": "four"}
            )
            assert refused.status_code == 429
            assert "all 3 messages the free tier allows" in refused.json()["error"]
            assert 0 < int(refused.headers["Retry-After"]) <= 86_400
        seen = [(await alice.call(p, "GET", "/api/v1/me/usage")).json() for p in (0, 1)]
        assert seen[0]["today"] == seen[1]["today"]
        assert seen[0]["today"]["messages"] == 3
        assert seen[0]["today"]["generated_tokens"] == 3 * WORDS
        assert seen[0]["messages_left"] == 0


async def test_both_processes_share_one_fair_queue(deployment: Deployment) -> None:
    async with member(deployment, "bob") as bob:
        await upgrade(bob, 1, "pro")
        assert (await bob.call(0, "GET", "/api/v1/me")).json()["tier"] == "pro"
        chats = [await new_chat(bob) for _ in range(4)]
        replies = await asyncio.gather(
            *(send(bob, n % 2, chat_id, f"hello {n}") for n, chat_id in enumerate(chats))
        )
    assert all(reply.done()["status"] == "complete" for reply in replies)
    assert all(reply.text() == REPLY for reply in replies)
    # Two slots for the whole deployment: two of the four waited, whichever process took
    # them, and at no moment did more than two run.
    waited = [reply for reply in replies if reply.waited()]
    assert len(waited) >= 2
    starts = sorted(reply.at("started") for reply in replies)
    assert starts[2] - starts[0] > 0.8 * REPLY_SECONDS
    # A run holds its slot from `started` to its last token; a little slack for two sockets.
    spans = [(reply.at("started"), reply.last("token")) for reply in replies]
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start + 0.05 < e) <= 2


async def test_a_reply_started_in_one_process_is_followed_and_stopped_from_the_other(
    deployment: Deployment,
) -> None:
    async with member(deployment, "carol") as carol:
        await upgrade(carol, 0, "plus")
        chat_id = await new_chat(carol)
        writing = await sending(carol, 0, chat_id, "tell me", until="token")
        followed = await carol.stream(1, f"/api/v1/chats/{chat_id}/stream")
        written = await writing
        assert followed.status == 200
        assert followed.text() == written.text() == REPLY
        assert followed.done() == written.done()

        writing = await sending(carol, 0, chat_id, "and more", until="token")
        stopped = await carol.call(1, "POST", f"/api/v1/chats/{chat_id}/stop")
        assert stopped.json() == {"stopped": True}
        written = await writing
        assert written.done()["reason"] == "stopped"
        assert 0 < len(written.text()) < len(REPLY)
        path = (await carol.call(1, "GET", f"/api/v1/chats/{chat_id}/messages")).json()
        assert path[-1]["text"] == written.text()
        assert path[-1]["status"] == "incomplete"
