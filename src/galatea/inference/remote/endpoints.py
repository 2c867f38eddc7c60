"""Where a remote server is and how long to wait for it: the part of a backend's configuration
that the HTTP clients need. Built by the registry from an administrator's `BackendSpec`.
"""

from dataclasses import dataclass, field
from typing import Literal

import httpx

Route = Literal["completions", "chat"]


class EndpointError(ValueError):
    """The configured address or limits cannot be used."""


@dataclass(slots=True, frozen=True)
class Timeouts:
    """Time limits, in seconds, for talking to a remote server."""

    connect: float = 10.0
    """Opening the connection."""
    first_token: float = 120.0
    """From sending the request to the first generated text (covers prompt processing)."""
    stall: float = 30.0
    """Longest silence between two pieces of text once the stream has started."""
    request: float = 30.0
    """Short calls: model list, tokenization, abort."""

    def __post_init__(self) -> None:
        for name in ("connect", "first_token", "stall", "request"):
            value = getattr(self, name)
            if not value > 0:
                raise EndpointError(f"timeout {name!r} must be a positive number of seconds")


@dataclass(slots=True, frozen=True)
class Endpoint:
    """A remote server's address, credentials and limits (administrator configuration)."""

    base_url: str
    """Server root, e.g. http://127.0.0.1:8080; a trailing /v1 is accepted and dropped."""
    model: str | None = None
    """Model name sent with each request; None asks the server's /v1/models (or sends none)."""
    api_key: str | None = field(default=None, repr=False)
    """Sent as `Authorization: Bearer <key>`; never logged."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    context_length: int | None = None
    """Context window in tokens; overrides what the server reports (some report none)."""
    route: Route = "completions"
    """`completions` sends the prompt text; `chat` wraps it in one user message."""
    stream: bool = True
    """Stream tokens over SSE; False waits for the whole completion."""
    label: str = ""
    """Name used in error messages; defaults to the server's host and port."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.context_length is not None and self.context_length <= 0:
            raise EndpointError("context_length must be a positive number of tokens")
        if not self.label:
            netloc = httpx.URL(self.base_url).netloc.decode("ascii")
            object.__setattr__(self, "label", netloc)

    def url(self, path: str) -> str:
        """The absolute URL of a server route such as `/v1/completions`."""
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        """Headers sent with every request."""
        if self.api_key:
            return {"Authorization": f"Bearer {self.api_key}"}
        return {}


def normalize_base_url(raw: str) -> str:
    """Check an http(s) server root and return it without a trailing slash or `/v1`."""
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise EndpointError(f"backend URL {raw!r} is not a valid URL") from exc
    if url.scheme not in ("http", "https"):
        raise EndpointError(f"backend URL {raw!r} must start with http:// or https://")
    if not url.host:
        raise EndpointError(f"backend URL {raw!r} has no host")
    if url.userinfo:
        raise EndpointError("put credentials in api_key, not in the backend URL")
    if url.query or url.fragment:
        raise EndpointError(f"backend URL {raw!r} must not have a query or fragment")
    path = url.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return str(url.copy_with(path=path or "/")).rstrip("/")
