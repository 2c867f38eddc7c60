"""Characters: create, edit, delete, list and open them, with their avatars.

Access goes through `services.access`: a character the caller may not see is NotFound. Every
card change is applied to the character's V3 card object and read back by the same card
reader imports use, so an edited character obeys the import limits, keeps the fields it had
that no form shows (extensions, unknown keys, assets) and exports as stored. Card files
(import, export) are handled by `CharacterFileService` in `character_files.py`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from galatea.core.characters import Character
from galatea.core.json_types import JsonObject
from galatea.core.records import CharacterPage, CharacterRecord, CharacterSort, Image, Visibility
from galatea.core.users import User
from galatea.formats.cards import (
    DEFAULT_LIMITS,
    CardError,
    CardLimits,
    read_card_object,
    write_card_object,
)
from galatea.formats.cards.payloads import check_json_shape
from galatea.services import access
from galatea.services.errors import Conflict, InvalidInput
from galatea.services.images import ImagePolicy, read_image_in_thread
from galatea.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

EDITABLE_CARD_FIELDS = frozenset(
    {
        "name",
        "nickname",
        "description",
        "personality",
        "scenario",
        "first_mes",
        "alternate_greetings",
        "group_only_greetings",
        "mes_example",
        "system_prompt",
        "post_history_instructions",
        "creator_notes",
        "tags",
        "creator",
        "character_version",
        "character_book",
    }
)
"""Card data fields a user may set; `None` removes the optional ones (nickname, lorebook)."""
REMOVABLE_CARD_FIELDS = frozenset({"nickname", "character_book"})
ADULT_TAGS = frozenset({"nsfw", "adult", "18+", "explicit"})
"""Tags that flag an imported card adult until its owner says otherwise."""
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class CharacterPolicy:
    """Limits on characters and their pictures."""

    images: ImagePolicy = field(default_factory=ImagePolicy)
    card_limits: CardLimits = DEFAULT_LIMITS
    max_characters_per_user: int = 5_000
    max_import_files: int = 20
    """Card files in one import request."""
    concurrent_imports: int = 2
    """Card files decoded at the same time in this process; more wait their turn."""


@dataclass(frozen=True, slots=True)
class CharacterDetails:
    """A character as shown to a viewer: its record and its owner's name."""

    record: CharacterRecord
    owner_name: str

    @property
    def id(self) -> str:
        """The character's id."""
        return self.record.id

    @property
    def character(self) -> Character:
        """The card."""
        return self.record.character


@dataclass(frozen=True, slots=True)
class CharacterChanges:
    """What an edit changes; fields left out (or None) stay as they are."""

    card: Mapping[str, Any] = field(default_factory=dict)
    """Card data fields (see EDITABLE_CARD_FIELDS) and their new values."""
    visibility: Visibility | None = None
    is_adult: bool | None = None
    avatar: bytes | None = None
    """A new avatar picture, checked and re-encoded before anything is written."""
    remove_avatar: bool = False


class CharacterService:
    """Use cases of characters other than card files."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, policy: CharacterPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self.policy = policy

    async def get(self, viewer: User | None, character_id: str) -> CharacterDetails:
        """A character the viewer may open (adult ones need a confirmed age)."""
        async with self._uow(write=False) as uow:
            record = access.visible_character(viewer, await uow.characters.get(character_id))
            return await _details(uow, record)

    async def library(
        self,
        viewer: User | None,
        *,
        text: str | None = None,
        tag: str | None = None,
        sort: CharacterSort = CharacterSort.NEW,
        offset: int = 0,
        limit: int = 24,
    ) -> CharacterPage:
        """A page of the public library as this viewer may see it."""
        query = access.library_query(
            viewer,
            text=_search_text("q", text),
            tag=_search_text("tag", tag),
            sort=sort,
            offset=offset,
            limit=limit,
        )
        async with self._uow(write=False) as uow:
            return await uow.characters.search(query)

    async def mine(
        self,
        user: User,
        *,
        text: str | None = None,
        tag: str | None = None,
        sort: CharacterSort = CharacterSort.UPDATED,
        offset: int = 0,
        limit: int = 24,
    ) -> CharacterPage:
        """A page of the user's own characters, whatever their visibility."""
        query = access.library_query(
            user,
            text=_search_text("q", text),
            tag=_search_text("tag", tag),
            sort=sort,
            offset=offset,
            limit=limit,
            mine=True,
        )
        async with self._uow(write=False) as uow:
            return await uow.characters.search(query)

    async def create(
        self,
        user: User,
        card: Mapping[str, Any],
        *,
        visibility: Visibility = Visibility.PRIVATE,
        is_adult: bool = False,
        avatar: bytes | None = None,
    ) -> CharacterDetails:
        """A new character from card fields (a name at least), with an optional avatar."""
        now = self._clock.now()
        stamped = {"creation_date": int(now.timestamp()), "modification_date": None}
        character = self.apply_card_changes(Character(name=""), card, stamped)
        image = None if avatar is None else await self._read_avatar(avatar)
        record = CharacterRecord(
            character=character,
            owner_id=user.id,
            created_at=now,
            updated_at=now,
            visibility=visibility,
            is_adult=is_adult,
        )
        async with self._uow() as uow:
            await self.add_record(uow, user, record, image)
            await uow.commit()
        return CharacterDetails(record=record, owner_name=user.username)

    async def get_for_edit(self, user: User, character_id: str) -> CharacterDetails:
        """A character the user may change (NotFound if hidden from them, else Forbidden)."""
        async with self._uow(write=False) as uow:
            record = access.editable_character(user, await uow.characters.get(character_id))
            return await _details(uow, record)

    async def update(
        self, user: User, character_id: str, changes: CharacterChanges
    ) -> CharacterDetails:
        """Change card fields, visibility, the adult flag or the avatar, all or nothing (the
        owner or an admin)."""
        image = None
        if changes.avatar is not None:
            await self.get_for_edit(user, character_id)
            image = await self._read_avatar(changes.avatar)
        async with self._uow() as uow:
            record = access.editable_character(user, await uow.characters.get(character_id))
            if image is not None or changes.remove_avatar:
                record.avatar_digest = await uow.characters.set_avatar(record.id, image)
            if changes.card:
                stamped = {"modification_date": int(self._clock.now().timestamp())}
                record.character = self.apply_card_changes(record.character, changes.card, stamped)
            if changes.visibility is not None:
                record.visibility = changes.visibility
            if changes.is_adult is not None:
                record.is_adult = changes.is_adult
            record.updated_at = self._clock.now()
            await uow.characters.update(record)
            await uow.commit()
            return await _details(uow, record)

    async def delete(self, user: User, character_id: str) -> None:
        """Delete a character with its avatar and assets; chats with it are kept."""
        async with self._uow() as uow:
            record = access.editable_character(user, await uow.characters.get(character_id))
            await uow.characters.delete(record.id)
            await uow.commit()

    async def set_avatar(self, user: User, character_id: str, avatar: bytes | None) -> str | None:
        """Replace the avatar with an uploaded picture (None removes it); returns its digest."""
        async with self._uow(write=False) as uow:
            access.editable_character(user, await uow.characters.get(character_id))
        image = None if avatar is None else await self._read_avatar(avatar)
        async with self._uow() as uow:
            record = access.editable_character(user, await uow.characters.get(character_id))
            digest = await uow.characters.set_avatar(record.id, image)
            await uow.commit()
        return digest

    async def get_avatar(self, viewer: User | None, character_id: str) -> Image | None:
        """The avatar of a character the viewer may open (None: it has none)."""
        async with self._uow(write=False) as uow:
            record = access.visible_character(viewer, await uow.characters.get(character_id))
            return await uow.characters.get_avatar(record.id)

    def apply_card_changes(
        self, character: Character, changes: Mapping[str, Any], stamps: Mapping[str, Any]
    ) -> Character:
        """The character with card fields changed, read back through the card reader."""
        unknown = sorted(set(changes) - EDITABLE_CARD_FIELDS)
        if unknown:
            raise InvalidInput(unknown[0], "is not a card field that can be edited")
        card = write_card_object(character, "v3")
        data: JsonObject = card["data"]
        for key, value in {**changes, **stamps}.items():
            if value is None and (key in REMOVABLE_CARD_FIELDS or key in stamps):
                data.pop(key, None)
            elif value is None:
                raise InvalidInput(key, "must not be null")
            else:
                data[key] = value
        limits = self.policy.card_limits
        try:
            check_json_shape(card, "the card", limits)
            edited, _spec = read_card_object(card, limits, [])
        except CardError as error:
            raise card_field_error(error) from None
        return edited

    async def add_record(
        self, uow: UnitOfWork, user: User, record: CharacterRecord, avatar: Image | None
    ) -> None:
        """Store a new character (and its avatar) in the caller's transaction, within quota."""
        mine = access.library_query(user, mine=True, limit=1)
        if (await uow.characters.search(mine)).total >= self.policy.max_characters_per_user:
            raise Conflict(
                f"a user may keep at most {self.policy.max_characters_per_user} characters"
            )
        await uow.characters.add(record)
        if avatar is not None:
            record.avatar_digest = await uow.characters.set_avatar(record.id, avatar)

    async def _read_avatar(self, data: bytes) -> Image:
        return await read_image_in_thread(data, self.policy.images)


def card_data(character: Character) -> JsonObject:
    """The character's V3 card `data` object, as an export would write it."""
    data: JsonObject = write_card_object(character, "v3")["data"]
    return data


def looks_adult(character: Character) -> bool:
    """Whether the card's own tags say it is adult content."""
    return any(tag.strip().casefold() in ADULT_TAGS for tag in character.tags)


def card_field_error(error: CardError) -> InvalidInput:
    """A card reader's complaint about an edited field, named after the field (a long text is
    a mistake in a form, so it is InvalidInput, not TooLarge)."""
    message = str(error)
    field_name = "card"
    if message.startswith("data."):
        field_name, _, rest = message[len("data.") :].partition(" ")
        field_name = field_name.split("[", 1)[0].split(".", 1)[0]
        message = rest
    elif message == "the card has no name":
        field_name, message = "name", "must not be empty"
    return InvalidInput(field_name, message)


def _search_text(field_name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise InvalidInput(field_name, "must not contain NUL characters")
    if len(value) > MAX_QUERY_LENGTH:
        raise InvalidInput(field_name, f"must be at most {MAX_QUERY_LENGTH} characters")
    return value.strip()


async def _details(uow: UnitOfWork, record: CharacterRecord) -> CharacterDetails:
    owner = await uow.users.get(record.owner_id)
    return CharacterDetails(record=record, owner_name="" if owner is None else owner.username)
