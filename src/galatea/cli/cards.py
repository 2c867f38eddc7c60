"""`galatea card`: look at a character card and convert it between PNG, JSON and CharX."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from galatea.services.cards import (
    CardError,
    card_as_v3_json,
    export_card,
    format_for_filename,
    import_card,
    unexported_assets,
)

app = typer.Typer(help="Read, show and convert character cards.", no_args_is_help=True)

# Bad input exits with 2, like a usage error: the file, not the program, is at fault.
BAD_INPUT = 2
# No card format allows more (CharX: 64 MiB); larger files are refused before reading.
_MAX_FILE_BYTES = 64 * 1024 * 1024


@app.command()
def show(file: Annotated[Path, typer.Argument(help="A card: PNG, WebP, JSON or CharX.")]) -> None:
    """Print the card as normalised V3 JSON (UTF-8, indented by 2)."""
    with _reporting_bad_input():
        imported = import_card(_read(file), file.name)
        text = card_as_v3_json(imported.character)
    _warn(imported.warnings)
    typer.echo(text.encode("utf-8"))


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="The card to read (any supported format).")],
    target: Annotated[Path, typer.Argument(help="Where to write: .png, .json or .charx.")],
    v2: Annotated[
        bool, typer.Option("--v2", help="Write a V2 card when the target is .json.")
    ] = False,
    avatar: Annotated[
        Path | None, typer.Option(help="An image to use as the avatar instead of the card's own.")
    ] = None,
) -> None:
    """Write the card in the format named by the target's extension."""
    with _reporting_bad_input():
        fmt = format_for_filename(target.name)
        if fmt == "json" and v2:
            fmt = "json_v2"
        imported = import_card(_read(source), source.name)
        image = _read(avatar) if avatar is not None else imported.avatar
        output = export_card(imported.character, fmt, image, imported.assets)
        left_out = unexported_assets(imported.character, fmt, imported.assets)
    _warn(imported.warnings)
    if left_out:
        _warn(
            [f"{len(left_out)} embedded assets are not carried by {fmt}; use .charx to keep them"]
        )
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_bytes(output)
        partial.replace(target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        typer.echo(f"error: cannot write {target}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None


class _BadInputError(Exception):
    """A file that cannot be read at all (missing, a directory, too large)."""


@contextmanager
def _reporting_bad_input() -> Iterator[None]:
    try:
        yield
    except (CardError, _BadInputError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(BAD_INPUT) from None


def _read(path: Path) -> bytes:
    try:
        if not path.is_file():
            raise _BadInputError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
        size = path.stat().st_size
        if size > _MAX_FILE_BYTES:
            raise _BadInputError(f"{path}: {size} bytes is too large for a card file")
        return path.read_bytes()
    except OSError as error:
        raise _BadInputError(f"{path}: {error.strerror or error}") from None


def _warn(messages: list[str]) -> None:
    for message in messages:
        typer.echo(f"warning: {message}", err=True)
