"""`galatea bench engine`: the embedded engine against baselines measured in the same run.

Everything runs in this process on the bundled model (re-packed as the engine loads it), with
2 threads:

- decode throughput of N concurrent streams (300-token prompts, 128 new tokens each) against
  the same requests served one after another by llama-cpp-python's high-level `Llama`, and
  against a bare batched `llama_decode` loop on the same context layout (the ceiling);
- time to first token of a 30-token message in a ~1,500-token chat with its KV kept, against
  a cold prefill of a chat of the same size, while N-1 other streams are generating;
- time to first token after the chat's history was trimmed at the front (KV shifted) against
  a cold prefill of the trimmed prompt;
- the replay of 8 interleaved chats (see `engine_replay`).

Decode rates count only the decode phase: prefill is measured by the TTFT figures.
"""

import asyncio
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.llamacpp import LlamaCppBackend, LlamaCppConfig
from galatea.inference.llamacpp.backend import run_in_own_thread
from galatea.inference.llamacpp.native import NativeContext, NativeModel, TokenBatch
from galatea.inference.llamacpp.repack import prepare_weights
from galatea.inference.llamacpp.sampling import SamplerChain, SamplerStep
from galatea.inference.models import locate_model
from galatea.inference.params import SamplingParams

Figure = dict[str, Any]

THREADS = 2
CONTEXT = 2048
PROMPT_TOKENS = 300
NEW_TOKENS = 128
CHAT_TOKENS = 1500
STREAM_COUNTS = (1, 2, 4, 8, 16)

SENTENCES = (
    "The harbour town woke slowly as the boats came in with the tide.",
    "Gulls followed the hulls in wide circles, complaining at the fishermen.",
    "On the quay a woman in a grey coat arranged crates of mackerel in rows.",
    "Her son wrote prices on a slate with a stub of chalk and a steady hand.",
    "The bakery on the corner had sold most of its bread before sunrise.",
    "Mara ran the small bookshop beside the chandlery, a narrow room of shelves.",
    "Sailors asked for charts and cheap novels, and sometimes for advice.",
    "On Thursdays the schoolteacher came in to ask about lighthouse histories.",
    "Rain arrived in the afternoon and hid the harbour behind a grey curtain.",
    "A stranger carried a leather case holding a map drawn on yellow paper.",
    "The map showed islands that no longer existed and a light on a headland.",
    "Notes in the margin were written in an old dialect of the northern coast.",
    "Nobody in town could read them except perhaps the schoolteacher.",
    "The keeper's family had tended the light for four generations.",
    "Storms in the old days took boats, nets and sometimes whole piers.",
    "The inn kept a fire burning all winter and soup on the stove all day.",
)


def figure(name: str, value: float, baseline: float, unit: str) -> Figure:
    """One result beside its same-run baseline."""
    ratio = value / baseline if baseline else math.nan
    return {
        "name": name,
        "value": round(value, 4),
        "baseline": round(baseline, 4),
        "ratio": round(ratio, 4),
        "unit": unit,
    }


def story(seed: int, sentences: int) -> str:
    """Distinct text: every seed starts differently, so no two prompts share a long prefix."""
    order = [SENTENCES[(seed * 7 + i * (seed % 5 + 1)) % len(SENTENCES)] for i in range(sentences)]
    return f"Chronicle {seed}, told by keeper number {seed * 13 % 97}. " + " ".join(order)


def token_prompt(model: NativeModel, seed: int, length: int) -> list[int]:
    """A prompt of exactly `length` tokens."""
    tokens: list[int] = []
    sentences = 40
    while len(tokens) < length:
        tokens = model.tokenize(story(seed, sentences))
        sentences *= 2
    return tokens[:length]


def no_end(model: NativeModel) -> SamplingParams:
    """Greedy sampling that never ends early, so every reply is exactly `max_tokens` long."""
    ends = [token for token in range(min(model.n_vocab, 64)) if model.is_end(token)]
    return SamplingParams(temperature=0.0, logit_bias=dict.fromkeys(ends, -math.inf))


# Decode throughput ----------------------------------------------------------------------------


async def engine_decode_rate(
    backend: LlamaCppBackend, prompts: Sequence[list[int]], params: SamplingParams
) -> float:
    """Generated tokens per second while every stream is decoding (the full-width window)."""
    started = [asyncio.Event() for _ in prompts]
    first_done = asyncio.Event()

    async def one(index: int, prompt: list[int]) -> None:
        request = GenerationRequest(
            prompt, params, max_tokens=NEW_TOKENS, cache_key=f"decode-{index}"
        )
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                started[index].set()
            elif isinstance(event, Finished):
                started[index].set()
                first_done.set()

    tasks = [asyncio.create_task(one(i, p)) for i, p in enumerate(prompts)]
    for event in started:
        await event.wait()
    begin, tokens_begin = time.perf_counter(), backend.stats.generated_tokens
    await first_done.wait()
    end, tokens_end = time.perf_counter(), backend.stats.generated_tokens
    await asyncio.gather(*tasks)
    return (tokens_end - tokens_begin) / max(end - begin, 1e-9)


class Ceiling:
    """A bare batched llama_decode loop on the engine's context layout: prefilled streams,
    greedy sampling in C, no scheduling at all. Close it after use."""

    def __init__(self, weights: Path, prompts: Sequence[list[int]]) -> None:
        self.model = NativeModel(weights)
        self.context = NativeContext(
            self.model,
            sequences=max(STREAM_COUNTS),
            context_per_sequence=CONTEXT,
            batch_size=512,
            threads=THREADS,
        )
        self.batch = TokenBatch(512)
        self.greedy = SamplerChain.build(
            [SamplerStep("greedy")], vocab=self.model.vocab, n_vocab=self.model.n_vocab
        )
        self.prompts = list(prompts)
        self.first = [self._prefill(stream, prompt) for stream, prompt in enumerate(prompts)]

    def _prefill(self, stream: int, prompt: list[int]) -> int:
        for start in range(0, len(prompt), 256):
            self.batch.clear()
            for offset, token in enumerate(prompt[start : start + 256]):
                position = start + offset
                self.batch.add(token, position, stream, output=position == len(prompt) - 1)
            if self.context.decode(self.batch) != 0:
                raise RuntimeError("prefill failed")
        return self.greedy.sample(self.context.handle, self.batch.size - 1)

    def rate(self, count: int) -> float:
        """Tokens per second decoding `count` streams together for NEW_TOKENS steps."""
        last = self.first[:count]
        began = time.perf_counter()
        for step in range(NEW_TOKENS):
            self.batch.clear()
            for stream in range(count):
                self.batch.add(last[stream], len(self.prompts[stream]) + step, stream, output=True)
            if self.context.decode(self.batch) != 0:
                raise RuntimeError("decode failed")
            last = [self.greedy.sample(self.context.handle, i) for i in range(count)]
        elapsed = time.perf_counter() - began
        for stream in range(count):
            self.context.remove(stream, len(self.prompts[stream]), -1)
        return count * NEW_TOKENS / elapsed

    def close(self) -> None:
        """Free the context and weights."""
        self.greedy.close()
        self.batch.close()
        self.context.close()
        self.model.close()


def sequential_decode_rate(weights: Path, prompts: Sequence[list[int]]) -> float:
    """The requests one after another through llama-cpp-python's high-level `Llama`: the
    median of their decode rates (one slow request on a shared machine does not decide it).

    Its own sampling, without a logit bias (that runs in Python and would slow it down): a reply
    that ends early still counts its tokens and time.
    """
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(weights),
        n_ctx=CONTEXT,
        n_batch=512,
        n_threads=THREADS,
        n_threads_batch=THREADS,
        verbose=False,
    )
    rates: list[float] = []
    try:
        for prompt in prompts:
            # Prefill first (not counted); the second call reuses it and only decodes.
            llm.create_completion(prompt, max_tokens=1, temperature=0.0)
            began = time.perf_counter()
            result = llm.create_completion(prompt, max_tokens=NEW_TOKENS, temperature=0.0)
            tokens = result["usage"]["completion_tokens"]  # type: ignore[index]
            rates.append(tokens / (time.perf_counter() - began))
    finally:
        llm.close()
    return statistics.median(rates)


async def engine_rates(
    backend: LlamaCppBackend,
    prompts: Sequence[list[int]],
    params: SamplingParams,
    counts: Sequence[int],
) -> dict[int, float]:
    """The engine's decode rate for each stream count, best of two runs."""
    rates: dict[int, float] = {}
    for count in counts:
        for _ in range(2):
            rate = await engine_decode_rate(backend, prompts[:count], params)
            rates[count] = max(rates.get(count, 0.0), rate)
    return rates


def ceiling_rates(
    weights: Path, prompts: Sequence[list[int]], counts: Sequence[int]
) -> dict[int, float]:
    """The bare loop's rate for each stream count, best of two runs."""
    ceiling = Ceiling(weights, prompts[: max(counts)])
    try:
        return {count: max(ceiling.rate(count), ceiling.rate(count)) for count in counts}
    finally:
        ceiling.close()


# Time to first token --------------------------------------------------------------------------


def chat_history(seed: int, tokens: int, model: NativeModel) -> str:
    """A ChatML conversation of about `tokens` tokens, distinct for every seed."""
    text = f"<|im_start|>system\nYou are keeper {seed}, who tells stories of the coast.<|im_end|>\n"
    turn = 0
    while len(model.tokenize(text)) < tokens:
        role = "user" if turn % 2 == 0 else "assistant"
        text += f"<|im_start|>{role}\n{story(seed * 31 + turn, 5)}<|im_end|>\n"
        turn += 1
    return text


def new_message(seed: int) -> str:
    """A user message of about 30 tokens, opening the assistant's turn."""
    words = f"Tell me more about chronicle {seed}, the keeper, the map and the storm of that year."
    return f"<|im_start|>user\n{words}<|im_end|>\n<|im_start|>assistant\n"


async def ttft(backend: LlamaCppBackend, prompt: str, key: str) -> tuple[float, int]:
    """Seconds to the first token, and prompt tokens served from cache."""
    request = GenerationRequest(prompt, SamplingParams(temperature=0.0), 1, cache_key=key)
    async for event in backend.stream(request):
        if isinstance(event, Finished):
            if event.error is not None:
                raise event.error
            return event.usage.time_to_first_token or math.nan, event.usage.cached_prompt_tokens
    raise RuntimeError("the stream ended without Finished")


async def with_background(
    backend: LlamaCppBackend, count: int, prompts: Sequence[list[int]], params: SamplingParams
) -> list[asyncio.Task[None]]:
    """Start `count` long generations and wait until all of them are decoding."""
    started = [asyncio.Event() for _ in range(count)]

    async def one(index: int) -> None:
        request = GenerationRequest(
            prompts[index], params, max_tokens=CONTEXT - PROMPT_TOKENS - 8, cache_key=f"bg-{index}"
        )
        async for event in backend.stream(request):
            started[index].set()
            del event

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    for event in started:
        await event.wait()
    return tasks


async def stop(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel background generations and wait for them to end."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def ttft_figures(
    backend: LlamaCppBackend,
    model: NativeModel,
    prompts: Sequence[list[int]],
    counts: Sequence[int],
) -> list[Figure]:
    """TTFT of a new message with the chat's KV kept against a cold prefill, under load."""
    params = no_end(model)
    history = chat_history(1, CHAT_TOKENS, model)
    await ttft(backend, history, "chat")  # the conversation so far, cached
    figures: list[Figure] = []
    for count in counts:
        repeats = 2 if count == 1 else 1  # the figure in --json gets the best of two each
        warm = cold = math.inf
        background = await with_background(backend, count - 1, prompts, params)
        try:
            for attempt in range(repeats):
                seed = count * 10 + attempt
                seconds, reused = await ttft(backend, history + new_message(seed), "chat")
                cold_history = chat_history(1000 + seed, CHAT_TOKENS, model)
                cold_seconds, cold_reused = await ttft(
                    backend, cold_history + new_message(seed), f"cold-{seed}"
                )
                if reused < CHAT_TOKENS * 0.9 or cold_reused > 32:
                    raise RuntimeError(f"unexpected cache use: warm {reused}, cold {cold_reused}")
                warm, cold = min(warm, seconds), min(cold, cold_seconds)
        finally:
            await stop(background)
        suffix = "" if count == 1 else f"_{count}_streams"
        figures.append(figure(f"ttft_warm_vs_cold{suffix}", warm, cold, "s"))
    return figures


async def trim_figure(backend: LlamaCppBackend, model: NativeModel) -> Figure:
    """TTFT after the history lost its oldest turns: KV shifted against a cold prefill."""
    history = chat_history(7, CHAT_TOKENS, model)
    await ttft(backend, history, "trimmed-chat")
    head, _, rest = history.partition("<|im_end|>\n")
    turns = rest.split("<|im_end|>\n")
    kept = "<|im_end|>\n".join(turns[len(turns) // 4 :])  # the oldest quarter dropped
    trimmed = f"{head}<|im_end|>\n{kept}" + new_message(7)
    shifted, reused = await ttft(backend, trimmed, "trimmed-chat")
    cold_history = chat_history(2007, len(model.tokenize(trimmed)) - 40, model)
    cold, _ = await ttft(backend, cold_history + new_message(7), "trimmed-cold")
    if reused < len(model.tokenize(trimmed)) * 0.8:
        raise RuntimeError(f"the trimmed prompt reused only {reused} tokens")
    return figure("ttft_trim_shift_vs_reevaluate", shifted, cold, "s")


# The whole benchmark ----------------------------------------------------------------------------


def run(*, quick: bool = False, data_dir: Path | None = None) -> list[Figure]:
    """Measure the engine and its baselines; returns figures with same-run baselines.

    llama.cpp's OpenMP threads slow each other down when two threads of this process have run
    a model (see `run_in_own_thread`): every baseline runs in a thread of its own that ends
    before the engine starts, and the ceiling is measured before and after the engine (the
    better run kept, against drifting load from other processes).
    """
    counts = (1, 2, 8) if quick else STREAM_COUNTS
    with tempfile.TemporaryDirectory() as scratch:
        config = LlamaCppConfig(
            cache_dir=data_dir if data_dir is not None else Path(scratch),
            context_length=CONTEXT,
            threads=THREADS,
            max_sequences=max(counts),
        )
        weights = run_in_own_thread(
            lambda: prepare_weights(locate_model(config.model), config.cache_dir, config.repack)
        )
        model = NativeModel(weights.path, vocab_only=True)
        try:
            prompts = [
                token_prompt(model, seed, PROMPT_TOKENS) for seed in range(1, max(counts) + 1)
            ]
            sample = prompts[: 2 if quick else 8]
            sequential = run_in_own_thread(lambda: sequential_decode_rate(weights.path, sample))
            before = run_in_own_thread(lambda: ceiling_rates(weights.path, prompts, counts))
            figures = _with_engine(
                config, lambda b: _engine_figures(b, model, prompts, counts, quick)
            )
            after = run_in_own_thread(lambda: ceiling_rates(weights.path, prompts, counts))
        finally:
            model.close()
        for count in counts:
            rate = next(f["value"] for f in figures if f["name"] == f"_rate_{count}")
            ceiling = max(before[count], after[count])
            figures.append(
                figure(f"decode_tps_{count}_streams_vs_sequential", rate, sequential, "tok/s")
            )
            figures.append(figure(f"decode_tps_{count}_streams_vs_ceiling", rate, ceiling, "tok/s"))
        verdict = weights.verdict
        if verdict is not None and verdict.perplexity_target and verdict.perplexity_source:
            figures.append(
                figure(
                    f"perplexity_{verdict.target}_vs_bundled",
                    verdict.perplexity_target,
                    verdict.perplexity_source,
                    "ppl",
                )
            )
        from benchmarks.engine_replay import replay_figures

        figures.extend(_with_engine(config, lambda b: replay_figures(b, quick=quick)))
    return sorted((f for f in figures if not f["name"].startswith("_")), key=_order)


def _with_engine(
    config: LlamaCppConfig, measure: Callable[[LlamaCppBackend], Coroutine[Any, Any, list[Figure]]]
) -> list[Figure]:
    backend = LlamaCppBackend.open(config)
    try:
        return asyncio.run(measure(backend))
    finally:
        backend.close()


async def _engine_figures(
    backend: LlamaCppBackend,
    model: NativeModel,
    prompts: Sequence[list[int]],
    counts: Sequence[int],
    quick: bool,
) -> list[Figure]:
    rates = await engine_rates(backend, prompts, no_end(model), counts)
    figures = [figure(f"_rate_{count}", rate, 1.0, "tok/s") for count, rate in rates.items()]
    figures.extend(await ttft_figures(backend, model, prompts, (1, 2) if quick else counts))
    figures.append(await trim_figure(backend, model))
    return figures


def _order(item: Figure) -> tuple[int, str]:
    required = (
        "decode_tps_8_streams_vs_sequential",
        "decode_tps_8_streams_vs_ceiling",
        "ttft_warm_vs_cold",
        "replay_cached_prompt_share",
        "replay_ttft_p50_vs_llama_cpp_server",
        "replay_ttft_p95_vs_llama_cpp_server",
    )
    name = str(item["name"])
    return (required.index(name), "") if name in required else (len(required), name)
