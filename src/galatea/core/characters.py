"""Characters: the one domain shape every card format is read into and written from."""

from dataclasses import dataclass, field

from galatea.core.json_types import JsonObject
from galatea.core.lorebooks import Lorebook


@dataclass(slots=True)
class Asset:
    """A V3 card asset (icon, background, emotion, ...); `uri` may be `embeded://path`."""

    type: str
    uri: str
    name: str
    ext: str
    extra: JsonObject = field(default_factory=dict)


@dataclass(slots=True)
class Character:
    """A roleplay character with every field of Character Card V3.

    Field names follow the card specs so that nothing is lost in translation. Optional V3
    fields are `None` when the source lacked them; `extra` keeps unknown `data` keys.
    """

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    """The greeting: the character speaks first."""
    mes_example: str = ""
    """Example dialogues, blocks separated by `<START>`."""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = field(default_factory=list)
    group_only_greetings: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    creator: str = ""
    character_version: str = ""
    extensions: JsonObject = field(default_factory=dict)
    character_book: Lorebook | None = None
    assets: list[Asset] | None = None
    nickname: str | None = None
    creator_notes_multilingual: dict[str, str] | None = None
    source: list[str] | None = None
    creation_date: int | float | None = None
    modification_date: int | float | None = None
    extra: JsonObject = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """The name `{{char}}` stands for: the nickname when set, else the name."""
        return self.nickname or self.name

    def greetings(self) -> list[str]:
        """The first message followed by the alternate greetings (each one a swipe)."""
        return [self.first_mes, *self.alternate_greetings]
