"""A model's vocabulary without its weights: token counting and the GGUF chat template.

Loading with `vocab_only` takes a fraction of a second and little memory, so prompt tools
(`galatea prompt render`, budgets computed outside the engine) can count tokens exactly as
the engine will. Counting is synchronous: prompt assembly is pure and calls `count` directly.
"""

from pathlib import Path

from galatea.inference.llamacpp.native import NativeModel
from galatea.inference.models import locate_model


class ModelVocabulary:
    """A GGUF model's tokenizer, special tokens and chat template (llama.cpp, no weights)."""

    def __init__(self, model: NativeModel) -> None:
        self._model = model

    @classmethod
    def open(cls, spec: str | Path) -> "ModelVocabulary":
        """Load the vocabulary of the model named by a path or an installed package name."""
        return cls(NativeModel(locate_model(str(spec)), vocab_only=True))

    def count(self, text: str) -> int:
        """Number of tokens in `text` (special tokens written as text count as one, no BOS)."""
        return len(self._model.tokenize(text)) if text else 0

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, special tokens parsed, no BOS."""
        return self._model.tokenize(text)

    @property
    def chat_template(self) -> str | None:
        """The Jinja chat template from the GGUF metadata, if the model has one."""
        return self._model.chat_template()

    @property
    def bos_token(self) -> str:
        """The text of the beginning-of-sequence token."""
        return self._model.token_text(self._model.bos)

    @property
    def eos_token(self) -> str:
        """The text of the end-of-sequence token."""
        return self._model.token_text(self._model.eos)

    @property
    def adds_bos(self) -> bool:
        """Whether the engine puts a BOS token in front of every prompt itself."""
        return self._model.can_add_bos

    def close(self) -> None:
        """Free the vocabulary."""
        self._model.close()
