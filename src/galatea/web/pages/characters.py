"""One character: its page, the create / edit form, deletion and card import."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.core.records import CharacterRecord
from galatea.core.users import User
from galatea.services import access
from galatea.services.character_files import CardUpload
from galatea.services.characters import CharacterChanges
from galatea.services.errors import InvalidInput, ServiceError
from galatea.web.deps import CurrentUser, FormDep, ServicesDep, SignedIn, Viewer
from galatea.web.errors import service_status
from galatea.web.pages import forms
from galatea.web.schemas.characters import character_avatar_url
from galatea.web.templating import render

router = APIRouter(prefix="/characters")
EXPORTS = (("png", "PNG card"), ("json", "JSON (V3)"), ("json_v2", "JSON (V2)"), ("charx", "CharX"))


@router.get("/new", dependencies=[SignedIn])
async def new_character_page(request: Request) -> Response:
    """An empty character form."""
    return await _form_page(request, None, forms.character_form_values(None))


@router.post("/new")
async def create_character(
    request: Request, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Create the character the form describes."""
    try:
        details = await services.characters.create(
            user,
            forms.card_changes(form),
            visibility=forms.visibility(form),
            is_adult=forms.checkbox(form, "adult"),
            avatar=await forms.file_bytes(form, "avatar"),
        )
    except ServiceError as error:
        return await _form_page(request, None, forms.submitted_values(form), error)
    return RedirectResponse(f"/characters/{details.id}", status_code=303)


@router.get("/import", dependencies=[SignedIn])
async def import_page(request: Request) -> Response:
    """The card import form."""
    return await render(request, "characters/import.html", {"outcomes": None, "error": None})


@router.post("/import")
async def import_cards(
    request: Request, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Import every chosen file and report on each."""
    try:
        files = [
            CardUpload(f.filename or "card", await f.read()) for f in forms.uploads(form, "files")
        ]
        outcomes = await services.character_files.import_many(
            user, files, visibility=forms.visibility(form)
        )
    except ServiceError as error:
        return await render(
            request,
            "characters/import.html",
            {"outcomes": None, "error": str(error)},
            status=service_status(error),
        )
    status = 200 if any(o.details for o in outcomes) else 422
    return await render(
        request, "characters/import.html", {"outcomes": outcomes, "error": None}, status=status
    )


@router.post("/sample")
async def add_sample_character(user: CurrentUser, services: ServicesDep) -> Response:
    """Copy the sample character into the user's characters and open its page."""
    details = await services.character_files.add_sample(user)
    return RedirectResponse(f"/characters/{details.id}", status_code=303)


@router.get("/{character_id}")
async def character_page(
    request: Request, character_id: str, viewer: Viewer, services: ServicesDep
) -> Response:
    """A character's page: details, creator notes, greeting, Start chat, export."""
    details = await services.characters.get(viewer, character_id)
    record = details.record
    book = record.character.character_book
    return await render(
        request,
        "characters/detail.html",
        {
            "details": details,
            "character": record.character,
            "record": record,
            "avatar_url": character_avatar_url(record.id, record.avatar_digest),
            "can_edit": access.can_edit_character(viewer, record),
            "exports": EXPORTS,
            "lore_entries": 0 if book is None else len(book.entries),
        },
    )


@router.get("/{character_id}/edit")
async def edit_page(
    request: Request, character_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """The character form, filled in."""
    record = await _editable(services, user, character_id)
    return await _form_page(request, record, forms.character_form_values(record))


@router.post("/{character_id}/edit")
async def edit_character(
    request: Request, form: FormDep, character_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Save the form: only fields that changed are written, so untouched text stays exact."""
    record = await _editable(services, user, character_id)
    try:
        changes = CharacterChanges(
            card=_changed_fields(record, form),
            visibility=forms.visibility(form),
            is_adult=forms.checkbox(form, "adult"),
            avatar=await forms.file_bytes(form, "avatar"),
            remove_avatar=forms.checkbox(form, "remove_avatar"),
        )
        await services.characters.update(user, character_id, changes)
    except ServiceError as error:
        return await _form_page(request, record, forms.submitted_values(form), error)
    return RedirectResponse(f"/characters/{character_id}?notice=saved", status_code=303)


@router.get("/{character_id}/delete")
async def delete_page(
    request: Request, character_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Ask before deleting."""
    record = await _editable(services, user, character_id)
    return await render(request, "characters/delete.html", {"record": record})


@router.post("/{character_id}/delete")
async def delete_character(character_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Delete the character."""
    await services.characters.delete(user, character_id)
    return RedirectResponse("/characters/mine?notice=deleted", status_code=303)


async def _editable(services: Services, user: User, character_id: str) -> CharacterRecord:
    return (await services.characters.get_for_edit(user, character_id)).record


def _changed_fields(record: CharacterRecord, form: FormData) -> dict[str, Any]:
    submitted = forms.card_changes(form)
    current = forms.character_form_values(record)
    current["character_book"] = forms.lorebook(current["character_book"])
    current["tags"] = list(record.character.tags)
    changed = {}
    for name, value in submitted.items():
        before = current.get(name)
        if isinstance(before, str):
            before = before.replace("\r\n", "\n")
        if name == "nickname":
            before = record.character.nickname
        if name == "alternate_greetings":
            before = [g.replace("\r\n", "\n") for g in before or []]
        if value != before:
            changed[name] = value
    return changed


async def _form_page(
    request: Request,
    record: CharacterRecord | None,
    values: dict[str, Any],
    error: ServiceError | None = None,
) -> Response:
    context = {
        "record": record,
        "values": values,
        "error": None if error is None else str(error),
        "error_field": error.field if isinstance(error, InvalidInput) else None,
        "avatar_url": None
        if record is None
        else character_avatar_url(record.id, record.avatar_digest),
    }
    status = 200 if error is None else service_status(error)
    return await render(request, "characters/form.html", context, status=status)
