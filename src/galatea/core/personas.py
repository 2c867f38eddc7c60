"""Personas: who the user plays in a chat."""

from dataclasses import dataclass

DEFAULT_USER_NAME = "User"


@dataclass(slots=True, frozen=True)
class Persona:
    """The user's side of the roleplay: the name `{{user}}` stands for and a description."""

    name: str = DEFAULT_USER_NAME
    description: str = ""
