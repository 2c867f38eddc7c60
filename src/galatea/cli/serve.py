"""`galatea serve`: run the web site with uvicorn and print where it is.

The database is prepared first (SQLite is migrated in place), so a problem is one line of
error instead of a server that starts and dies. Listening on anything but a loopback address
needs an admin account, made from the command line, never by the first visitor to sign up.
"""

import asyncio
import ipaddress
import socket
from typing import Annotated

import typer
import uvicorn

from galatea.bootstrap import StartupError, build_services
from galatea.config import Settings

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach the address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def site_url(host: str, port: int) -> str:
    """The address to open in a browser for a server listening on host:port."""
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host.strip("[]")
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


async def _prepare(settings: Settings) -> bool:
    services = build_services(settings)
    try:
        await services.start()
        return await services.accounts.has_admin()
    finally:
        await services.close()


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the site's address once it accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start, then say where the site is."""
        await super().startup(sockets)
        if self.started:
            typer.echo(f"Galatea is running at {self.url}  (Ctrl+C to stop)")


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: GALATEA_WEB__HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (default: GALATEA_WEB__PORT)."),
    ] = None,
) -> None:
    """Serve the Galatea web site; data is kept under GALATEA_DATA_DIR (default ./data)."""
    settings = Settings()
    host = settings.web.host if host is None else host
    port = settings.web.port if port is None else port
    try:
        has_admin = asyncio.run(_prepare(settings))
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if not is_loopback(host) and not has_admin:
        typer.echo(
            f"error: refusing to listen on {host}, which other machines can reach, before an "
            "admin account exists; create one with `galatea admin create-user NAME --admin`",
            err=True,
        )
        raise typer.Exit(1)
    web = settings.web
    if host not in WILDCARD_HOSTS and host.strip("[]") not in web.allowed_hosts:
        web = web.model_copy(update={"allowed_hosts": [*web.allowed_hosts, host.strip("[]")]})
        settings = settings.model_copy(update={"web": web})
    if not is_loopback(host):
        if host in WILDCARD_HOSTS:
            typer.echo(
                "note: listening on every interface; visitors must use one of these host "
                f"names (GALATEA_WEB__ALLOWED_HOSTS): {', '.join(web.allowed_hosts)}",
                err=True,
            )
        if settings.accounts.signup_open:
            typer.echo(
                "warning: sign-up is open: anyone who reaches this server can create an "
                "account (GALATEA_ACCOUNTS__SIGNUP_OPEN=false closes it)",
                err=True,
            )
    # Imported here: the other commands should not pay for loading the web stack.
    from galatea.web.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=False,  # forwarded headers are handled by the app's trusted-proxy list
        server_header=False,
        ws="none",
        lifespan="on",
        log_level="info",
    )
    _AnnouncingServer(config, site_url(host, port)).run()
