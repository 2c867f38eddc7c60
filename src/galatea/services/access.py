"""Who may see and change what. Every use case that loads an object by id goes through here.

The rule that matters most: an object the caller may not see answers NotFound, exactly as if
the id did not exist, so ids of private characters, chats and personas leak nothing.
Forbidden is only for objects the caller can already see (a public character they do not own).

- Characters: public and unlisted ones are open to everyone, except that adult ones need a
  user who confirmed their age; private ones only to the owner. Only the owner edits.
- Chats, personas and presets: the owner only.
- Admins may open everything and edit characters; only owners write to their chats,
  personas and presets. A disabled account is treated as anonymous.
"""

from galatea.core.records import (
    CharacterQuery,
    CharacterRecord,
    CharacterSort,
    ChatRecord,
    PersonaRecord,
    PresetRecord,
    Visibility,
)
from galatea.core.users import User
from galatea.services.errors import Forbidden, NotFound
from galatea.services.validation import MAX_OFFSET

MAX_LIBRARY_PAGE = 100


def _is_owner_or_admin(viewer: User | None, owner_id: str) -> bool:
    return viewer is not None and not viewer.disabled and (viewer.id == owner_id or viewer.is_admin)


def can_see_adult(viewer: User | None) -> bool:
    """Whether characters flagged adult may be listed and opened for this viewer."""
    return viewer is not None and viewer.can_see_adult


def can_view_character(viewer: User | None, record: CharacterRecord) -> bool:
    """Whether the viewer (None: anonymous) may open the character."""
    if _is_owner_or_admin(viewer, record.owner_id):
        return True
    if record.visibility is Visibility.PRIVATE:
        return False
    return not record.is_adult or can_see_adult(viewer)


def can_edit_character(viewer: User | None, record: CharacterRecord) -> bool:
    """Whether the viewer may change or delete the character."""
    return _is_owner_or_admin(viewer, record.owner_id)


def visible_character(viewer: User | None, record: CharacterRecord | None) -> CharacterRecord:
    """The character if the viewer may open it, else NotFound."""
    if record is None or not can_view_character(viewer, record):
        raise NotFound("character", None if record is None else record.id)
    return record


def editable_character(viewer: User | None, record: CharacterRecord | None) -> CharacterRecord:
    """The character if the viewer may change it; NotFound if they cannot even see it."""
    record = visible_character(viewer, record)
    if not can_edit_character(viewer, record):
        raise Forbidden("only the owner may change this character")
    return record


def library_query(
    viewer: User | None,
    *,
    text: str | None = None,
    tag: str | None = None,
    sort: CharacterSort = CharacterSort.NEW,
    offset: int = 0,
    limit: int = 24,
    mine: bool = False,
) -> CharacterQuery:
    """The listing this viewer may see: the public library, or with `mine` their own."""
    if mine and viewer is None:
        raise NotFound("user")
    return CharacterQuery(
        text=text,
        tag=tag,
        owner_id=viewer.id if mine and viewer is not None else None,
        # Owners see their own adult characters; the library shows them to confirmed adults.
        include_adult=mine or can_see_adult(viewer),
        sort=sort,
        offset=min(max(offset, 0), MAX_OFFSET),
        limit=min(max(limit, 1), MAX_LIBRARY_PAGE),
    )


def readable_chat(viewer: User | None, chat: ChatRecord | None) -> ChatRecord:
    """The chat if the viewer may read it (owner or admin), else NotFound."""
    if chat is None or not _is_owner_or_admin(viewer, chat.owner_id):
        raise NotFound("chat", None if chat is None else chat.id)
    return chat


def writable_chat(viewer: User | None, chat: ChatRecord | None) -> ChatRecord:
    """The chat if the viewer owns it; NotFound when they cannot see it at all."""
    chat = readable_chat(viewer, chat)
    if viewer is None or viewer.id != chat.owner_id:
        raise Forbidden("only the owner may write to this chat")
    return chat


def readable_persona(viewer: User | None, persona: PersonaRecord | None) -> PersonaRecord:
    """The persona if the viewer may see it (owner or admin), else NotFound."""
    if persona is None or not _is_owner_or_admin(viewer, persona.owner_id):
        raise NotFound("persona", None if persona is None else persona.id)
    return persona


def writable_persona(viewer: User | None, persona: PersonaRecord | None) -> PersonaRecord:
    """The persona if the viewer owns it; NotFound when they cannot see it at all."""
    persona = readable_persona(viewer, persona)
    if viewer is None or viewer.id != persona.owner_id:
        raise Forbidden("only the owner may change this persona")
    return persona


def readable_preset(viewer: User | None, preset: PresetRecord | None) -> PresetRecord:
    """The preset if the viewer may see it (owner or admin), else NotFound."""
    if preset is None or not _is_owner_or_admin(viewer, preset.owner_id):
        raise NotFound("preset", None if preset is None else preset.id)
    return preset


def writable_preset(viewer: User | None, preset: PresetRecord | None) -> PresetRecord:
    """The preset if the viewer owns it; NotFound when they cannot see it at all."""
    preset = readable_preset(viewer, preset)
    if viewer is None or viewer.id != preset.owner_id:
        raise Forbidden("only the owner may change this preset")
    return preset
