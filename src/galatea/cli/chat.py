"""`galatea chat CARD`: talk with a character in the terminal, replies streamed as they come."""

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from galatea.bootstrap import open_engine
from galatea.config import Settings
from galatea.core.characters import Character
from galatea.core.errors import DomainError
from galatea.core.personas import Persona
from galatea.formats.cards import CardError
from galatea.formats.samples import load_sample_character
from galatea.formats.sillytavern_chats import write_chat_jsonl
from galatea.inference.backend import TextBackend
from galatea.services.cards import import_card
from galatea.services.chat_session import ChatSession, SessionError
from galatea.services.generation import GenerationSettings

HELP = """commands:
  /regen          a new reply (a new swipe; earlier ones are kept)
  /swipe N        show swipe N of the last message
  /continue       make the last reply longer
  /edit TEXT      replace the text of the last message
  /undo           remove the last message
  /prompt         show the last prompt exactly as the model saw it
  /save FILE      save the chat as SillyTavern JSONL
  /help           this list
  /quit           leave (also Ctrl-D)"""


def chat(
    card: Annotated[
        Path | None, typer.Argument(help="A character card (PNG, JSON, CharX); default: Wren.")
    ] = None,
    persona: Annotated[str, typer.Option(help="Your name in the story.")] = "User",
    persona_description: Annotated[
        str, typer.Option("--persona-description", help="Who you are, for the character.")
    ] = "",
    template: Annotated[
        str | None, typer.Option(help="Instruct template; default: the model's own.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="A GGUF path or a package shipping one; default: bundled.")
    ] = None,
    max_reply: Annotated[int, typer.Option(help="Longest reply, in tokens.")] = 200,
) -> None:
    """Chat with a character in the terminal on the embedded engine."""
    try:
        character = _load_character(card)
    except (OSError, CardError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = GenerationSettings(template=template, max_reply_tokens=max_reply)
    backend = open_engine(Settings(), model)
    session = ChatSession(
        character,
        backend,
        persona=Persona(persona, persona_description),
        settings=settings,
    )
    try:
        asyncio.run(_loop(session, backend))
    except KeyboardInterrupt:
        typer.echo()


def _load_character(card: Path | None) -> Character:
    if card is None:
        return load_sample_character()
    return import_card(card.read_bytes(), card.name).character


async def _loop(session: ChatSession, backend: TextBackend) -> None:
    try:
        name = session.character.display_name
        typer.echo(f"Chatting with {name}. /help lists the commands.\n")
        for message in session.path():
            typer.echo(f"{name}: {message.text}\n")
        while True:
            try:
                line = await asyncio.to_thread(input, f"{session.persona.name}> ")
            except EOFError:
                typer.echo()
                return
            if not line.strip():
                continue
            if not await _handle(session, line):
                return
    finally:
        await backend.aclose()


async def _handle(session: ChatSession, line: str) -> bool:
    """Run one line of input; False ends the chat."""
    command, _, argument = line.strip().partition(" ")
    try:
        if not line.startswith("/"):
            await _stream(session, session.send(line))
        elif command in ("/quit", "/exit"):
            return False
        elif command == "/regen":
            await _stream(session, session.regenerate())
        elif command == "/continue":
            await _stream(session, session.continue_reply(), prefix=False)
        elif command == "/swipe":
            message = session.swipe(int(argument))
            _show_swipe(session, message.text)
        elif command == "/edit":
            session.edit_last(argument)
            typer.echo("(edited)")
        elif command == "/undo":
            removed = session.undo()
            typer.echo(f"(removed: {removed.text[:60]!r})")
        elif command == "/prompt":
            _show_prompt(session)
        elif command == "/save":
            await asyncio.to_thread(
                Path(argument).write_bytes, write_chat_jsonl(session.transcript())
            )
            typer.echo(f"(saved to {argument})")
        elif command == "/help":
            typer.echo(HELP)
        else:
            typer.echo(f"unknown command {command}; /help lists them")
    except (SessionError, DomainError, OSError) as exc:
        typer.echo(f"error: {exc}")
    except ValueError:
        typer.echo(f"error: {command} needs a number")
    return True


async def _stream(session: ChatSession, pieces: object, *, prefix: bool = True) -> None:
    name = session.character.display_name
    if prefix:
        sys.stdout.write(f"{name}: ")
    async for piece in pieces:  # type: ignore[attr-defined]
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    outcome = session.last_outcome
    if outcome is not None and outcome.error:
        typer.echo(f"(the reply failed: {outcome.error})")
    number, total = session.swipe_position()
    if total > 1:
        typer.echo(f"(swipe {number}/{total})")
    typer.echo()


def _show_swipe(session: ChatSession, text: str) -> None:
    number, total = session.swipe_position()
    typer.echo(f"{session.character.display_name}: {text}\n(swipe {number}/{total})\n")


def _show_prompt(session: ChatSession) -> None:
    prompt = session.last_prompt
    if prompt is None:
        typer.echo("(no prompt yet: send a message first)")
        return
    typer.echo(prompt.text)
    counts = ", ".join(f"{label} {tokens}" for label, tokens in prompt.tokens_by_label().items())
    typer.echo(f"\n({prompt.template}; {prompt.total_tokens} tokens: {counts})")
