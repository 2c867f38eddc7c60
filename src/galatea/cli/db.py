"""`galatea db`: bring the database schema up to date and inspect it."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from galatea.bootstrap import (
    StartupError,
    database_drift,
    database_revisions,
    upgrade_database,
    write_migration,
)
from galatea.config import Settings

app = typer.Typer(help="Create and upgrade the database schema.", no_args_is_help=True)


@contextmanager
def _reporting_errors() -> Iterator[None]:
    try:
        yield
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command()
def upgrade(
    revision: Annotated[
        str, typer.Argument(help="The revision to reach; 'head' is the newest.")
    ] = "head",
) -> None:
    """Apply migrations (an SQLite file is backed up first when its schema changes)."""
    with _reporting_errors():
        before, after = asyncio.run(upgrade_database(Settings(), revision))
    if before == after:
        typer.echo(f"database is up to date at revision {after}")
    else:
        typer.echo(f"database upgraded from {before or 'an empty database'} to revision {after}")


@app.command()
def current() -> None:
    """Show the database's revision and the newest one; exit 1 when behind."""
    with _reporting_errors():
        revision, head = asyncio.run(database_revisions(Settings()))
    typer.echo(f"database revision: {revision or 'none (empty database)'}")
    typer.echo(f"newest revision:   {head}")
    if revision != head:
        typer.echo("run `galatea db upgrade` to bring the database up to date", err=True)
        raise typer.Exit(1)


@app.command()
def check() -> None:
    """Check that the tables in code match the migrations (for development and CI)."""
    with _reporting_errors():
        report = asyncio.run(database_drift(Settings()))
    if report is not None:
        typer.echo(f"the tables differ from the migrations: {report}", err=True)
        raise typer.Exit(1)
    typer.echo("tables and migrations match")


@app.command()
def revision(
    message: Annotated[str, typer.Argument(help="What the change does, e.g. 'add chat tags'.")],
) -> None:
    """For developers: write a new migration from the difference between the tables in code
    and an up-to-date database. Read and edit it before committing."""
    with _reporting_errors():
        asyncio.run(write_migration(Settings(), message))
