"""`galatea serve`: refuses unsafe starts with one line, and serves the site where it says."""

import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from galatea.cli.main import app
from galatea.cli.serve import is_loopback, site_url

runner = CliRunner()
PASSWORD = "correct horse battery staple\n"


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("GALATEA_DATABASE_URL", raising=False)
    monkeypatch.setenv("GALATEA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GALATEA_ACCOUNTS__PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("GALATEA_ACCOUNTS__PASSWORD_HASH_MEMORY_KIB", "47104")
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("chat.example.org", False)],
)  # fmt: skip
def test_only_loopback_addresses_count_as_private(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:8000/"), ("0.0.0.0", "http://127.0.0.1:8000/"),
     ("::1", "http://[::1]:8000/"), ("chat.example.org", "http://chat.example.org:8000/")],
)  # fmt: skip
def test_the_printed_address_can_be_opened(host: str, url: str) -> None:
    assert site_url(host, 8000) == url


def test_a_reachable_address_needs_an_admin_first(data_dir: Path) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code == 1
    assert "before an admin account exists" in result.output
    assert "galatea admin create-user NAME --admin" in result.output
    assert (data_dir / "galatea.db").is_file()


def test_a_bad_database_url_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALATEA_DATABASE_URL", "mysql://nobody@nowhere/db")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: GALATEA_DATABASE_URL:")
    assert len(result.output.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_prints_the_address_and_serves_the_site(tmp_path: Path) -> None:
    executable = shutil.which("galatea", path=str(Path(sys.executable).parent))
    assert executable is not None
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALATEA_")}
    process = subprocess.Popen(
        [executable, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        expected = f"Galatea is running at http://127.0.0.1:{port}/"
        output = ""
        deadline = time.monotonic() + 180  # generous: the machine may be busy
        assert process.stdout is not None
        pipe = process.stdout.fileno()
        while expected not in output and time.monotonic() < deadline:
            # Read the pipe itself: a buffered readline() could hold a second line that
            # select() then never reports (the flake this test once had).
            ready, _, _ = select.select([pipe], [], [], 1)
            if ready:
                output += os.read(pipe, 65536).decode(errors="replace")
            assert process.poll() is None, output
        assert expected in output
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "Character library" in page.text
        assert (tmp_path / "data" / "galatea.db").is_file()
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
