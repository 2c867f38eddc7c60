"""KV reuse on the real model: next turns, front-trim shifts, snapshots, relocated streams.

The reference for "what the model would say" is a separate single-stream engine that never
shifts and keeps no snapshots, run on an otherwise unrelated stream: a full re-evaluation.
"""

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import llama_cpp.llama_cpp as C
import pytest

from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.llamacpp import LlamaCppBackend
from galatea.inference.llamacpp.native import NativeContext, NativeModel, TokenBatch
from galatea.inference.llamacpp.repack import Weights
from galatea.inference.params import GREEDY
from tests.inference.conftest import engine_config
from tests.inference.replies import INNKEEPER, TURNS, chatml, collect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(repacked_weights: Weights, engine_cache_dir: Path) -> Iterator[LlamaCppBackend]:
    """A single-stream engine that re-evaluates everything (no shift, no snapshots)."""
    del repacked_weights
    config = engine_config(engine_cache_dir, max_sequences=1, context_shift=False, kv_cache_bytes=0)
    backend = LlamaCppBackend.open(config)
    try:
        yield backend
    finally:
        backend.close()


async def cold_reply(reference: LlamaCppBackend, prompt: str, max_tokens: int) -> str:
    """What a full evaluation of `prompt` generates."""
    await collect(reference, GenerationRequest("Unrelated words to clear the stream.", GREEDY, 1))
    reply = await collect(reference, GenerationRequest(prompt, GREEDY, max_tokens))
    assert reply.finished.usage.cached_prompt_tokens <= 1
    return reply.text


def softmax(logits: list[float]) -> list[float]:
    peak = max(logits)
    weights = [math.exp(value - peak) for value in logits]
    total = sum(weights)
    return [weight / total for weight in weights]


def greedy(prompt: str, key: str, max_tokens: int = 24) -> GenerationRequest:
    return GenerationRequest(prompt, GREEDY, max_tokens=max_tokens, cache_key=key)


async def test_next_turn_evaluates_only_the_new_tokens(
    engine: LlamaCppBackend, reference: LlamaCppBackend
) -> None:
    first_prompt = chatml(INNKEEPER, *TURNS[:3])
    first = await collect(engine, greedy(first_prompt, "next-turn"))
    second_prompt = chatml(INNKEEPER, *TURNS[:3], first.text, "And for two nights?")
    second = await collect(engine, greedy(second_prompt, "next-turn"))
    usage = second.finished.usage
    first_tokens = len(await engine.tokenizer.encode(first_prompt))
    assert usage.cached_prompt_tokens >= first_tokens
    assert usage.prompt_tokens - usage.cached_prompt_tokens < 40
    assert second.text == await cold_reply(reference, second_prompt, 24)


async def test_a_regenerated_reply_reuses_the_whole_prompt(engine: LlamaCppBackend) -> None:
    prompt = chatml(INNKEEPER, *TURNS[:5])
    first = await collect(engine, greedy(prompt, "swipe"))
    again = await collect(engine, greedy(prompt, "swipe"))
    assert again.finished.usage.cached_prompt_tokens == again.finished.usage.prompt_tokens - 1
    assert again.text == first.text


async def test_front_trimmed_history_is_shifted_not_re_evaluated(
    engine: LlamaCppBackend, reference: LlamaCppBackend
) -> None:
    full = chatml(INNKEEPER, *TURNS)
    await collect(engine, greedy(full, "trim", max_tokens=1))
    trimmed = chatml(INNKEEPER, *TURNS[2:])
    shifted_before = engine.stats.shifted_tokens
    reply = await collect(engine, greedy(trimmed, "trim"))
    usage = reply.finished.usage
    assert usage.cached_prompt_tokens == usage.prompt_tokens - 1
    assert engine.stats.shifted_tokens - shifted_before > 60
    # Shifted KV was computed while the dropped turns were visible, so it is an approximation
    # of a re-evaluation (see the engine notes): the reply starts the same way.
    cold = await cold_reply(reference, trimmed, 24)
    ids = await engine.tokenizer.encode(reply.text)
    cold_ids = await engine.tokenizer.encode(cold)
    assert ids[:2] == cold_ids[:2]


def test_shifting_kv_positions_is_exact_for_the_same_tokens(repacked_weights: Weights) -> None:
    """The shift itself (RoPE re-applied by seq_add) matches evaluating at the new positions."""
    model = NativeModel(repacked_weights.path)
    context = NativeContext(model, sequences=2, context_per_sequence=512, batch_size=256, threads=2)
    batch = TokenBatch(256)
    try:
        tokens = model.tokenize(chatml(INNKEEPER, TURNS[0]))
        offset = 100
        for sequence, start in ((0, offset), (1, 0)):
            batch.clear()
            for index, token in enumerate(tokens):
                batch.add(token, start + index, sequence, output=False)
            assert context.decode(batch) == 0
        context.shift(0, offset, offset + len(tokens), -offset)
        batch.clear()
        batch.add(tokens[-1], len(tokens), 0, output=True)
        batch.add(tokens[-1], len(tokens), 1, output=True)
        assert context.decode(batch) == 0
        shifted = softmax([context.logits(0)[i] for i in range(model.n_vocab)])
        fresh = softmax([context.logits(1)[i] for i in range(model.n_vocab)])
        assert shifted.index(max(shifted)) == fresh.index(max(fresh))
        # Equal up to the f16 rounding of re-rotated keys (measured: KL about 0.005 nats).
        divergence = sum(p * math.log(p / q) for p, q in zip(fresh, shifted, strict=True) if p > 0)
        assert divergence < 0.02
        assert C.llama_memory_seq_pos_max(context.memory, 0) == len(tokens)
    finally:
        batch.close()
        context.close()
        model.close()


async def test_an_idle_chat_comes_back_from_its_snapshot(
    repacked_weights: Weights, engine_cache_dir: Path, reference: LlamaCppBackend
) -> None:
    del repacked_weights
    backend = LlamaCppBackend.open(engine_config(engine_cache_dir, max_sequences=1))
    try:
        first = chatml(INNKEEPER, *TURNS[:3])
        reply = await collect(backend, greedy(first, "chat-a"))
        await collect(backend, greedy(chatml("You are a sailor.", "Hello!"), "chat-b"))
        assert backend.stats.snapshots_saved == 1
        follow_up = chatml(INNKEEPER, *TURNS[:3], reply.text, "Can I pay tomorrow?")
        again = await collect(backend, greedy(follow_up, "chat-a"))
        assert backend.stats.snapshots_restored == 1
        cached = again.finished.usage.cached_prompt_tokens
        assert cached >= len(await backend.tokenizer.encode(first))
        # The restored KV is bit-for-bit what the chat had: the same as if it never left.
        await cold_reply(reference, first, 24)
        stayed = await collect(reference, GenerationRequest(follow_up, GREEDY, 24))
        assert stayed.finished.usage.cached_prompt_tokens == cached
        assert again.text == stayed.text
    finally:
        await backend.aclose()


async def test_a_generation_moved_to_a_lower_stream_continues_unchanged(
    repacked_weights: Weights, engine_cache_dir: Path, reference: LlamaCppBackend
) -> None:
    del repacked_weights
    backend = LlamaCppBackend.open(engine_config(engine_cache_dir, max_sequences=3))
    try:
        prompts = [chatml(INNKEEPER, *TURNS[: 1 + 2 * i]) for i in range(3)]
        lengths = (30, 3, 30)  # the middle stream finishes first, leaving a gap
        replies = await asyncio.gather(
            *(collect(backend, greedy(p, f"move-{i}", lengths[i])) for i, p in enumerate(prompts))
        )
        assert backend.stats.relocations == 1
        assert replies[2].text == await cold_reply(reference, prompts[2], 30)
    finally:
        await backend.aclose()


async def test_a_long_prompt_is_prefilled_in_chunks_while_others_stream(
    engine: LlamaCppBackend,
) -> None:
    log: list[str] = []
    running = asyncio.Event()

    async def talker() -> None:
        request = greedy(chatml("You are a poet.", "Write a long poem."), "talker", 400)
        async for event in engine.stream(request):
            if isinstance(event, TextDelta):
                log.append("talker")
                running.set()

    async def reader() -> None:
        long_prompt = chatml("You are a scholar.", " ".join(["The archive holds old maps."] * 130))
        async for event in engine.stream(greedy(long_prompt, "reader", 2)):
            if isinstance(event, TextDelta):
                log.append("reader")

    task = asyncio.create_task(talker())
    await running.wait()
    log.append("reader submitted")
    await reader()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    start = log.index("reader submitted")
    first_reader = log.index("reader", start)
    # ~800 prompt tokens, 256 per step: four chunks, with a talker token beside each.
    assert log[start:first_reader].count("talker") >= 3
