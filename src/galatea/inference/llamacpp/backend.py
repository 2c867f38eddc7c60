"""`LlamaCppBackend`: the embedded engine behind the `TextBackend` protocol.

`LlamaCppBackend.open(config)` locates the model, re-packs it once if that pays (see
`repack`), loads it and starts the engine thread. `stream()` tokenizes the prompt, hands a job
to the thread and relays its events through an asyncio queue; cancelling the consumer (or
closing the iterator) flags the job, and the engine drops it at its next decode step.
"""

import asyncio
import atexit
import itertools
import logging
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from galatea.inference.backend import (
    Capabilities,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
)
from galatea.inference.errors import BackendUnavailable, InferenceError, RequestRejected
from galatea.inference.llamacpp.config import LlamaCppConfig
from galatea.inference.llamacpp.delivery import Mailbox
from galatea.inference.llamacpp.guard import OutputGuard
from galatea.inference.llamacpp.jobs import EngineStats, Job
from galatea.inference.llamacpp.native import NativeContext, NativeModel
from galatea.inference.llamacpp.repack import RepackVerdict, prepare_weights
from galatea.inference.llamacpp.sampling import HONOURED_SAMPLERS, plan_samplers, validate_bias
from galatea.inference.llamacpp.streams import ReusePolicy, SnapshotStore, StreamTable
from galatea.inference.llamacpp.worker import EngineWorker
from galatea.inference.models import locate_model

logger = logging.getLogger(__name__)

T = TypeVar("T")


def run_in_own_thread(function: Callable[[], T]) -> T:
    """Run llama.cpp work (re-packing, perplexity) in a thread of its own that then ends.

    llama.cpp computes with OpenMP, which keeps a thread team per calling thread for as long as
    that thread lives. With a second live team the OpenMP threads outnumber the cores of a
    small machine and its barriers stop spinning: measured here, decoding in the engine thread
    dropped from ~200 to ~160 tok/s once the caller's thread had run a model. So only the
    engine thread keeps a team.
    """
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(function())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, name="galatea-llamacpp-setup")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


class LlamaCppTokenizer:
    """The loaded model's own tokenizer."""

    def __init__(self, model: NativeModel) -> None:
        self._model = model
        self.closed = False

    def _live(self) -> NativeModel:
        if self.closed:
            raise BackendUnavailable("the llama.cpp engine was closed")
        return self._model

    def encode_now(self, text: str) -> list[int]:
        """Synchronous `encode`."""
        return self._live().tokenize(text)

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text` (special tokens written as text are parsed, no BOS added)."""
        return self.encode_now(text)

    async def decode(self, tokens: Sequence[int]) -> str:
        """Text of token ids (special tokens written out)."""
        return self._live().detokenize(tokens)

    async def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return len(self.encode_now(text))


class LlamaCppBackend:
    """Many chats on one CPU model: continuous batching, per-chat KV reuse, native samplers."""

    def __init__(self, model: NativeModel, worker: EngineWorker, config: LlamaCppConfig) -> None:
        self._model = model
        self._worker = worker
        self._config = config
        self._tokenizer = LlamaCppTokenizer(model)
        self._order = itertools.count()
        self._mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Mailbox] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        self.weights_verdict: RepackVerdict | None = None
        """The re-pack decision for the loaded weights, when one applied."""
        self._info = self._read_info(model, worker.context.context_per_sequence)

    @classmethod
    def open(cls, config: LlamaCppConfig) -> "LlamaCppBackend":
        """Load the model and start the engine thread (blocking: seconds on first use)."""
        source = locate_model(config.model)
        weights = run_in_own_thread(
            lambda: prepare_weights(source, config.cache_dir, config.repack, threads=config.threads)
        )
        model = NativeModel(weights.path)
        try:
            context = NativeContext(
                model,
                sequences=config.max_sequences,
                context_per_sequence=config.context_length,
                batch_size=config.batch_size,
                threads=config.threads,
            )
        except BaseException:
            model.close()
            raise
        policy = ReusePolicy(
            allow_shift=config.context_shift and context.can_shift,
            keep_first=config.keep_first,
            min_chunk=config.min_shift_chunk,
        )
        table = StreamTable(config.max_sequences, SnapshotStore(config.kv_cache_bytes), policy)
        worker = EngineWorker(model, context, table, config)
        backend = cls(model, worker, config)
        backend.weights_verdict = weights.verdict
        worker.start()
        atexit.register(backend.close)
        logger.info("llama.cpp engine ready: %s (%s)", weights.path.name, backend._info.name)
        return backend

    @staticmethod
    def _read_info(model: NativeModel, context_length: int) -> ModelInfo:
        metadata = model.metadata()
        name = metadata.get("general.name") or model.path.stem
        return ModelInfo(
            name=name,
            context_length=context_length,
            chat_template=model.chat_template(),
            bos_token=model.token_text(model.bos) if model.bos >= 0 else "",
            eos_token=model.token_text(model.eos) if model.eos >= 0 else "",
        )

    @property
    def tokenizer(self) -> LlamaCppTokenizer:
        """The model's tokenizer."""
        return self._tokenizer

    @property
    def capabilities(self) -> Capabilities:
        """Every sampler, token prompts, prefix cache and banned strings."""
        return Capabilities(
            samplers=HONOURED_SAMPLERS,
            token_prompts=True,
            prefix_cache=True,
            banned_strings=True,
            max_context=self._info.context_length,
        )

    @property
    def stats(self) -> EngineStats:
        """Counters of the engine's work so far."""
        return self._worker.stats

    @property
    def weights(self) -> Path:
        """The GGUF file actually loaded (the re-packed one when re-packing applied)."""
        return self._model.path

    async def model_info(self) -> ModelInfo:
        """Name, per-sequence context length, chat template and special tokens from the GGUF."""
        return self._info

    def metadata(self) -> dict[str, str]:
        """All GGUF metadata as strings (without the vocabulary arrays)."""
        return self._model.metadata()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Generate; yields text deltas, then one `Finished`."""
        submitted = time.perf_counter()
        if self._closed:
            yield Finished("error", error=BackendUnavailable("the llama.cpp engine was closed"))
            return
        try:
            job, events = self._make_job(request, submitted)
        except InferenceError as error:
            yield Finished("error", error=error)
            return
        self._worker.submit(job)
        finished = False
        try:
            while True:
                event = await events.get()
                yield event
                if isinstance(event, Finished):
                    finished = True
                    return
        finally:
            if not finished:
                self._worker.cancel(job)

    def _make_job(
        self, request: GenerationRequest, submitted: float
    ) -> tuple[Job, "asyncio.Queue[GenerationEvent]"]:
        model = self._model
        if isinstance(request.prompt, str):
            prompt = model.tokenize(request.prompt, add_special=True)
        else:
            prompt = list(request.prompt)
            if any(not 0 <= token < model.n_vocab for token in prompt):
                raise RequestRejected("the prompt holds token ids outside the vocabulary")
        if not prompt:
            raise RequestRejected("the prompt is empty")
        room = self._info.context_length
        if len(prompt) >= room:
            raise RequestRejected(
                f"the prompt has {len(prompt)} tokens but the context holds {room}: "
                f"{len(prompt) - room + 1} too many"
            )
        if request.max_tokens < 1:
            raise RequestRejected("max_tokens must be at least 1")
        validate_bias(request.sampling.logit_bias, model.n_vocab)
        seed = request.seed if request.seed is not None else random.getrandbits(32)
        seed %= 2**32
        steps = plan_samplers(request.sampling, seed=seed, context_length=room)
        loop = asyncio.get_running_loop()
        mailbox = self._mailboxes.get(loop)
        if mailbox is None:
            mailbox = self._mailboxes[loop] = Mailbox(loop)
        events: asyncio.Queue[GenerationEvent] = asyncio.Queue()

        def emit(event: GenerationEvent) -> None:
            mailbox.put(events, event)

        job = Job(
            request=request,
            prompt=prompt,
            emit=emit,
            flush=mailbox.flush,
            seed=seed,
            order=next(self._order),
            submitted=submitted,
            steps=tuple(steps),
            guard=OutputGuard(request.stop, request.banned_strings),
        )
        return job, events

    def close(self, timeout: float = 30.0) -> None:
        """Stop the engine thread and free the model (blocking)."""
        if self._closed:
            return
        self._closed = True
        self._tokenizer.closed = True
        atexit.unregister(self.close)
        if not self._worker.stop(timeout):
            logger.warning("the llama.cpp engine thread did not stop within %s s", timeout)

    async def aclose(self) -> None:
        """Stop the engine; running streams end with BackendUnavailable, later ones too."""
        await asyncio.to_thread(self.close)
