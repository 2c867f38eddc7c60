"""The per-swipe mapping of SillyTavern's message fields: what swiping, hiding and new replies
in Galatea do to the lines written back."""

import json
from datetime import UTC, datetime, timedelta

from galatea.core.chats import ChatTree, Message
from galatea.formats.sillytavern_chats import ChatTranscript, read_chat_jsonl, write_chat_jsonl
from galatea.formats.sillytavern_fields import record_generation, write_line

AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
REPLY = {
    "extra": {"api": "openai", "model": "gpt-x", "reasoning": "thought two"},
    "name": "Mo",
    "is_user": False,
    "send_date": "March 1, 2025 9:31am",
    "mes": "Second.",
    "gen_started": "2025-03-01T09:30:58.000Z",
    "gen_finished": "2025-03-01T09:31:00.000Z",
    "swipe_id": 1,
    "swipes": ["First.", "Second.", "Third."],
    "swipe_info": [
        {
            "send_date": "March 1, 2025 9:30am",
            "gen_started": "2025-03-01T09:29:58.000Z",
            "gen_finished": "2025-03-01T09:30:00.000Z",
            "extra": {"api": "openai", "model": "gpt-x", "reasoning": "thought one"},
        },
        {
            "send_date": "March 1, 2025 9:31am",
            "gen_started": "2025-03-01T09:30:58.000Z",
            "gen_finished": "2025-03-01T09:31:00.000Z",
            "extra": {"api": "openai", "model": "gpt-x", "reasoning": "thought two"},
        },
    ],
}


def _lines(tree: ChatTree) -> list[dict[str, object]]:
    data = write_chat_jsonl(ChatTranscript(tree=tree, created_at=AT))
    return [json.loads(line) for line in data.decode().split("\n")[1:]]


def _read(*lines: dict[str, object]) -> ChatTree:
    return read_chat_jsonl("\n".join(json.dumps(line) for line in lines).encode()).tree


def test_swiping_in_galatea_writes_the_line_sillytavern_shows_after_the_same_swipe() -> None:
    tree = _read(REPLY)
    first = tree.siblings(tree.active_path()[0].id)[0]
    tree.select(first.id)
    (line,) = _lines(tree)
    assert line["mes"] == "First." and line["swipe_id"] == 0
    # The swipe's own date, times and extra come onto the line, as when swiping in SillyTavern.
    assert line["send_date"] == "March 1, 2025 9:30am"
    assert line["gen_started"] == "2025-03-01T09:29:58.000Z"
    assert line["extra"] == {"api": "openai", "model": "gpt-x", "reasoning": "thought one"}
    assert line["swipe_info"] == REPLY["swipe_info"]


def test_each_swipe_keeps_its_own_extra_and_the_third_has_no_entry() -> None:
    tree = _read(REPLY)
    swipes = tree.siblings(tree.active_path()[0].id)
    assert [s.extra["extra"]["reasoning"] for s in swipes] == [
        "thought one",
        "thought two",
        "thought two",  # no entry: like SillyTavern, it shows the line's data
    ]
    assert [s.extra.get("swipe_info") for s in swipes] == [True, True, None]


def test_hiding_and_showing_again_sets_is_system_even_where_the_line_had_none() -> None:
    tree = _read({k: v for k, v in REPLY.items() if k != "swipe_info"})
    message = tree.active_path()[0]
    message.hidden = True
    assert _lines(tree)[0]["is_system"] is True
    message.hidden = False
    assert "is_system" not in _lines(tree)[0]
    shown_again = _read({**REPLY, "is_system": True}).active_path()[0]
    shown_again.hidden = False
    assert write_line(shown_again, [shown_again])["is_system"] is False


def test_lines_keep_the_shape_they_came_in() -> None:
    user = {"name": "Al", "is_user": True, "is_system": False, "send_date": 1, "mes": "Hi."}
    greeting = {
        "name": "Mo",
        "is_user": False,
        "is_system": False,
        "send_date": 2,
        "mes": "Hello.",
        "extra": {},
        "swipe_id": 0,
        "swipes": ["Hello.", "Welcome."],
        "swipe_info": [],
    }
    written = _lines(_read(greeting, user))
    assert written == [greeting, user]  # no swipes added to the user's line, no extra either


def test_galatea_messages_get_the_full_shape_with_an_entry_per_swipe() -> None:
    tree = ChatTree()
    hello = tree.add(Message("character", "Mo", "Hello.", created_at=AT))
    note = tree.add(Message("system", "Narrator", "Rain.", hello.id, created_at=AT))
    first, second = written = _lines(tree)
    assert first == {
        "name": "Mo",
        "is_user": False,
        "is_system": False,
        "send_date": "2025-03-01T09:30:00Z",
        "mes": "Hello.",
        "extra": {},
        "swipe_id": 0,
        "swipes": ["Hello."],
        "swipe_info": [{"send_date": "2025-03-01T09:30:00Z", "extra": {}}],
    }
    assert second["is_system"] is True and second["extra"] == {"type": "narrator"}
    again = read_chat_jsonl(write_chat_jsonl(ChatTranscript(tree=tree))).tree.active_path()
    assert [(m.role, m.hidden) for m in again] == [("character", False), ("system", False)]
    assert [m.text for m in again] == [hello.text, note.text] and len(written) == 2


def test_a_reply_galatea_adds_to_an_imported_line_gets_its_entry_after_a_hole() -> None:
    greeting = {
        "name": "Mo",
        "is_user": False,
        "send_date": "x",
        "mes": "Hello.",
        "extra": {},
        "swipe_id": 0,
        "swipes": ["Hello.", "Welcome."],
        "swipe_info": [],
    }
    tree = _read(greeting)
    fields = record_generation(
        {}, model="smol", generated_tokens=7, started=AT, finished=AT + timedelta(seconds=2)
    )
    new = tree.add(
        Message("character", "Mo", "Hi again.", created_at=AT + timedelta(days=1), extra=fields)
    )
    (line,) = _lines(tree)
    assert line["swipes"] == ["Hello.", "Welcome.", "Hi again."] and line["swipe_id"] == 2
    entry = {
        "send_date": "2025-03-02T09:30:00Z",
        "gen_started": "2025-03-01T09:30:00.000Z",
        "gen_finished": "2025-03-01T09:30:02.000Z",
        "extra": {"model": "smol", "token_count": 7},
    }
    assert line["swipe_info"] == [None, None, entry]
    assert line["extra"] == entry["extra"] and "is_system" in line
    assert new.extra["gen_finished"] == "2025-03-01T09:30:02.000Z"


def test_continuing_a_reply_adds_to_its_count_only_when_the_same_model_wrote_it() -> None:
    fields = record_generation(
        {"extra": {"model": "smol", "token_count": 10, "api": "openai"}, "swipe_info": {}},
        model="smol",
        generated_tokens=5,
        started=AT,
        finished=AT,
        continued=True,
    )
    assert fields["extra"] == {"model": "smol", "token_count": 15, "api": "openai"}
    # Its entry is rewritten from the line, as SillyTavern does when a reply changes.
    assert fields["swipe_info"] is True
    other = record_generation(
        {"extra": {"model": "big", "token_count": 10}},
        model="smol",
        generated_tokens=5,
        started=AT,
        finished=AT,
        continued=True,
    )
    assert other["extra"] == {"model": "smol"}
