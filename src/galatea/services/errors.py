"""Errors of the use cases. The web layer maps each to one HTTP status, the CLI to a message.

ServiceError
 ├── NotFound               no such object, or one the caller may not see (never Forbidden)
 ├── Forbidden              the caller sees the object but may not do this
 ├── Conflict               the change collides with existing data (a taken username)
 ├── InvalidInput           a value breaks a rule; the message names the field and the rule
 │    ├── TooLarge          a file or value is over a size limit
 │    └── UnsupportedMedia  a file of a type that is not accepted (an SVG as an avatar)
 ├── RateLimited            too many attempts; `retry_after` says when to try again
 ├── AuthenticationFailed   wrong credentials, or a token that is unknown or expired
 └── Unavailable            a shared store (Redis) cannot be reached; try again later
"""


class ServiceError(Exception):
    """Base of every error a service raises on purpose; the message is safe to show."""


class NotFound(ServiceError):
    """The object does not exist, or belongs to someone else and is not shared."""

    def __init__(self, kind: str, object_id: str | None = None) -> None:
        self.kind = kind
        self.object_id = object_id
        super().__init__(f"{kind} not found")


class Forbidden(ServiceError):
    """The caller may see the object but not do this to it."""


class Conflict(ServiceError):
    """The change collides with data that already exists."""


class InvalidInput(ServiceError):
    """A value given by the caller breaks a rule."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class TooLarge(InvalidInput):
    """A file or value is larger than allowed."""


class UnsupportedMedia(InvalidInput):
    """A file of a kind that is not accepted here."""


class RateLimited(ServiceError):
    """Too many attempts in a short time."""

    def __init__(self, retry_after: float, message: str = "too many attempts") -> None:
        self.retry_after = max(1.0, float(retry_after))
        super().__init__(f"{message}; try again in {int(self.retry_after + 0.999)} seconds")


class AuthenticationFailed(ServiceError):
    """Credentials did not match, or a session or token is not (or no longer) valid."""

    def __init__(self, message: str = "wrong username or password") -> None:
        super().__init__(message)


class Unavailable(ServiceError):
    """A store the use case needs (Redis, shared by the app processes) cannot be reached."""
