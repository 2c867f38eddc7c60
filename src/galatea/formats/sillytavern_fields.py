"""The fields of a SillyTavern message line that Galatea keeps but does not model.

Galatea models a line's text, speaker, hidden flag and swipes (`name`, `is_user`, `is_system`,
`mes`, `swipes`, `swipe_id`). Everything else is kept, per swipe, in `Message.extra` by
SillyTavern's own field names, so an imported chat exports with its data:

- A swipe's fields are its line's (`send_date` as written, `extra`, `gen_started`,
  `gen_finished`, `title`, `force_avatar`, `original_avatar`, unknown keys), with its own
  `swipe_info` entry's `send_date`, `gen_started`, `gen_finished` and `extra` on top for the
  swipes that were not shown: what SillyTavern puts on the line when one swipes to it.
- `swipe_info` holds the swipe's own entry of the line's `swipe_info` list: `true` when the
  entry is exactly the swipe's own `send_date`/`gen_started`/`gen_finished`/`extra` (as
  SillyTavern writes it), else the entry as written (unknown keys or a null hole included).
  A swipe the list has no entry for has no `swipe_info`.
- `is_system` and `swipe_id` are kept as the file had them only to remember that the line had
  them: Galatea's hidden flag and swipe choice decide the values written.

A message read from a file carries `send_date` (SillyTavern writes it on every message) and is
written back with the keys its line had, no more: a file SillyTavern wrote comes back equal,
line for line. Galatea's own messages get the full shape SillyTavern gives a reply, and a swipe
of theirs gets a `swipe_info` entry built from its fields. Where a line is not in a shape
SillyTavern writes (swipes without a `swipe_info` list, a list longer than the swipes, a shown
text that differs from its swipe), the export says the same in SillyTavern's current shape.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from galatea.core.chats import Message
from galatea.core.json_types import JsonObject

PER_SWIPE = ("send_date", "gen_started", "gen_finished", "extra")
"""Fields SillyTavern keeps for each swipe in `swipe_info` and swaps onto the line."""
_MODELLED = frozenset({"name", "is_user", "mes", "swipes", "swipe_info"})
"""Fields Galatea keeps in its own terms; never copied into `extra`."""
_WRITTEN = frozenset({*_MODELLED, "is_system", "swipe_id", "send_date", "extra"})
"""Fields the writer sets itself; the rest of a message's `extra` is copied to its line."""
_NO_ENTRY = object()


def read_swipe_fields(entry: JsonObject, swipe_count: int, shown: int) -> list[JsonObject]:
    """Each swipe's kept fields (its `Message.extra`) from one line of a file."""
    line = {key: value for key, value in entry.items() if key not in _MODELLED}
    info = entry.get("swipe_info")
    entries: list[Any] = info if isinstance(info, list) else []
    swipes: list[JsonObject] = []
    for index in range(swipe_count):
        fields = dict(line)
        own = entries[index] if index < len(entries) else _NO_ENTRY
        if index != shown and isinstance(own, dict):
            fields.update((key, own[key]) for key in PER_SWIPE if key in own)
        if own is not _NO_ENTRY:
            fields["swipe_info"] = True if _same(own, _projection(fields)) else own
        swipes.append(fields)
    return swipes


def is_from_file(fields: JsonObject) -> bool:
    """Whether these fields were read from a file, whose line shape is then kept."""
    return "send_date" in fields


def write_line(message: Message, siblings: Sequence[Message]) -> JsonObject:
    """The SillyTavern line showing `message`, with its siblings as the swipes."""
    fields = message.extra
    kept = is_from_file(fields)
    line: JsonObject = {"name": message.name, "is_user": message.is_user}
    is_system = message.hidden or message.role == "system"
    if is_system or not kept or "is_system" in fields:
        line["is_system"] = is_system
    line["send_date"] = fields.get("send_date", format_date(message.created_at))
    line["mes"] = message.text
    extra = _extra_object(message)
    if extra is not _NO_ENTRY:
        line["extra"] = extra
    line.update((key, value) for key, value in fields.items() if key not in _WRITTEN)
    if not kept or len(siblings) > 1 or "swipe_id" in fields or _any_entry(siblings):
        line["swipe_id"] = next(i for i, m in enumerate(siblings) if m.id == message.id)
        line["swipes"] = [sibling.text for sibling in siblings]
        line["swipe_info"] = _swipe_info(siblings)
    return line


def record_generation(
    fields: JsonObject,
    *,
    model: str,
    generated_tokens: int | None,
    started: datetime,
    finished: datetime,
    continued: bool = False,
) -> JsonObject:
    """A reply's fields with what Galatea knows of its generation, as SillyTavern writes it:
    the model and token count in `extra`, the start and end times in `gen_started` and
    `gen_finished`. `generated_tokens` is None when the backend did not count them; a continued
    reply adds the tokens it had before when the same model wrote them. A count that cannot be
    kept true is dropped."""
    updated = dict(fields)
    earlier = fields.get("extra")
    extra: JsonObject = dict(earlier) if isinstance(earlier, dict) else {}
    count = generated_tokens
    if continued and count is not None:
        before = extra.get("token_count")
        same_model = extra.get("model") == model
        if isinstance(before, int) and not isinstance(before, bool) and same_model:
            count += before
        else:
            count = None
    extra["model"] = model
    if count is None:
        extra.pop("token_count", None)
    else:
        extra["token_count"] = count
    updated["extra"] = extra
    updated["gen_started"] = format_date(started, milliseconds=True)
    updated["gen_finished"] = format_date(finished, milliseconds=True)
    if "swipe_info" in updated:
        # SillyTavern rewrites the shown swipe's entry from the line when a reply changes it.
        updated["swipe_info"] = True
    return updated


def format_date(moment: datetime, *, milliseconds: bool = False) -> str:
    """A UTC ISO 8601 date ending in Z (JavaScript's form with `milliseconds`)."""
    utc = moment.astimezone(UTC)
    text = utc.isoformat(timespec="milliseconds" if milliseconds else "auto")
    return text.replace("+00:00", "Z")


def _extra_object(message: Message) -> Any:
    fields = message.extra
    value = fields.get("extra", _NO_ENTRY)
    if message.role == "system":
        # SillyTavern tells a narrator's message from a hidden one by this type.
        narrator: JsonObject = dict(value) if isinstance(value, dict) else {}
        narrator["type"] = "narrator"
        return narrator
    if value is _NO_ENTRY and not is_from_file(fields):
        return {}
    return value


def _any_entry(siblings: Sequence[Message]) -> bool:
    return any("swipe_info" in sibling.extra for sibling in siblings)


def _swipe_info(siblings: Sequence[Message]) -> list[Any]:
    entries = [_entry(sibling) for sibling in siblings]
    while entries and entries[-1] is _NO_ENTRY:
        entries.pop()
    # A swipe without an entry before one with an entry is a hole, which JSON writes as null.
    return [None if entry is _NO_ENTRY else entry for entry in entries]


def _entry(sibling: Message) -> Any:
    fields = sibling.extra
    if "swipe_info" in fields:
        own = fields["swipe_info"]
        return _projection(fields) if own is True else own
    if is_from_file(fields):
        return _NO_ENTRY
    built: JsonObject = {"send_date": format_date(sibling.created_at)}
    built.update((key, fields[key]) for key in ("gen_started", "gen_finished") if key in fields)
    built["extra"] = _extra_object(sibling)
    return built


def _projection(fields: JsonObject) -> JsonObject:
    return {key: fields[key] for key in PER_SWIPE if key in fields}


def _same(left: Any, right: Any) -> bool:
    # Compared as JSON text: Python's == takes 1, 1.0 and true for equal, JSON does not.
    return json.dumps(left) == json.dumps(right)
