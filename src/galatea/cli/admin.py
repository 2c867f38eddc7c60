"""`galatea admin`: manage accounts from the server's command line (the first admin too)."""

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer

from galatea.bootstrap import Services, StartupError, build_services
from galatea.config import Settings
from galatea.core.users import Role, User
from galatea.services.accounts import LOCAL_OPERATOR
from galatea.services.errors import ServiceError

app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)

T = TypeVar("T")


def _run(action: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        services = build_services(Settings())
        try:
            await services.start()
            return await action(services)
        finally:
            await services.close()

    with _reporting_errors():
        return asyncio.run(run())
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _reporting_errors() -> Iterator[None]:
    try:
        yield
    except (ServiceError, StartupError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="The new account's username.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an admin.")] = False,
    moderator: Annotated[
        bool, typer.Option("--moderator", help="Make the account a moderator.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account (works whether or not sign-up is open)."""
    if admin and moderator:
        typer.echo("error: choose --admin or --moderator, not both", err=True)
        raise typer.Exit(2)
    role = Role.ADMIN if admin else Role.MODERATOR if moderator else Role.USER
    password = _read_password(password_stdin)
    user = _run(
        lambda services: services.accounts.create_user(
            LOCAL_OPERATOR, username, password, role=role
        )
    )
    typer.echo(f"created {user.role.value} {user.username!r}")


@app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help="The account to change.")],
    role: Annotated[Role, typer.Argument(help="user, moderator or admin.")],
) -> None:
    """Change an account's role."""

    async def action(services: Services) -> str:
        user = await services.accounts.find_user(username)
        changed = await services.accounts.set_role(LOCAL_OPERATOR, user.id, role)
        return changed.username

    name = _run(action)
    typer.echo(f"{name!r} is now {role.value}")


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="The account to change.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set an account's password; all of its sessions end."""
    password = _read_password(password_stdin)

    async def action(services: Services) -> None:
        user = await services.accounts.find_user(username)
        await services.accounts.reset_password(LOCAL_OPERATOR, user.id, password)

    _run(action)
    typer.echo(f"password of {username!r} changed; its sessions have ended")


@app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The account to disable.")]) -> None:
    """Disable an account: it cannot sign in, its sessions and API tokens end."""
    _set_disabled(username, True)
    typer.echo(f"{username!r} is disabled")


@app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="The account to enable.")]) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, False)
    typer.echo(f"{username!r} is enabled")


def _set_disabled(username: str, disabled: bool) -> None:
    async def action(services: Services) -> None:
        user = await services.accounts.find_user(username)
        await services.accounts.set_disabled(LOCAL_OPERATOR, user.id, disabled)

    _run(action)


@app.command("list-users")
def list_users() -> None:
    """List accounts: username, role, tier and flags."""

    async def action(services: Services) -> list[User]:
        users: list[User] = []
        while batch := await services.accounts.list_users(
            LOCAL_OPERATOR, offset=len(users), limit=500
        ):
            users.extend(batch)
        return users

    for user in _run(action):
        flags = [
            flag for flag, on in (("disabled", user.disabled), ("adult", user.age_confirmed)) if on
        ]
        typer.echo(f"{user.username}\t{user.role.value}\t{user.tier}\t{','.join(flags) or '-'}")
