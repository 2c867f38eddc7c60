"""Reading HTML forms: text fields, lists, checkboxes, files, safe redirect targets."""

import json
from typing import Any

from starlette.datastructures import FormData, UploadFile

from galatea.core.characters import Character
from galatea.core.records import CharacterRecord, Visibility
from galatea.services.characters import card_data
from galatea.services.errors import InvalidInput

TEXT_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "system_prompt",
    "post_history_instructions",
    "creator_notes",
    "creator",
    "character_version",
)
MAX_TAG_LENGTH = 100


def text(form: FormData, name: str, default: str = "") -> str:
    """A text field (a file where text was expected counts as missing)."""
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else default


def checkbox(form: FormData, name: str) -> bool:
    """Whether a checkbox was ticked."""
    return isinstance(form.get(name), str)


async def file_bytes(form: FormData, name: str) -> bytes | None:
    """The bytes of a file field, or None when no file was chosen."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read()
    return data or None


def uploads(form: FormData, name: str) -> list[UploadFile]:
    """Every file chosen in a multiple file field."""
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and f.filename]


def local_target(target: str | None, default: str = "/") -> str:
    """A redirect target only if it stays on this site (no `//host` or scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def visibility(form: FormData) -> Visibility:
    """The visibility chosen in a form."""
    try:
        return Visibility(text(form, "visibility", Visibility.PRIVATE.value))
    except ValueError:
        raise InvalidInput("visibility", "must be public, unlisted or private") from None


def card_changes(form: FormData) -> dict[str, Any]:
    """The card fields of the character form."""
    changes: dict[str, Any] = {name: text(form, name) for name in TEXT_FIELDS}
    nickname = text(form, "nickname").strip()
    changes["nickname"] = nickname or None
    changes["alternate_greetings"] = [
        g.replace("\r\n", "\n")
        for g in form.getlist("alternate_greetings")
        if isinstance(g, str) and g.strip()
    ]
    changes["tags"] = split_tags(text(form, "tags"))
    changes["character_book"] = lorebook(text(form, "character_book"))
    return changes


def split_tags(value: str) -> list[str]:
    """Tags typed as a comma-separated list, trimmed, without duplicates."""
    seen: dict[str, str] = {}
    for tag in value.split(","):
        tag = " ".join(tag.split())
        if tag and tag.casefold() not in seen:
            if len(tag) > MAX_TAG_LENGTH:
                raise InvalidInput("tags", f"each tag must be at most {MAX_TAG_LENGTH} characters")
            seen[tag.casefold()] = tag
    return list(seen.values())


def lorebook(value: str) -> dict[str, Any] | None:
    """The lorebook JSON typed in the form; empty means no lorebook."""
    if not value.strip():
        return None
    try:
        book = json.loads(value)
    except (ValueError, RecursionError) as error:
        raise InvalidInput("character_book", f"is not valid JSON ({error})") from None
    if not isinstance(book, dict):
        raise InvalidInput("character_book", "must be a JSON object with an 'entries' list")
    return book


def character_form_values(record: CharacterRecord | None) -> dict[str, Any]:
    """What the character form shows for a character (empty for a new one)."""
    character = record.character if record is not None else Character(name="")
    book = card_data(character).get("character_book")
    return {
        **{name: getattr(character, name) for name in TEXT_FIELDS},
        "nickname": character.nickname or "",
        "alternate_greetings": list(character.alternate_greetings),
        "tags": ", ".join(character.tags),
        "character_book": "" if book is None else json.dumps(book, indent=2, ensure_ascii=False),
        "visibility": (record.visibility if record else Visibility.PRIVATE).value,
        "adult": record.is_adult if record else False,
    }


def submitted_values(form: FormData) -> dict[str, Any]:
    """The character form's values as submitted, to show again after an error."""
    values: dict[str, Any] = {name: text(form, name) for name in TEXT_FIELDS}
    values["nickname"] = text(form, "nickname")
    values["alternate_greetings"] = [
        g for g in form.getlist("alternate_greetings") if isinstance(g, str) and g.strip()
    ]
    values["tags"] = text(form, "tags")
    values["character_book"] = text(form, "character_book")
    values["visibility"] = text(form, "visibility", Visibility.PRIVATE.value)
    values["adult"] = checkbox(form, "adult")
    return values
