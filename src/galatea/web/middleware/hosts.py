"""The Host header allowlist, against DNS rebinding: a page on another domain that re-resolves
its name to this server must not be able to drive the site from a visitor's browser."""

from starlette.types import ASGIApp, Receive, Scope, Send

from galatea.web.middleware.responses import send_plain_error


def host_name(header: str) -> str:
    """The host part of a Host header, lowercase, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end != -1 else ""
    name, _, _port = header.partition(":")
    return name.rstrip(".")


def is_allowed_host(name: str, allowed: list[str]) -> bool:
    """Whether the host name matches the allowlist (`*.example.org` covers subdomains)."""
    for pattern in allowed:
        pattern = pattern.strip().lower().strip("[]")
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]) and name != pattern[2:]:
            return True
    return False


class HostCheckMiddleware:
    """Answers 400 to a request whose Host header is not on the allowlist."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed_hosts = list(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = ""
        for key, value in scope.get("headers", []):
            if key == b"host":
                header = value.decode("latin-1")
                break
        if not is_allowed_host(host_name(header), self.allowed_hosts):
            await send_plain_error(scope, send, 400, "unknown host name")
            return
        await self.app(scope, receive, send)
