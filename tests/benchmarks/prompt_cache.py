"""A warm chat turn's time to first token with a short and a long history, with the prompt cache and
without it (a benchmark, not a test).

For each history length (10 and 400 short messages by default) a cold turn fills the KV cache, then
warm turns follow, each the previous conversation plus the reply and a new question, as a chat sends
them, alternately with the prompt cache on and off (off is the same as HEARTH_PROMPT_CACHE=0). Printed
per mode: the median warm TTFT at each length and the ratio long/short, the prompt build alone
(`build_chat_prompt`: rendering and tokenizing) and the tokens llama.cpp evaluated. The goal is a ratio
<= 1.3 with the cache. "llama.cpp alone" is the TTFT of as many new tokens after what the KV cache
holds, with no template at all (a raw completion), measured after the turns so that it does not disturb
them: the floor, which grows with the KV cache (attention over 7k tokens in Gemma 3's global layers;
~1.3x at 400 messages with 1 thread on the 2-core test machine, ~1.75x with 2).

    python -m tests.benchmarks.prompt_cache [--history 10 400] [--turns 5] [--threads 1]

Figures on a shared machine are noisy; compare the two modes of one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from desktop_app.core.engine import Engine, GenerationStats, Message, TextDelta
from desktop_app.core.generation import LoadSettings, SamplingSettings

GREEDY = SamplingSettings(temperature=0.0, max_tokens=8)
SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}


def history(n: int) -> list[Message]:
    messages: list[Message] = [SYSTEM]
    for i in range(n):
        if i % 2 == 0:
            messages.append({"role": "user", "content": f"Question {i}: what about item {i}?"})
        else:
            messages.append({"role": "assistant", "content": f"Item {i} is fine, thanks for asking."})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "And the last one?"})
    return messages


def turn(engine: Engine, messages: Sequence[Message]) -> tuple[str, GenerationStats]:
    parts: list[str] = []
    stats: GenerationStats | None = None
    for event in engine.stream_chat(messages, GREEDY):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            stats = event
    assert stats is not None
    return "".join(parts), stats


@dataclass
class Figures:
    ttft: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    prompt_tokens: int = 0


def warm_turns(engine: Engine, n: int, turns: int) -> dict[bool, Figures]:
    """Warm turns after one cold turn, alternating the prompt cache on and off (so the machine's
    noise hits both alike and one KV fill serves both); per mode: TTFT and the prompt build alone."""
    tokenizer = engine._prompt
    assert tokenizer is not None
    engine.reset_cache()
    tokenizer.clear_cache()
    tokenizer.cache_enabled = True
    messages = history(n)
    reply, _ = turn(engine, messages)  # cold: the KV cache (and the prompt cache) fill
    figures = {True: Figures(), False: Figures()}
    for i in range(2 * turns):
        cache = i % 2 == 0
        tokenizer.cache_enabled = cache
        messages = [
            *messages,
            {"role": "assistant", "content": reply.strip() or "Fine."},
            {"role": "user", "content": f"Follow-up {i}: and then?"},
        ]
        reply, stats = turn(engine, messages)
        mode = figures[cache]
        mode.ttft.append(stats.ttft_s)
        mode.evaluated.append(stats.evaluated_tokens)
        mode.prompt_tokens = stats.prompt_tokens
        # the prompt build alone, on the conversation one turn further (so it is warm, not a repeat)
        probe = [*messages, {"role": "assistant", "content": reply.strip() or "Fine."},
                 {"role": "user", "content": "probe"}]  # fmt: skip
        started = time.perf_counter()
        engine.build_chat_prompt(probe, GREEDY.max_tokens)
        mode.build.append(time.perf_counter() - started)
    # llama.cpp alone, after the chat turns (run between them, a raw completion replaced the cache's
    # tail, and each next turn had to restore the prompt's checkpoint: no chat does that): as many new
    # tokens as each turn evaluated, after what the KV cache holds now, no template.
    decoder = engine._decoder
    assert decoder is not None
    extra = engine.tokenize(" Follow-up: and then? " * 8, add_bos=False)
    for mode in figures.values():
        for evaluated in mode.evaluated:
            for event in engine.stream_completion([*decoder.cached, *extra[:evaluated]], GREEDY):
                if isinstance(event, GenerationStats):
                    mode.floor.append(event.ttft_s)
    tokenizer.cache_enabled = True
    return figures


def main() -> int:
    from tests.gemma_model import ensure_gemma

    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, nargs=2, default=[10, 400], metavar=("SHORT", "LONG"))
    parser.add_argument("--turns", type=int, default=4, help="warm turns per mode and history")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (0: Hearth's default)")
    parser.add_argument("--ctx", type=int, default=16384)
    parser.add_argument("--flash-attention", action="store_true")
    args = parser.parse_args()
    threads = args.threads or None
    engine = Engine()
    settings = LoadSettings(
        n_ctx=args.ctx, n_threads=threads, n_threads_batch=threads, flash_attention=args.flash_attention
    )
    engine.load(ensure_gemma(), settings)
    try:
        turn(engine, history(2))  # the first render compiles the template; not part of any figure
        short, long = args.history
        runs = {n: warm_turns(engine, n, args.turns) for n in (short, long)}
        ratios: dict[bool, float] = {}
        for cache in (True, False):
            a, b = runs[short][cache], runs[long][cache]
            ttft_a, ttft_b = statistics.median(a.ttft), statistics.median(b.ttft)
            ratios[cache] = ttft_b / ttft_a
            label = "on " if cache else "off"
            build_a, build_b = statistics.median(a.build), statistics.median(b.build)
            evaluated = f"{statistics.median(a.evaluated):.0f} / {statistics.median(b.evaluated):.0f}"
            print(
                f"cache {label}: warm TTFT median {ttft_a * 1e3:6.1f} ms at {short} messages "
                f"({a.prompt_tokens} tokens), {ttft_b * 1e3:6.1f} ms at {long} ({b.prompt_tokens} tokens): "
                f"ratio {ratios[cache]:.2f} (best of each: {min(b.ttft) / min(a.ttft):.2f}); prompt build "
                f"{build_a * 1e3:.1f} / {build_b * 1e3:.1f} ms; tokens evaluated {evaluated}; llama.cpp "
                f"alone {statistics.median(a.floor) * 1e3:.1f} / {statistics.median(b.floor) * 1e3:.1f} ms"
            )
        print(f"goal: warm TTFT ratio {long}/{short} <= 1.30 with the cache: {ratios[True]:.2f} "
              f"(without: {ratios[False]:.2f})")  # fmt: skip
    finally:
        engine.unload()
    return 0


if __name__ == "__main__":  # the template worker starts processes with spawn: nothing may run on import
    raise SystemExit(main())
