"""The one shape of every JSON API error, as `errors.py` writes it, documented for every route.

Any route may answer 4xx: a bad or missing token (401), a forged cross-site call (403), a body
over the size limit (413), a value that breaks a rule (422, with the field named), too many
attempts (429, with Retry-After). 5xx answers carry the same shape: a text generator that
failed or is busy (502-504) and, for a bug, 500 with a request id for the server's log.
"""

from typing import Any

from pydantic import BaseModel, Field


class ProblemPublic(BaseModel):
    """One invalid value of a request that failed validation."""

    field: str = Field(description="Where the value was, e.g. `name` or `query.limit`.")
    message: str


class ErrorPublic(BaseModel):
    """What went wrong, in words a user can act on."""

    error: str = Field(description="One line, safe to show.")
    field: str | None = Field(default=None, description="The field at fault (422).")
    errors: list[ProblemPublic] | None = Field(
        default=None, description="Every invalid value, when the request failed validation."
    )
    retry_after: int | None = Field(default=None, description="Seconds to wait (429).")
    request_id: str | None = Field(default=None, description="For the server's log (500).")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorPublic, "description": "The request was refused; `error` says why."},
    "5XX": {"model": ErrorPublic, "description": "The server or its text generator failed."},
}
"""The error answers of every API route (they replace FastAPI's own 422 description)."""
