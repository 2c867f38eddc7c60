"""A replay of interleaved roleplay chats: KV reuse in practice, and TTFT against llama.cpp's
Python server on the same prompts.

8 users chat with the sample character, 30 turns each, in turn (one request at a time,
round-robin over the chats). Prompts are built by Galatea's own prompt assembly with a
2,048-token context, so long chats get their history trimmed (in chunks) along the way.

The same prompts, in the same order, then go to `python -m llama_cpp.server` (started here on
the same weights, default settings, 2 threads), through its OpenAI route with streaming; time to
first token is measured on both sides from the request to the first token. The server prefills
each interleaved prompt almost from scratch, so it is replayed on every fifth round only (the
request before each is still another chat's, as in the full replay); both sides' p50 and p95
are taken over those same turns.
"""

import asyncio
import json
import math
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from galatea.core.budget import TokenCountCache
from galatea.core.chats import Message
from galatea.core.personas import Persona
from galatea.core.prompting import (
    AssemblyOptions,
    PromptEnvironment,
    PromptRequest,
    assemble_prompt,
    get_template,
)
from galatea.formats.samples import load_sample_character
from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.llamacpp import LlamaCppBackend
from galatea.inference.params import SamplingParams

Figure = dict[str, Any]

CHATS = 8
TURNS = 30
CONTEXT = 2048
REPLY_TOKENS = 40
SERVER_EVERY = 5
"""Every fifth round goes to the server too."""

USER_LINES = (
    "Thank you. I was sailing to the mainland when the storm caught me.",
    "The mast snapped and the waves pushed me onto the rocks below.",
    "How long have you lived out here on your own?",
    "Who is Pip? Is that your cat?",
    "Do ships still pass by often, even in this weather?",
    "What do you write in that blue logbook of yours?",
    "Can I read some of the older pages?",
    "That entry mentions a ship called the Heron. What happened to it?",
    "Were there any survivors?",
    "Do you think the storm will pass by morning?",
    "Is there a way to send a message to the mainland?",
    "I can help you with the lamp tonight, if you show me how.",
    "How does the lens work? It looks very old.",
    "What is the hardest part of keeping the light?",
    "Have you ever thought of leaving the island?",
    "The wind is getting louder. Is the tower safe?",
    "Tell me about the worst storm you have seen.",
    "What do you do when the foghorn breaks?",
    "I think I hear something knocking at the door downstairs.",
    "It's only a loose shutter. I will fix it.",
    "Do you have any more of that tea?",
    "What did the keeper before you teach you?",
    "Are there any stories about ghosts on Saltmarrow?",
    "I would like to hear the one about the drowned bell.",
    "Do you believe it yourself?",
    "The sky is getting lighter in the east.",
    "Look, a fishing boat is coming towards the island.",
    "Will they take me back to the mainland?",
    "Thank you for everything, Wren. I will write to you.",
    "One last thing: may I sign your logbook before I go?",
)


class EngineCounter:
    """Counts tokens with the engine's own tokenizer, as prompt assembly needs (synchronously)."""

    def __init__(self, backend: LlamaCppBackend) -> None:
        self._tokenizer = backend.tokenizer

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return len(self._tokenizer.encode_now(text))


@dataclass(slots=True)
class Turn:
    """One request of the replay and what it cost on our engine."""

    chat: int
    round: int
    prompt: str
    stops: tuple[str, ...]
    prompt_tokens: int = 0
    cached_tokens: int = 0
    ttft: float = math.nan


@dataclass(slots=True)
class ChatState:
    """One user's conversation with the character."""

    index: int
    persona: Persona
    messages: list[Message] = field(default_factory=list)
    cache: TokenCountCache = field(default_factory=TokenCountCache)


async def replay_engine(backend: LlamaCppBackend, rounds: int) -> list[Turn]:
    """Play the chats round-robin on the engine; returns every turn with its costs."""
    character = load_sample_character()
    template = get_template("chatml")
    counter = EngineCounter(backend)
    options = AssemblyOptions(context_length=CONTEXT, reply_reserve=REPLY_TOKENS)
    chats = [
        ChatState(
            i,
            Persona(name=f"Traveller{i + 1}"),
            [Message("character", "Wren", character.first_mes)],
        )
        for i in range(CHATS)
    ]
    turns: list[Turn] = []
    for round_index in range(rounds):
        for chat in chats:
            line = USER_LINES[round_index % len(USER_LINES)]
            chat.messages.append(Message("user", chat.persona.name, line))
            request = PromptRequest(
                character,
                chat.messages,
                chat.persona,
                chat_id=f"chat-{chat.index}",
                options=options,
            )
            environment = PromptEnvironment(token_cache=chat.cache)
            assembled = assemble_prompt(request, template, counter, environment)
            turn = Turn(chat.index, round_index, assembled.text, assembled.stop_strings)
            reply = await _generate(backend, turn, seed=round_index * CHATS + chat.index)
            chat.messages.append(Message("character", "Wren", reply.strip() or "..."))
            turns.append(turn)
    return turns


async def _generate(backend: LlamaCppBackend, turn: Turn, seed: int) -> str:
    params = SamplingParams(temperature=0.8, min_p=0.05, repetition_penalty=1.05)
    request = GenerationRequest(
        turn.prompt,
        params,
        max_tokens=REPLY_TOKENS,
        stop=turn.stops,
        seed=seed,
        cache_key=f"chat-{turn.chat}",
    )
    text = ""
    async for event in backend.stream(request):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finished):
            if event.error is not None:
                raise event.error
            turn.prompt_tokens = event.usage.prompt_tokens
            turn.cached_tokens = event.usage.cached_prompt_tokens
            turn.ttft = event.usage.time_to_first_token or math.nan
    return text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(weights: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", weights, "--n_ctx", str(CONTEXT),
        "--n_threads", "2", "--n_threads_batch", "2", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def replay_server(weights: str, turns: Sequence[Turn]) -> list[float]:
    """Send the turns to a freshly started `llama_cpp.server`; returns TTFT per turn."""
    server, base = _start_server(weights)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(300.0)) as client:
            await _wait_ready(client, server)
            return [await _server_ttft(client, turn) for turn in turns]
    finally:
        _stop_server(server)


async def _wait_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("llama_cpp.server exited while starting")
        try:
            if (await client.get("/v1/models")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise RuntimeError("llama_cpp.server did not start within 120 s")


async def _server_ttft(client: httpx.AsyncClient, turn: Turn) -> float:
    body = {
        "prompt": turn.prompt,
        "max_tokens": REPLY_TOKENS,
        "temperature": 0.8,
        "min_p": 0.05,
        "repeat_penalty": 1.05,
        "stop": list(turn.stops),
        "stream": True,
    }
    began = time.perf_counter()
    first = math.nan
    async with client.stream("POST", "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if math.isnan(first) and chunk.get("choices"):
                first = time.perf_counter() - began
    return first


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


async def replay_figures(backend: LlamaCppBackend, *, quick: bool) -> list[Figure]:
    """Figures 4 and 5: cache share of the replay, TTFT against llama.cpp's Python server."""
    rounds = 6 if quick else TURNS
    turns = await replay_engine(backend, rounds)
    prompt_total = sum(turn.prompt_tokens for turn in turns)
    cached_total = sum(turn.cached_tokens for turn in turns)
    share = cached_total / prompt_total
    sampled = [turn for turn in turns if turn.round % SERVER_EVERY == SERVER_EVERY - 1]
    server = await replay_server(str(backend.weights), sampled)
    ours = [turn.ttft for turn in sampled]

    def shape(name: str, value: float, baseline: float, unit: str) -> Figure:
        return {
            "name": name,
            "value": round(value, 4),
            "baseline": round(baseline, 4),
            "ratio": round(value / baseline, 4) if baseline else math.nan,
            "unit": unit,
        }

    return [
        shape("replay_cached_prompt_share", share, 1.0, "share"),
        shape(
            "replay_ttft_p50_vs_llama_cpp_server",
            statistics.median(ours),
            statistics.median(server),
            "s",
        ),
        shape(
            "replay_ttft_p95_vs_llama_cpp_server",
            _percentile(ours, 0.95),
            _percentile(server, 0.95),
            "s",
        ),
        shape(
            "replay_ttft_p50_all_turns",
            statistics.median(turn.ttft for turn in turns),
            statistics.median(turn.ttft for turn in turns if turn.round == 0),
            "s",
        ),
    ]
