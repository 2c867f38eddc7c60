"""Chat pages: the list of chats, a chat (streaming through `static/js/chat.js`), its settings.

Every page works without JavaScript: sending is a plain form whose reply appears on the next
load. With JavaScript the reply streams in, and message tools (swipe, edit, regenerate, ...)
call the JSON API and then fetch the re-rendered message list (`.../fragments/messages`), so
all Markdown is rendered and sanitised on the server, in one place.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from galatea.bootstrap import Services
from galatea.core.users import User
from galatea.inference.errors import InferenceError
from galatea.services.chats import ChatChanges
from galatea.services.errors import InvalidInput, ServiceError
from galatea.services.presets import FIELDS, FIELDS_BY_NAME
from galatea.web.deps import CurrentUser, FormDep, ServicesDep
from galatea.web.errors import describe_inference_error, service_status
from galatea.web.pages import forms
from galatea.web.schemas.characters import character_avatar_url
from galatea.web.templating import render

router = APIRouter(prefix="/chats")
NOTICES = {"renamed": "Renamed.", "settings": "Settings saved.", "imported": "Chat imported."}


@router.get("")
async def chats_page(
    request: Request, user: CurrentUser, services: ServicesDep, character_id: str | None = None
) -> Response:
    """The user's chats (optionally with one character), and chat import for that character."""
    character = None
    if character_id is not None:
        character = await services.characters.get(user, character_id)
    chats = await services.chats.list_chats(user, character_id=character_id, limit=200)
    return await render(
        request,
        "chats/list.html",
        {
            "chats": [
                (c, _avatar(c.record.character_id, c.character_avatar_digest)) for c in chats
            ],
            "character": character,
            "error": None,
        },
    )


@router.post("")
async def start_chat(form: FormDep, user: CurrentUser, services: ServicesDep) -> Response:
    """Start a chat with the character of the form (the character page's Start chat button)."""
    persona_id = forms.text(form, "persona_id") or None
    view = await services.chats.start(user, forms.text(form, "character_id"), persona_id=persona_id)
    return RedirectResponse(f"/chats/{view.id}", status_code=303)


@router.post("/import")
async def import_chat(
    request: Request, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Import a SillyTavern chat file as a new chat with the chosen character."""
    character_id = forms.text(form, "character_id")
    try:
        data = await forms.file_bytes(form, "file")
        if data is None:
            raise InvalidInput("file", "choose a chat file (.jsonl) to import")
        view = await services.chat_files.import_chat(user, character_id, data)
    except ServiceError as error:
        character = await services.characters.get(user, character_id)
        chats = await services.chats.list_chats(user, character_id=character_id, limit=200)
        return await render(
            request,
            "chats/list.html",
            {
                "chats": [(c, _avatar(character_id, c.character_avatar_digest)) for c in chats],
                "character": character,
                "error": str(error),
            },
            status=service_status(error),
        )
    return RedirectResponse(f"/chats/{view.id}?notice=imported", status_code=303)


@router.get("/{chat_id}")
async def chat_page(
    request: Request, chat_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """A chat: its messages, the composer, persona and settings."""
    page = await _chat_page(request, services, user, chat_id)
    # Its owner is likely to write soon: open the text backends now if they are not yet.
    services.engines.warm_up()
    return page


@router.get("/{chat_id}/fragments/messages")
async def messages_fragment(
    request: Request, chat_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """The message list alone, rendered as on the page (the chat script swaps it in)."""
    view = await services.chats.open(user, chat_id)
    return await render(request, "chats/messages.html", {"view": view})


@router.post("/{chat_id}/send")
async def send(
    request: Request, chat_id: str, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Send without JavaScript: the reply is written on the server and shows on reload."""
    text = forms.text(form, "text")
    try:
        await services.chat_turns.send(user, chat_id, text)
    except ServiceError as error:
        return await _chat_page(
            request, services, user, chat_id, error=str(error), draft=text,
            status=service_status(error),
        )  # fmt: skip
    except InferenceError as error:
        status, message, headers = describe_inference_error(error)
        return await _chat_page(
            request, services, user, chat_id, error=message, draft=text, status=status,
            headers=headers,
        )  # fmt: skip
    return RedirectResponse(f"/chats/{chat_id}#composer", status_code=303)


@router.post("/{chat_id}/rename")
async def rename(chat_id: str, form: FormDep, user: CurrentUser, services: ServicesDep) -> Response:
    """Give the chat a title."""
    await services.chats.update(user, chat_id, ChatChanges(title=forms.text(form, "title")))
    return RedirectResponse(f"/chats/{chat_id}?notice=renamed", status_code=303)


@router.post("/{chat_id}/settings")
async def save_settings(
    request: Request, chat_id: str, form: FormDep, user: CurrentUser, services: ServicesDep
) -> Response:
    """Choose the chat's persona and preset, and its own settings (empty fields: the preset's)."""
    try:
        changes = ChatChanges(
            persona_id=forms.text(form, "persona_id") or None,
            preset_id=forms.text(form, "preset_id") or None,
            settings=overrides_from(form),
        )
        await services.chats.update(user, chat_id, changes)
    except ServiceError as error:
        return await _chat_page(
            request, services, user, chat_id, error=str(error), status=service_status(error)
        )
    return RedirectResponse(f"/chats/{chat_id}?notice=settings", status_code=303)


@router.post("/{chat_id}/delete")
async def delete(chat_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Delete the chat."""
    await services.chats.delete(user, chat_id)
    return RedirectResponse("/chats?notice=deleted", status_code=303)


def overrides_from(form: FormData) -> dict[str, Any]:
    """The settings fields filled in on the form (empty ones follow the preset)."""
    values: dict[str, Any] = {}
    for spec in FIELDS:
        raw = form.get(f"setting_{spec.name}")
        if isinstance(raw, str) and raw.strip():
            values[spec.name] = raw.replace("\r\n", "\n")
    return values


async def _chat_page(
    request: Request,
    services: Services,
    user: User,
    chat_id: str,
    *,
    error: str | None = None,
    draft: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    view = await services.chats.open(user, chat_id)
    settings = await services.chats.settings(user, chat_id)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    context = {
        "view": view,
        "avatar_url": _avatar(view.record.character_id, view.summary.character_avatar_digest),
        "personas": await services.personas.list_personas(user),
        "presets": await services.presets.list_presets(user),
        "settings": settings,
        "fields": FIELDS,
        "field_values": {
            name: "" if value is None else value for name, value in settings.overrides.items()
        },
        "placeholders": {
            spec.name: _placeholder(settings.effective.get(spec.name)) for spec in FIELDS
        },
        "error": error,
        "draft": draft,
        "chat_notice": notice,
        "max_message_chars": services.chat_turns.policy.max_message_chars,
        "numeric": {name for name, spec in FIELDS_BY_NAME.items() if spec.kind in ("int", "float")},
    }
    return await render(request, "chats/chat.html", context, status=status, headers=headers)


def _placeholder(value: Any) -> str:
    if value is None or value == "":
        return "automatic"
    return str(value)


def _avatar(character_id: str | None, digest: str | None) -> str | None:
    return None if character_id is None else character_avatar_url(character_id, digest)
