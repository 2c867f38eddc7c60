"""Prompt assembly: instruct templates, macros, the story, rendering and `assemble_prompt`."""

from galatea.core.prompting.assembly import (
    AssemblyOptions,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
)
from galatea.core.prompting.macros import MacroContext, expand_macros
from galatea.core.prompting.prompts import AssembledPrompt, PromptSection
from galatea.core.prompting.rendering import ChatMessage, ChatTemplateRenderer
from galatea.core.prompting.templates import InstructTemplate, get_template, list_templates

__all__ = [
    "AssembledPrompt",
    "AssemblyOptions",
    "ChatMessage",
    "ChatTemplateRenderer",
    "InstructTemplate",
    "MacroContext",
    "PromptEnvironment",
    "PromptRequest",
    "PromptSection",
    "assemble_prompt",
    "expand_macros",
    "get_template",
    "list_templates",
]
