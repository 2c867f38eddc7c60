"""Personal API tokens."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from galatea.core.users import ApiToken
from galatea.web.schemas.text import named
from galatea.web.schemas.users import PASSWORD, USERNAME


class TokenCreate(BaseModel):
    """Credentials in exchange for a new token (the way scripts get one)."""

    model_config = ConfigDict(extra="forbid")

    username: str = USERNAME
    password: str = PASSWORD
    name: str = Field(default="API token", min_length=1, max_length=100, json_schema_extra=named())


class TokenPublic(BaseModel):
    """A token without its secret (which is not kept)."""

    id: str
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> "TokenPublic":
        """The view of a token."""
        return cls(
            id=token.id,
            name=token.name,
            hint=token.hint,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            expires_at=token.expires_at,
        )


class TokenGrantPublic(TokenPublic):
    """A new token with its secret, shown this once: send it as `Authorization: Bearer`."""

    token: str
