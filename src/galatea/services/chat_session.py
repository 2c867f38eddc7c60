"""A conversation held in memory: the terminal chat's use cases.

Send, regenerate as a new swipe, pick a swipe, continue the last reply, edit, undo. Nothing
is stored until the user saves the chat as a SillyTavern file.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from galatea.core.characters import Character
from galatea.core.chats import ChatTree, Message
from galatea.core.greetings import open_chat
from galatea.core.ids import new_id
from galatea.core.personas import Persona
from galatea.core.prompting import AssembledPrompt, PromptRequest
from galatea.formats.sillytavern_chats import ChatTranscript
from galatea.inference.backend import Finished, TextBackend, TextDelta
from galatea.services.generation import (
    GenerationSettings,
    PromptBuilder,
    without_speaker_prefix,
)


class SessionError(Exception):
    """A command that does not apply to the chat as it is (nothing to regenerate, ...)."""


@dataclass(slots=True, frozen=True)
class ReplyOutcome:
    """How a streamed reply ended."""

    finished: Finished
    message: Message | None
    """The saved message (None when nothing was produced)."""

    @property
    def error(self) -> str | None:
        """The failure in words, when the reply failed."""
        error = self.finished.error
        return None if error is None else error.message


class ChatSession:
    """One conversation with a character on one backend, kept in memory."""

    def __init__(
        self,
        character: Character,
        backend: TextBackend,
        *,
        persona: Persona | None = None,
        settings: GenerationSettings | None = None,
    ) -> None:
        self.character = character
        self.persona = persona or Persona()
        self.settings = settings or GenerationSettings()
        self.chat_id = new_id()
        self.tree: ChatTree = open_chat(character, self.persona)
        self.last_prompt: AssembledPrompt | None = None
        self.last_outcome: ReplyOutcome | None = None
        self._builder = PromptBuilder(backend)
        self._backend = backend

    def path(self) -> list[Message]:
        """The conversation as shown, oldest first."""
        return self.tree.active_path()

    def send(self, text: str) -> AsyncIterator[str]:
        """Add the user's message and stream the character's reply."""
        parent = self.tree.last()
        self.tree.add(
            Message(
                role="user",
                name=self.persona.name,
                text=text,
                parent_id=parent.id if parent else None,
            )
        )
        return self._reply()

    def regenerate(self) -> AsyncIterator[str]:
        """Stream a new swipe for the last reply; earlier swipes are kept."""
        last = self.tree.last()
        if last is None or last.is_user:
            return self._reply()
        # A new sibling of the last reply: the prompt is the path up to its parent.
        return self._reply(parent_id=last.parent_id)

    def continue_reply(self) -> AsyncIterator[str]:
        """Stream more of the last reply, appended to it."""
        last = self.tree.last()
        if last is None or last.is_user:
            raise SessionError("there is no reply of the character to continue")
        return self._continue(last)

    def swipe(self, number: int) -> Message:
        """Show swipe `number` (1-based) of the last message."""
        last = self.tree.last()
        if last is None:
            raise SessionError("the chat is empty")
        siblings = self.tree.siblings(last.id)
        if not 1 <= number <= len(siblings):
            raise SessionError(f"there are {len(siblings)} swipes; pick 1 to {len(siblings)}")
        chosen = siblings[number - 1]
        self.tree.select(chosen.id)
        return chosen

    def swipe_position(self) -> tuple[int, int]:
        """Which swipe of the last message is shown, and how many there are."""
        last = self.tree.last()
        if last is None:
            return (0, 0)
        siblings = self.tree.siblings(last.id)
        return (next(i for i, m in enumerate(siblings, 1) if m.id == last.id), len(siblings))

    def edit_last(self, text: str) -> Message:
        """Replace the text of the last message."""
        last = self.tree.last()
        if last is None:
            raise SessionError("the chat is empty")
        last.text = text
        last.status = "complete"
        return last

    def undo(self) -> Message:
        """Remove the last message together with its swipes."""
        last = self.tree.last()
        if last is None or (last.parent_id is None and not last.is_user):
            raise SessionError("nothing to undo: only the greeting is left")
        for sibling in self.tree.siblings(last.id):
            self.tree.remove(sibling.id)
        return last

    def transcript(self) -> ChatTranscript:
        """The chat as a file-ready transcript (for `/save`)."""
        return ChatTranscript(
            tree=self.tree,
            user_name=self.persona.name,
            character_name=self.character.display_name,
        )

    async def _reply(self, parent_id: str | None = None) -> AsyncIterator[str]:
        if parent_id is None:
            last = self.tree.last()
            parent_id = last.id if last else None
        history = self.tree.path_to(parent_id) if parent_id else []
        prepared = await self._builder.prepare(self._prompt_request(history), self.settings)
        self.last_prompt = prepared.prompt
        pieces: list[str] = []
        finished = Finished(reason="cancelled")
        events = without_speaker_prefix(
            self._backend.stream(prepared.request), self.character.display_name
        )
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
                    yield event.text
                elif isinstance(event, Finished):
                    finished = event
        finally:
            self._save(parent_id, "".join(pieces), finished)

    async def _continue(self, last: Message) -> AsyncIterator[str]:
        history = self.tree.path_to(last.id)
        prepared = await self._builder.prepare(
            self._prompt_request(history), self.settings, continue_last=True
        )
        self.last_prompt = prepared.prompt
        finished = Finished(reason="cancelled")
        try:
            async for event in self._backend.stream(prepared.request):
                if isinstance(event, TextDelta):
                    last.text += event.text
                    yield event.text
                elif isinstance(event, Finished):
                    finished = event
        finally:
            last.status = "complete" if finished.reason in ("stop", "length") else "incomplete"
            self.last_outcome = ReplyOutcome(finished, last)

    def _prompt_request(self, history: list[Message]) -> PromptRequest:
        return PromptRequest(
            character=self.character,
            history=history,
            persona=self.persona,
            chat_id=self.chat_id,
        )

    def _save(self, parent_id: str | None, text: str, finished: Finished) -> None:
        message = None
        if text.strip() or finished.reason in ("stop", "length"):
            complete = finished.reason in ("stop", "length")
            message = self.tree.add(
                Message(
                    role="character",
                    name=self.character.display_name,
                    text=text.strip() if complete else text,
                    parent_id=parent_id,
                    status="complete" if complete else "incomplete",
                )
            )
        self.last_outcome = ReplyOutcome(finished, message)
