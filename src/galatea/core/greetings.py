"""Greetings: how a chat opens, with the card's first message and its alternates as swipes."""

from galatea.core.characters import Character
from galatea.core.chats import ChatTree, Message
from galatea.core.personas import Persona
from galatea.core.prompting.macros import MacroContext, expand_macros


def greeting_texts(character: Character, persona: Persona) -> list[str]:
    """The greetings as the user reads them: `{{char}}` and `{{user}}` filled in.

    Only names are expanded: random or time macros in a stored greeting would freeze at
    whatever they drew when the chat opened.
    """
    context = MacroContext(char=character.display_name, user=persona.name)
    return [
        expand_macros(text, context, field_name="first_mes", names_only=True).text
        for text in character.greetings()
        if text.strip()
    ]


def open_chat(character: Character, persona: Persona) -> ChatTree:
    """A new chat holding the greeting, alternate greetings as its swipes, the first selected."""
    tree = ChatTree()
    first: Message | None = None
    for text in greeting_texts(character, persona):
        message = Message(role="character", name=character.display_name, text=text)
        tree.add(message, select=first is None)
        first = first or message
    return tree
