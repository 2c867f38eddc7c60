"""Character card files: import PNG / WebP / JSON / CharX cards (one or many) and export them.

Each file is decoded off the event loop, at most a few at a time, and stored in one
transaction with its avatar and embedded assets: a file that cannot be read leaves nothing
behind and does not stop the other files of the same upload. An export writes the stored
card data, the stored avatar and assets, in the format asked for.
"""

import asyncio
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from galatea.core.records import CharacterRecord, Visibility
from galatea.core.users import User
from galatea.formats.cards import CardLimits, CardTooLargeError, NotACardError, sniff_container
from galatea.formats.samples import SAMPLE_CARD_FILE, sample_card_bytes
from galatea.services import access
from galatea.services.cards import CardError, ImportedCard, export_card, import_card
from galatea.services.characters import (
    CharacterDetails,
    CharacterService,
    looks_adult,
)
from galatea.services.errors import Conflict, InvalidInput, TooLarge, UnsupportedMedia
from galatea.services.images import read_image_in_thread
from galatea.services.ports import Clock, UnitOfWorkFactory

EXPORT_FORMATS = {
    "png": ("image/png", "png"),
    "json": ("application/json", "json"),
    "json_v2": ("application/json", "json"),
    "charx": ("application/zip", "charx"),
}
"""Export format -> (media type, file extension)."""
MAX_FILENAME_LENGTH = 255
_UNSAFE_FILENAME = re.compile(r"[^\w .()'-]+")


@dataclass(frozen=True, slots=True)
class CardUpload:
    """One uploaded card file."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What became of one file of an import: a character (with warnings) or an error."""

    filename: str
    details: CharacterDetails | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ExportedCard:
    """A card file ready to download."""

    filename: str
    media_type: str
    data: bytes


@dataclass(slots=True)
class _Slots:
    # Created on first use: an asyncio primitive must not be made at wiring time.
    size: int
    semaphore: asyncio.Semaphore | None = field(default=None)

    def get(self) -> asyncio.Semaphore:
        if self.semaphore is None:
            self.semaphore = asyncio.Semaphore(self.size)
        return self.semaphore


class CharacterFileService:
    """Use cases of character card files."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, characters: CharacterService) -> None:
        self._uow = uow
        self._clock = clock
        self._characters = characters
        self.policy = characters.policy
        self._slots = _Slots(self.policy.concurrent_imports)

    async def import_many(
        self,
        user: User,
        uploads: Sequence[CardUpload],
        *,
        visibility: Visibility = Visibility.PRIVATE,
    ) -> list[ImportOutcome]:
        """Import each file on its own; every file gets an outcome, in upload order."""
        if not uploads:
            raise InvalidInput("file", "choose at least one card file")
        if len(uploads) > self.policy.max_import_files:
            raise InvalidInput(
                "file", f"at most {self.policy.max_import_files} files can be imported at once"
            )
        outcomes = []
        for upload in uploads:
            try:
                details, warnings = await self.import_one(user, upload, visibility=visibility)
            except (InvalidInput, Conflict) as error:
                outcomes.append(ImportOutcome(upload.filename, error=_reason(error, upload)))
            else:
                outcomes.append(ImportOutcome(upload.filename, details, tuple(warnings)))
        return outcomes

    async def add_sample(self, user: User) -> CharacterDetails:
        """Give the user their own private copy of the sample character, to chat with at once."""
        upload = CardUpload(SAMPLE_CARD_FILE, sample_card_bytes())
        details, _ = await self.import_one(user, upload)
        return details

    async def import_one(
        self,
        user: User,
        upload: CardUpload,
        *,
        visibility: Visibility = Visibility.PRIVATE,
        is_adult: bool | None = None,
    ) -> tuple[CharacterDetails, list[str]]:
        """Import one card file as a new character of the user; returns it and any warnings.

        Unless told otherwise, a card tagged NSFW (or adult, 18+, explicit) is flagged adult.
        """
        async with self._slots.get():
            imported = await asyncio.to_thread(_read_card, upload, self.policy.card_limits)
            warnings = list(imported.warnings)
            avatar = None
            if imported.avatar is not None:
                try:
                    avatar = await read_image_in_thread(imported.avatar, self.policy.images)
                except InvalidInput as error:
                    warnings.append(f"the card's picture was left out ({error})")
        now = self._clock.now()
        character = imported.character
        record = CharacterRecord(
            character=character,
            owner_id=user.id,
            created_at=now,
            updated_at=now,
            visibility=visibility,
            is_adult=looks_adult(character) if is_adult is None else is_adult,
        )
        async with self._uow() as uow:
            await self._characters.add_record(uow, user, record, avatar)
            if imported.assets:
                await uow.characters.set_assets(record.id, imported.assets)
            await uow.commit()
        return CharacterDetails(record=record, owner_name=user.username), warnings

    async def export(self, viewer: User | None, character_id: str, fmt: str) -> ExportedCard:
        """The character as a card file: png, json (V3), json_v2 or charx."""
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput("format", f"must be one of {', '.join(EXPORT_FORMATS)}")
        async with self._uow(write=False) as uow:
            record = access.visible_character(viewer, await uow.characters.get(character_id))
            avatar = await uow.characters.get_avatar(record.id)
            assets = await uow.characters.get_assets(record.id)
        try:
            data = await asyncio.to_thread(
                export_card,
                record.character,
                fmt,
                None if avatar is None else avatar.data,
                assets,
                self.policy.card_limits,
            )
        except CardError as error:
            raise InvalidInput("format", str(error)) from None
        media_type, extension = EXPORT_FORMATS[fmt]
        return ExportedCard(
            filename=export_filename(record.character.name, extension),
            media_type=media_type,
            data=data,
        )


def export_filename(name: str, extension: str) -> str:
    """A download name made from the character's name: no path, no control characters."""
    cleaned = unicodedata.normalize("NFC", name)
    cleaned = _UNSAFE_FILENAME.sub("_", cleaned).strip(" ._") or "character"
    return f"{cleaned[: MAX_FILENAME_LENGTH - len(extension) - 1]}.{extension}"


def _reason(error: InvalidInput | Conflict, upload: CardUpload) -> str:
    # The outcome names the file already: "file: card.png: the file is empty" says it twice.
    message = str(error)
    if isinstance(error, InvalidInput):
        message = message.removeprefix(f"{error.field}: ")
    return message.removeprefix(f"{PurePath(upload.filename).name[:80]}: ")


def _read_card(upload: CardUpload, limits: CardLimits) -> ImportedCard:
    try:
        return import_card(upload.data, upload.filename, limits)
    except CardTooLargeError as error:
        raise TooLarge("file", str(error)) from None
    except NotACardError as error:
        if sniff_container(upload.data) is None:
            raise UnsupportedMedia("file", str(error)) from None
        raise InvalidInput("file", str(error)) from None
    except CardError as error:
        raise InvalidInput("file", str(error)) from None
