"""Client address and scheme from a trusted reverse proxy, and from nobody else.

Rate limits and session records use the client address. X-Forwarded-For and
X-Forwarded-Proto are believed only when the TCP peer is a configured proxy; from any other
peer they are ignored, so a client cannot rotate its apparent address or claim HTTPS.
"""

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Addresses or CIDR networks; a malformed entry is a ValueError naming it."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {entry!r} is not an IP address or network") from None
    return networks


def _is_trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def forwarded_client(header: str, networks: list[Network]) -> str | None:
    """The client a chain of proxies reports: the right-most address that is not a proxy."""
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop[:64]
    return hops[0][:64] if hops else None


class TrustedProxyMiddleware:
    """Rewrites the request's client address and scheme from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if (
            scope["type"] in ("http", "websocket")
            and self.networks
            and peer is not None
            and _is_trusted(peer[0], self.networks)
        ):
            scope = self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> Scope:
        headers = {key: value.decode("latin-1") for key, value in scope.get("headers", [])}
        scope = dict(scope)
        client = forwarded_client(headers.get(b"x-forwarded-for", ""), self.networks)
        if client is not None:
            scope["client"] = (client, 0)
        proto = headers.get(b"x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
        return scope
