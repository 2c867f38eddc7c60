"""Chats: start, list, open, change, delete; messages; replies streamed as server-sent events.

Routes that generate (send, regenerate, continue, impersonate) answer `text/event-stream`:
`queued` ({"position"}), `started`, `token` ({"text"}), `saved` (the stored message),
`error` ({"message"}) and `done` ({"status", "reason"}). The reply is a job of the server:
closing the connection does not stop it (POST .../stop does), and GET .../stream rejoins it.
"""

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, UploadFile, status
from starlette.responses import Response

from galatea.services.chat_turns import Turn
from galatea.services.chat_views import message_data
from galatea.services.chats import MAX_TITLE_LENGTH
from galatea.services.reply_streams import StreamEvent
from galatea.services.validation import MAX_OFFSET
from galatea.web.deps import CurrentUser, ServicesDep, Viewer
from galatea.web.media import download_response, read_upload
from galatea.web.schemas.chats import (
    BranchRequest,
    ChatCreate,
    ChatPublic,
    ChatSettingsPublic,
    ChatSummaryPublic,
    ChatUpdate,
    DeletedPublic,
    MessageCreate,
    MessagePublic,
    MessagesPublic,
    MessageUpdate,
    StoppedPublic,
    SwipeRequest,
    TurnTarget,
)
from galatea.web.schemas.text import without_nul
from galatea.web.sse import event_stream_response

router = APIRouter(prefix="/chats", tags=["chats"])
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Events: queued, started, token, saved, error, done.",
    }
}


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_chat(body: ChatCreate, user: CurrentUser, services: ServicesDep) -> ChatPublic:
    """A new chat with a character; it opens with the greeting (alternates are its swipes)."""
    view = await services.chats.start(
        user, body.character_id, persona_id=body.persona_id, title=body.title
    )
    return ChatPublic.of_view(view)


@router.get("")
async def list_chats(
    user: CurrentUser,
    services: ServicesDep,
    character_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ChatSummaryPublic]:
    """The user's chats, most recently active first."""
    chats = await services.chats.list_chats(
        user, character_id=character_id, offset=offset, limit=limit
    )
    return [ChatSummaryPublic.of(chat) for chat in chats]


@router.post("/import", status_code=status.HTTP_201_CREATED)
async def import_chat(
    file: Annotated[UploadFile, File(description="A SillyTavern chat file (JSONL)")],
    character_id: Annotated[str, Form(min_length=1, max_length=64)],
    user: CurrentUser,
    services: ServicesDep,
    title: Annotated[str, Form(max_length=MAX_TITLE_LENGTH, json_schema_extra=without_nul())] = "",
) -> ChatPublic:
    """A new chat with a character, holding the file's messages and swipes."""
    data = await read_upload(file)
    view = await services.chat_files.import_chat(user, character_id, data, title=title)
    return ChatPublic.of_view(view)


@router.get("/{chat_id}")
async def get_chat(chat_id: str, viewer: Viewer, services: ServicesDep) -> ChatPublic:
    """A chat with its active path, and whether a reply is being written."""
    return ChatPublic.of_view(await services.chats.open(viewer, chat_id))


@router.patch("/{chat_id}")
async def update_chat(
    chat_id: str, body: ChatUpdate, user: CurrentUser, services: ServicesDep
) -> ChatPublic:
    """Rename the chat, choose its persona or preset, or set its own settings."""
    return ChatPublic.of_view(await services.chats.update(user, chat_id, body.changes()))


@router.delete("/{chat_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_chat(chat_id: str, user: CurrentUser, services: ServicesDep) -> None:
    """Delete the chat with all its messages (a running reply is stopped first)."""
    await services.chats.delete(user, chat_id)


@router.get("/{chat_id}/settings")
async def chat_settings(chat_id: str, viewer: Viewer, services: ServicesDep) -> ChatSettingsPublic:
    """The chat's generation settings: its preset's values, its overrides, the result."""
    return ChatSettingsPublic.of(await services.chats.settings(viewer, chat_id))


@router.get("/{chat_id}/export", response_class=Response)
async def export_chat(chat_id: str, viewer: Viewer, services: ServicesDep) -> Response:
    """The chat as a SillyTavern JSONL file (the active path, with every swipe)."""
    exported = await services.chat_files.export(viewer, chat_id)
    return download_response(exported.data, exported.filename, exported.media_type)


@router.get("/{chat_id}/messages")
async def list_messages(chat_id: str, viewer: Viewer, services: ServicesDep) -> list[MessagePublic]:
    """The active path, oldest first."""
    return [MessagePublic.of(m) for m in await services.chats.messages(viewer, chat_id)]


@router.post("/{chat_id}/messages", response_class=Response, responses=EVENT_STREAM)
async def send_message(
    chat_id: str, body: MessageCreate, user: CurrentUser, services: ServicesDep
) -> Response:
    """Send a message; the reply streams as events. 409 while another reply is written,
    429 (Retry-After) when the server is too busy: then nothing was stored."""
    return _turn_response(await services.chat_turns.send(user, chat_id, body.text))


@router.post("/{chat_id}/regenerate", response_class=Response, responses=EVENT_STREAM)
async def regenerate(
    chat_id: str, user: CurrentUser, services: ServicesDep, body: TurnTarget | None = None
) -> Response:
    """Another version of a reply (the last by default), added as a swipe."""
    target = None if body is None else body.message_id
    return _turn_response(await services.chat_turns.regenerate(user, chat_id, target))


@router.post("/{chat_id}/continue", response_class=Response, responses=EVENT_STREAM)
async def continue_reply(
    chat_id: str, user: CurrentUser, services: ServicesDep, body: TurnTarget | None = None
) -> Response:
    """Extend the character's message (the last by default) where it stopped."""
    target = None if body is None else body.message_id
    return _turn_response(await services.chat_turns.continue_reply(user, chat_id, target))


@router.post("/{chat_id}/impersonate", response_class=Response, responses=EVENT_STREAM)
async def impersonate(chat_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """A draft of the user's next message, streamed and never stored (`done` has its text)."""
    return _turn_response(await services.chat_turns.impersonate(user, chat_id))


@router.post("/{chat_id}/stop")
async def stop(chat_id: str, user: CurrentUser, services: ServicesDep) -> StoppedPublic:
    """Stop the running reply; what it wrote so far is saved, marked incomplete."""
    return StoppedPublic(stopped=await services.chat_turns.stop_for(user, chat_id))


@router.get("/{chat_id}/stream", response_class=Response, responses=EVENT_STREAM)
async def rejoin_stream(
    chat_id: str,
    viewer: Viewer,
    services: ServicesDep,
    after: Annotated[int | None, Query(ge=-1, description="Last event id already seen")] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    """Follow the chat's running (or just finished) reply from the start, or after the last
    event seen; 204 when there is none."""
    stream = await services.chat_turns.follow(viewer, chat_id)
    if stream is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    seen = after
    if seen is None and last_event_id is not None and last_event_id.strip().isdigit():
        seen = int(last_event_id)
    return event_stream_response(stream, start=0 if seen is None else seen + 1)


@router.patch("/{chat_id}/messages/{message_id}")
async def edit_message(
    chat_id: str, message_id: str, body: MessageUpdate, user: CurrentUser, services: ServicesDep
) -> MessagePublic:
    """Change a message's text, or hide it from the prompt."""
    view = await services.chats.edit_message(
        user, chat_id, message_id, text=body.text, hidden=body.hidden
    )
    return MessagePublic.of(view)


@router.delete("/{chat_id}/messages/{message_id}")
async def delete_message(
    chat_id: str, message_id: str, user: CurrentUser, services: ServicesDep
) -> DeletedPublic:
    """Delete a message and what follows it on its branch."""
    return DeletedPublic(deleted=await services.chats.delete_message(user, chat_id, message_id))


@router.post("/{chat_id}/messages/{message_id}/swipe")
async def swipe(
    chat_id: str,
    message_id: str,
    user: CurrentUser,
    services: ServicesDep,
    body: SwipeRequest | None = None,
) -> MessagesPublic:
    """Show the next (step 1) or previous (step -1) alternative; returns the new path."""
    step = 1 if body is None else body.step
    path = await services.chats.swipe(user, chat_id, message_id, step)
    return MessagesPublic(messages=[MessagePublic.of(m) for m in path])


@router.post("/{chat_id}/messages/{message_id}/select")
async def select(
    chat_id: str, message_id: str, user: CurrentUser, services: ServicesDep
) -> MessagesPublic:
    """Show this message (and its branch) at its fork; returns the new path."""
    path = await services.chats.select(user, chat_id, message_id)
    return MessagesPublic(messages=[MessagePublic.of(m) for m in path])


@router.post("/{chat_id}/messages/{message_id}/branch", status_code=status.HTTP_201_CREATED)
async def branch(
    chat_id: str,
    message_id: str,
    user: CurrentUser,
    services: ServicesDep,
    body: BranchRequest | None = None,
) -> ChatPublic:
    """A new chat holding the path up to this message."""
    title = "" if body is None else body.title
    return ChatPublic.of_view(await services.chats.branch(user, chat_id, message_id, title))


@router.get("/{chat_id}/messages/{message_id}/generation")
async def generation(
    chat_id: str, message_id: str, viewer: Viewer, services: ServicesDep
) -> dict[str, object]:
    """The prompt inspector: for each run that wrote the message, its exact prompt by section
    with token counts, fired lore, the request's settings, usage and timing."""
    return await services.chats.generation(viewer, chat_id, message_id)


def _turn_response(turn: Turn) -> Response:
    first = []
    if turn.user_message is not None:
        first.append(StreamEvent("accepted", message_data(turn.user_message)))
    return event_stream_response(turn.stream, first=first)
