"""Preset pages: a user's generation presets, made and edited with one form of every setting."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from galatea.core.records import PresetRecord
from galatea.services.errors import InvalidInput, ServiceError
from galatea.services.presets import DEFAULT_PRESET_NAME, FIELDS, effective_values, resolve_settings
from galatea.web.deps import CurrentUser, FormDep, ServicesDep
from galatea.web.errors import service_status
from galatea.web.pages import forms
from galatea.web.pages.chats import overrides_from
from galatea.web.templating import render

router = APIRouter(prefix="/presets")


@router.get("")
async def presets_page(request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    """The user's presets and a form for a new one."""
    return await _page(request, await services.presets.list_presets(user), None, {}, "")


@router.post("")
async def create_preset(
    request: Request, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Create a preset from the filled-in fields."""
    name = forms.text(form, "name")
    values = overrides_from(form)
    try:
        await services.presets.create(user, name, values)
    except ServiceError as error:
        presets = await services.presets.list_presets(user)
        return await _page(request, presets, None, values, name, error)
    return RedirectResponse("/presets?notice=saved", status_code=303)


@router.get("/{preset_id}/edit")
async def edit_page(
    request: Request, preset_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """The preset form, filled in."""
    record = await services.presets.get(user, preset_id)
    presets = await services.presets.list_presets(user)
    return await _page(request, presets, record, record.settings, record.name)


@router.post("/{preset_id}/edit")
async def edit_preset(
    request: Request, preset_id: str, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Save the preset's name and settings."""
    record = await services.presets.get(user, preset_id)
    name = forms.text(form, "name")
    values = overrides_from(form)
    try:
        await services.presets.update(user, record.id, name=name, settings=values)
    except ServiceError as error:
        presets = await services.presets.list_presets(user)
        return await _page(request, presets, record, values, name, error)
    return RedirectResponse("/presets?notice=saved", status_code=303)


@router.post("/{preset_id}/delete")
async def delete_preset(preset_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Delete the preset."""
    await services.presets.delete(user, preset_id)
    return RedirectResponse("/presets?notice=deleted", status_code=303)


async def _page(
    request: Request,
    presets: list[PresetRecord],
    editing: PresetRecord | None,
    values: dict[str, Any],
    name: str,
    error: ServiceError | None = None,
) -> Response:
    defaults = effective_values(resolve_settings())
    context = {
        "presets": presets,
        "editing": editing,
        "name": name,
        "fields": FIELDS,
        "field_values": {key: "" if value is None else value for key, value in values.items()},
        "placeholders": {
            spec.name: "automatic" if defaults.get(spec.name) is None else defaults[spec.name]
            for spec in FIELDS
        },
        "default_name": DEFAULT_PRESET_NAME,
        "error": None if error is None else str(error),
        "error_field": error.field if isinstance(error, InvalidInput) else None,
    }
    status = 200 if error is None else service_status(error)
    return await render(request, "chats/presets.html", context, status=status)
