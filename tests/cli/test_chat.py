"""The terminal chat, run as a user runs it: the real command on the bundled model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from galatea.formats.sillytavern_chats import read_chat_jsonl

pytestmark = pytest.mark.slow


def run_chat(data_dir: Path, lines: list[str], *args: str) -> str:
    env = {**os.environ, "GALATEA_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "galatea", "chat", "--max-reply", "24", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_chat_with_the_sample_character_greets_replies_swipes_and_saves(
    engine_data_dir: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "chat.jsonl"
    out = run_chat(
        engine_data_dir,
        ["Hello! Who are you?", "/regen", "/swipe 1", "/prompt", f"/save {saved}", "/quit"],
    )
    assert "Chatting with Wren" in out
    assert "lamplight spills onto the wet stones" in out  # the card's greeting
    assert "(swipe 2/2)" in out
    assert "(swipe 1/2)" in out
    assert "<|im_start|>" in out  # /prompt shows the prompt as the model saw it
    chat = read_chat_jsonl(saved.read_bytes())
    path = chat.tree.active_path()
    assert [m.role for m in path] == ["character", "user", "character"]
    assert path[1].text == "Hello! Who are you?"
    assert path[2].text.strip()
    assert len(chat.tree.siblings(path[2].id)) == 2
    header = json.loads(saved.read_text().splitlines()[0])
    assert header["character_name"] == "Wren"


def test_a_bad_card_exits_with_status_2_and_names_the_problem(tmp_path: Path) -> None:
    card = tmp_path / "card.png"
    card.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = subprocess.run(
        [sys.executable, "-m", "galatea", "chat", str(card)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
