"""`hearth bench`: the engine's streaming path against a raw llama.cpp loop, same model, same run.

The raw loop is the floor for what any Python front end can do: llama_decode one token at a time,
llama.cpp's own sampler chain (built by the same function the engine uses), no detokenizing, no events.
Both start from an empty KV cache on the same prompt. Runs alternate (raw, engine, raw, engine…) so
that a noisy neighbour hurts both, and the best run of each is kept.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from desktop_app.core.engine import Engine, GenerationStats, native
from desktop_app.core.errors import GenerationError, SettingsError
from desktop_app.core.generation import SamplingSettings

PROMPT_PARAGRAPH = (
    "The history of the hearth is the history of the home. For most of human history, the fire at the "
    "centre of the dwelling was where food was cooked, where people gathered for warmth, and where "
    "stories were told late into the night. "
)


@dataclass
class PathResult:
    prefill_tps: float
    generation_tps: float
    prompt_tokens: int
    generated_tokens: int
    early_tps: float | None = None
    late_tps: float | None = None


def bench_prompt(engine: Engine, target_tokens: int) -> list[int]:
    text = PROMPT_PARAGRAPH
    while len(engine.tokenize(text)) < target_tokens:
        text += PROMPT_PARAGRAPH
    return engine.tokenize(text)[:target_tokens]


def _phase_rates(times: list[float]) -> tuple[float | None, float | None]:
    """Tokens per second over the first and the last 10% of the generated tokens (sample timestamps)."""
    n = len(times)
    if n < 200:
        return None, None
    k = n // 10
    early_span = times[k] - times[0]
    late_span = times[-1] - times[-k - 1]
    return (k / early_span if early_span > 0 else None, k / late_span if late_span > 0 else None)


def run_raw(engine: Engine, prompt: list[int], n_gen: int, sampling: SamplingSettings) -> PathResult:
    llama_cpp = native.lib()
    ctx, vocab, buffer = engine.native_handles()
    engine.reset_cache()
    sampler = native.build_sampler(vocab, sampling, sampling.seed or 0)
    times: list[float] = []
    try:
        t0 = time.perf_counter()
        for start in range(0, len(prompt), buffer.capacity):
            if llama_cpp.llama_decode(ctx, buffer.batch(prompt[start : start + buffer.capacity])) != 0:
                raise GenerationError("The raw loop's prefill failed.")
        t1 = time.perf_counter()
        for _ in range(n_gen):
            token = llama_cpp.llama_sampler_sample(sampler, ctx, -1)
            times.append(time.perf_counter())
            if len(times) == n_gen:
                break
            if llama_cpp.llama_decode(ctx, buffer.single(token)) != 0:
                raise GenerationError("The raw loop's decode failed (context full?).")
        t2 = time.perf_counter()
    finally:
        llama_cpp.llama_sampler_free(sampler)
    engine.reset_cache()
    early, late = _phase_rates(times)
    return PathResult(len(prompt) / (t1 - t0), n_gen / (t2 - t1), len(prompt), n_gen, early, late)


def run_engine(engine: Engine, prompt: list[int], n_gen: int, sampling: SamplingSettings) -> PathResult:
    engine.reset_cache()
    times: list[float] = []
    stats: GenerationStats | None = None
    settings = SamplingSettings(**{**sampling.to_dict(), "stop": (), "max_tokens": n_gen})
    for event in engine.stream_completion(prompt, settings, ignore_eos=True, token_times=times):
        if isinstance(event, GenerationStats):
            stats = event
    assert stats is not None
    engine.reset_cache()
    early, late = _phase_rates(times)
    return PathResult(
        stats.prefill_tps, stats.generation_tps, stats.prompt_tokens, stats.completion_tokens, early, late
    )


def run_bench(
    engine: Engine, *, n_gen: int = 128, prompt_tokens: int = 256, repeat: int = 2, seed: int = 1
) -> dict[str, Any]:
    model = engine.model
    assert model is not None
    if prompt_tokens < 1 or n_gen < 1 or repeat < 1:
        raise SettingsError(
            "The benchmark needs at least 1 prompt token, 1 generated token and 1 run.",
            hint="Ask for a positive number of prompt tokens, generated tokens and runs.",
        )
    if prompt_tokens + n_gen + 8 > model.n_ctx:
        raise GenerationError(
            f"{prompt_tokens} prompt tokens + {n_gen} generated tokens do not fit "
            f"in the {model.n_ctx}-token context.",
            hint="Load with a larger context, or bench fewer tokens.",
        )
    sampling = SamplingSettings(seed=seed)
    prompt = bench_prompt(engine, prompt_tokens)
    run_raw(engine, prompt[:32], 8, sampling)  # warm-up: page in the weights, spin up the threads
    raws: list[PathResult] = []
    engines: list[PathResult] = []
    for _ in range(repeat):
        raws.append(run_raw(engine, prompt, n_gen, sampling))
        engines.append(run_engine(engine, prompt, n_gen, sampling))
    raw = _best(raws)
    eng = _best(engines)
    result: dict[str, Any] = {
        "model": model.summary.name,
        "n_ctx": model.n_ctx,
        "n_threads": model.settings.n_threads,
        "prompt_tokens": len(prompt),
        "generated_tokens": n_gen,
        "repeat": repeat,
        "engine": asdict(eng),
        "raw": asdict(raw),
        "ratio": {
            "prefill": eng.prefill_tps / raw.prefill_tps,
            "generation": eng.generation_tps / raw.generation_tps,
        },
    }
    if eng.early_tps and eng.late_tps and raw.early_tps and raw.late_tps:
        result["late_to_early"] = {
            "engine": eng.late_tps / eng.early_tps,
            "raw": raw.late_tps / raw.early_tps,
        }
    return result


def _best(results: list[PathResult]) -> PathResult:
    best = max(results, key=lambda r: r.generation_tps)
    best.prefill_tps = max(r.prefill_tps for r in results)
    return best
