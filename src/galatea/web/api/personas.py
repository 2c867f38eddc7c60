"""Personas: several per user, one default."""

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status
from starlette.responses import Response

from galatea.services.errors import NotFound
from galatea.web.deps import CurrentUser, ServicesDep, Viewer
from galatea.web.media import image_response, read_upload
from galatea.web.schemas.characters import AvatarPublic
from galatea.web.schemas.personas import (
    PersonaCreate,
    PersonaPublic,
    PersonaUpdate,
    persona_avatar_url,
)

router = APIRouter(prefix="/personas", tags=["personas"])


@router.get("")
async def list_personas(user: CurrentUser, services: ServicesDep) -> list[PersonaPublic]:
    """The user's personas, the default first."""
    return [PersonaPublic.of(record) for record in await services.personas.list_personas(user)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_persona(
    body: PersonaCreate, user: CurrentUser, services: ServicesDep
) -> PersonaPublic:
    """A new persona (the first one becomes the default)."""
    record = await services.personas.create(
        user, body.name, body.description, make_default=body.default
    )
    return PersonaPublic.of(record)


@router.get("/{persona_id}")
async def get_persona(persona_id: str, user: CurrentUser, services: ServicesDep) -> PersonaPublic:
    """One of the user's personas."""
    return PersonaPublic.of(await services.personas.get(user, persona_id))


@router.patch("/{persona_id}")
async def update_persona(
    persona_id: str, body: PersonaUpdate, user: CurrentUser, services: ServicesDep
) -> PersonaPublic:
    """Change the name or description, or make it the default."""
    if body.name is not None or body.description is not None:
        await services.personas.update(
            user, persona_id, name=body.name, description=body.description
        )
    if body.default:
        await services.personas.set_default(user, persona_id)
    return PersonaPublic.of(await services.personas.get(user, persona_id))


@router.delete("/{persona_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_persona(persona_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Delete a persona (the next one becomes the default)."""
    await services.personas.delete(user, persona_id)


@router.get("/{persona_id}/avatar", response_class=Response)
async def get_avatar(
    persona_id: str, request: Request, viewer: Viewer, services: ServicesDep
) -> Response:
    """The persona's avatar image."""
    image = await services.personas.get_avatar(viewer, persona_id)
    if image is None:
        raise NotFound("avatar")
    return image_response(request, image)


@router.put("/{persona_id}/avatar")
async def set_avatar(
    persona_id: str,
    file: Annotated[UploadFile, File(description="A PNG, JPEG or WebP image")],
    user: CurrentUser,
    services: ServicesDep,
) -> AvatarPublic:
    """Replace the avatar (re-encoded, metadata removed)."""
    await services.personas.get(user, persona_id)
    image = await services.avatars.read(await read_upload(file))
    digest = await services.personas.set_avatar(user, persona_id, image)
    return AvatarPublic(avatar_url=persona_avatar_url(persona_id, digest))


@router.delete("/{persona_id}/avatar", status_code=status.HTTP_204_NO_CONTENT)
async def remove_avatar(persona_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Remove the avatar."""
    await services.personas.set_avatar(user, persona_id, None)
