"""Hypothesis strategies for chat files in the shapes SillyTavern writes them.

The shapes follow SillyTavern's own code paths: a user's message (no swipes), a generated reply
(no `is_system` unless hidden and shown again, `swipe_info` entries copied from the line), a
greeting with alternates (`swipe_info: []`), a narrator's message, lines edited after their
entry was written, entries with holes (null) or missing at the end, extension fields.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

# Text as a person or a model writes it, any script, newlines included; no macros, which an
# export fills in as the chat shows them, and no NUL, which storage replaces.
texts = st.text(st.characters(codec="utf-8", exclude_characters="{}<>\x00"), max_size=30)
names = texts.filter(lambda name: name.strip() != "" and name != "unused")
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(texts, json_values, max_size=4)
# Fields extensions add to a line; never one SillyTavern gives a meaning Galatea models.
extension_keys = st.sampled_from(["bookmark_link", "is_name", "variables", "gen_id", "x_ext"])
START = datetime(2023, 6, 1, tzinfo=UTC)


def human_date(moment: datetime) -> str:
    """A date as SillyTavern 1.10-1.12 wrote `send_date`: "June 19, 2023 2:20pm"."""
    hour = moment.hour % 12 or 12
    meridiem = "pm" if moment.hour >= 12 else "am"
    return f"{moment:%B} {moment.day}, {moment.year} {hour}:{moment:%M}{meridiem}"


def iso_date(moment: datetime) -> str:
    """A date as JavaScript's `toISOString` writes it (newer `send_date`, `gen_started`)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@st.composite
def send_dates(draw: st.DrawFn, moment: datetime) -> Any:
    """`send_date` in one of the forms SillyTavern versions wrote."""
    form = draw(st.sampled_from(["human", "iso", "epoch"]))
    if form == "human":
        return human_date(moment)
    if form == "iso":
        return iso_date(moment)
    return int(moment.timestamp() * 1000)


@st.composite
def reply_extras(draw: st.DrawFn) -> dict[str, Any]:
    """A reply's `extra`: api and model, maybe a token count, reasoning, bias, more."""
    extra: dict[str, Any] = {
        "api": draw(st.sampled_from(["openai", "koboldcpp", "textgenerationwebui"])),
        "model": draw(texts),
    }
    if draw(st.booleans()):
        extra["token_count"] = draw(st.integers(0, 4000))
    if draw(st.booleans()):
        extra["reasoning"] = draw(texts)
        extra["reasoning_duration"] = draw(st.integers(0, 90_000))
    if draw(st.booleans()):
        extra["bias"] = draw(texts)
    extra.update(draw(st.dictionaries(st.sampled_from(["display_text", "memory"]), texts)))
    return extra


@st.composite
def user_lines(draw: st.DrawFn, moment: datetime) -> dict[str, Any]:
    """A user's message as `sendMessageAsUser` writes it."""
    line: dict[str, Any] = {
        "name": draw(names),
        "is_user": True,
        "is_system": draw(st.booleans()),
        "send_date": draw(send_dates(moment)),
        "mes": draw(texts),
        "extra": draw(st.fixed_dictionaries({}, optional={"token_count": st.integers(0, 99)})),
    }
    if draw(st.booleans()):
        line["force_avatar"] = "User Avatars/" + draw(texts) + ".png"
    return line


@st.composite
def reply_lines(draw: st.DrawFn, moment: datetime) -> dict[str, Any]:
    """A generated reply with its swipes, as `saveReply` and later edits leave it."""
    count = draw(st.integers(1, 4))
    swipes = [draw(texts) for _ in range(count)]
    shown = draw(st.integers(0, count - 1))
    entries: list[Any] = []
    for index in range(count):
        at = moment + timedelta(seconds=index)
        entry: dict[str, Any] = {"send_date": draw(send_dates(at))}
        if draw(st.integers(0, 4)):
            entry["gen_started"] = iso_date(at - timedelta(seconds=3))
            entry["gen_finished"] = iso_date(at)
        entry["extra"] = draw(reply_extras())
        entries.append(entry)
    line: dict[str, Any] = {
        "extra": json.loads(json.dumps(entries[shown]["extra"])),
        "name": draw(names),
        "is_user": False,
        "send_date": entries[shown]["send_date"],
        "mes": swipes[shown],
        "title": "",
    }
    for key in ("gen_started", "gen_finished"):
        if key in entries[shown]:
            line[key] = entries[shown][key]
    if draw(st.booleans()):
        line["is_system"] = draw(st.booleans())  # hidden, or hidden and shown again
    if draw(st.booleans()):
        # Edited or translated after its entry was written: the line and entry differ.
        line["extra"]["display_text"] = draw(texts)
    if draw(st.booleans()):
        line["force_avatar"] = "characters/" + draw(texts) + ".png"
        line["original_avatar"] = draw(texts) + ".png"
    line.update(draw(st.dictionaries(extension_keys, json_values, max_size=2)))
    line["swipe_id"] = shown
    line["swipes"] = swipes
    line["swipe_info"] = _damage(draw, entries)
    return line


def _damage(draw: st.DrawFn, entries: list[Any]) -> list[Any]:
    """Entries as older versions and extensions leave them: holes, a short list, odd keys."""
    entries = list(entries)
    if draw(st.booleans()) and entries:
        entries[draw(st.integers(0, len(entries) - 1))] = None
    if draw(st.booleans()):
        entries = entries[: draw(st.integers(0, len(entries)))]
    for entry in entries:
        if isinstance(entry, dict) and draw(st.integers(0, 5)) == 0:
            entry.update(draw(st.dictionaries(extension_keys, json_values, max_size=1)))
    return entries


@st.composite
def greeting_lines(draw: st.DrawFn, moment: datetime) -> dict[str, Any]:
    """A greeting as `getFirstMessage` writes it, with alternates as swipes or without."""
    line: dict[str, Any] = {
        "name": draw(names),
        "is_user": False,
        "is_system": False,
        "send_date": draw(send_dates(moment)),
        "mes": draw(texts),
        "extra": {},
    }
    alternates = draw(st.lists(texts, max_size=3))
    if alternates:
        line["swipe_id"] = 0
        line["swipes"] = [line["mes"], *alternates]
        line["swipe_info"] = []
    return line


@st.composite
def narrator_lines(draw: st.DrawFn, moment: datetime) -> dict[str, Any]:
    """A narrator's message (`/sys`)."""
    return {
        "name": draw(names),
        "is_user": False,
        "is_system": True,
        "send_date": draw(send_dates(moment)),
        "mes": draw(texts),
        "extra": {"type": "narrator", **draw(st.dictionaries(st.just("bias"), texts))},
    }


@st.composite
def chat_files(draw: st.DrawFn, max_messages: int = 8) -> list[dict[str, Any]]:
    """A whole chat file as JSON lines: the header, a greeting, then any mix of messages."""
    created = START + timedelta(seconds=draw(st.integers(0, 10**8)))
    header = {
        "user_name": draw(names),
        "character_name": draw(names),
        "create_date": f"{created:%Y-%m-%d@%Hh%Mm%Ss}",
        "chat_metadata": draw(
            st.fixed_dictionaries(
                {"note_prompt": texts, "note_depth": st.integers(0, 10)},
                optional={"variables": json_objects, "tainted": st.booleans()},
            )
        ),
    }
    lines: list[dict[str, Any]] = [header, draw(greeting_lines(created))]
    kinds = st.sampled_from([user_lines, reply_lines, narrator_lines])
    for index in range(draw(st.integers(0, max_messages))):
        moment = created + timedelta(minutes=index + 1)
        lines.append(draw(draw(kinds)(moment)))
    return lines


def encode(lines: list[dict[str, Any]]) -> bytes:
    """The lines as a JSONL file, without a newline at the end (as SillyTavern writes it)."""
    return "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
