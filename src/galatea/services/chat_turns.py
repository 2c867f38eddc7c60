"""Chat turns: send a message, regenerate, continue, impersonate, stop, and rejoin a reply.

Every generation is a server-side job: planned here, queued through the fair scheduler with
the user's tier, and followed by a `ReplyJob` task this service owns, so a closed tab never
stops it. A chat runs one generation at a time (its reply stream is the claim); a second one
is refused with Conflict. A user's message is committed before its generation can start, and
only after the scheduler accepted the job: a busy server (QueueFull, 429) stores nothing, so
the user can simply send again.

A reply whose process dies mid-way leaves its draft behind (see `reply_jobs`); every process
sweeps for drafts nobody refreshed for `draft_stale_s` and saves their text as incomplete
messages, so a crash loses at most the last couple of seconds of a reply.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from galatea.core.chats import Message
from galatea.core.errors import DomainError
from galatea.core.users import User
from galatea.inference.backend import GenerationRequest
from galatea.inference.errors import RequestRejected
from galatea.inference.scheduling import Budget
from galatea.services import access
from galatea.services.chat_state import ChatState, load_chat, usable_character
from galatea.services.chat_views import MessageView, view_message
from galatea.services.engines import Engines, Running
from galatea.services.errors import Conflict, InvalidInput
from galatea.services.generation import GenerationSettings
from galatea.services.metering import MeteredStream
from galatea.services.ports import Clock, UnitOfWorkFactory
from galatea.services.presets import chat_settings
from galatea.services.quotas import QuotaService
from galatea.services.reply_jobs import (
    ReplyJob,
    ReplyOutcome,
    ShutdownFlag,
    finish_task,
    save_interrupted,
    wait_for_event,
)
from galatea.services.reply_streams import ReplyStreamChannel, ReplyStreamHub, StreamBusy
from galatea.services.turn_prompts import TurnKind, TurnPlan, new_user_message

logger = logging.getLogger(__name__)

BUSY = "a reply is already being written in this chat; wait for it or stop it"


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """Limits of chat turns."""

    max_message_chars: int = 32_000
    """Longest message a user may send."""
    shutdown_grace_s: float = 10.0
    """At shutdown, how long running replies may still finish before they are cut."""
    stop_wait_s: float = 10.0
    """How long stopping waits for the stopped reply to be saved."""
    draft_interval_s: float = 2.0
    """How often a running reply writes its text so far to its draft (its sign of life)."""
    draft_stale_s: float = 60.0
    """A draft not refreshed for this long belongs to a process that died mid-reply."""
    draft_sweep_s: float = 20.0
    """How often each process looks for such drafts."""


@dataclass(frozen=True, slots=True)
class Turn:
    """A generation that was accepted: its stream, and the user's message when one was sent."""

    chat_id: str
    kind: TurnKind
    stream: ReplyStreamChannel
    user_message: MessageView | None = None


Planner = Callable[[ChatState, GenerationSettings], tuple[TurnPlan, Message | None]]


class ChatTurns:
    """Generations in chats, one at a time per chat, owned by the server."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        engines: Engines,
        streams: ReplyStreamHub,
        policy: TurnPolicy | None = None,
        *,
        quotas: QuotaService | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.engines = engines
        self.streams = streams
        self.policy = policy or TurnPolicy()
        self.quotas = quotas
        self._claims: dict[str, _Claim] = {}
        self._shutdown = ShutdownFlag()
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeping_done = asyncio.Event()
        streams.on_stop(self._stop_asked_elsewhere)

    def start(self) -> None:
        """Begin sweeping, every `draft_sweep_s`, for replies cut off by a dead process."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep(), name="reply draft sweep"
            )

    async def recover_drafts(self) -> int:
        """Save the text of replies whose process died (stale drafts) as incomplete messages;
        returns how many were saved. Several processes may sweep at once: each draft is
        claimed by exactly one."""
        before = self._clock.now() - timedelta(seconds=self.policy.draft_stale_s)
        async with self._uow(write=False) as uow:
            drafts = await uow.reply_drafts.stale(before)
        saved = 0
        for draft in drafts:
            if draft.chat_id in self._claims:
                continue  # this process is still writing that reply
            async with self._uow() as uow:
                if not await uow.reply_drafts.claim(draft):
                    continue
                if await save_interrupted(uow, draft, self._clock.now()):
                    saved += 1
                await uow.commit()
        return saved

    async def _sweep(self) -> None:
        while not await wait_for_event(self._sweeping_done, self.policy.draft_sweep_s):
            try:
                saved = await self.recover_drafts()
                if saved:
                    logger.info("saved %d replies cut off by a stopped process", saved)
            except Exception:
                logger.exception("sweeping reply drafts failed")

    async def send(self, user: User, chat_id: str, text: str) -> Turn:
        """Append the user's message and start the character's reply."""
        text = self._message_text(text)

        def plan(state: ChatState, settings: GenerationSettings) -> tuple[TurnPlan, Message | None]:
            last = state.tree.last()
            message = new_user_message(last, state.persona, text, self._clock)
            history = [*state.tree.active_path(), message]
            return self._plan(
                "reply", state, user, settings, history, parent_id=message.id
            ), message

        return await self._begin(user, chat_id, "reply", plan)

    async def regenerate(self, user: User, chat_id: str, message_id: str | None = None) -> Turn:
        """A new version of a reply (the last one by default), kept beside the earlier ones;
        for a message without a reply (the user's last one), a first reply."""

        def plan(state: ChatState, settings: GenerationSettings) -> tuple[TurnPlan, Message | None]:
            target = _target(state, message_id)
            if target.role == "character":
                if target.parent_id is None:
                    raise InvalidInput(
                        "message_id", "a greeting cannot be regenerated; swipe to see the others"
                    )
                history = state.tree.path_to(target.parent_id)
                turn = self._plan(
                    "regenerate", state, user, settings, history, parent_id=target.parent_id
                )
                turn.target = target
                return turn, None
            history = state.tree.path_to(target.id)
            turn = self._plan("regenerate", state, user, settings, history, parent_id=target.id)
            return turn, None

        return await self._begin(user, chat_id, "regenerate", plan)

    async def continue_reply(self, user: User, chat_id: str, message_id: str | None = None) -> Turn:
        """Extend the character's message (the last one by default) where it stopped."""

        def plan(state: ChatState, settings: GenerationSettings) -> tuple[TurnPlan, Message | None]:
            target = _target(state, message_id)
            if target.role != "character":
                raise InvalidInput("message_id", "only the character's messages can be continued")
            history = state.tree.path_to(target.id)
            turn = self._plan("continue", state, user, settings, history)
            turn.target = Message(
                role=target.role, name=target.name, text=target.text, id=target.id
            )
            return turn, None

        return await self._begin(user, chat_id, "continue", plan)

    async def impersonate(self, user: User, chat_id: str) -> Turn:
        """Draft the user's next message (streamed, never stored)."""

        def plan(state: ChatState, settings: GenerationSettings) -> tuple[TurnPlan, Message | None]:
            path = state.tree.active_path()
            return self._plan("impersonate", state, user, settings, path), None

        return await self._begin(user, chat_id, "impersonate", plan)

    async def follow(self, viewer: User | None, chat_id: str) -> ReplyStreamChannel | None:
        """The chat's running (or just finished) reply stream, for a reader to rejoin."""
        async with self._uow(write=False) as uow:
            access.readable_chat(viewer, await uow.chats.get(chat_id))
        return await self.streams.get(chat_id)

    async def stop_for(self, user: User, chat_id: str) -> bool:
        """Stop the chat's running generation (its text so far is saved); False if none ran."""
        async with self._uow(write=False) as uow:
            access.writable_chat(user, await uow.chats.get(chat_id))
        return await self.stop(chat_id)

    async def stop(self, chat_id: str) -> bool:
        """Stop a chat's generation and wait (a while) until what it wrote is saved."""
        claim = self._claims.get(chat_id)
        if claim is None:
            # With several app processes, the reply may be written by another one.
            return await self.streams.request_stop(chat_id)
        # A generation still being set up is stopped as soon as its job exists.
        claim.stop_requested = True
        if claim.reply is not None:
            claim.reply.job.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(claim.ended), self.policy.stop_wait_s)
        return True

    def _stop_asked_elsewhere(self, chat_id: str) -> None:
        claim = self._claims.get(chat_id)
        if claim is not None:
            claim.stop_requested = True
            if claim.reply is not None:
                claim.reply.job.cancel()

    async def running(self, chat_id: str) -> bool:
        """Whether a reply is being generated in the chat."""
        return await self.streams.running(chat_id)

    async def close(self) -> None:
        """Shut down: let running replies finish for a grace period, then cut them (their
        text is saved as interrupted) and close the engines."""
        self._shutdown.set()
        if self._sweeper is not None:
            self._sweeping_done.set()
            await finish_task(self._sweeper, self.policy.stop_wait_s)
        endings = [claim.ended for claim in self._claims.values()]
        if endings:
            await asyncio.wait(endings, timeout=self.policy.shutdown_grace_s)
        await self.engines.close()
        endings = [claim.ended for claim in self._claims.values()]
        if endings:
            await asyncio.wait(endings, timeout=self.policy.stop_wait_s)

    def _message_text(self, text: str) -> str:
        if "\x00" in text:
            raise InvalidInput("text", "must not contain NUL characters")
        text = text.replace("\r\n", "\n").strip()
        if not text:
            raise InvalidInput("text", "must not be empty")
        limit = self.policy.max_message_chars
        if len(text) > limit:
            raise InvalidInput("text", f"is {len(text)} characters long; the limit is {limit}")
        return text

    def _plan(
        self,
        kind: TurnKind,
        state: ChatState,
        user: User,
        settings: GenerationSettings,
        history: list[Message],
        *,
        parent_id: str | None = None,
    ) -> TurnPlan:
        character = usable_character(user, state).character
        return TurnPlan(
            kind=kind,
            chat_id=state.chat.id,
            character=character,
            persona=state.persona,
            history=history,
            settings=settings,
            parent_id=parent_id,
        )

    async def _begin(self, user: User, chat_id: str, kind: TurnKind, planner: Planner) -> Turn:
        if self._shutdown.is_set:
            raise Conflict("the server is shutting down; try again in a moment")
        async with self._uow(write=False) as uow:
            access.writable_chat(user, await uow.chats.get(chat_id))
        try:
            stream = await self.streams.open(chat_id)
        except StreamBusy:
            raise Conflict(BUSY) from None
        claim = _Claim(asyncio.get_running_loop().create_future())
        self._claims[chat_id] = claim
        try:
            return await self._start(user, chat_id, kind, planner, stream, claim)
        except BaseException:
            self._release(chat_id, claim)
            await stream.close()
            raise

    async def _start(
        self,
        user: User,
        chat_id: str,
        kind: TurnKind,
        planner: Planner,
        stream: ReplyStreamChannel,
        claim: "_Claim",
    ) -> Turn:
        async with self._uow(write=False) as uow:
            state = await load_chat(uow, user, chat_id, write=True)
            settings = await chat_settings(uow, state.chat)
        plan, user_message = planner(state, settings)
        # The quotas are checked before anything is stored: a refused message leaves no trace.
        admission = None if self.quotas is None else await self.quotas.admit(user)
        try:
            running = await self.engines.ready()
            committed = asyncio.Event()
            job = await running.scheduler.submit(
                self._request_builder(plan, running, committed),
                user_id=user.id,
                tier=user.tier if self.quotas is None else self.quotas.tiers.tier_of(user).name,
                cache_key=plan.chat_id,
                max_tokens=plan.settings.max_reply_tokens,
            )
        except BaseException:
            if admission is not None:
                await admission.cancel()
            raise
        shown = None
        try:
            if user_message is not None:
                shown = await self._commit_user_message(state, user_message)
        except BaseException:
            job.cancel()
            if admission is not None:
                await admission.cancel()
            raise
        committed.set()
        written: ReplyStreamChannel = (
            stream if admission is None else MeteredStream(stream, job, admission)
        )
        reply = ReplyJob(
            plan,
            job,
            written,
            self._uow,
            self._clock,
            shutting_down=self._shutdown,
            draft_interval=self.policy.draft_interval_s,
        )
        claim.reply = reply
        if claim.stop_requested:
            job.cancel()
        task = asyncio.get_running_loop().create_task(
            self._run_reply(reply, written), name=f"reply {chat_id}"
        )
        claim.task = task
        task.add_done_callback(lambda _: self._release(chat_id, claim))
        return Turn(chat_id, kind, stream, shown)

    async def _run_reply(self, reply: ReplyJob, written: ReplyStreamChannel) -> ReplyOutcome:
        try:
            return await reply.run()
        finally:
            if isinstance(written, MeteredStream):
                await written.settle()  # a reply cut short of its `done` is metered too

    async def _commit_user_message(self, state: ChatState, message: Message) -> MessageView:
        async with self._uow() as uow:
            try:
                await uow.chats.add_message(state.chat.id, message)
            except LookupError:
                raise Conflict("the chat changed meanwhile; reload it and send again") from None
            state.chat.updated_at = self._clock.now()
            await uow.chats.update(state.chat)
            await uow.commit()
        state.tree.add(message)
        return view_message(state.tree, message, state.character_name, state.persona)

    def _request_builder(
        self, plan: TurnPlan, running: Running, committed: asyncio.Event
    ) -> Callable[[Budget], Awaitable[GenerationRequest]]:
        async def build(budget: Budget) -> GenerationRequest:
            # The prompt is assembled while the user's message is being committed (it comes
            # from memory); the request is handed over only once the message is stored.
            try:
                prepared = await running.builder(budget.model).prepare(
                    plan.prompt_request(),
                    plan.settings,
                    max_context=budget.max_context_tokens,
                    max_reply=budget.max_reply_tokens,
                    continue_last=plan.continues,
                )
            except DomainError as error:
                raise RequestRejected(f"the prompt cannot be built: {error}") from None
            except RequestRejected:
                raise
            except Exception:
                logger.exception("building the prompt for chat %s failed", plan.chat_id)
                raise RequestRejected("the prompt cannot be built") from None
            plan.prepared = prepared
            plan.pool = budget.model
            await committed.wait()
            return prepared.request

        return build

    def _release(self, chat_id: str, claim: "_Claim") -> None:
        if not claim.ended.done():
            claim.ended.set_result(None)
        if self._claims.get(chat_id) is claim:
            del self._claims[chat_id]


@dataclass(slots=True, eq=False)
class _Claim:
    """A chat's one generation, from the moment it is claimed until its reply is saved."""

    ended: "asyncio.Future[None]"
    reply: ReplyJob | None = None
    task: "asyncio.Task[ReplyOutcome] | None" = None
    stop_requested: bool = False


def _target(state: ChatState, message_id: str | None) -> Message:
    if message_id is not None:
        return state.message(message_id)
    last = state.tree.last()
    if last is None:
        raise InvalidInput("message_id", "the chat has no messages yet; send one first")
    return last
