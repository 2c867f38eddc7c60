"""Generation presets: a user's named reply settings (a chat names one; "Default" applies to
chats that name none), and the list of settings they may hold."""

from fastapi import APIRouter, status

from galatea.services.presets import FIELDS
from galatea.web.deps import CurrentUser, ServicesDep
from galatea.web.schemas.chats import (
    PresetCreate,
    PresetPublic,
    PresetUpdate,
    SettingFieldPublic,
)

router = APIRouter(prefix="/presets", tags=["presets"])


@router.get("/fields")
async def setting_fields() -> list[SettingFieldPublic]:
    """Every setting a preset or chat may set: kind, bounds, default and meaning."""
    return [SettingFieldPublic.of(spec) for spec in FIELDS]


@router.get("")
async def list_presets(user: CurrentUser, services: ServicesDep) -> list[PresetPublic]:
    """The user's presets by name."""
    return [PresetPublic.of(p) for p in await services.presets.list_presets(user)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_preset(
    body: PresetCreate, user: CurrentUser, services: ServicesDep
) -> PresetPublic:
    """A new preset (names are unique per user, ignoring case)."""
    return PresetPublic.of(await services.presets.create(user, body.name, body.settings))


@router.get("/{preset_id}")
async def get_preset(preset_id: str, user: CurrentUser, services: ServicesDep) -> PresetPublic:
    """One of the user's presets."""
    return PresetPublic.of(await services.presets.get(user, preset_id))


@router.patch("/{preset_id}")
async def update_preset(
    preset_id: str, body: PresetUpdate, user: CurrentUser, services: ServicesDep
) -> PresetPublic:
    """Rename a preset or replace its settings."""
    record = await services.presets.update(user, preset_id, name=body.name, settings=body.settings)
    return PresetPublic.of(record)


@router.delete("/{preset_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_preset(preset_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Delete a preset; chats using it fall back to the default settings."""
    await services.presets.delete(user, preset_id)
