"""Random histories of chat operations keep the promises on what is stored.

Hypothesis plays sequences of sends, regenerates, continues, swipes, edits, hides, deletes,
stops and failing replies against one chat (SQLite, scripted backend), checking after each:
- every message the server acknowledged is still stored unless it, or a message before it on
  its branch, was deleted;
- the active path is a chain (each message answers the one before) with consistent swipe
  positions, and a reply never stays half-written without being marked incomplete.
"""

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from galatea.bootstrap import Services, build_services
from galatea.config import Settings
from galatea.core.users import User
from galatea.inference.errors import StreamInterrupted
from galatea.inference.scripted import ScriptedBackend, ScriptedFailure
from galatea.services.errors import Conflict, InvalidInput
from galatea.services.passwords import Argon2PasswordHasher
from tests.services.chat_setup import PASSWORD, events_of, scripted_source

OPERATIONS = st.sampled_from(
    ["send", "regenerate", "continue", "swipe_left", "swipe_right", "edit", "hide",
     "delete_last", "fail_next", "stop"]
)  # fmt: skip
HASHER = Argon2PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)


class History:
    """One chat driven through the services, with what the server acknowledged."""

    def __init__(self, services: Services, backend: ScriptedBackend, user: User, chat_id: str):
        self.services = services
        self.backend = backend
        self.user = user
        self.chat_id = chat_id
        self.acknowledged: set[str] = set()
        self.deleted: set[str] = set()
        self.counter = 0

    async def path(self) -> list[object]:
        return list(await self.services.chats.messages(self.user, self.chat_id))

    async def apply(self, operation: str) -> None:
        turns, chats = self.services.chat_turns, self.services.chats
        self.counter += 1
        path = await chats.messages(self.user, self.chat_id)
        last = path[-1] if path else None
        try:
            if operation == "send":
                turn = await turns.send(self.user, self.chat_id, f"message {self.counter}")
                assert turn.user_message is not None
                self.acknowledged.add(turn.user_message.id)
                await self._finish(turn.stream)
            elif operation in ("regenerate", "continue"):
                start = turns.regenerate if operation == "regenerate" else turns.continue_reply
                await self._finish((await start(self.user, self.chat_id)).stream)
            elif operation == "stop":
                self.backend.token_delay = 0.002
                turn = await turns.send(self.user, self.chat_id, f"message {self.counter}")
                assert turn.user_message is not None
                self.acknowledged.add(turn.user_message.id)
                await turns.stop(self.chat_id)
                await self._finish(turn.stream)
                self.backend.token_delay = 0
            elif operation == "fail_next":
                self.backend.replies = [ScriptedFailure(StreamInterrupted("cut"), "half a"), "ok."]
            elif last is not None and operation in ("swipe_left", "swipe_right"):
                step = -1 if operation == "swipe_left" else 1
                await chats.swipe(self.user, self.chat_id, last.id, step)
            elif last is not None and operation == "edit":
                await chats.edit_message(self.user, self.chat_id, last.id, text="edited")
            elif last is not None and operation == "hide":
                await chats.edit_message(
                    self.user, self.chat_id, last.id, hidden=not last.message.hidden
                )
            elif last is not None and operation == "delete_last":
                self.deleted.update(await chats.delete_message(self.user, self.chat_id, last.id))
        except (InvalidInput, Conflict):
            pass  # refused with a reason (a greeting regenerated, a user message continued)

    async def _finish(self, stream: object) -> None:
        events = await events_of(stream)  # type: ignore[arg-type]
        for event in events:
            if event.kind == "saved":
                self.acknowledged.add(event.data["id"])

    async def check(self) -> None:
        async with self.services.uow(write=False) as uow:
            tree = await uow.chats.load_tree(self.chat_id)
        stored = set(tree.messages)
        missing = self.acknowledged - self.deleted - stored
        assert not missing, f"acknowledged messages lost: {missing}"
        path = await self.services.chats.messages(self.user, self.chat_id)
        parent = None
        for view in path:
            assert view.message.parent_id == parent
            assert 0 <= view.swipe_index < view.swipe_count
            parent = view.id
        for message in tree.messages.values():
            if message.role == "character" and message.text == "half a":
                # Only a failure writes exactly this: it must never pass for a whole reply.
                assert message.status == "incomplete"


async def play(operations: list[str], folder: Path) -> None:
    backend = ScriptedBackend(replies=["A reply.", "Another reply."])
    config = Settings(data_dir=folder)
    services = build_services(config, hasher=HASHER, backends=[scripted_source(backend)])
    await services.start()
    try:
        user = await services.accounts.sign_up("player", PASSWORD, address=None)
        character = await services.characters.create(
            user, {"name": "Ava", "first_mes": "Hi!", "alternate_greetings": ["Hello!"]}
        )
        chat = await services.chats.start(user, character.id)
        history = History(services, backend, user, chat.id)
        history.acknowledged.update(m.id for m in chat.messages)
        for operation in operations:
            await history.apply(operation)
            await history.check()
    finally:
        await services.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATIONS, min_size=1, max_size=12))
def test_random_histories_never_lose_what_was_acknowledged(operations: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(play(operations, Path(folder)))
