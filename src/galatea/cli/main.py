"""The `galatea` command: one Typer app with a sub-command group per area."""

import typer

from galatea.cli import admin, bench, cards, chat, db, prompts, serve

app = typer.Typer(
    name="galatea",
    help="Galatea: character roleplay chat on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(bench.app, name="bench")
app.add_typer(cards.app, name="card")
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(prompts.app, name="prompt")
app.command("serve")(serve.serve)
app.command("chat")(chat.chat)


def main() -> None:
    """Entry point of the `galatea` script."""
    app()
