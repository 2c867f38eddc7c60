"""A `galatea serve` process killed outright (SIGKILL) in the middle of a reply: the text it had
written is not lost. The next process on the same SQLite database finds the reply's stale
draft and saves its text as an incomplete message, ready to continue or regenerate."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from galatea.web.sse import parse_events
from tests.multiprocess.test_two_processes import free_port, wait_until_serving

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery staple"
REPLY = " ".join(f"word{n}" for n in range(200))
CARD = {"name": "Ava", "description": "A botanist.", "first_mes": "Hello {{user}}."}


class Server:
    """`galatea serve` on a data directory, with a scripted backend writing a word per 0.05 s."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, number: int) -> None:
        backend = {"kind": "scripted", "options": {"reply": REPLY, "token_delay": 0.05}}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GALATEA_")},
            "GALATEA_DATA_DIR": str(self.root / "data"),
            "GALATEA_BACKENDS": json.dumps([backend]),
            "GALATEA_CHATS__DRAFT_SECONDS": "0.2",
            "GALATEA_CHATS__DRAFT_STALE_SECONDS": "5",
            "GALATEA_ACCOUNTS__PASSWORD_HASH_MEMORY_KIB": "47104",
            "GALATEA_ACCOUNTS__PASSWORD_HASH_TIME_COST": "1",
        }
        port = free_port()
        log = self.root / f"serve-{number}.log"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("galatea")), "serve", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        wait_until_serving(self.url, self.process, log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_a_reply_cut_by_a_killed_process_is_saved_by_the_next_one(server: Server) -> None:
    server.start(1)
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        account = {"username": "ann", "password": PASSWORD}
        assert anonymous.post("/api/v1/users", json=account).status_code == 201
        token = anonymous.post("/api/v1/tokens", json=account).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        character = client.post("/api/v1/characters", json=CARD).json()["id"]
        chat = client.post("/api/v1/chats", json={"character_id": character}).json()["id"]
        streamed, buffer = "", ""
        with client.stream(
            "POST", f"/api/v1/chats/{chat}/messages", json={"text": "Tell me everything."}
        ) as answer:
            for chunk in answer.iter_text():
                buffer += chunk
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    for kind, data in parse_events(block + "\n\n"):
                        if kind == "token":
                            streamed += data["text"]
                if streamed.count("word") >= 30:
                    break
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

    server.start(2)
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        deadline = time.monotonic() + 40
        while True:
            path = client.get(f"/api/v1/chats/{chat}/messages").json()
            if path[-1]["role"] == "character" and path[-1]["status"] == "incomplete":
                break
            assert time.monotonic() < deadline, f"no reply was recovered: {path}"
            time.sleep(0.5)
    saved = path[-1]["text"]
    assert [m["role"] for m in path] == ["character", "user", "character"]
    # At least what had been saved by the kill (every 0.2 s), never more than was written.
    assert REPLY.startswith(saved)
    assert saved.count("word") >= 20
