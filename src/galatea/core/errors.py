"""Errors of the domain.

DomainError
 ├── PromptTooLarge     the permanent parts of a prompt do not fit the context
 └── TemplateError      an unknown template name or a template that cannot render
"""


class DomainError(Exception):
    """Base of every error the core raises on purpose."""


class PromptTooLarge(DomainError):
    """The permanent parts of the prompt (system, character, persona, reply reserve) overflow."""

    def __init__(
        self,
        needed: int,
        available: int,
        *,
        part: str = "the character definition",
        reserved: int = 0,
    ) -> None:
        self.needed = needed
        self.available = available
        self.part = part
        after = f" after the {reserved} kept for the reply" if reserved else ""
        super().__init__(
            f"{part} needs {needed} tokens but the context has room for "
            f"{available}{after}: {needed - available} tokens too many"
        )


class TemplateError(DomainError):
    """An instruct template is unknown or cannot render."""
