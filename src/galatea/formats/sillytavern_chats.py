"""SillyTavern chat files (JSONL): a header line, then one line per message with its swipes.

SillyTavern keeps a chat as a flat list; a message's alternatives are its `swipes` and
`swipe_id` says which one is shown. We read that into a `ChatTree` (each swipe a sibling, the
shown one continuing the conversation) and write the active path back the same way.

What Galatea does not model is kept, so a chat survives import and export with its data:
- the header's `chat_metadata` (author's note settings, variables, ...) is the transcript's
  `metadata`, written back as read; the header's names and date are the chat's own;
- every other field of a message line (`extra` with the model, token counts and reasoning,
  `swipe_info`, `gen_started`/`gen_finished`, `force_avatar`/`original_avatar`, the date as
  written, unknown keys) is kept per swipe in each sibling's `Message.extra`, by SillyTavern's
  names; `sillytavern_fields.py` documents that mapping.
A file SillyTavern wrote therefore comes back equal, line for line (the header's names are
the chat's). Kept data is bounded (`ChatFileLimits`): a line over a bound is refused by
number.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from galatea.core.chats import ChatTree, Message, Role
from galatea.core.json_types import JsonObject
from galatea.formats.sillytavern_fields import read_swipe_fields, write_line


class ChatFileError(ValueError):
    """A chat file that cannot be read; the message names the line and the problem."""


@dataclass(slots=True, frozen=True)
class ChatFileLimits:
    """Bounds on an uploaded chat file."""

    max_bytes: int = 32 * 1024 * 1024
    max_messages: int = 100_000
    max_swipes: int = 512
    max_text_chars: int = 200_000
    max_extra_bytes: int = 64 * 1024
    """Largest data kept with one message (`Message.extra`), as UTF-8 JSON."""
    max_metadata_bytes: int = 256 * 1024
    """Largest `chat_metadata` of the header, as UTF-8 JSON."""


@dataclass(slots=True)
class ChatTranscript:
    """A chat read from or written to a file: names, metadata and the message tree."""

    tree: ChatTree
    user_name: str = "User"
    character_name: str = ""
    created_at: datetime | None = None
    metadata: JsonObject = field(default_factory=dict)


_HUMAN_DATE_FORMATS = ("%B %d, %Y %I:%M%p", "%B %d, %Y %I:%M %p")
# SillyTavern's file-name stamps, used as dates too: "2024-5-1 @14h 03m 21s 7ms" (messages of
# older versions) and "2024-05-01@14h03m21s" (chat headers); the milliseconds are not padded.
_STAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2}) ?@ ?(\d{1,2})h ?(\d{1,2})m ?(\d{1,2})s(?: ?(\d{1,3}) ?ms)?"
)
_EPOCH = re.compile(r"\d{9,16}")
# Newer SillyTavern versions write this placeholder in the header instead of the names.
_PLACEHOLDER_NAME = "unused"


def parse_send_date(value: Any) -> datetime | None:
    """A SillyTavern `send_date` (epoch ms, ISO 8601 or its humanised form) as UTC, if readable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip()
    if _EPOCH.fullmatch(text):
        return parse_send_date(int(text))
    stamp = _STAMP.fullmatch(text)
    if stamp is not None:
        return _stamp_date(stamp)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _HUMAN_DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stamp_date(stamp: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second = (int(part) for part in stamp.groups()[:6])
    milliseconds = int(stamp.group(7) or 0)
    try:
        return datetime(year, month, day, hour, minute, second, milliseconds * 1000, tzinfo=UTC)
    except ValueError:
        return None


def read_chat_jsonl(data: bytes, limits: ChatFileLimits | None = None) -> ChatTranscript:
    """Read a SillyTavern chat file into a transcript; ChatFileError names what is wrong."""
    limits = limits or ChatFileLimits()
    if len(data) > limits.max_bytes:
        raise ChatFileError(f"chat file is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ChatFileError(f"chat file is not UTF-8 (byte {exc.start})") from None
    transcript = ChatTranscript(tree=ChatTree())
    parent: str | None = None
    clock = datetime(2000, 1, 1, tzinfo=UTC)
    count = 0
    first = True
    # Split on newlines only: str.splitlines() would also cut at U+2028 or U+0085 inside text.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        entry = _parse_line(line, number)
        if "mes" not in entry and "swipes" not in entry:
            if first:
                first = False
                _read_header(entry, number, transcript, limits)
                continue
            raise ChatFileError(f"line {number}: a message needs a 'mes' field")
        first = False
        count += 1
        if count > limits.max_messages:
            raise ChatFileError(f"chat has more than {limits.max_messages} messages")
        clock = max(clock, parse_send_date(entry.get("send_date")) or clock) + timedelta(
            microseconds=1
        )
        parent, clock = _add_line(transcript.tree, entry, number, parent, clock, limits)
    if count == 0 and not transcript.tree.messages and not transcript.character_name:
        raise ChatFileError("chat file has no header and no messages")
    return transcript


def _parse_line(line: str, number: int) -> JsonObject:
    try:
        entry = json.loads(line, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ChatFileError(f"line {number} is not valid JSON: {exc}") from None
    if not isinstance(entry, dict):
        raise ChatFileError(f"line {number} is not a JSON object")
    return entry


def _refuse_constant(name: str) -> Any:
    # Python reads NaN and Infinity, which JSON has not and no database column would take.
    raise ValueError(f"{name} is not a JSON value")


def _read_header(
    entry: JsonObject, number: int, transcript: ChatTranscript, limits: ChatFileLimits
) -> None:
    transcript.user_name = _name(entry.get("user_name")) or transcript.user_name
    transcript.character_name = _name(entry.get("character_name"))
    transcript.created_at = parse_send_date(entry.get("create_date"))
    metadata = entry.get("chat_metadata")
    transcript.metadata = metadata if isinstance(metadata, dict) else {}
    size = _json_bytes(transcript.metadata)
    if size > limits.max_metadata_bytes:
        raise ChatFileError(
            f"line {number}: chat_metadata is {size} bytes; the limit is "
            f"{limits.max_metadata_bytes}"
        )


def _json_bytes(value: Any) -> int:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def _add_line(
    tree: ChatTree,
    entry: JsonObject,
    number: int,
    parent: str | None,
    clock: datetime,
    limits: ChatFileLimits,
) -> tuple[str, datetime]:
    shown = _text(entry.get("mes"))
    raw_swipes = entry.get("swipes")
    swipes = [_text(s) for s in raw_swipes] if isinstance(raw_swipes, list) else []
    if len(swipes) > limits.max_swipes:
        raise ChatFileError(
            f"line {number} has {len(swipes)} swipes; the limit is {limits.max_swipes}"
        )
    raw_id = entry.get("swipe_id")
    swipe_id: int | None = None
    if isinstance(raw_id, int) and not isinstance(raw_id, bool) and 0 <= raw_id < len(swipes):
        swipe_id = raw_id
    if not swipes:
        swipes, swipe_id = [shown], 0
    elif swipe_id is not None:
        if "mes" in entry:
            # SillyTavern shows, and prompts with, `mes`; an edit elsewhere may leave the swipe
            # it was taken from stale.
            swipes[swipe_id] = shown
    else:
        # The shown text is authoritative when the index is missing or out of range.
        swipe_id = swipes.index(shown) if shown in swipes else len(swipes)
        if swipe_id == len(swipes):
            swipes.append(shown)
    if any(len(s) > limits.max_text_chars for s in swipes):
        raise ChatFileError(
            f"line {number}: a message is longer than {limits.max_text_chars} characters"
        )
    is_user = entry.get("is_user") is True
    is_system = entry.get("is_system") is True
    role: Role = "user" if is_user else "character"
    if is_system and not is_user and _is_narrator(entry):
        role = "system"
    name = _text(entry.get("name")) or ("User" if is_user else "")
    kept = read_swipe_fields(entry, len(swipes), swipe_id)
    for fields in kept:
        size = _json_bytes(fields)
        if size > limits.max_extra_bytes:
            raise ChatFileError(
                f"line {number}: a message's extra data (extra, swipe_info and other fields) "
                f"is {size} bytes; the limit is {limits.max_extra_bytes}"
            )
    chosen = ""
    for index, (swipe_text, fields) in enumerate(zip(swipes, kept, strict=True)):
        message = Message(
            role=role,
            name=name,
            text=swipe_text,
            parent_id=parent,
            created_at=clock,
            # SillyTavern marks a message hidden from the prompt with is_system.
            hidden=is_system and role != "system",
            extra=fields,
        )
        tree.add(message, select=index == swipe_id)
        if index == swipe_id:
            chosen = message.id
        clock += timedelta(microseconds=1)
    return chosen, clock


def _is_narrator(entry: JsonObject) -> bool:
    extra = entry.get("extra")
    return isinstance(extra, dict) and extra.get("type") == "narrator"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _name(value: Any) -> str:
    name = _text(value)
    return "" if name == _PLACEHOLDER_NAME else name


def write_chat_jsonl(transcript: ChatTranscript) -> bytes:
    """The active path of a chat as a SillyTavern JSONL file, swipes and kept data included."""
    created = transcript.created_at or datetime.now(UTC)
    header = {
        "user_name": transcript.user_name,
        "character_name": transcript.character_name,
        "create_date": format_stamp(created),
        "chat_metadata": transcript.metadata,
    }
    lines = [_dump(header)]
    for message in transcript.tree.active_path():
        lines.append(_dump(write_line(message, transcript.tree.siblings(message.id))))
    # No newline after the last line, as SillyTavern writes it: RisuAI parses every line,
    # an empty last one included, and refuses the whole file over it.
    # A lone surrogate kept from a file can only stand inside a JSON string, where this writes
    # it back as the escape it was read from.
    return "\n".join(lines).encode("utf-8", "backslashreplace")


def format_stamp(moment: datetime) -> str:
    """A date in the form SillyTavern writes in chat headers ("2024-05-01@14h03m21s"), UTC."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d}@{utc:%H}h{utc:%M}m{utc:%S}s"


def _dump(value: JsonObject) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
