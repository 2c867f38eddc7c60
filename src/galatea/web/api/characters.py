"""Characters: the library, one character, create / edit / delete, import, export, avatar."""

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from starlette.responses import Response

from galatea.core.records import CharacterSort, Visibility
from galatea.services.character_files import CardUpload
from galatea.services.characters import CharacterChanges
from galatea.services.errors import NotFound
from galatea.services.validation import MAX_OFFSET
from galatea.web.deps import CurrentUser, ServicesDep, Viewer
from galatea.web.media import download_response, image_response, read_upload
from galatea.web.schemas.characters import (
    AvatarPublic,
    CharacterCreate,
    CharacterPublic,
    CharactersPublic,
    CharacterSummaryPublic,
    CharacterUpdate,
    ImportResultPublic,
    ImportResultsPublic,
    character_avatar_url,
)

router = APIRouter(prefix="/characters", tags=["characters"])

ExportFormat = Literal["png", "json", "json_v2", "charx"]


@router.get("")
async def list_characters(
    viewer: Viewer,
    services: ServicesDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in name, tags, creator or the shown summary"),
    ] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    sort: CharacterSort = CharacterSort.NEW,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
) -> CharactersPublic:
    """The public library (adult characters only for users who confirmed their age)."""
    page = await services.characters.library(
        viewer, text=q, tag=tag, sort=sort, offset=offset, limit=limit
    )
    items = [CharacterSummaryPublic.of(item) for item in page.items]
    return CharactersPublic(items=items, total=page.total, offset=offset, limit=limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_character(
    body: CharacterCreate, user: CurrentUser, services: ServicesDep
) -> CharacterPublic:
    """A new character from card fields."""
    details = await services.characters.create(
        user, body.card_changes(), visibility=body.visibility, is_adult=body.adult
    )
    return CharacterPublic.of(details)


@router.post("/import", status_code=status.HTTP_201_CREATED)
async def import_character(
    file: Annotated[UploadFile, File(description="A PNG, WebP, JSON or CharX card")],
    user: CurrentUser,
    services: ServicesDep,
    visibility: Annotated[Visibility, Form()] = Visibility.PRIVATE,
    adult: Annotated[bool | None, Form(description="Default: from the card's tags")] = None,
) -> CharacterPublic:
    """Import one card file as a new character."""
    upload = CardUpload(file.filename or "card", await read_upload(file))
    details, _warnings = await services.character_files.import_one(
        user, upload, visibility=visibility, is_adult=adult
    )
    return CharacterPublic.of(details)


@router.post("/sample", status_code=status.HTTP_201_CREATED)
async def add_sample_character(user: CurrentUser, services: ServicesDep) -> CharacterPublic:
    """Add a private copy of the sample character (Wren) to your characters."""
    return CharacterPublic.of(await services.character_files.add_sample(user))


@router.post("/import-batch")
async def import_characters(
    files: Annotated[list[UploadFile], File(description="Card files")],
    user: CurrentUser,
    services: ServicesDep,
    visibility: Annotated[Visibility, Form()] = Visibility.PRIVATE,
) -> ImportResultsPublic:
    """Import several card files; each gets its own result, good or bad."""
    uploads = [CardUpload(f.filename or "card", await f.read()) for f in files]
    outcomes = await services.character_files.import_many(user, uploads, visibility=visibility)
    return ImportResultsPublic(results=[ImportResultPublic.of(o) for o in outcomes])


@router.get("/{character_id}")
async def get_character(
    character_id: str, viewer: Viewer, services: ServicesDep
) -> CharacterPublic:
    """One character the caller may open."""
    return CharacterPublic.of(await services.characters.get(viewer, character_id))


@router.patch("/{character_id}")
async def update_character(
    character_id: str, body: CharacterUpdate, user: CurrentUser, services: ServicesDep
) -> CharacterPublic:
    """Change any editable field, e.g. `{"visibility": "public"}`."""
    changes = CharacterChanges(
        card=body.card_changes(), visibility=body.visibility, is_adult=body.adult
    )
    return CharacterPublic.of(await services.characters.update(user, character_id, changes))


@router.delete("/{character_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_character(character_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Delete a character (its chats are kept)."""
    await services.characters.delete(user, character_id)


@router.get("/{character_id}/export", response_class=Response)
async def export_character(
    character_id: str, viewer: Viewer, services: ServicesDep, format: ExportFormat = "png"
) -> Response:
    """The character as a card file: png, json (V3), json_v2 or charx."""
    card = await services.character_files.export(viewer, character_id, format)
    return download_response(card.data, card.filename, card.media_type)


@router.get("/{character_id}/avatar", response_class=Response)
async def get_avatar(
    character_id: str, request: Request, viewer: Viewer, services: ServicesDep
) -> Response:
    """The character's avatar image (404 without one)."""
    image = await services.characters.get_avatar(viewer, character_id)
    if image is None:
        raise NotFound("avatar")
    return image_response(request, image)


@router.put("/{character_id}/avatar")
async def set_avatar(
    character_id: str,
    file: Annotated[UploadFile, File(description="A PNG, JPEG or WebP image")],
    user: CurrentUser,
    services: ServicesDep,
) -> AvatarPublic:
    """Replace the avatar (re-encoded, metadata removed)."""
    data = await read_upload(file)
    digest = await services.characters.set_avatar(user, character_id, data)
    return AvatarPublic(avatar_url=character_avatar_url(character_id, digest))


@router.delete("/{character_id}/avatar", status_code=status.HTTP_204_NO_CONTENT)
async def remove_avatar(character_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Remove the avatar."""
    await services.characters.set_avatar(user, character_id, None)
