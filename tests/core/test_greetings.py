from galatea.core.characters import Character
from galatea.core.greetings import greeting_texts, open_chat
from galatea.core.personas import Persona

CARD = Character(
    name="Ava",
    nickname="Avi",
    first_mes="Hi {{user}}, I'm {{char}}. {{random::x::y}}",
    alternate_greetings=["<USER>! It's <BOT>.", "   ", "Hey."],
)


def test_greetings_fill_in_names_and_skip_blank_alternates() -> None:
    assert greeting_texts(CARD, Persona("Sam")) == [
        "Hi Sam, I'm Avi. {{random::x::y}}",
        "Sam! It's Avi.",
        "Hey.",
    ]


def test_a_new_chat_shows_the_first_greeting_with_the_alternates_as_swipes() -> None:
    tree = open_chat(CARD, Persona("Sam"))
    (shown,) = tree.active_path()
    assert shown.text.startswith("Hi Sam")
    assert shown.name == "Avi"
    assert [m.text for m in tree.siblings(shown.id)][1:] == ["Sam! It's Avi.", "Hey."]


def test_a_card_without_greeting_opens_an_empty_chat() -> None:
    assert open_chat(Character(name="Q"), Persona()).active_path() == []
