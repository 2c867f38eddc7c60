"""The embedded engine on the bundled model: streaming, batching, cancelling, stops, bans."""

import asyncio
import math

import pytest

from galatea.inference.backend import GenerationRequest, TextDelta
from galatea.inference.errors import RequestRejected
from galatea.inference.llamacpp import LlamaCppBackend
from galatea.inference.params import GREEDY, SamplingParams
from tests.inference.replies import Reply, chatml, collect

pytestmark = pytest.mark.slow

PIRATE = chatml("You are a pirate captain.", "What is your ship called?")
PROMPTS = (
    PIRATE,
    chatml("You are a helpful librarian.", "Recommend me a book about the sea."),
    chatml("You are a grumpy wizard.", "Can you teach me a spell?"),
    chatml("You are a cheerful baker.", "What should I bake for a birthday?"),
)


def greedy(prompt: str, key: str, **options: object) -> GenerationRequest:
    return GenerationRequest(prompt, sampling=GREEDY, cache_key=key, **options)  # type: ignore[arg-type]


async def test_a_reply_streams_in_pieces_and_reports_usage(engine: LlamaCppBackend) -> None:
    reply = await collect(engine, greedy(PIRATE, "usage", max_tokens=12))
    assert len(reply.deltas) > 1
    assert reply.text.strip()
    usage = reply.finished.usage
    assert reply.finished.reason == "length"
    assert usage.generated_tokens == 12
    assert usage.prompt_tokens == len(await engine.tokenizer.encode(PIRATE))
    assert usage.time_to_first_token is not None and usage.time_to_first_token > 0


async def test_greedy_output_is_the_same_alone_and_batched(engine: LlamaCppBackend) -> None:
    alone = []
    for index, prompt in enumerate(PROMPTS):
        alone.append((await collect(engine, greedy(prompt, f"alone-{index}", max_tokens=24))).text)
    full_width = engine.stats.steps_by_width.get(len(PROMPTS), 0)
    together = await asyncio.gather(
        *(collect(engine, greedy(p, f"together-{i}", max_tokens=24)) for i, p in enumerate(PROMPTS))
    )
    assert [reply.text for reply in together] == alone
    # The four streams were decoded side by side, one token each per decode call.
    assert engine.stats.steps_by_width.get(len(PROMPTS), 0) - full_width >= 20


async def test_seeded_sampling_is_reproducible(engine: LlamaCppBackend) -> None:
    params = SamplingParams(temperature=1.2, top_k=60, min_p=0.02)
    first = await collect(engine, GenerationRequest(PIRATE, params, max_tokens=16, seed=11))
    again = await collect(engine, GenerationRequest(PIRATE, params, max_tokens=16, seed=11))
    others = [
        (await collect(engine, GenerationRequest(PIRATE, params, max_tokens=16, seed=s))).text
        for s in (12, 13, 14)
    ]
    assert first.text == again.text
    assert any(text != first.text for text in others)


async def test_stop_string_ends_the_reply_before_it(engine: LlamaCppBackend) -> None:
    full = await collect(engine, greedy(PIRATE, "stop-a", max_tokens=24))
    words = full.text.split()
    stop = " " + words[3]
    cut = await collect(engine, greedy(PIRATE, "stop-b", max_tokens=24, stop=(stop,)))
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finished.reason == "stop"
    assert cut.finished.stop_string == stop


async def test_banned_string_is_rewound_and_never_shown(engine: LlamaCppBackend) -> None:
    full = await collect(engine, greedy(PIRATE, "ban-a", max_tokens=24))
    banned = next(word for word in full.text.split()[1:] if len(word) >= 4 and word.isalpha())
    rewinds = engine.stats.rewinds
    reply = await collect(engine, greedy(PIRATE, "ban-b", max_tokens=24, banned_strings=(banned,)))
    assert banned.lower() not in reply.text.lower()
    assert engine.stats.rewinds > rewinds
    before = full.text[: full.text.index(banned)]
    assert reply.text.startswith(before.rstrip())  # identical up to the banned word


async def test_the_model_spelling_its_end_token_as_text_is_banned(engine: LlamaCppBackend) -> None:
    # Few-shot text where the model's likeliest continuation spells "<|im_end" as plain text.
    prompt = "".join(f"Line {i}: ok<|im_end\n" for i in range(1, 7)) + "Line 7: ok"
    unbanned = await collect(engine, GenerationRequest(prompt, GREEDY, max_tokens=12))
    assert "<|im_end" in unbanned.text
    rewinds = engine.stats.rewinds
    request = GenerationRequest(prompt, GREEDY, max_tokens=12, banned_strings=("<|IM_END",))
    reply = await collect(engine, request)
    assert "<|im_end" not in reply.text
    assert reply.text.strip()
    assert engine.stats.rewinds > rewinds


async def first_delta(
    engine: LlamaCppBackend, request: GenerationRequest, seen: asyncio.Event
) -> Reply:
    """Collect a reply, setting `seen` when its first text arrives."""
    deltas: list[str] = []
    async for event in engine.stream(request):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
            seen.set()
        else:
            return Reply(deltas, event)
    raise AssertionError("the stream ended without Finished")


async def test_cancelling_the_consumer_frees_its_stream_within_a_step(
    engine: LlamaCppBackend,
) -> None:
    running = [asyncio.Event() for _ in PROMPTS]
    long_runs = [
        asyncio.create_task(first_delta(engine, greedy(p, f"busy-{i}", max_tokens=400), running[i]))
        for i, p in enumerate(PROMPTS)
    ]
    for event in running:
        await event.wait()
    waiting = asyncio.create_task(collect(engine, greedy(PIRATE, "waiting", max_tokens=3)))
    long_runs[0].cancel()  # every stream is busy: the waiting request needs this one
    late = await waiting
    assert late.finished.reason == "length"
    for task in long_runs[1:]:
        task.cancel()
    results = await asyncio.gather(*long_runs, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    assert late.finished.usage.generated_tokens == 3
    assert engine.stats.slowest_cancel_steps <= 1


async def test_priority_decides_who_gets_a_free_stream_first(engine: LlamaCppBackend) -> None:
    running = [asyncio.Event() for _ in PROMPTS]
    lengths = (20, 80, 80, 80)  # one stream frees long before the others
    blockers = [
        asyncio.create_task(
            first_delta(engine, greedy(p, f"block-{i}", max_tokens=lengths[i]), running[i])
        )
        for i, p in enumerate(PROMPTS)
    ]
    for event in running:
        await event.wait()
    order: list[str] = []

    async def run(name: str, priority: int) -> None:
        await collect(engine, greedy(PIRATE, f"prio-{name}", max_tokens=1, priority=priority))
        order.append(name)

    await asyncio.gather(run("low", 0), run("high", 5), *blockers)
    assert order == ["high", "low"]


async def test_grammar_constrains_the_reply(engine: LlamaCppBackend) -> None:
    params = SamplingParams(temperature=0.0, grammar='root ::= ("yes" | "no") "."')
    prompt = chatml("Answer with yes or no.", "Is the sea salty?")
    reply = await collect(engine, GenerationRequest(prompt, params, max_tokens=8))
    assert reply.text in ("yes.", "no.")


async def test_a_broken_grammar_is_rejected(engine: LlamaCppBackend) -> None:
    params = SamplingParams(grammar="root ::= (unclosed")
    reply = await collect(engine, GenerationRequest(PIRATE, params, max_tokens=4))
    assert reply.finished.reason == "error"
    assert isinstance(reply.finished.error, RequestRejected)


async def test_logit_bias_can_ban_the_greedy_choice(engine: LlamaCppBackend) -> None:
    greedy_first = await collect(engine, greedy(PIRATE, "bias", max_tokens=1))
    first = (await engine.tokenizer.encode(greedy_first.text))[0]
    params = SamplingParams(temperature=0.0, logit_bias={first: float("-inf")})
    reply = await collect(engine, GenerationRequest(PIRATE, params, max_tokens=1))
    assert (await engine.tokenizer.encode(reply.text))[0] != first


async def test_every_sampler_runs_on_the_real_model(engine: LlamaCppBackend) -> None:
    settings = [
        SamplingParams(temperature=0.9, dynatemp_range=0.4, top_k=50, top_p=0.9, min_p=0.05),
        SamplingParams(typical_p=0.9, top_n_sigma=1.5, xtc_probability=0.5, xtc_threshold=0.1),
        SamplingParams(repetition_penalty=1.2, frequency_penalty=0.3, presence_penalty=0.3),
        SamplingParams(dry_multiplier=0.8, dry_allowed_length=2, dry_range=256),
        SamplingParams(mirostat_mode=1, mirostat_tau=4.0),
        SamplingParams(mirostat_mode=2, mirostat_tau=4.0, mirostat_eta=0.2),
    ]
    replies = await asyncio.gather(
        *(collect(engine, GenerationRequest(PIRATE, p, max_tokens=8, seed=3)) for p in settings)
    )
    for reply in replies:
        assert reply.finished.reason in ("length", "stop")
        assert reply.finished.error is None


@pytest.mark.parametrize(
    ("prompt", "message"),
    [("", "empty"), ("word " * 2000, "too many"), ([10**7], "outside the vocabulary")],
)
async def test_bad_prompts_are_rejected_with_a_clear_error(
    engine: LlamaCppBackend, prompt: object, message: str
) -> None:
    reply = await collect(engine, GenerationRequest(prompt, max_tokens=4))  # type: ignore[arg-type]
    assert reply.finished.reason == "error"
    assert isinstance(reply.finished.error, RequestRejected)
    assert message in reply.finished.error.message


async def test_token_prompts_give_the_same_reply_as_text(engine: LlamaCppBackend) -> None:
    tokens = await engine.tokenizer.encode(PIRATE)
    as_text = await collect(engine, greedy(PIRATE, "as-text", max_tokens=8))
    as_tokens = await collect(engine, greedy(tokens, "as-tokens", max_tokens=8))  # type: ignore[arg-type]
    assert as_tokens.text == as_text.text


async def test_model_info_comes_from_the_gguf(engine: LlamaCppBackend) -> None:
    info = await engine.model_info()
    assert info.context_length == 1024
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert info.eos_token == "<|im_end|>"
    assert "SmolLM" in info.name or "Smollm" in info.name
    assert engine.metadata()["general.architecture"] == "llama"
    assert engine.capabilities.prefix_cache and engine.capabilities.banned_strings


async def test_tokenizer_round_trips_special_tokens(engine: LlamaCppBackend) -> None:
    tokens = await engine.tokenizer.encode(PIRATE)
    assert tokens[0] == 1  # <|im_start|> parsed as the special token
    assert await engine.tokenizer.decode(tokens) == PIRATE
    assert await engine.tokenizer.count(PIRATE) == len(tokens)


async def test_a_special_token_in_the_reply_is_caught_by_its_stop_string(
    engine: LlamaCppBackend,
) -> None:
    # After a finished turn, with its end tokens banned, the model opens a new turn with the
    # special <|im_start|> token (SmolLM2's end-of-generation tokens are 0, 2 and 4).
    prompt = chatml("You are terse.", "Say hi.") + "Hi!<|im_end|>\n"
    params = SamplingParams(temperature=0.0, logit_bias=dict.fromkeys((0, 2, 4), -math.inf))
    request = GenerationRequest(prompt, params, max_tokens=8, stop=("<|im_start|>",))
    reply = await collect(engine, request)
    assert reply.finished.reason == "stop"
    assert reply.finished.stop_string == "<|im_start|>"
    assert "<|im_start|>" not in reply.text
