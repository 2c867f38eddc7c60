"""Typed handles over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

`NativeModel` owns the weights and vocabulary, `NativeContext` one inference context with its
KV memory, `TokenBatch` a reusable `llama_batch`. Nothing here decides anything: the engine's
policies live in the neighbouring modules. Every handle is freed explicitly with `close()`.
"""

import ctypes
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp.llama_cpp as C

from galatea.inference.errors import BackendUnavailable

logger = logging.getLogger(__name__)

_init_lock = threading.Lock()
_log_callback: Any = None
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}
"""ggml log levels (1 debug, 2 info, 3 warn, 4 error, 5 continued) -> Python levels."""
_last_level = logging.DEBUG


def _route_log(level: int, text: bytes | None, _user_data: object) -> None:
    global _last_level
    python_level = _last_level if level == 5 else _LOG_LEVELS.get(level, logging.DEBUG)
    _last_level = python_level
    if text and logger.isEnabledFor(python_level):
        logger.log(python_level, "%s", text.decode(errors="replace").rstrip())


def ensure_backend() -> None:
    """Initialise llama.cpp once per process and send its log to Python logging."""
    global _log_callback
    with _init_lock:
        if _log_callback is not None:
            return
        # llama.cpp prints to stderr by default; the callback object must outlive every call.
        _log_callback = C.llama_log_callback(_route_log)
        C.llama_log_set(_log_callback, ctypes.c_void_p(0))
        C.llama_backend_init()


class NativeModel:
    """Loaded GGUF weights and vocabulary."""

    def __init__(self, path: Path, *, vocab_only: bool = False) -> None:
        ensure_backend()
        params = C.llama_model_default_params()
        params.vocab_only = vocab_only
        handle = C.llama_model_load_from_file(str(path).encode(), params)
        if not handle:
            raise BackendUnavailable(f"llama.cpp could not load the model file {path}")
        self.path = path
        self.handle: Any = handle
        self.vocab: Any = C.llama_model_get_vocab(handle)
        self.n_vocab: int = C.llama_vocab_n_tokens(self.vocab)
        self._piece_cache: dict[int, bytes] = {}

    def close(self) -> None:
        """Free the weights."""
        if self.handle:
            C.llama_model_free(self.handle)
            self.handle = None

    @property
    def context_train(self) -> int:
        """Context length the model was trained with."""
        return int(C.llama_model_n_ctx_train(self.handle))

    @property
    def file_type(self) -> int:
        """The llama_ftype of the weights (quantisation)."""
        return int(C.llama_model_ftype(self.handle))

    @property
    def can_add_bos(self) -> bool:
        """Whether the vocabulary wants a BOS token in front of prompts."""
        return bool(C.llama_vocab_get_add_bos(self.vocab))

    @property
    def bos(self) -> int:
        """The beginning-of-sequence token id."""
        return int(C.llama_vocab_bos(self.vocab))

    @property
    def eos(self) -> int:
        """The end-of-sequence token id."""
        return int(C.llama_vocab_eos(self.vocab))

    def metadata(self) -> dict[str, str]:
        """GGUF metadata as strings, without the vocabulary arrays."""
        values: dict[str, str] = {}
        for index in range(C.llama_model_meta_count(self.handle)):
            key = _read_string(
                lambda b, n, i=index: C.llama_model_meta_key_by_index(self.handle, i, b, n)
            )
            if key.startswith("tokenizer.ggml.") and key.endswith(
                ("tokens", "scores", "token_type", "merges")
            ):
                continue
            values[key] = _read_string(
                lambda b, n, i=index: C.llama_model_meta_val_str_by_index(self.handle, i, b, n)
            )
        return values

    def chat_template(self) -> str | None:
        """The default Jinja chat template stored in the GGUF, if any."""
        raw = C.llama_model_chat_template(self.handle, None)
        return raw.decode(errors="replace") if raw else None

    def tokenize(
        self, text: str, *, add_special: bool = False, parse_special: bool = True
    ) -> list[int]:
        """Token ids of `text`; special tokens written as text are parsed by default."""
        data = text.encode()
        capacity = len(data) + 8
        buffer = (C.llama_token * capacity)()
        count = C.llama_tokenize(
            self.vocab, data, len(data), buffer, capacity, add_special, parse_special
        )
        if count < 0:
            capacity = -count
            buffer = (C.llama_token * capacity)()
            count = C.llama_tokenize(
                self.vocab, data, len(data), buffer, capacity, add_special, parse_special
            )
        return list(buffer[:count])

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens as their text, so a stop
        string such as "<|im_start|>" catches them)."""
        cached = self._piece_cache.get(token)
        if cached is not None:
            return cached
        buffer = ctypes.create_string_buffer(64)
        length = C.llama_token_to_piece(self.vocab, token, buffer, 64, 0, True)
        if length < 0:
            buffer = ctypes.create_string_buffer(-length)
            length = C.llama_token_to_piece(self.vocab, token, buffer, -length, 0, True)
        value = buffer.raw[:length]
        self._piece_cache[token] = value
        return value

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of token ids, special tokens written out."""
        if not tokens:
            return ""
        array = (C.llama_token * len(tokens))(*tokens)
        capacity = len(tokens) * 8 + 16
        buffer = ctypes.create_string_buffer(capacity)
        length = C.llama_detokenize(self.vocab, array, len(tokens), buffer, capacity, False, True)
        if length < 0:
            capacity = -length
            buffer = ctypes.create_string_buffer(capacity)
            length = C.llama_detokenize(
                self.vocab, array, len(tokens), buffer, capacity, False, True
            )
        return buffer.raw[:length].decode(errors="replace")

    def token_text(self, token: int) -> str:
        """The vocabulary's text of a token (as stored, for special tokens too)."""
        raw = C.llama_vocab_get_text(self.vocab, token)
        return raw.decode(errors="replace") if raw else ""

    def is_end(self, token: int) -> bool:
        """Whether the token ends generation (EOS, EOT and similar)."""
        return bool(C.llama_vocab_is_eog(self.vocab, token))


def _read_string(call: Any) -> str:
    size = 256
    while True:
        buffer = ctypes.create_string_buffer(size)
        needed = int(call(buffer, size))
        if needed < size:
            return buffer.value.decode(errors="replace")
        size = needed + 1


class TokenBatch:
    """A reusable `llama_batch` of up to `capacity` tokens, each in one sequence."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw: Any = C.llama_batch_init(capacity, 0, 1)
        self.size = 0

    def clear(self) -> None:
        """Empty the batch."""
        self.size = 0

    def add(self, token: int, position: int, sequence: int, *, output: bool) -> int:
        """Append a token; returns its index (the output index when `output`)."""
        index = self.size
        raw = self.raw
        raw.token[index] = token
        raw.pos[index] = position
        raw.n_seq_id[index] = 1
        raw.seq_id[index][0] = sequence
        raw.logits[index] = output
        self.size += 1
        return index

    @property
    def free(self) -> int:
        """Room left in the batch."""
        return self.capacity - self.size

    def close(self) -> None:
        """Free the batch arrays."""
        if self.raw is not None:
            C.llama_batch_free(self.raw)
            self.raw = None


class NativeContext:
    """One llama.cpp context: KV memory split into one stream per sequence."""

    def __init__(
        self,
        model: NativeModel,
        *,
        sequences: int,
        context_per_sequence: int,
        batch_size: int,
        threads: int,
    ) -> None:
        params = C.llama_context_default_params()
        params.n_ctx = context_per_sequence * sequences
        params.n_batch = batch_size
        params.n_ubatch = batch_size
        params.n_seq_max = sequences
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        # One KV stream per sequence: attention reads only that sequence's cells, instead of
        # every cached conversation's (the unified buffer costs ~8x at 8 long chats).
        params.kv_unified = False
        handle = C.llama_init_from_model(model.handle, params)
        if not handle:
            raise BackendUnavailable("llama.cpp could not create an inference context")
        self.handle: Any = handle
        self.memory: Any = C.llama_get_memory(handle)
        self.sequences = sequences
        self.context_per_sequence = int(C.llama_n_ctx_seq(handle))
        self.n_vocab = model.n_vocab

    def close(self) -> None:
        """Free the context and its KV memory."""
        if self.handle:
            C.llama_free(self.handle)
            self.handle = None

    @property
    def can_shift(self) -> bool:
        """Whether KV positions can be moved (RoPE re-applied) for context shifting."""
        return bool(C.llama_memory_can_shift(self.memory))

    def decode(self, batch: TokenBatch) -> int:
        """Evaluate a batch; 0 on success, 1 when no KV room, negative on error."""
        batch.raw.n_tokens = batch.size
        return int(C.llama_decode(self.handle, batch.raw))

    def logits(self, index: int) -> Any:
        """The (writable) logits of output `index` of the last decode."""
        return C.llama_get_logits_ith(self.handle, index)

    def remove(self, sequence: int, start: int = -1, end: int = -1) -> bool:
        """Drop the sequence's KV in positions [start, end); -1 means open-ended."""
        return bool(C.llama_memory_seq_rm(self.memory, sequence, start, end))

    def shift(self, sequence: int, start: int, end: int, delta: int) -> None:
        """Move positions [start, end) of a sequence by `delta` (RoPE re-applied lazily)."""
        C.llama_memory_seq_add(self.memory, sequence, start, end, delta)

    def copy(self, source: int, target: int) -> None:
        """Replace `target`'s KV with a copy of `source`'s whole sequence."""
        C.llama_memory_seq_rm(self.memory, target, -1, -1)
        C.llama_memory_seq_cp(self.memory, source, target, -1, -1)

    def last_position(self, sequence: int) -> int:
        """Highest position held for the sequence, -1 when empty."""
        return int(C.llama_memory_seq_pos_max(self.memory, sequence))

    def save(self, sequence: int) -> bytes:
        """The sequence's KV state as bytes."""
        size = C.llama_state_seq_get_size(self.handle, sequence)
        buffer = (ctypes.c_uint8 * size)()
        written = C.llama_state_seq_get_data(self.handle, buffer, size, sequence)
        return bytes(buffer)[:written]

    def restore(self, state: bytes, sequence: int) -> bool:
        """Load a saved KV state into a sequence (replacing its content); False on failure."""
        self.remove(sequence)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        read = C.llama_state_seq_set_data(self.handle, buffer, len(state), sequence)
        return bool(read)
