"""Users and their credentials: accounts with a role and a tier, sign-in sessions, API tokens.

Secrets never live in these objects: a session or token is known here by its id, and only a
hash of the secret a browser or script holds is ever stored.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

TierName: TypeAlias = str
"""The name of a service tier (for example "free"); the scheduler defines what each allows."""

DEFAULT_TIER: TierName = "free"


class Role(StrEnum):
    """What a user may do beyond their own objects."""

    USER = "user"
    MODERATOR = "moderator"
    """May review and hide content others published."""
    ADMIN = "admin"
    """May do everything, including managing users."""


@dataclass(slots=True, frozen=True)
class User:
    """A person with an account."""

    id: str
    username: str
    """As typed at sign-up; unique when compared case-insensitively."""
    created_at: datetime
    role: Role = Role.USER
    tier: TierName = DEFAULT_TIER
    age_confirmed: bool = False
    """The user confirmed once that they are an adult, so adult characters are shown."""
    disabled: bool = False
    """A disabled account cannot sign in and its sessions and tokens stop working."""

    @property
    def is_admin(self) -> bool:
        """Whether the user manages the whole site."""
        return self.role is Role.ADMIN

    @property
    def is_moderator(self) -> bool:
        """Whether the user may moderate content (admins may too)."""
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def can_see_adult(self) -> bool:
        """Whether characters flagged adult may be listed and opened for this user."""
        return self.age_confirmed


@dataclass(slots=True, frozen=True)
class UserSession:
    """A signed-in browser: a server-side session the cookie's token points to."""

    id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    """The absolute end, however active the session is."""
    csrf_token: str
    """Forms and cookie-authenticated API calls of this session must echo it."""
    user_agent: str = ""
    address: str = ""
    """The client address the session started from, for the user's session list."""

    def is_expired(self, now: datetime, idle_timeout: float) -> bool:
        """Whether the session has ended: past its absolute end or idle for too long."""
        idle_for = (now - self.last_seen_at).total_seconds()
        return now >= self.expires_at or idle_for >= idle_timeout


@dataclass(slots=True, frozen=True)
class ApiToken:
    """A personal token for the JSON API (`Authorization: Bearer`); the secret is shown once."""

    id: str
    user_id: str
    name: str
    hint: str
    """The last characters of the secret, so the owner can tell tokens apart."""
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        """Whether the token has passed its end (tokens without one never expire)."""
        return self.expires_at is not None and now >= self.expires_at
