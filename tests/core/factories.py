"""Builders for core tests: a word-counting tokenizer, a sample character, a chat history."""

from datetime import UTC, datetime, timedelta

from galatea.core.characters import Character
from galatea.core.chats import Message
from galatea.core.lorebooks import Lorebook, LoreEntry

NOW = datetime(2025, 3, 14, 15, 9, tzinfo=UTC)


class WordCounter:
    """One token per whitespace-separated word: predictable budgets for unit tests."""

    def __init__(self) -> None:
        self.calls = 0

    def count(self, text: str) -> int:
        """Number of words in `text`."""
        self.calls += 1
        return len(text.split())


def make_character(**fields: object) -> Character:
    """Aria, a small but complete card; keyword arguments replace fields."""
    values: dict[str, object] = {
        "name": "Aria",
        "description": "{{char}} keeps the lighthouse on Gull Rock.",
        "personality": "warm, curious, stubborn",
        "scenario": "A storm traps {{user}} at the lighthouse.",
        "first_mes": "Welcome, {{user}}! Dry off by the stove.",
        "mes_example": (
            "<START>\n{{user}}: Is it always this loud?\n{{char}}: Only when the sea is angry."
            "\n<START>\n{{user}}: Do you get lonely?\n{{char}}: The gulls keep me company."
        ),
        "character_book": Lorebook(
            entries=[
                LoreEntry(keys=["lamp"], content="The lamp burns whale oil.", insertion_order=1),
                LoreEntry(keys=[], content="Gull Rock is far from shore.", constant=True),
            ]
        ),
    }
    values.update(fields)
    return Character(**values)  # type: ignore[arg-type]


def make_history(count: int, *, words: int = 5, start: datetime = NOW) -> list[Message]:
    """Alternating character/user messages, oldest first, chained by parent id."""
    messages: list[Message] = []
    parent: str | None = None
    for index in range(count):
        is_user = index % 2 == 1
        text = " ".join([f"m{index}"] + ["word"] * (words - 1))
        message = Message(
            role="user" if is_user else "character",
            name="Sam" if is_user else "Aria",
            text=text,
            parent_id=parent,
            created_at=start + timedelta(minutes=index),
        )
        messages.append(message)
        parent = message.id
    return messages
