"""`hearth bench`: the engine's streaming path against a raw llama.cpp loop, same model, same run.

The raw loop is the floor for what any Python front end can do: llama_decode one token at a time,
llama.cpp's own sampler chain (built by the same function the engine uses), no detokenizing, no events.
Both start from an empty KV cache on the same prompt. Runs alternate (raw, engine, raw, engine…) so
that a noisy neighbour hurts both, and the best run of each is kept.

`--contention` (run_contention) measures the thread governor instead: the automatic thread setting
against each fixed count, with 0, 1 and all-cores busy-loop processes started here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from desktop_app.core.engine import Engine, GenerationStats, native
from desktop_app.core.errors import GenerationError, SettingsError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.system import cpu_count

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
    _check_sizes(model.n_ctx, prompt_tokens, n_gen, repeat)
    sampling = SamplingSettings(seed=seed)
    prompt = bench_prompt(engine, prompt_tokens)
    # Both loops at the same thread count: this compares loops, not thread policies (--contention
    # measures the governor), so automatic threads are pinned at their starting count here.
    state = engine.thread_state
    n_threads = state.max_threads if state is not None else 0
    if state is not None and state.automatic:
        engine.pin_threads(n_threads)
    try:
        run_raw(engine, prompt[:32], 8, sampling)  # warm-up: page in the weights, spin up the threads
        raws: list[PathResult] = []
        engines: list[PathResult] = []
        for _ in range(repeat):
            raws.append(run_raw(engine, prompt, n_gen, sampling))
            engines.append(run_engine(engine, prompt, n_gen, sampling))
    finally:
        if state is not None and state.automatic:
            engine.pin_threads(None)
    raw = _best(raws)
    eng = _best(engines)
    result: dict[str, Any] = {
        "model": model.summary.name,
        "n_ctx": model.n_ctx,
        "n_threads": n_threads,
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


def _check_sizes(n_ctx: int, prompt_tokens: int, n_gen: int, repeat: int) -> None:
    if prompt_tokens < 1 or n_gen < 1 or repeat < 1:
        raise SettingsError(
            "The benchmark needs at least 1 prompt token, 1 generated token and 1 run.",
            hint="Ask for a positive number of prompt tokens, generated tokens and runs.",
        )
    if prompt_tokens + n_gen + 8 > n_ctx:
        raise GenerationError(
            f"{prompt_tokens} prompt tokens + {n_gen} generated tokens do not fit "
            f"in the {n_ctx}-token context.",
            hint="Load with a larger context, or bench fewer tokens.",
        )


def _best(results: list[PathResult]) -> PathResult:
    best = max(results, key=lambda r: r.generation_tps)
    best.prefill_tps = max(r.prefill_tps for r in results)
    return best


# -- hearth bench --contention ----------------------------------------------------------------------

BUSY_LOOP = "while True:\n    pass\n"
BUSY_START_S = 0.3  # let the busy processes get going before measuring


@contextmanager
def busy_processes(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` Python processes spinning on a CPU each, like a browser or a compiler; always ended."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", BUSY_LOOP],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        if procs:
            time.sleep(BUSY_START_S)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def contention_loads() -> list[int]:
    """Busy processes per measured load: none, one, and one per logical CPU (every core busy)."""
    return sorted({0, 1, cpu_count()})


def run_contention(
    engine: Engine,
    *,
    n_gen: int = 128,
    prompt_tokens: int = 256,
    repeat: int = 2,
    seed: int = 1,
    loads: list[int] | None = None,
) -> dict[str, Any]:
    """Under each load, the automatic thread setting (the governor) against every fixed count from 1
    to the physical cores, in one run: runs alternate (automatic, 1, 2, … threads, again) so that
    noise hurts all alike; the best of each is kept, and each speed is compared with the best fixed
    count for it. The engine must be loaded with automatic threads."""
    model = engine.model
    assert model is not None
    state = engine.thread_state
    if state is None or not state.automatic:
        raise SettingsError(
            "The contention benchmark compares the automatic thread setting with fixed ones.",
            hint="Leave out --threads.",
        )
    _check_sizes(model.n_ctx, prompt_tokens, n_gen, repeat)
    sampling = SamplingSettings(seed=seed)
    prompt = bench_prompt(engine, prompt_tokens)
    top = state.max_threads
    counts = list(range(1, top + 1))
    run_raw(engine, prompt[:32], 8, sampling)  # warm-up: page in the weights, spin up the threads
    measured: list[dict[str, Any]] = []
    for busy in loads if loads is not None else contention_loads():
        with busy_processes(busy):
            automatic: list[PathResult] = []
            fixed: dict[int, list[PathResult]] = {n: [] for n in counts}
            for _ in range(repeat):
                engine.pin_threads(None)
                automatic.append(run_engine(engine, prompt, n_gen, sampling))
                for n in counts:
                    engine.pin_threads(n)
                    fixed[n].append(run_engine(engine, prompt, n_gen, sampling))
                engine.pin_threads(None)
        after = engine.thread_state
        auto = _best(automatic)
        best = {n: _best(runs) for n, runs in fixed.items()}
        best_gen = max(counts, key=lambda n: best[n].generation_tps)
        best_prefill = max(counts, key=lambda n: best[n].prefill_tps)
        measured.append(
            {
                "busy_processes": busy,
                "automatic": {
                    "prefill_tps": auto.prefill_tps,
                    "generation_tps": auto.generation_tps,
                    "n_threads_after": after.n_threads if after is not None else 0,
                },
                "fixed": {
                    str(n): {"prefill_tps": r.prefill_tps, "generation_tps": r.generation_tps}
                    for n, r in best.items()
                },
                "best_fixed": {"prefill": best_prefill, "generation": best_gen},
                "ratio": {
                    "prefill": _ratio(auto.prefill_tps, best[best_prefill].prefill_tps),
                    "generation": _ratio(auto.generation_tps, best[best_gen].generation_tps),
                },
            }
        )
    return {
        "model": model.summary.name,
        "n_ctx": model.n_ctx,
        "physical_cores": top,
        "cpu_count": cpu_count(),
        "prompt_tokens": len(prompt),
        "generated_tokens": n_gen,
        "repeat": repeat,
        "loads": measured,
    }


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else 0.0
