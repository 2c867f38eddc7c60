"""The embedded engine: llama.cpp in-process, many chats batched on one CPU model."""

from galatea.inference.llamacpp.backend import LlamaCppBackend, LlamaCppTokenizer
from galatea.inference.llamacpp.config import LlamaCppConfig

__all__ = ["LlamaCppBackend", "LlamaCppConfig", "LlamaCppTokenizer"]
