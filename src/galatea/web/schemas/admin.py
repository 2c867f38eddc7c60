"""Account management by admins."""

from pydantic import BaseModel, ConfigDict, Field

from galatea.core.users import Role, User
from galatea.web.schemas.users import NEW_PASSWORD, NEW_USERNAME, MePublic


class AdminUserPublic(MePublic):
    """An account as an admin sees it."""

    disabled: bool

    @classmethod
    def of(cls, user: User) -> "AdminUserPublic":
        """The admin's view of a user."""
        return cls(**MePublic.of(user).model_dump(), disabled=user.disabled)


class AdminUserCreate(BaseModel):
    """A new account made by an admin (sign-up need not be open)."""

    model_config = ConfigDict(extra="forbid")

    username: str = NEW_USERNAME
    password: str = NEW_PASSWORD
    role: Role = Role.USER


class AdminUserUpdate(BaseModel):
    """Changes to an account; fields left out stay."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    tier: str | None = Field(default=None, min_length=1, max_length=32)
    disabled: bool | None = None


class PasswordReset(BaseModel):
    """A new password set by an admin; the user's sessions end."""

    model_config = ConfigDict(extra="forbid")

    new_password: str = NEW_PASSWORD
