"""The inputs of the golden prompts, shared by the core test and the CLI test."""

from pathlib import Path

HERE = Path(__file__).parent
CARD = HERE / "card.json"
HISTORY = HERE / "history.jsonl"
USER = "Sam"
PERSONA = "{{user}} is a young surveyor mapping the river."
MESSAGE = "Did we just pass a sandbar? I heard pirates hunt for gold around here."
CONTEXT = 2048
SEED = 1
UPDATE_ENV = "GALATEA_UPDATE_GOLDEN"


def golden_path(template: str) -> Path:
    """Where the expected prompt of `template` is kept."""
    return HERE / f"{template}.txt"


def cli_arguments(template: str) -> list[str]:
    """The `galatea prompt render` arguments that reproduce the golden prompt."""
    return [
        "prompt",
        "render",
        "--card",
        str(CARD),
        "--template",
        template,
        "--user",
        USER,
        "--persona",
        PERSONA,
        "--history",
        str(HISTORY),
        "--message",
        MESSAGE,
        "--context",
        str(CONTEXT),
        "--seed",
        str(SEED),
    ]
