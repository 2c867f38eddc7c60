"""The engine thread: owns the llama.cpp context and runs continuous batching.

Each step it takes new requests from its inbox, drops cancelled ones, admits waiting ones into
free KV streams (reusing cached prefixes), and makes one `llama_decode` call holding one token
for every generating sequence plus a chunk of prompt for those still in prefill. No lock is held
while decoding: the asyncio side only puts jobs in the inbox and flips `cancelled` flags.
"""

import logging
import math
import queue
import threading
import time
from typing import Final

from galatea.inference.backend import FinishReason
from galatea.inference.errors import BackendUnavailable, InferenceError, RequestRejected
from galatea.inference.llamacpp.config import LlamaCppConfig
from galatea.inference.llamacpp.jobs import EngineStats, Job
from galatea.inference.llamacpp.native import NativeContext, NativeModel, TokenBatch
from galatea.inference.llamacpp.sampling import SamplerChain
from galatea.inference.llamacpp.streams import (
    Clear,
    Copy,
    Operation,
    Restore,
    Save,
    Snapshot,
    StreamTable,
    Trim,
)

logger = logging.getLogger(__name__)

_WAKE: Final = object()
_STOP: Final = object()


class EngineWorker:
    """Runs generations on one context in a dedicated thread."""

    def __init__(
        self,
        model: NativeModel,
        context: NativeContext,
        table: StreamTable,
        config: LlamaCppConfig,
    ) -> None:
        self.model = model
        self.context = context
        self.table = table
        self.config = config
        self.stats = EngineStats()
        self._batch = TokenBatch(config.batch_size)
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._waiting: list[Job] = []
        self._active: dict[int, Job] = {}
        self._ended: list[Job] = []
        """Jobs that ended since the last delivery of events."""
        self._thread = threading.Thread(target=self._run, name="galatea-llamacpp", daemon=True)

    def start(self) -> None:
        """Start the engine thread."""
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a generation (thread-safe)."""
        self._inbox.put(job)

    def cancel(self, job: Job) -> None:
        """Stop a generation at the next step (thread-safe)."""
        job.cancelled_at_step = self.stats.steps
        job.cancelled = True
        self._inbox.put(_WAKE)

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to finish; returns whether it ended within `timeout` seconds."""
        self._inbox.put(_STOP)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the engine thread is alive."""
        return self._thread.is_alive()

    # The loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._receive():
                try:
                    self._drop_cancelled()
                    self._admit()
                    if self._active:
                        self._step()
                except Exception as exc:  # a bug must not kill the engine for everyone
                    logger.exception("llama.cpp engine step failed")
                    self._fail_active(InferenceError(f"the engine failed: {exc}"))
                self._deliver()
        finally:
            closed = BackendUnavailable("the llama.cpp engine was closed")
            for job in [*self._waiting, *self._active.values()]:
                job.finish("error", error=BackendUnavailable(closed.message))
                self._ended.append(job)
            self._deliver()
            self._waiting.clear()
            self._active.clear()
            self._batch.close()
            self.context.close()
            self.model.close()

    def _deliver(self) -> None:
        """Hand this step's events over: one wake-up per consumer loop."""
        flushes = {job.flush for job in [*self._active.values(), *self._ended]}
        self._ended.clear()
        for flush in flushes:
            flush()

    def _receive(self) -> bool:
        """Take everything in the inbox, blocking while there is nothing to do."""
        block = not self._active and not self._waiting
        while True:
            try:
                item = self._inbox.get(block=block)
            except queue.Empty:
                return True
            block = False
            if item is _STOP:
                return False
            if isinstance(item, Job):
                self._waiting.append(item)

    def _drop_cancelled(self) -> None:
        self._waiting = [job for job in self._waiting if not job.cancelled]
        for job in [job for job in self._active.values() if job.cancelled]:
            waited = self.stats.steps - job.cancelled_at_step
            self.stats.slowest_cancel_steps = max(self.stats.slowest_cancel_steps, waited)
            self._end(job, "cancelled")

    # Admission -----------------------------------------------------------------------------

    def _admit(self) -> None:
        self._waiting.sort(key=lambda job: (-job.request.priority, job.order))
        while self._waiting and self.table.busy_count < len(self.table.streams):
            job = self._waiting.pop(0)
            try:
                # Before touching any stream: a bad grammar must not cost a chat its cache.
                job.chain = SamplerChain.build(
                    job.steps,
                    vocab=self.model.vocab,
                    n_vocab=self.model.n_vocab,
                    history=job.prompt,
                )
            except InferenceError as error:
                self._end(job, "error", error=error)
                continue
            admission = self.table.admit(job.request.cache_key, job.prompt)
            if admission is None:  # the free streams wait for a pending copy: next step
                job.chain.close()
                job.chain = None
                self._waiting.insert(0, job)
                return
            job.stream = admission.stream
            self._active[job.stream] = job
            job.phase = "prefill"
            job.reused = admission.reused if self._apply(admission.operations) else 0
            job.cursor = job.reused
            self.stats.prompt_tokens_reused += job.reused
            if job.reused:
                for operation in admission.operations:
                    if isinstance(operation, Trim):
                        self.stats.shifted_tokens += operation.plan.shifted

    def _apply(self, operations: tuple[Operation, ...]) -> bool:
        """Carry out stream operations; False when the KV had to be cleared instead."""
        context = self.context
        for operation in operations:
            match operation:
                case Save(stream=stream, key=key, tokens=tokens, exact=exact):
                    snapshot = Snapshot(list(tokens), context.save(stream), exact)
                    if self.table.store.put(key, snapshot):
                        self.stats.snapshots_saved += 1
                case Restore(snapshot=snapshot, stream=stream):
                    if not context.restore(snapshot.data, stream):
                        logger.warning("a saved KV snapshot could not be restored; re-evaluating")
                        context.remove(stream)
                        return False
                    self.stats.snapshots_restored += 1
                case Copy(source=source, target=target):
                    context.copy(source, target)
                    self.stats.stream_copies += 1
                case Trim(stream=stream, plan=plan):
                    for move in plan.moves:
                        context.remove(stream, move.drop_start, move.drop_end)
                        context.shift(stream, move.drop_end, move.chunk_end, move.delta)
                    if not context.remove(stream, plan.discard_from, -1):
                        context.remove(stream)
                        return False
                case Clear(stream=stream):
                    context.remove(stream)
        return True

    # One decode step -----------------------------------------------------------------------

    def _step(self) -> None:
        """One token for every generating sequence, then one prompt chunk for the oldest prefill.

        The two never share a decode call: llama.cpp's numerics depend on how a batch is cut
        into ubatches, so a prompt is always evaluated in the same `prefill_chunk` pieces, and
        a greedy reply is the same whether the request runs alone or beside others.
        """
        jobs = [self._active[stream] for stream in sorted(self._active)]
        decoding = [job for job in jobs if job.phase == "decode"]
        prefilling = sorted((job for job in jobs if job.phase == "prefill"), key=lambda j: j.order)
        self.stats.steps += 1
        if decoding:
            self._decode(decoding)
        if prefilling:
            self._prefill(prefilling[0])
        if not self._waiting:
            self._compact()

    def _decode(self, jobs: list[Job]) -> None:
        batch = self._batch
        batch.clear()
        # In stream order: llama.cpp batches consecutive streams into one ubatch.
        outputs = [
            (job, batch.add(job.next_token, job.n_past, job.stream, output=True)) for job in jobs
        ]
        status = self.context.decode(batch)
        self.table.decoded()
        if status != 0:
            self._fail_batch(status, jobs)
            return
        width = len(jobs)
        self.stats.widest_step = max(self.stats.widest_step, width)
        self.stats.steps_by_width[width] = self.stats.steps_by_width.get(width, 0) + 1
        for job, index in outputs:
            job.n_past += 1
            self._sample(job, index)

    def _prefill(self, job: Job) -> None:
        batch = self._batch
        batch.clear()
        end = min(len(job.prompt), job.cursor + self.config.prefill_chunk)
        last = len(job.prompt) - 1
        for position in range(job.cursor, end):
            batch.add(job.prompt[position], position, job.stream, output=position == last)
        status = self.context.decode(batch)
        self.table.decoded()
        if status != 0:
            self._fail_batch(status, [job])
            return
        self.stats.prompt_tokens_evaluated += end - job.cursor
        job.cursor = end
        if end == len(job.prompt):
            job.phase = "decode"
            job.n_past = len(job.prompt)
            self._sample(job, batch.size - 1)

    def _sample(self, job: Job, index: int) -> None:
        assert job.chain is not None
        banned = job.bans.get(len(job.generated))
        if banned:
            logits = self.context.logits(index)
            for token in banned:
                logits[token] = -math.inf
        token = job.chain.sample(self.context.handle, index)
        self.stats.generated_tokens += 1
        if job.first_token_at is None:
            job.first_token_at = time.perf_counter()
        if self.model.is_end(token):
            self._end(job, "stop")
            return
        step = job.guard.push(token, self.model.piece(token))
        if step.rewind_to is not None and step.banned_token is not None:
            if job.guard.rewinds > self.config.max_rewinds:
                job.send_text(job.guard.give_up())
                self._end(job, "stop", flush=False)
            else:
                self._rewind(job, step.rewind_to, step.banned_token)
            return
        job.send_text(step.text)
        if step.stop is not None:
            self._end(job, "stop", stop_string=step.stop, flush=False)
            return
        job.next_token = token
        full = job.n_past >= self.context.context_per_sequence
        if full or len(job.generated) >= job.request.max_tokens:
            self._end(job, "length")

    def _rewind(self, job: Job, index: int, banned: int) -> None:
        """Resample generated token `index` with `banned` forbidden there."""
        self.stats.rewinds += 1
        position = len(job.prompt) + index - 1
        self.context.remove(job.stream, position, -1)
        history = job.prompt + job.generated
        job.n_past = position
        job.next_token = history[position]
        job.bans = {i: tokens for i, tokens in job.bans.items() if i <= index}
        job.bans.setdefault(index, set()).add(banned)
        if job.chain is not None:
            job.chain.close()
        job.chain = SamplerChain.build(
            job.steps,
            vocab=self.model.vocab,
            n_vocab=self.model.n_vocab,
            history=history[: position + 1],
            generated=job.generated,
        )

    # Endings -------------------------------------------------------------------------------

    def _end(
        self,
        job: Job,
        reason: FinishReason,
        *,
        error: InferenceError | None = None,
        stop_string: str | None = None,
        flush: bool = True,
    ) -> None:
        if flush and reason in ("stop", "length"):
            job.send_text(job.guard.finish())
        if job.stream >= 0 and self._active.get(job.stream) is job:
            del self._active[job.stream]
            if error is None:
                self.table.finish(job.stream, job.kv_tokens())
            else:
                self.table.finish(job.stream, [])
                self.table.forget(job.stream)
                self.context.remove(job.stream)
        self.stats.finished[reason] = self.stats.finished.get(reason, 0) + 1
        job.finish(reason, error=error, stop_string=stop_string)
        self._ended.append(job)

    def _compact(self) -> None:
        while (relocation := self.table.compact()) is not None:
            self._apply(relocation.operations)
            job = self._active.pop(relocation.source)
            job.stream = relocation.target
            self._active[relocation.target] = job
            self.stats.relocations += 1

    def _fail_batch(self, status: int, jobs: list[Job]) -> None:
        if status == 1:
            error: InferenceError = RequestRejected(
                "no room left in the KV cache for this sequence"
            )
        else:
            error = InferenceError(f"llama_decode failed with status {status}")
        logger.error("decode failed (status %s) for %d sequences", status, len(jobs))
        for job in jobs:
            self._end(job, "error", error=InferenceError(error.message))

    def _fail_active(self, error: InferenceError) -> None:
        for job in list(self._active.values()):
            self._end(job, "error", error=InferenceError(error.message))
