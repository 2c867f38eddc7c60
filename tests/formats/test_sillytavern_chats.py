import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.chats import ChatTree, Message
from galatea.formats.sillytavern_chats import (
    ChatFileError,
    ChatFileLimits,
    ChatTranscript,
    parse_send_date,
    read_chat_jsonl,
    write_chat_jsonl,
)
from tests.formats.sillytavern_files import chat_files, encode

# Shaped like a file SillyTavern writes: header, humanised dates, swipes on the last reply,
# a hidden (is_system) user message, swipe_info, extra data.
SILLYTAVERN_FILE = "\n".join(
    json.dumps(line)
    for line in [
        {
            "user_name": "Alex",
            "character_name": "Seraphina",
            "create_date": "2024-05-01@14h03m21s",
            "chat_metadata": {"note_prompt": "", "note_depth": 4},
        },
        {
            "name": "Seraphina",
            "is_user": False,
            "is_system": False,
            "send_date": "May 1, 2024 2:03pm",
            "mes": "*She smiles.* Welcome back.\r\nSit down.",
            "extra": {},
            "swipe_id": 1,
            "swipes": ["Hello.", "*She smiles.* Welcome back.\r\nSit down."],
        },
        {
            "name": "Alex",
            "is_user": True,
            "is_system": True,
            "send_date": "May 1, 2024 2:04pm",
            "mes": "(out of character note)",
            "extra": {},
        },
        {
            "name": "Alex",
            "is_user": True,
            "send_date": 1714572300000,
            "mes": "Thanks. What's new?",
            "extra": {},
        },
        {
            "name": "Seraphina",
            "is_user": False,
            "send_date": "2024-05-01T14:05:30.000Z",
            "mes": "The forest is quiet.",
            "swipe_id": 0,
            "swipes": ["The forest is quiet.", "Nothing much.", "A storm is coming."],
            "swipe_info": [{}, {}, {}],
            "extra": {"api": "textgenerationwebui"},
        },
    ]
).encode()


def test_reads_a_sillytavern_file_with_swipes_and_hidden_messages() -> None:
    chat = read_chat_jsonl(SILLYTAVERN_FILE)
    assert chat.user_name == "Alex"
    assert chat.character_name == "Seraphina"
    assert chat.metadata == {"note_prompt": "", "note_depth": 4}
    path = chat.tree.active_path()
    assert [m.text for m in path] == [
        "*She smiles.* Welcome back.\r\nSit down.",
        "(out of character note)",
        "Thanks. What's new?",
        "The forest is quiet.",
    ]
    assert [m.role for m in path] == ["character", "user", "user", "character"]
    assert [m.hidden for m in path] == [False, True, False, False]
    assert [m.text for m in chat.tree.siblings(path[0].id)] == [
        "Hello.",
        "*She smiles.* Welcome back.\r\nSit down.",
    ]
    assert len(chat.tree.siblings(path[-1].id)) == 3
    assert path[2].created_at == datetime(2024, 5, 1, 14, 5, tzinfo=UTC) + timedelta(microseconds=1)


def test_the_header_date_is_read() -> None:
    assert read_chat_jsonl(SILLYTAVERN_FILE).created_at == datetime(
        2024, 5, 1, 14, 3, 21, tzinfo=UTC
    )


def test_the_placeholder_names_of_newer_headers_are_not_taken_for_names() -> None:
    header = {
        "chat_metadata": {"integrity": "x"},
        "user_name": "unused",
        "character_name": "unused",
    }
    line = {"name": "Mo", "is_user": False, "mes": "Hi.", "send_date": "2025-09-26T07:04:12.006Z"}
    chat = read_chat_jsonl((json.dumps(header) + "\n" + json.dumps(line)).encode())
    assert (chat.user_name, chat.character_name) == ("User", "")
    assert chat.metadata == {"integrity": "x"}
    assert [m.name for m in chat.tree.active_path()] == ["Mo"]


def test_the_shown_text_wins_over_a_stale_swipe() -> None:
    data = json.dumps({"mes": "Edited.", "swipes": ["First.", "Second."], "swipe_id": 1})
    tree = read_chat_jsonl(data.encode()).tree
    (message,) = tree.active_path()
    assert [m.text for m in tree.siblings(message.id)] == ["First.", "Edited."]
    assert message.text == "Edited."


def test_export_then_import_keeps_text_swipes_selection_and_hidden_flags() -> None:
    chat = read_chat_jsonl(SILLYTAVERN_FILE)
    again = read_chat_jsonl(write_chat_jsonl(chat))
    assert [(m.role, m.text, m.hidden) for m in again.tree.active_path()] == [
        (m.role, m.text, m.hidden) for m in chat.tree.active_path()
    ]
    for old, new in zip(chat.tree.active_path(), again.tree.active_path(), strict=True):
        assert [m.text for m in again.tree.siblings(new.id)] == [
            m.text for m in chat.tree.siblings(old.id)
        ]


def test_written_lines_have_the_sillytavern_shape() -> None:
    written = write_chat_jsonl(read_chat_jsonl(SILLYTAVERN_FILE)).decode()
    # Every line is a JSON object, the last one too: RisuAI parses each line it splits off.
    assert all(json.loads(line) for line in written.split("\n"))
    lines = written.splitlines()
    header, first = json.loads(lines[0]), json.loads(lines[1])
    assert header["user_name"] == "Alex" and header["character_name"] == "Seraphina"
    assert first["swipe_id"] == 1 and first["swipes"][1] == first["mes"]
    assert set(first) >= {"name", "is_user", "is_system", "send_date", "mes", "extra"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "line 1 is not valid JSON"),
        (b'{"user_name": "a"}\n[1, 2]', "line 2 is not a JSON object"),
        (b'{"user_name": "a"}\n{"name": "x"}', "line 2: a message needs a 'mes' field"),
        (b"\xff\xfe", "not UTF-8"),
        (b"", "no header and no messages"),
        (b'{"mes": "' + b"a" * 50 + b'"}', "longer than 10 characters"),
    ],
)
def test_bad_files_give_an_error_naming_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(ChatFileError, match=problem):
        read_chat_jsonl(data, ChatFileLimits(max_text_chars=10))


def test_size_message_and_swipe_limits_hold() -> None:
    with pytest.raises(ChatFileError, match="bytes"):
        read_chat_jsonl(b"x" * 100, ChatFileLimits(max_bytes=10))
    many = b"\n".join(b'{"mes": "hi", "is_user": true}' for _ in range(5))
    with pytest.raises(ChatFileError, match="more than 3 messages"):
        read_chat_jsonl(many, ChatFileLimits(max_messages=3))
    swipes = json.dumps({"mes": "a", "swipes": ["a"] * 9}).encode()
    with pytest.raises(ChatFileError, match="9 swipes"):
        read_chat_jsonl(swipes, ChatFileLimits(max_swipes=8))


def test_out_of_range_swipe_id_falls_back_to_the_shown_text() -> None:
    data = json.dumps({"mes": "b", "swipes": ["a", "b"], "swipe_id": 7}).encode()
    (message,) = read_chat_jsonl(data).tree.active_path()
    assert message.text == "b"
    data = json.dumps({"mes": "c", "swipes": ["a", "b"], "swipe_id": "x"}).encode()
    (message,) = read_chat_jsonl(data).tree.active_path()
    assert message.text == "c" and len(read_chat_jsonl(data).tree.messages) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1714572300000, datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        (1714572300, datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        ("2024-05-01T14:05:00Z", datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        ("May 1, 2024 2:05pm", datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        ("1714572300000", datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        # File-name stamps: chat headers, and messages of older versions (ms not padded).
        ("2024-05-01@14h05m00s", datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        ("2024-5-1 @14h 05m 00s 7ms", datetime(2024, 5, 1, 14, 5, 0, 7000, tzinfo=UTC)),
        ("2024-5-1 @14h 05m 00s 70ms", datetime(2024, 5, 1, 14, 5, 0, 70000, tzinfo=UTC)),
        ("2024-05-01 @14h 05m 00s", datetime(2024, 5, 1, 14, 5, tzinfo=UTC)),
        ("2024-13-01@14h05m00s", None),
        ("yesterday", None),
        (True, None),
        (None, None),
        (10**30, None),
    ],
)
def test_send_dates_in_the_forms_sillytavern_has_written(value: object, expected: object) -> None:
    assert parse_send_date(value) == expected


texts = st.text(max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    turns=st.lists(
        st.tuples(st.booleans(), st.lists(texts, min_size=1, max_size=4), st.booleans()),
        max_size=12,
    )
)
def test_any_chat_survives_a_round_trip(turns: list[tuple[bool, list[str], bool]]) -> None:
    tree = ChatTree()
    parent = None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n, (is_user, swipes, hidden) in enumerate(turns):
        chosen = None
        for k, text in enumerate(swipes):
            message = Message(
                role="user" if is_user else "character",
                name="You" if is_user else "Bot",
                text=text,
                parent_id=parent,
                hidden=hidden,
                created_at=start + timedelta(seconds=n * 10 + k),
            )
            tree.add(message, select=k == len(swipes) // 2)
            if k == len(swipes) // 2:
                chosen = message.id
        parent = chosen
    original = ChatTranscript(tree=tree, user_name="You", character_name="Bot")
    copy = read_chat_jsonl(write_chat_jsonl(original))
    assert [(m.role, m.text, m.hidden) for m in copy.tree.active_path()] == [
        (m.role, m.text, m.hidden) for m in tree.active_path()
    ]
    for old, new in zip(tree.active_path(), copy.tree.active_path(), strict=True):
        assert [m.text for m in copy.tree.siblings(new.id)] == [
            m.text for m in tree.siblings(old.id)
        ]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_reader(data: bytes) -> None:
    with contextlib.suppress(ChatFileError):
        read_chat_jsonl(data)


def _canonical(line: object) -> str:
    # As JSON text, so 1, 1.0 and true stay different (Python's == takes them for equal).
    return json.dumps(line, sort_keys=True)


@settings(max_examples=150, deadline=None)
@given(lines=chat_files())
def test_files_sillytavern_writes_come_back_equal_line_for_line(
    lines: list[dict[str, object]],
) -> None:
    written = write_chat_jsonl(read_chat_jsonl(encode(lines))).decode()
    assert [_canonical(json.loads(line)) for line in written.split("\n")] == [
        _canonical(line) for line in lines
    ]


def test_kept_data_is_on_each_swipe_and_in_the_metadata() -> None:
    chat = read_chat_jsonl(SILLYTAVERN_FILE)
    assert chat.metadata == {"note_prompt": "", "note_depth": 4}
    last = chat.tree.active_path()[-1]
    assert last.extra["extra"] == {"api": "textgenerationwebui"}
    assert last.extra["send_date"] == "2024-05-01T14:05:30.000Z"
    # Its entry ({}) is not its own fields, so it is kept as written.
    assert [m.extra["swipe_info"] for m in chat.tree.siblings(last.id)] == [{}, {}, {}]


def test_kept_data_over_its_bound_is_refused_naming_the_line() -> None:
    big = json.dumps({"mes": "hi", "extra": {"reasoning": "x" * 100}})
    data = f'{{"user_name": "a"}}\n{{"mes": "ok"}}\n{big}'.encode()
    with pytest.raises(
        ChatFileError,
        match=r"line 3: a message's extra data \(extra, .*\) is \d+ bytes; the limit is 64$",
    ):
        read_chat_jsonl(data, ChatFileLimits(max_extra_bytes=64))
    header = json.dumps({"chat_metadata": {"variables": {"v": "y" * 100}}})
    with pytest.raises(ChatFileError, match=r"line 1: chat_metadata is \d+ bytes; the limit"):
        read_chat_jsonl(header.encode(), ChatFileLimits(max_metadata_bytes=64))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_numbers_json_has_not_are_refused(constant: str) -> None:
    data = f'{{"mes": "a"}}\n{{"mes": "b", "extra": {{"x": {constant}}}}}'.encode()
    with pytest.raises(ChatFileError, match=f"line 2 is not valid JSON: {constant}"):
        read_chat_jsonl(data)


def test_a_lone_surrogate_in_kept_data_is_written_as_the_escape_it_was_read_from() -> None:
    data = b'{"mes": "a", "send_date": 1, "extra": {"odd": "\\ud800!"}}'
    written = write_chat_jsonl(read_chat_jsonl(data))
    written.decode("utf-8")  # valid UTF-8 throughout
    (line,) = [json.loads(text) for text in written.decode().split("\n")[1:]]
    assert line["extra"] == {"odd": "\ud800!"}


def test_the_header_date_is_written_as_sillytavern_stamps_it() -> None:
    header = json.loads(write_chat_jsonl(read_chat_jsonl(SILLYTAVERN_FILE)).split(b"\n")[0])
    assert header["create_date"] == "2024-05-01@14h03m21s"


odd_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["extra", "send_date", "type", "x"]), children, max_size=3
        )
    ),
    max_leaves=6,
)
odd_lines = st.fixed_dictionaries(
    {"mes": st.text(max_size=5)},
    optional={
        "is_user": odd_values,
        "is_system": odd_values,
        "swipes": st.lists(st.text(max_size=5), max_size=3) | odd_values,
        "swipe_id": st.integers(-1, 4) | odd_values,
        "swipe_info": st.lists(odd_values, max_size=4) | odd_values,
        "extra": odd_values,
        "send_date": odd_values,
        "gen_started": odd_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(odd_lines, min_size=1, max_size=4))
def test_lines_of_any_shape_are_read_and_written_back_readable(
    lines: list[dict[str, object]],
) -> None:
    chat = read_chat_jsonl(encode(lines))
    written = write_chat_jsonl(chat)
    again = read_chat_jsonl(written)
    # Once written, a chat is in a shape that comes back the same.
    assert write_chat_jsonl(again).split(b"\n")[1:] == written.split(b"\n")[1:]
    assert [(m.role, m.text, m.hidden) for m in again.tree.active_path()] == [
        (m.role, m.text, m.hidden) for m in chat.tree.active_path()
    ]
    for old, new in zip(chat.tree.active_path(), again.tree.active_path(), strict=True):
        assert [m.text for m in again.tree.siblings(new.id)] == [
            m.text for m in chat.tree.siblings(old.id)
        ]
