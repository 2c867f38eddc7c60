"""Ports: what the services need from the outside world, as Protocols.

Storage implements the repositories and the unit of work (`galatea.storage`); tests may pass
fakes. Every repository method runs inside the unit of work that created it; nothing is
written until `commit()`.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from galatea.core.billing import BillingEvent
from galatea.core.chats import ChatTree, Message, ReplyDraft
from galatea.core.json_types import JsonObject
from galatea.core.records import (
    CharacterPage,
    CharacterQuery,
    CharacterRecord,
    ChatRecord,
    Image,
    PersonaRecord,
    PresetRecord,
)
from galatea.core.usage import UsageCounts, UsageDay, UserUsage
from galatea.core.users import ApiToken, User, UserSession


class Clock(Protocol):
    """The current time (injected so tests can move it)."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    """Turns passwords into slow salted hashes and checks them."""

    async def hash(self, password: str) -> str:
        """A new hash of the password."""
        ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the hash (False for a malformed hash)."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        ...


class UserRepository(Protocol):
    """Accounts."""

    async def add(self, user: User, password_hash: str) -> bool:
        """Store a new user; False when the username is taken (ignoring case)."""
        ...

    async def get(self, user_id: str) -> User | None:
        """The user with this id."""
        ...

    async def get_by_username(self, username: str) -> User | None:
        """The user with this username, compared case-insensitively."""
        ...

    async def get_password_hash(self, user_id: str) -> str | None:
        """The user's stored password hash."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str, at: datetime) -> None:
        """Replace the user's password hash."""
        ...

    async def update(self, user: User) -> None:
        """Store the user's role, tier, age confirmation and disabled flag."""
        ...

    async def list_all(self, *, offset: int = 0, limit: int = 100) -> list[User]:
        """Users in sign-up order."""
        ...

    async def has_admin(self, *, excluding: str | None = None) -> bool:
        """Whether an enabled admin account exists (other than `excluding`)."""
        ...


class SessionRepository(Protocol):
    """Server-side sign-in sessions, found by the hash of their token."""

    async def add(self, session: UserSession, token_hash: str) -> None:
        """Store a new session."""
        ...

    async def get_by_token_hash(self, token_hash: str) -> UserSession | None:
        """The session whose token hashes to this value."""
        ...

    async def touch(self, session_id: str, at: datetime) -> None:
        """Record activity on the session."""
        ...

    async def delete(self, session_id: str) -> None:
        """End one session."""
        ...

    async def delete_for_user(self, user_id: str, *, except_id: str | None = None) -> int:
        """End the user's sessions (all but `except_id`); returns how many ended."""
        ...

    async def list_for_user(self, user_id: str) -> list[UserSession]:
        """The user's sessions, most recently active first."""
        ...

    async def delete_expired(self, *, now: datetime, idle_since: datetime) -> int:
        """End sessions past their absolute end or not seen since `idle_since`."""
        ...


class ApiTokenRepository(Protocol):
    """Personal API tokens, found by the hash of their secret."""

    async def add(self, token: ApiToken, token_hash: str) -> None:
        """Store a new token."""
        ...

    async def get_by_token_hash(self, token_hash: str) -> ApiToken | None:
        """The token whose secret hashes to this value."""
        ...

    async def touch(self, token_id: str, at: datetime) -> None:
        """Record that the token was used."""
        ...

    async def delete(self, token_id: str) -> None:
        """Revoke one token."""
        ...

    async def delete_for_user(self, user_id: str) -> int:
        """Revoke all of a user's tokens; returns how many."""
        ...

    async def list_for_user(self, user_id: str) -> list[ApiToken]:
        """The user's tokens, newest first."""
        ...


class AuthAttemptRepository(Protocol):
    """Sign-in and sign-up attempts, counted per account and per address for rate limits."""

    async def lock(self, keys: Sequence[str]) -> None:
        """Make concurrent transactions that lock any of these keys wait for this one."""
        ...

    async def add(
        self, kind: str, *, account_key: str | None, address_key: str | None, at: datetime
    ) -> int:
        """Record an attempt; returns its id."""
        ...

    async def remove(self, attempt_id: int) -> None:
        """Forget one attempt (it succeeded, so it is no failure)."""
        ...

    async def clear_account(self, kind: str, account_key: str) -> None:
        """Forget the attempts on one account."""
        ...

    async def nth_newest(
        self,
        kind: str,
        *,
        account_key: str | None = None,
        address_key: str | None = None,
        since: datetime,
        n: int,
    ) -> datetime | None:
        """The time of the n-th newest attempt since `since` on the account or address."""
        ...

    async def prune(self, before: datetime) -> None:
        """Forget attempts older than `before`."""
        ...


class CharacterRepository(Protocol):
    """The character library."""

    async def add(self, record: CharacterRecord) -> None:
        """Store a new character."""
        ...

    async def get(self, character_id: str) -> CharacterRecord | None:
        """The character with this id, whoever owns it (services check access)."""
        ...

    async def update(self, record: CharacterRecord) -> None:
        """Store the card, visibility and adult flag; `updated_at` as given."""
        ...

    async def delete(self, character_id: str) -> None:
        """Delete the character, its avatar and assets; its chats keep existing."""
        ...

    async def search(self, query: CharacterQuery) -> CharacterPage:
        """A page of summaries matching the query."""
        ...

    async def increment_chat_count(self, character_id: str) -> None:
        """Count one more chat started with the character."""
        ...

    async def set_avatar(self, character_id: str, image: Image | None) -> str | None:
        """Replace (or with None remove) the avatar; returns its new digest."""
        ...

    async def get_avatar(self, character_id: str) -> Image | None:
        """The character's avatar image."""
        ...

    async def set_assets(self, character_id: str, assets: Mapping[str, bytes]) -> None:
        """Replace the files embedded in the character's card, by path."""
        ...

    async def get_assets(self, character_id: str) -> dict[str, bytes]:
        """The files embedded in the character's card, by path."""
        ...


class PersonaRepository(Protocol):
    """Users' personas."""

    async def add(self, record: PersonaRecord) -> None:
        """Store a new persona (use `set_default` to make it the default)."""
        ...

    async def get(self, persona_id: str) -> PersonaRecord | None:
        """The persona with this id, whoever owns it."""
        ...

    async def update(self, record: PersonaRecord) -> None:
        """Store the persona's name, description and `updated_at`."""
        ...

    async def delete(self, persona_id: str) -> None:
        """Delete the persona; chats using it fall back to the default."""
        ...

    async def list_for_owner(self, owner_id: str) -> list[PersonaRecord]:
        """The user's personas, the default first, then by name."""
        ...

    async def set_default(self, owner_id: str, persona_id: str | None) -> None:
        """Make this persona the user's only default (None: no default)."""
        ...

    async def set_avatar(self, persona_id: str, image: Image | None) -> str | None:
        """Replace (or with None remove) the avatar; returns its new digest."""
        ...

    async def get_avatar(self, persona_id: str) -> Image | None:
        """The persona's avatar image."""
        ...


class ChatRepository(Protocol):
    """Chats and their message trees, one row per message.

    Message methods take the chat id too and never touch a message of another chat.
    """

    async def add(self, chat: ChatRecord) -> None:
        """Store a new, empty chat."""
        ...

    async def get(self, chat_id: str) -> ChatRecord | None:
        """The chat with this id, whoever owns it."""
        ...

    async def update(self, chat: ChatRecord) -> None:
        """Store the title, persona, preset, settings and `updated_at` (not `metadata`)."""
        ...

    async def delete(self, chat_id: str) -> None:
        """Delete the chat with all its messages."""
        ...

    async def list_for_owner(
        self, owner_id: str, *, character_id: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[ChatRecord]:
        """The user's chats (optionally with one character), most recently active first."""
        ...

    async def add_message(self, chat_id: str, message: Message, *, select: bool = True) -> None:
        """Append a message under its parent; selected at its fork unless told otherwise
        (the first child of a fork is always selected)."""
        ...

    async def add_tree(self, chat_id: str, tree: ChatTree) -> None:
        """Store a whole tree in one go (an imported or branched chat with no messages yet)."""
        ...

    async def get_message(self, chat_id: str, message_id: str) -> Message | None:
        """One message of the chat."""
        ...

    async def update_message(self, chat_id: str, message: Message) -> None:
        """Store a message's text, name, status and hidden flag (`extra` has `set_extra`)."""
        ...

    async def select_message(self, chat_id: str, message_id: str) -> None:
        """Choose this message at its fork (a swipe or a branch)."""
        ...

    async def delete_message(self, chat_id: str, message_id: str) -> list[str]:
        """Delete a message and everything below it; returns the deleted ids. When it was
        selected, its newest remaining sibling becomes selected."""
        ...

    async def load_tree(self, chat_id: str, *, with_extra: bool = False) -> ChatTree:
        """All the chat's messages and the selection at each fork; each message's `extra` is
        left empty unless `with_extra`."""
        ...

    async def set_extra(self, chat_id: str, message_id: str, extra: JsonObject) -> None:
        """Store the data a message keeps for export (`Message.extra`)."""
        ...

    async def set_generation(self, chat_id: str, message_id: str, info: JsonObject | None) -> None:
        """Store how a reply was generated (for the prompt inspector)."""
        ...

    async def get_generation(self, chat_id: str, message_id: str) -> JsonObject | None:
        """How a reply was generated, if recorded."""
        ...


class PresetRepository(Protocol):
    """Users' named generation settings."""

    async def add(self, preset: PresetRecord) -> bool:
        """Store a new preset; False when the owner already has one with this name."""
        ...

    async def get(self, preset_id: str) -> PresetRecord | None:
        """The preset with this id, whoever owns it."""
        ...

    async def update(self, preset: PresetRecord) -> bool:
        """Store name, settings and `updated_at`; False when the new name is taken."""
        ...

    async def delete(self, preset_id: str) -> None:
        """Delete the preset; chats using it fall back to the default settings."""
        ...

    async def list_for_owner(self, owner_id: str) -> list[PresetRecord]:
        """The user's presets by name."""
        ...


class UsageRepository(Protocol):
    """Metered usage per user and UTC day."""

    async def add(self, user_id: str, day: date, counts: UsageCounts) -> None:
        """Add `counts` to the user's usage on `day` (atomic under concurrent writers)."""
        ...

    async def get_day(self, user_id: str, day: date) -> UsageCounts:
        """The user's usage on `day` (zero when nothing was counted)."""
        ...

    async def days_for_user(self, user_id: str, *, since: date, until: date) -> list[UsageDay]:
        """The user's days with usage in the range (both ends included), newest first."""
        ...

    async def per_user(
        self, *, since: date, until: date, offset: int = 0, limit: int = 100
    ) -> list[UserUsage]:
        """Each user's usage summed over the range, the largest token users first."""
        ...

    async def totals(self, *, since: date, until: date) -> tuple[UsageCounts, int]:
        """Everyone's usage summed over the range, and how many users it came from."""
        ...


class BillingEventRepository(Protocol):
    """Payment webhook events already applied."""

    async def add(self, event: BillingEvent, received_at: datetime) -> bool:
        """Record an event as applied; False when its id was recorded before (a replay)."""
        ...

    async def latest_for_user(self, user_id: str) -> datetime | None:
        """When the newest event recorded for the user occurred."""
        ...

    async def list_for_user(self, user_id: str, *, limit: int = 50) -> list[BillingEvent]:
        """The events recorded for a user, newest first."""
        ...


class ReplyDraftRepository(Protocol):
    """Drafts of replies being written, one per chat."""

    async def save(self, draft: ReplyDraft) -> bool:
        """Write the chat's draft; False when the chat no longer exists."""
        ...

    async def delete(self, chat_id: str) -> None:
        """Forget the chat's draft."""
        ...

    async def stale(self, before: datetime, *, limit: int = 100) -> list[ReplyDraft]:
        """Drafts not refreshed since `before`, oldest first."""
        ...

    async def claim(self, draft: ReplyDraft) -> bool:
        """Remove this exact draft; False if it changed or is gone."""
        ...


class UnitOfWork(Protocol):
    """One transaction: repositories that share it, committed once or rolled back."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def api_tokens(self) -> ApiTokenRepository: ...
    @property
    def auth_attempts(self) -> AuthAttemptRepository: ...
    @property
    def characters(self) -> CharacterRepository: ...
    @property
    def personas(self) -> PersonaRepository: ...
    @property
    def chats(self) -> ChatRepository: ...
    @property
    def presets(self) -> PresetRepository: ...
    @property
    def usage(self) -> UsageRepository: ...
    @property
    def billing_events(self) -> BillingEventRepository: ...
    @property
    def reply_drafts(self) -> ReplyDraftRepository: ...

    async def commit(self) -> None:
        """Make the changes durable."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens units of work; `write=False` for use cases that only read."""

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        """A new unit of work, entered with `async with`."""
        ...
