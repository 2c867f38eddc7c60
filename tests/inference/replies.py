"""Real-engine test support: ChatML prompts, a sample conversation, collecting a stream."""

from dataclasses import dataclass

from galatea.inference.backend import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    TextBackend,
    TextDelta,
)


def chatml(system: str, *turns: str) -> str:
    """A ChatML prompt (SmolLM2's format) ending where the assistant speaks next."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for index, turn in enumerate(turns):
        role = "user" if index % 2 == 0 else "assistant"
        text += f"<|im_start|>{role}\n{turn}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


@dataclass(slots=True)
class Reply:
    """Everything a stream produced."""

    deltas: list[str]
    finished: Finished

    @property
    def text(self) -> str:
        """The whole reply text."""
        return "".join(self.deltas)


async def collect(backend: TextBackend, request: GenerationRequest) -> Reply:
    """Run a request to its end; checks the stream's shape (deltas, then one Finished)."""
    deltas: list[str] = []
    events: list[GenerationEvent] = []
    async for event in backend.stream(request):
        events.append(event)
    assert events, "a stream always ends with Finished"
    *body, last = events
    assert isinstance(last, Finished)
    for event in body:
        assert isinstance(event, TextDelta)
        assert event.text
        deltas.append(event.text)
    return Reply(deltas, last)


TURNS = (
    "Good morning! I am looking for a room for the night.",
    "Welcome to the Lantern Inn. We have a small room under the roof, with a view of the harbour.",
    "How much does it cost, and is breakfast included?",
    "Three silver coins for the night, and yes, breakfast is bread, cheese and hot tea.",
    "That sounds fine. Is there somewhere to keep my horse?",
    "There is a stable behind the inn. My nephew will feed and brush her for a copper.",
    "Thank you. One more question: is the road north safe after dark?",
)
"""A short roleplay conversation (user turns at even indices)."""

INNKEEPER = (
    "You are Marta, the friendly innkeeper of the Lantern Inn. Answer in one or two sentences."
)
