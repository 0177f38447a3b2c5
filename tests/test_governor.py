"""The thread governor: the policy fed simulated step times, and the engine applying it to llama.cpp.

No test here asserts a real timing: steps are made slow or fast by an injected clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop_app.core import generation
from desktop_app.core.engine import Engine, GenerationStats, native
from desktop_app.core.engine.cpu_load import CpuReading
from desktop_app.core.engine.governor import PROBE_MAX_S, PROBE_S, WINDOW, ThreadGovernor
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.model_settings import ModelSettings

QUIET = {1: 0.030, 2: 0.018, 3: 0.013, 4: 0.010}  # seconds per token when nothing else runs
BUSY = {1: 0.040, 2: 0.500, 4: 1.600}  # one busy process per core: more threads collapse


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_governor(max_threads: int = 2) -> tuple[ThreadGovernor, FakeClock, list[int]]:
    clock = FakeClock()
    applied: list[int] = []
    return ThreadGovernor(max_threads, applied.append, clock=clock), clock, applied


def run_steps(governor: ThreadGovernor, clock: FakeClock, costs: dict[int, float], n: int) -> None:
    """`n` generation steps, each costing what the current thread count costs under this load."""
    for _ in range(n):
        began = clock()
        clock.now += costs[governor.threads]
        governor.step(began)


def test_quiet_machine_stays_at_the_physical_cores() -> None:
    governor, clock, applied = make_governor(4)
    run_steps(governor, clock, QUIET, int(30 / QUIET[4]))  # 30 s of decoding
    assert governor.threads == 4
    assert governor.state.reason is None and governor.state.describe() == ""
    # The rare probes down (after 8 s, then 16 s more) were measured slower and undone.
    assert applied == [3, 4, 3, 4]


def test_a_simulated_slow_step_lowers_the_threads_and_fast_steps_raise_them_again() -> None:
    governor, clock, applied = make_governor(2)
    run_steps(governor, clock, QUIET, 2 * WINDOW)  # learns the quiet speed of 2 threads
    assert governor.threads == 2

    run_steps(governor, clock, BUSY, 1)  # one step 28x the quiet time: a hiccup, maybe
    assert governor.threads == 2
    run_steps(governor, clock, BUSY, 1)  # two in a row: no waiting for a window
    assert governor.threads == 1 and applied[-1] == 1
    run_steps(governor, clock, BUSY, 3 * WINDOW)  # 1 thread measured faster than the busy 2: kept
    assert governor.threads == 1
    assert governor.state.describe() == "1 thread: the CPU is busy"

    run_steps(governor, clock, QUIET, 3 * WINDOW)  # the load goes away; a probe up is faster: kept
    assert governor.threads == 2 and applied[-1] == 2
    assert governor.state.reason is None


def test_probing_up_while_still_busy_goes_back_and_backs_off() -> None:
    governor, clock, _ = make_governor(2)
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    run_steps(governor, clock, BUSY, 2 + WINDOW)
    assert governor.threads == 1
    changes = governor.changes
    steps = int(60 / BUSY[1])  # a minute of decoding under the same load
    run_steps(governor, clock, BUSY, steps)
    assert governor.threads == 1
    probes = (governor.changes - changes) // 2
    # Each probe fails at its first step, and the wait doubles after each: 1, 2, 4, … 32 s.
    assert 1 <= probes <= 6


def test_idle_time_does_not_bring_a_probe_forward() -> None:
    governor, clock, _ = make_governor(2)
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    run_steps(governor, clock, BUSY, 2 + WINDOW)
    changes = governor.changes
    clock.now += 3600  # an hour between two requests
    run_steps(governor, clock, BUSY, WINDOW)
    assert governor.changes == changes and governor.threads == 1


def test_a_slowdown_that_fewer_threads_do_not_fix_is_not_called_contention() -> None:
    """A long context makes every count slower: stepping down is measured, found no better, undone."""
    governor, clock, _ = make_governor(2)
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    longer_context = {n: t * 2 for n, t in QUIET.items()}
    run_steps(governor, clock, longer_context, 4 * WINDOW)
    assert governor.threads == 2
    assert governor.state.reason is None


def test_prefill_chunks_count_per_token() -> None:
    governor, clock, applied = make_governor(2)
    for cost in (0.010, 0.010, 0.020):  # a 64-token chunk at 2 threads, then one 2x slower
        began = clock()
        clock.now += cost * 64
        governor.step(began, "prefill", 64)
    assert governor.threads == 1 and applied == [1]
    began = clock()
    clock.now += 0.001 * 4
    governor.step(began, "prefill", 4)  # tiny chunks are mostly overhead: ignored
    assert governor.threads == 1


class FakeLoad:
    """What the OS's CPU counts say (cpu_load.CpuLoad.reading), set by the test."""

    def __init__(self, idle: float, others: float) -> None:
        self.value: CpuReading | None = CpuReading(idle=idle, others=others)

    def __call__(self) -> CpuReading | None:
        return self.value


def sensing_governor(max_threads: int, load: FakeLoad) -> tuple[ThreadGovernor, FakeClock, list[int]]:
    clock = FakeClock()
    applied: list[int] = []
    return ThreadGovernor(max_threads, applied.append, clock=clock, load=load), clock, applied


def test_with_cpu_counts_no_probe_up_runs_while_no_cpu_stands_idle() -> None:
    """Under a steady load every probe up fails and collapses its steps: the counts skip them."""
    load = FakeLoad(idle=0.0, others=0.0)
    governor, clock, _ = sensing_governor(2, load)
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    load.value = CpuReading(idle=0.0, others=1.0)
    run_steps(governor, clock, BUSY, 2 + WINDOW)
    assert governor.threads == 1
    changes = governor.changes
    run_steps(governor, clock, BUSY, int(30 / BUSY[1]))  # 30 s under the same load
    assert governor.changes == changes and governor.threads == 1

    load.value = CpuReading(idle=1.0, others=0.0)  # the busy process ended
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    assert governor.threads == 2 and governor.state.reason is None


def test_with_cpu_counts_a_probe_up_still_runs_now_and_then_in_case_they_mislead() -> None:
    load = FakeLoad(idle=0.0, others=1.0)
    governor, clock, _ = sensing_governor(2, load)
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    run_steps(governor, clock, BUSY, 2 + WINDOW)
    changes = governor.changes
    run_steps(governor, clock, BUSY, int((PROBE_S + PROBE_MAX_S + 2) / BUSY[1]))
    assert governor.changes - changes == 2  # one probe up, measured slower, undone
    assert governor.threads == 1


def test_with_cpu_counts_a_quiet_machine_is_not_probed_down() -> None:
    governor, clock, applied = sensing_governor(4, FakeLoad(idle=0.0, others=0.0))
    run_steps(governor, clock, QUIET, int(30 / QUIET[4]))
    assert applied == []  # the timer alone probed down twice in these 30 s


def test_with_cpu_counts_a_machine_busy_from_the_start_is_tried_one_thread_down_at_once() -> None:
    """No quiet time to compare with: the counts say a core is taken, so the first window tries fewer."""
    governor, clock, applied = sensing_governor(2, FakeLoad(idle=0.0, others=1.0))
    run_steps(governor, clock, BUSY, WINDOW + 2)
    assert applied == [1]
    run_steps(governor, clock, BUSY, 2 * WINDOW)
    assert governor.threads == 1 and governor.state.describe() == "1 thread: the CPU is busy"


def test_with_no_reading_the_governor_probes_on_its_timer() -> None:
    load = FakeLoad(idle=0.0, others=0.0)
    load.value = None  # the counts could not be read this time
    governor, clock, _ = sensing_governor(2, load)
    run_steps(governor, clock, QUIET, 2 * WINDOW)
    run_steps(governor, clock, BUSY, 2 + WINDOW)
    changes = governor.changes
    run_steps(governor, clock, BUSY, int(30 / BUSY[1]))
    assert governor.changes > changes  # probes ran, as without a reader


# -- the engine ------------------------------------------------------------------------------------


class ThreadCostClock:
    """Advances, on every read, by the cost of a step at the context's current thread count: the
    engine reads it just before and just after each decode, so each step takes exactly that cost."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0
        self.costs: dict[int, float] = QUIET
        self.threads: Callable[[], int] = lambda: 2

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.costs[self.threads()]
        return self.now


def _generate(engine: Engine, n: int) -> GenerationStats:
    stats = None
    engine.reset_cache()
    sampling = SamplingSettings(max_tokens=n, seed=1)
    for event in engine.stream_completion("the hearth", sampling, ignore_eos=True):
        if isinstance(event, GenerationStats):
            stats = event
    assert stats is not None
    return stats


def test_the_engine_lowers_the_context_threads_under_simulated_contention(
    tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generation, "default_threads", lambda: 2)  # any machine: 2 "physical cores"
    clock = ThreadCostClock()
    engine = Engine(clock=clock)
    engine.load(tiny_gguf(), LoadSettings())
    ctx = engine.native_handles()[0]

    def context_threads() -> int:
        return int(native.lib().llama_n_threads(ctx))

    clock.threads = context_threads
    try:
        assert context_threads() == 2 and engine.thread_state is not None
        assert engine.thread_state.automatic
        quiet = _generate(engine, 2 * WINDOW + 2)
        assert quiet.n_threads == 2 and quiet.threads_note == ""

        clock.costs = BUSY
        busy = _generate(engine, 2 * WINDOW + 2)
        assert context_threads() == 1
        assert int(native.lib().llama_n_threads_batch(ctx)) == 2  # prefill has its own governor
        assert busy.n_threads == 1 and busy.threads_note == "1 thread: the CPU is busy"

        clock.costs = QUIET
        calm = _generate(engine, int(PROBE_S / QUIET[1]) + 3 * WINDOW)
        assert context_threads() == 2
        assert calm.n_threads == 2 and calm.threads_note == ""
    finally:
        engine.unload()


def test_slow_prefill_lowers_only_the_batch_threads(
    tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generation, "default_threads", lambda: 2)
    clock = ThreadCostClock()
    engine = Engine(clock=clock)
    engine.load(tiny_gguf(), LoadSettings(n_batch=32))
    ctx = engine.native_handles()[0]
    clock.threads = lambda: int(native.lib().llama_n_threads_batch(ctx))
    prompt = engine.tokenize("the hearth is warm " * 40)[:200]
    assert len(prompt) == 200  # 6 full chunks of 32

    def prefill() -> None:
        engine.reset_cache()
        for _ in engine.stream_completion(prompt, SamplingSettings(max_tokens=1, seed=1)):
            pass

    try:
        prefill()  # learns the quiet speed of 2 batch threads
        clock.costs = BUSY
        prefill()
        assert int(native.lib().llama_n_threads_batch(ctx)) == 1
        assert int(native.lib().llama_n_threads(ctx)) == 2  # generation was never slow
    finally:
        engine.unload()


def test_a_fixed_thread_count_keeps_the_governor_off(
    tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generation, "default_threads", lambda: 2)
    clock = ThreadCostClock()
    clock.costs = BUSY
    engine = Engine(clock=clock)
    engine.load(tiny_gguf(), LoadSettings(n_threads=2))
    ctx = engine.native_handles()[0]
    clock.threads = lambda: int(native.lib().llama_n_threads(ctx))
    try:
        stats = _generate(engine, 2 * WINDOW + 2)
        assert int(native.lib().llama_n_threads(ctx)) == 2
        assert stats.n_threads == 2 and stats.threads_note == ""
        state = engine.thread_state
        assert state is not None and not state.automatic
        assert clock.reads == 0  # not even read: a fixed count costs nothing per token
    finally:
        engine.unload()


def test_pinned_threads_pause_the_governor_and_none_resumes_it(
    tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generation, "default_threads", lambda: 2)
    engine = Engine()
    engine.load(tiny_gguf(), LoadSettings())
    ctx = engine.native_handles()[0]
    try:
        engine.pin_threads(1)
        assert int(native.lib().llama_n_threads(ctx)) == 1
        assert _generate(engine, 4).n_threads == 1
        engine.pin_threads(None)
        assert int(native.lib().llama_n_threads(ctx)) == 2
        state = engine.thread_state
        assert state is not None and state.automatic
    finally:
        engine.unload()


# -- settings --------------------------------------------------------------------------------------


def test_load_settings_round_trip_automatic_and_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = LoadSettings()
    assert auto.n_threads is None and auto.automatic_threads
    assert auto.to_dict()["n_threads"] is None
    assert LoadSettings.from_dict(json.loads(json.dumps(auto.to_dict()))) == auto
    assert LoadSettings(n_threads=0) == auto  # the drawer's spin box says "Automatic" with a 0
    stored = {"n_threads": 3, "n_threads_batch": 8}  # what earlier versions saved
    fixed = LoadSettings.from_dict(stored)
    assert fixed.n_threads == 3 and not fixed.automatic_threads
    assert fixed.thread_counts() == (3, 8)
    assert LoadSettings(n_threads=3).thread_counts() == (3, 3)
    monkeypatch.setattr(generation, "default_threads", lambda: 4)
    assert LoadSettings(n_threads_batch=8).thread_counts() == (4, 4)  # automatic governs both
    again = ModelSettings.from_stored({"load": auto.to_dict()})
    assert again.load == auto


def test_physical_cores_is_sane() -> None:
    from desktop_app.core.system import cpu_count, default_threads, physical_cores

    physical = physical_cores()
    assert physical is None or 1 <= physical <= cpu_count()
    assert 1 <= default_threads() <= cpu_count()


# -- the benchmark ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_contention_json_runs_end_to_end(
    tiny_gguf: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop_app.cli import main

    path = tiny_gguf(context_length=256)
    rc = main(["bench", "--model", str(path), "--contention", "--tokens", "8", "--prompt-tokens", "16",
               "--json"])  # fmt: skip
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert {"model", "physical_cores", "loads", "generated_tokens", "prompt_tokens"} <= set(result)
    assert [load["busy_processes"] for load in result["loads"]] == sorted({0, 1, result["physical_cores"]})
    for load in result["loads"]:
        assert {"automatic", "fixed", "best_fixed", "ratio"} <= set(load)
        assert {"prefill", "generation"} == set(load["ratio"])
        assert set(load["fixed"]) == {str(n) for n in range(1, result["physical_cores"] + 1)}
        assert load["ratio"]["generation"] > 0 and load["ratio"]["prefill"] > 0


def test_parallel_sequences_are_governed_too(
    tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """API requests and batch rows run in their own context (Engine.run_parallel): a busy CPU collapses
    its batched steps as it does the chat's, so it lowers that context's threads as well."""
    from desktop_app.core.engine.sequences import SequenceRequest

    monkeypatch.setattr(generation, "default_threads", lambda: 2)
    clock = ThreadCostClock()
    engine = Engine(clock=clock)
    engine.load(tiny_gguf(), LoadSettings())

    def parallel_threads() -> int:
        scheduler = engine._parallel
        return 2 if scheduler is None else int(native.lib().llama_n_threads(scheduler.context.ctx))

    clock.threads = parallel_threads

    def run(n: int) -> list[GenerationStats]:
        results: list[GenerationStats] = []

        def on_event(item: object) -> None:
            if isinstance(item, GenerationStats):
                results.append(item)

        sampling = SamplingSettings(max_tokens=n, seed=1, temperature=0.0)
        queue = [
            SequenceRequest(None, sampling, on_event, prompt="the hearth", ignore_eos=True) for _ in range(2)
        ]
        engine.run_parallel(lambda: queue.pop() if queue else None, n_parallel=2)
        assert len(results) == 2
        return results

    try:
        quiet = run(2 * WINDOW + 2)
        assert parallel_threads() == 2 and all(s.n_threads == 2 and not s.threads_note for s in quiet)
        clock.costs = BUSY
        busy = run(2 * WINDOW + 2)
        assert parallel_threads() == 1
        assert all(s.n_threads == 1 and s.threads_note == "1 thread: the CPU is busy" for s in busy)
        clock.costs = QUIET
        calm = run(int(PROBE_S / QUIET[1]) + 3 * WINDOW)
        assert parallel_threads() == 2 and all(s.n_threads == 2 for s in calm)
    finally:
        engine.unload()
