"""Accounts, sign-in sessions and the signed-in user's own record."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from galatea.core.users import Role, User, UserSession
from galatea.services.accounts import USERNAME_PATTERN
from galatea.services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

USERNAME = Field(min_length=1, max_length=64, description="3 to 32 letters, digits, _ . -")
PASSWORD = Field(min_length=1, max_length=1024)
# New names and passwords are checked by the account service, whose messages say what to
# change; the schema documents the same rules without enforcing them a second time.
NEW_USERNAME = Field(
    min_length=1,
    max_length=64,
    description="3 to 32 letters, digits, _ . - (starting with a letter or digit); a few "
    "names such as 'admin' are reserved",
    json_schema_extra={"pattern": f"^{USERNAME_PATTERN.pattern}$"},
)
NEW_PASSWORD = Field(
    min_length=1,
    max_length=1024,
    description=f"At least {MIN_PASSWORD_LENGTH} characters (the site may ask for more), "
    f"at most {MAX_PASSWORD_LENGTH}; not a common password, not the username",
    json_schema_extra={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH},
)


class UserCreate(BaseModel):
    """Sign up (when the site allows it)."""

    model_config = ConfigDict(extra="forbid")

    username: str = NEW_USERNAME
    password: str = NEW_PASSWORD


class SignIn(BaseModel):
    """Credentials for a browser session."""

    model_config = ConfigDict(extra="forbid")

    username: str = USERNAME
    password: str = PASSWORD


class PasswordChange(BaseModel):
    """A new password; the current one proves it is really the user."""

    model_config = ConfigDict(extra="forbid")

    current_password: str = PASSWORD
    new_password: str = NEW_PASSWORD


class UserPublic(BaseModel):
    """An account as others may see it."""

    id: str
    username: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserPublic":
        """The public view of a user."""
        return cls(id=user.id, username=user.username, role=user.role, created_at=user.created_at)


class MePublic(UserPublic):
    """The signed-in user's own account."""

    tier: str
    age_confirmed: bool

    @classmethod
    def of(cls, user: User) -> "MePublic":
        """The owner's view of their account."""
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            created_at=user.created_at,
            tier=user.tier,
            age_confirmed=user.age_confirmed,
        )


class SignedInPublic(BaseModel):
    """A new browser session: the cookie is set; scripts send `csrf_token` as X-CSRF-Token."""

    user: MePublic
    csrf_token: str


class SessionPublic(BaseModel):
    """One of the user's signed-in browsers."""

    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    address: str
    current: bool

    @classmethod
    def of(cls, session: UserSession, current_id: str | None) -> "SessionPublic":
        """The view of a session; `current` marks the one making the request."""
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            address=session.address,
            current=session.id == current_id,
        )
