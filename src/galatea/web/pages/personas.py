"""Personas: list, create, edit (with avatar), make default, delete."""

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.core.records import PersonaRecord
from galatea.core.users import User
from galatea.services.errors import ServiceError
from galatea.web.deps import CurrentUser, FormDep, ServicesDep
from galatea.web.errors import service_status
from galatea.web.pages import forms
from galatea.web.schemas.personas import persona_avatar_url
from galatea.web.templating import render

router = APIRouter(prefix="/personas")


@router.get("")
async def personas_page(request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    """The user's personas and a form for a new one."""
    return await _list_page(request, user, services)


@router.post("")
async def create_persona(
    request: Request, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Create a persona."""
    try:
        await services.personas.create(
            user,
            forms.text(form, "name"),
            forms.text(form, "description"),
            make_default=forms.checkbox(form, "default"),
        )
    except ServiceError as error:
        return await _list_page(request, user, services, error, form_values=dict(form))
    return RedirectResponse("/personas?notice=saved", status_code=303)


@router.get("/{persona_id}/edit")
async def edit_page(
    request: Request, persona_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """The persona form, filled in."""
    record = await services.personas.get(user, persona_id)
    values = {"name": record.persona.name, "description": record.persona.description}
    return await _edit_page(request, record, values)


@router.post("/{persona_id}/edit")
async def edit_persona(
    request: Request, form: FormDep, persona_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Save the persona (and its avatar, checked first)."""
    record = await services.personas.get(user, persona_id)
    values = {"name": forms.text(form, "name"), "description": forms.text(form, "description")}
    try:
        picture = await forms.file_bytes(form, "avatar")
        image = None if picture is None else await services.avatars.read(picture)
        await services.personas.update(
            user, persona_id, name=values["name"], description=values["description"]
        )
        if image is not None or forms.checkbox(form, "remove_avatar"):
            await services.personas.set_avatar(user, persona_id, image)
    except ServiceError as error:
        return await _edit_page(request, record, values, error)
    return RedirectResponse("/personas?notice=saved", status_code=303)


@router.post("/{persona_id}/default")
async def make_default(persona_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Use this persona for new chats."""
    await services.personas.set_default(user, persona_id)
    return RedirectResponse("/personas?notice=saved", status_code=303)


@router.post("/{persona_id}/delete")
async def delete_persona(persona_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Delete a persona."""
    await services.personas.delete(user, persona_id)
    return RedirectResponse("/personas?notice=deleted", status_code=303)


async def _list_page(
    request: Request,
    user: User,
    services: Services,
    error: ServiceError | None = None,
    form_values: dict[str, object] | None = None,
) -> Response:
    records = await services.personas.list_personas(user)
    return await render(
        request,
        "personas/list.html",
        {
            "personas": [(r, persona_avatar_url(r.id, r.avatar_digest)) for r in records],
            "error": None if error is None else str(error),
            "values": form_values or {"name": "", "description": ""},
        },
        status=200 if error is None else service_status(error),
    )


async def _edit_page(
    request: Request,
    record: PersonaRecord,
    values: dict[str, str],
    error: ServiceError | None = None,
) -> Response:
    return await render(
        request,
        "personas/edit.html",
        {
            "record": record,
            "values": values,
            "avatar_url": persona_avatar_url(record.id, record.avatar_digest),
            "error": None if error is None else str(error),
        },
        status=200 if error is None else service_status(error),
    )
