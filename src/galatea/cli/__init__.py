"""The terminal front end: Typer commands that parse, call one service and present."""
