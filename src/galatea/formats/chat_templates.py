"""Model chat templates: the Jinja template from a GGUF file's metadata, rendered in a sandbox.

A chat template ships inside a model file, which may come from anywhere, so it is rendered
with jinja2's `ImmutableSandboxedEnvironment` (no attribute tricks, no mutation of the data
passed in), with bounded `range`, a size limit on the template and on its output. Message
text from users is passed as data and never compiled as a template. This implements
`galatea.core.prompting.ChatTemplateRenderer` for the `gguf` instruct template.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from galatea.core.errors import TemplateError
from galatea.core.prompting import ChatMessage

_SENTINEL = "\x00galatea-reply\x00"


@dataclass(slots=True, frozen=True)
class ChatTemplateLimits:
    """Bounds on a model's chat template and on what it renders."""

    max_template_chars: int = 64 * 1024
    max_output_chars: int = 8 * 1024 * 1024
    max_range: int = 10_000
    """Longest `range(...)` the template may build."""


class JinjaChatTemplate:
    """A model's own chat template, compiled once and rendered in jinja2's immutable sandbox."""

    def __init__(
        self,
        source: str,
        *,
        bos_token: str = "",
        eos_token: str = "",
        limits: ChatTemplateLimits | None = None,
    ) -> None:
        self.limits = limits or ChatTemplateLimits()
        if len(source) > self.limits.max_template_chars:
            raise TemplateError(
                f"the model's chat template is {len(source)} characters; "
                f"the limit is {self.limits.max_template_chars}"
            )
        self.bos_token = bos_token
        """Written where the template says `bos_token`; leave empty when the engine adds BOS."""
        self.eos_token = eos_token
        environment = ImmutableSandboxedEnvironment(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.loopcontrols"],
        )
        environment.globals["range"] = self._range
        environment.globals["raise_exception"] = _raise
        environment.globals["strftime_now"] = _strftime_now
        environment.filters["tojson"] = _tojson
        try:
            self._template = environment.from_string(source)
        except (jinja2.TemplateError, RecursionError) as exc:
            raise TemplateError(f"the model's chat template does not compile: {exc}") from None
        self._stops: tuple[str, ...] | None = None

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool) -> str:
        """The prompt for `messages`; TemplateError (one line) when the template fails."""
        context: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
        }
        pieces: list[str] = []
        size = 0
        try:
            for piece in self._template.generate(context):
                size += len(piece)
                if size > self.limits.max_output_chars:
                    raise TemplateError(
                        f"the model's chat template wrote more than "
                        f"{self.limits.max_output_chars} characters"
                    )
                pieces.append(piece)
        except TemplateError:
            raise
        except (jinja2.TemplateError, RecursionError, TypeError, ValueError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TemplateError(f"the model's chat template failed: {message}") from None
        return "".join(pieces)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """The end-of-sequence token and the marker the template writes after a reply."""
        if self._stops is None:
            found = [self.eos_token, self._end_of_turn()]
            self._stops = tuple(dict.fromkeys(s for s in found if s.strip()))
        return self._stops

    def _end_of_turn(self) -> str:
        """What the template writes right after an assistant message, up to a line break."""
        try:
            text = self.render(
                [ChatMessage("user", "hello"), ChatMessage("assistant", _SENTINEL)],
                add_generation_prompt=False,
            )
        except TemplateError:
            return ""
        after = text.split(_SENTINEL, 1)[1] if _SENTINEL in text else ""
        return after.strip().split("\n", 1)[0].strip()

    def _range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > self.limits.max_range:
            raise TemplateError(
                f"the model's chat template asked for a range of {len(result)} items"
            )
        return result


def _raise(message: str) -> NoReturn:
    raise jinja2.TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)
