import pytest

from galatea.core.characters import Character
from galatea.core.personas import Persona
from galatea.formats.sillytavern_chats import read_chat_jsonl, write_chat_jsonl
from galatea.inference.errors import StreamInterrupted
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure
from galatea.services.chat_session import ChatSession, SessionError
from galatea.services.generation import GenerationSettings, without_speaker_prefix

AVA = Character(
    name="Ava",
    description="{{char}} is a botanist.",
    first_mes="Hello {{user}}!",
    alternate_greetings=["Oh, a visitor."],
)


async def drain(pieces: object) -> str:
    return "".join([p async for p in pieces])  # type: ignore[attr-defined]


def session(*replies: object) -> ChatSession:
    backend = ScriptedBackend(replies=list(replies))  # type: ignore[arg-type]
    return ChatSession(
        AVA, backend, persona=Persona("Sam"), settings=GenerationSettings(template="chatml")
    )


async def test_a_chat_opens_with_the_greeting_and_its_alternates_as_swipes() -> None:
    chat = session()
    assert [m.text for m in chat.path()] == ["Hello Sam!"]
    assert chat.swipe_position() == (1, 2)
    assert chat.swipe(2).text == "Oh, a visitor."


async def test_send_streams_the_reply_and_keeps_both_messages() -> None:
    chat = session(" Ferns are my favourite.")
    assert await drain(chat.send("What do you study?")) == "Ferns are my favourite."
    assert [(m.role, m.text) for m in chat.path()][1:] == [
        ("user", "What do you study?"),
        ("character", "Ferns are my favourite."),
    ]
    assert chat.last_prompt is not None
    assert "What do you study?" in chat.last_prompt.text


async def test_regenerate_adds_a_swipe_and_swipe_goes_back() -> None:
    chat = session("First answer.", "Second answer.")
    await drain(chat.send("Hi"))
    await drain(chat.regenerate())
    assert chat.path()[-1].text == "Second answer."
    assert chat.swipe_position() == (2, 2)
    assert chat.swipe(1).text == "First answer."
    assert len(chat.path()) == 3


async def test_continue_appends_to_the_last_reply() -> None:
    chat = session("It is green", " and tall.")
    await drain(chat.send("Describe it"))
    await drain(chat.continue_reply())
    assert chat.path()[-1].text == "It is green and tall."


async def test_a_failed_reply_keeps_its_partial_text_marked_incomplete() -> None:
    failure = ScriptedFailure(StreamInterrupted("connection dropped"), text="Half a tho")
    chat = session(failure)
    await drain(chat.send("Tell me"))
    last = chat.path()[-1]
    assert last.text == "Half a tho"
    assert last.status == "incomplete"
    assert chat.last_outcome is not None
    assert chat.last_outcome.error == "connection dropped"


async def test_edit_undo_and_their_limits() -> None:
    chat = session("Reply one.", "Reply two.")
    await drain(chat.send("Hi"))
    await drain(chat.regenerate())
    chat.edit_last("Edited.")
    assert chat.path()[-1].text == "Edited."
    chat.undo()  # the reply and its swipes go
    assert chat.path()[-1].text == "Hi"
    chat.undo()
    assert [m.text for m in chat.path()] == ["Hello Sam!"]
    with pytest.raises(SessionError, match="only the greeting"):
        chat.undo()
    with pytest.raises(SessionError, match="pick 1 to 2"):
        chat.swipe(3)


async def test_the_saved_chat_reads_back_with_its_swipes() -> None:
    chat = session("A.", "B.")
    await drain(chat.send("Hi"))
    await drain(chat.regenerate())
    copy = read_chat_jsonl(write_chat_jsonl(chat.transcript()))
    assert [m.text for m in copy.tree.active_path()] == [m.text for m in chat.path()]
    assert [m.text for m in copy.tree.siblings(copy.tree.active_path()[-1].id)] == ["A.", "B."]


async def test_the_user_name_is_a_stop_string_in_every_template() -> None:
    backend = ScriptedBackend(replies=["Sure.\nSam: and then I said"])
    chat = ChatSession(AVA, backend, persona=Persona("Sam"))
    assert await drain(chat.send("Hi")) == "Sure."
    assert "\nSam:" in backend.requests[0].stop


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Ava", ":", " Hello"], "Hello"),
        ([" Ava: Hi", " there"], "Hi there"),
        (["Av", "ocado"], "Avocado"),
        (["Hello"], "Hello"),
        (["Ava:"], ""),
    ],
)
async def test_a_speaker_prefix_the_model_writes_is_removed(
    pieces: list[str], expected: str
) -> None:
    backend = ScriptedBackend(replies=["".join(pieces)])
    from galatea.inference.backend import GenerationRequest, TextDelta

    text = ""
    async for event in without_speaker_prefix(backend.stream(GenerationRequest("x")), "Ava"):
        if isinstance(event, TextDelta):
            text += event.text
    assert text == expected
