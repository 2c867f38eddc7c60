"""Reply jobs: follow one scheduled generation to its end, relay it, and save what it wrote.

A reply job runs as a task of the chat service, not of the request that started it: a closed
tab does not stop it. Its events go to the chat's reply stream (`queued`, `started`, `token`),
and however it ends (finished, stopped, failed, the server shutting down) one place saves the
text: a finished reply as complete, any partial text as incomplete with the reason recorded,
then `saved`, `error` and `done` close the stream. A failed new version of a reply is kept as
a swipe but never replaces the version shown before.

While a reply runs, its text so far is written to the chat's draft every couple of seconds
(which also shows the reply is alive). The draft goes in the same transaction that saves the
reply. A draft that stops being refreshed belongs to a process that died mid-reply:
`save_interrupted` turns it into an incomplete message, as a clean shutdown would have.

Why a reply ended early is told in words a user can act on (`failure_message`): a backend's
own error text can hold internal addresses, credentials in URLs or pieces of the prompt, so it
is logged, never shown. Only refusals we wrote ourselves (a prompt that does not fit, an
unknown tier) pass their message through.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from galatea.core.chats import DraftKind, Message, MessageStatus, ReplyDraft
from galatea.core.json_types import JsonObject
from galatea.formats.sillytavern_fields import record_generation
from galatea.inference.backend import Finished, TextDelta
from galatea.inference.errors import (
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailable,
    InferenceError,
    RequestRejected,
    StreamInterrupted,
    StreamStalled,
)
from galatea.inference.scheduling import Job, Queued, QueueFull, QueueTimeout, Started
from galatea.services.chat_state import chat_persona
from galatea.services.chat_views import message_data, view_message
from galatea.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from galatea.services.reply_streams import ReplyStreamChannel, StreamEvent
from galatea.services.turn_prompts import SpeakerPrefix, TurnPlan

logger = logging.getLogger(__name__)

MAX_RUNS = 8
"""Prompt records kept per message (a message continued many times keeps its latest runs)."""
MAX_LORE_RECORDS = 200
MAX_MESSAGE = 300
"""Longest error message shown for a refusal we wrote ourselves."""
INTERRUPTED = "the server was shutting down, so the reply stopped; continue or regenerate it"
DRAFT_INTERVAL_S = 2.0
"""How often a running reply writes its text so far to its draft."""
STOP_WAIT_S = 5.0
"""How long a background writer may take to finish its write when asked to stop."""


@dataclass(slots=True)
class ReplyOutcome:
    """How a job ended, as saved and reported."""

    reason: str
    """stop, length, stopped (by the user), error or interrupted (server shutdown)."""
    text: str
    saved: JsonObject | None = None
    """The stored message as JSON data, when anything was stored."""
    error: str | None = None


@dataclass(slots=True)
class _Timing:
    submitted: float
    started: Started | None = None
    first_token: float | None = None


class ReplyJob:
    """Relays one job's events to its stream and saves its text when it ends."""

    def __init__(
        self,
        plan: TurnPlan,
        job: Job,
        stream: ReplyStreamChannel,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        shutting_down: "ShutdownFlag",
        draft_interval: float = DRAFT_INTERVAL_S,
    ) -> None:
        self.plan = plan
        self.job = job
        self.stream = stream
        self._uow = uow
        self._clock = clock
        self._shutdown = shutting_down
        self._timing = _Timing(submitted=time.perf_counter())
        self._draft_interval = draft_interval
        self._drafts: asyncio.Task[None] | None = None
        self._drafts_done = asyncio.Event()

    async def run(self) -> ReplyOutcome:
        """Follow the job to its end, then save and report; never raises for a failed reply."""
        pieces: list[str] = []
        shaper = None if self.plan.continues else SpeakerPrefix(self.plan.speaker)
        final: Finished | None = None
        try:
            async for event in self.job:
                if isinstance(event, Queued):
                    await self.stream.publish(StreamEvent("queued", {"position": event.position}))
                elif isinstance(event, Started):
                    self._timing.started = event
                    if self.plan.kind != "impersonate" and self._drafts is None:
                        self._drafts = asyncio.get_running_loop().create_task(
                            self._write_drafts(pieces), name=f"draft {self.plan.chat_id}"
                        )
                    target = self.plan.target
                    started = {
                        "kind": self.plan.kind,
                        "message_id": None if target is None else target.id,
                    }
                    await self.stream.publish(StreamEvent("started", started))
                elif isinstance(event, TextDelta):
                    shown = event.text if shaper is None else shaper.push(event.text)
                    if shown:
                        await self._token(shown, pieces)
                else:
                    final = event
            if shaper is not None:
                rest = shaper.flush()
                if rest:
                    await self._token(rest, pieces)
            await self._stop_drafts()
            outcome = await self._finish(final or Finished("error"), "".join(pieces))
        except Exception:
            # The draft stays: once stale, it is saved as an incomplete message.
            logger.exception("reply job for chat %s failed", self.plan.chat_id)
            outcome = ReplyOutcome("error", "".join(pieces), error="the reply could not be saved")
            await self._publish_end(outcome)
        finally:
            await self._stop_drafts()
            await self.stream.close()
        return outcome

    async def _write_drafts(self, pieces: list[str]) -> None:
        """Write the text so far to the chat's draft every `draft_interval` (a reply shorter
        than that never writes one)."""
        plan = self.plan
        kind = cast(DraftKind, plan.kind)  # never "impersonate": those keep no draft
        started = self._clock.now()
        while not await wait_for_event(self._drafts_done, self._draft_interval):
            draft = ReplyDraft(
                chat_id=plan.chat_id,
                kind=kind,
                name=plan.character.display_name,
                parent_id=plan.parent_id,
                target_id=plan.target.id if plan.continues and plan.target else None,
                text="".join(pieces),
                started_at=started,
                updated_at=self._clock.now(),
            )
            try:
                async with self._uow() as uow:
                    await uow.reply_drafts.save(draft)
                    await uow.commit()
            except Exception:
                # A missed draft costs only crash safety; the reply goes on.
                logger.warning("the draft of chat %s could not be written", plan.chat_id)

    async def _stop_drafts(self) -> None:
        """Stop writing drafts; a write under way finishes first (cut only if it hangs)."""
        task, self._drafts = self._drafts, None
        if task is not None:
            self._drafts_done.set()
            await finish_task(task, STOP_WAIT_S)

    async def _token(self, text: str, pieces: list[str]) -> None:
        if self._timing.first_token is None:
            self._timing.first_token = time.perf_counter()
        pieces.append(text)
        await self.stream.publish(StreamEvent("token", {"text": text}))

    async def _finish(self, final: Finished, text: str) -> ReplyOutcome:
        reason: str = final.reason
        error = None
        if final.reason == "cancelled":
            reason = "stopped"
        elif final.reason == "error":
            if self._shutdown.is_set and not self.job.cancel_requested:
                reason, error = "interrupted", INTERRUPTED
            else:
                error = failure_message(final.error)
                logger.warning("reply in chat %s failed: %r", self.plan.chat_id, final.error)
        outcome = ReplyOutcome(reason, text, error=error)
        if self.plan.kind != "impersonate":
            outcome.saved = await self._save(final, outcome)
        await self._publish_end(outcome)
        return outcome

    async def _publish_end(self, outcome: ReplyOutcome) -> None:
        if outcome.saved is not None:
            await self.stream.publish(StreamEvent("saved", outcome.saved))
        if outcome.error is not None:
            await self.stream.publish(StreamEvent("error", {"message": outcome.error}))
        done: dict[str, Any] = {
            "status": "complete" if outcome.reason in ("stop", "length") else "incomplete",
            "reason": outcome.reason,
        }
        if self.plan.kind == "impersonate":
            done["text"] = outcome.text
        await self.stream.publish(StreamEvent("done", done))

    async def _save(self, final: Finished, outcome: ReplyOutcome) -> JsonObject | None:
        plan = self.plan
        finished = outcome.reason in ("stop", "length")
        status: MessageStatus = "complete" if finished else "incomplete"
        async with self._uow() as uow:
            # The saved reply replaces its draft in one transaction: never both, never neither.
            await uow.reply_drafts.delete(plan.chat_id)
            if not finished and not outcome.text:
                await uow.commit()
                return None  # nothing was written: the chat stays as it was
            if plan.kind == "continue":
                target = plan.target
                assert target is not None
                message = await uow.chats.get_message(plan.chat_id, target.id)
                if message is None:
                    await uow.commit()
                    return None
                message.text = target.text + outcome.text
                message.status = status
                await uow.chats.update_message(plan.chat_id, message)
                extra = self._generation_fields(message.extra, final, continued=True)
                await uow.chats.set_extra(plan.chat_id, message.id, extra)
            else:
                message = Message(
                    role="character",
                    name=plan.character.display_name,
                    text=outcome.text,
                    parent_id=plan.parent_id,
                    created_at=self._clock.now(),
                    status=status,
                    extra=self._generation_fields({}, final),
                )
                # A failed new version is kept as a swipe, but the one shown before stays.
                select = finished or outcome.reason == "stopped" or plan.kind == "reply"
                await uow.chats.add_message(plan.chat_id, message, select=select)
            earlier = await uow.chats.get_generation(plan.chat_id, message.id)
            record = self._record(final, outcome)
            await uow.chats.set_generation(plan.chat_id, message.id, _with_run(earlier, record))
            chat = await uow.chats.get(plan.chat_id)
            if chat is not None:
                chat.updated_at = self._clock.now()
                await uow.chats.update(chat)
            tree = await uow.chats.load_tree(plan.chat_id)
            persona = await chat_persona(uow, chat) if chat is not None else plan.persona
            await uow.commit()
        view = view_message(tree, tree.get(message.id), plan.character.display_name, persona)
        return message_data(view)

    def _generation_fields(
        self, fields: JsonObject, final: Finished, *, continued: bool = False
    ) -> JsonObject:
        """The reply's kept fields with its model, token count and times, for export."""
        started = self._timing.started
        if started is None:
            return fields
        finished_at = self._clock.now()
        took = timedelta(seconds=time.perf_counter() - self._timing.submitted)
        return record_generation(
            fields,
            model=started.budget.model,
            # Zero means the backend did not count them: the reply has text.
            generated_tokens=final.usage.generated_tokens or None,
            started=finished_at - took,
            finished=finished_at,
            continued=continued,
        )

    def _record(self, final: Finished, outcome: ReplyOutcome) -> JsonObject:
        """What the prompt inspector shows for this run."""
        plan, timing = self.plan, self._timing
        usage = final.usage
        record: JsonObject = {
            "kind": plan.kind,
            "at": self._clock.now().isoformat(),
            "finish": {"reason": outcome.reason, "error": outcome.error},
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "cached_prompt_tokens": usage.cached_prompt_tokens,
                "generated_tokens": usage.generated_tokens,
                "time_to_first_token_s": usage.time_to_first_token,
            },
            "timing": {
                "queued_s": None if timing.started is None else timing.started.waited_s,
                "first_token_s": None
                if timing.first_token is None
                else timing.first_token - timing.submitted,
            },
        }
        if timing.started is not None:
            budget = timing.started.budget
            record["budget"] = {
                "pool": budget.model,
                "max_context_tokens": budget.max_context_tokens,
                "max_reply_tokens": budget.max_reply_tokens,
                "degraded": budget.degraded,
            }
        prepared = plan.prepared
        if prepared is not None:
            prompt, request = prepared.prompt, prepared.request
            record["prompt"] = {
                "template": prompt.template,
                "context_length": prompt.context_length,
                "reply_reserve": prompt.reply_reserve,
                "total_tokens": prompt.total_tokens,
                "sections": [
                    {"label": s.label, "tokens": s.tokens, "text": s.text} for s in prompt.sections
                ],
                "tokens_by_label": prompt.tokens_by_label(),
                "history_kept": prompt.history_kept,
                "history_start": prompt.history_start,
                "examples_kept": prompt.examples_kept,
                "examples_total": prompt.examples_total,
                "lore": [
                    {"label": hit.label, "fired": hit.fired, "reason": hit.reason}
                    for hit in prompt.lore[:MAX_LORE_RECORDS]
                ],
            }
            sampling = request.sampling
            record["request"] = {
                "max_tokens": request.max_tokens,
                "stop": list(request.stop),
                "seed": request.seed,
                "sampling": {name: _plain(getattr(sampling, name)) for name in sampling.changed()},
            }
        return record


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; whether it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def finish_task(task: "asyncio.Task[None]", seconds: float) -> None:
    """Let a background task that was asked to stop end by itself; cancel it if it hangs."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def save_interrupted(uow: UnitOfWork, draft: ReplyDraft, now: datetime) -> bool:
    """Save the text of a reply whose process died as an incomplete message, as a clean
    shutdown would have; False when there is nothing to save or nowhere to put it."""
    if not draft.text:
        return False
    if draft.kind == "continue":
        target = None
        if draft.target_id is not None:
            target = await uow.chats.get_message(draft.chat_id, draft.target_id)
        if target is None:
            return False
        target.text += draft.text
        target.status = "incomplete"
        await uow.chats.update_message(draft.chat_id, target)
    else:
        message = Message(
            role="character",
            name=draft.name,
            text=draft.text,
            parent_id=draft.parent_id,
            created_at=draft.started_at,
            status="incomplete",
        )
        try:
            # As with a failed new version, a regenerated one does not replace the one shown.
            await uow.chats.add_message(draft.chat_id, message, select=draft.kind == "reply")
        except LookupError:
            return False  # its parent was deleted meanwhile
    chat = await uow.chats.get(draft.chat_id)
    if chat is not None:
        chat.updated_at = now
        await uow.chats.update(chat)
    return True


class ShutdownFlag:
    """Set when the server begins shutting down (a failure then means "interrupted")."""

    def __init__(self) -> None:
        self.is_set = False

    def set(self) -> None:
        """Mark the shutdown as begun."""
        self.is_set = True


def _with_run(earlier: JsonObject | None, record: JsonObject) -> JsonObject:
    runs = list(earlier.get("runs", [])) if isinstance(earlier, dict) else []
    runs.append(record)
    return {"runs": runs[-MAX_RUNS:]}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return value


def failure_message(error: InferenceError | None) -> str:
    """A one-line explanation of a failed generation for the person waiting on it."""
    if error is None:
        return "the text generator failed"
    if isinstance(error, QueueFull):
        return f"the server is busy; try again in {error.retry_after_header} seconds"
    if isinstance(error, QueueTimeout):
        return "the server is busy: no text generator became free in time; try again"
    if isinstance(error, BackendUnavailable):
        return "the text generator cannot be reached right now"
    if isinstance(error, BackendTimeout):
        return "the text generator did not answer in time"
    if isinstance(error, StreamStalled):
        return "the text generator stopped sending text"
    if isinstance(error, StreamInterrupted):
        return "the connection to the text generator broke off"
    if isinstance(error, BackendHTTPError):
        return "the text generator reported an error"
    if isinstance(error, RequestRejected):
        return _one_line(error.message)
    return "the text generator failed"


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
