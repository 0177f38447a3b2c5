"""Batch jobs' invariant mode (Engine.load(batch_invariant=True), as `hearth batch` loads): at
temperature 0 a row gives the same text whatever runs beside it and whichever row its slot held before,
so `--parallel 4` and `--parallel 1` write the same answers. Real Gemma; see sequences.py
(`_step_invariant`) and native.load_progress (weights as stored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.engine import Engine
from desktop_app.core.engine.sequences import PREFILL_SLICE
from desktop_app.core.generation import LoadSettings
from tests.test_parallel_sequences import Recorder, completion, feed, greedy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: a batch job's template: a shared head longer than one slice, then each row's own text
HEAD = "You are a careful assistant. Answer the question in two plain sentences, no lists. " * 5
QUESTIONS = [
    "Why is the sky blue?",
    "How do bees make honey?",
    "What is the water cycle?",
    "Why do we have seasons?",
    "How does a train stay on its rails?",
    "What is bread made of?",
]


@pytest.fixture(scope="module")
def engine(gemma_path: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(gemma_path, LoadSettings(n_ctx=2048, n_threads=2), batch_invariant=True)
    yield engine
    engine.unload()


def run_rows(engine: Engine, n_parallel: int, order: list[int]) -> dict[int, Recorder]:
    engine.release_parallel()  # fresh slots: nothing held from another test
    recorders = {i: Recorder() for i in order}
    requests = [completion(HEAD + QUESTIONS[i], recorders[i], greedy(40)) for i in order]
    engine.run_parallel(feed(requests), n_parallel=n_parallel)
    return recorders


def test_rows_give_the_same_text_four_at_once_as_one_at_a_time(engine: Engine) -> None:
    """Six rows through 4 slots (rows join as others run, prompt slices beside generating streams)
    against the same rows one at a time in another order (each slot then reuses another row's head)."""
    together = run_rows(engine, 4, list(range(len(QUESTIONS))))
    alone = run_rows(engine, 1, list(reversed(range(len(QUESTIONS)))))
    for i in range(len(QUESTIONS)):
        assert together[i].stats.completion_tokens == alone[i].stats.completion_tokens > 0
        assert together[i].text == alone[i].text, (i, together[i].text, alone[i].text)
    assert len({r.text for r in alone.values()}) == len(QUESTIONS)  # the rows really differ


def test_a_slot_reuses_whole_slices_of_the_head(engine: Engine) -> None:
    """The shared head is reused, but only in whole prompt slices: the keys a fresh read makes."""
    recorders = run_rows(engine, 1, [0, 1])
    second = recorders[1].stats
    assert second.cached_tokens >= PREFILL_SLICE
    assert second.cached_tokens % PREFILL_SLICE == 0
    assert second.evaluated_tokens == second.prompt_tokens - second.cached_tokens


def test_a_long_prompt_joining_does_not_stop_the_running_stream(engine: Engine) -> None:
    """In this mode a prompt slice is its own llama_decode, still one per step between the stream's
    tokens: the stream keeps going while a ~1,500-token prompt is read."""
    engine.release_parallel()
    order: list[str] = []
    running = Recorder(name="running", order=order)
    joiner = Recorder(name="joiner", order=order)
    stages = [completion("Once upon a time", running, greedy(60))]

    def next_request() -> object:
        if stages:
            return stages.pop(0)
        if len(running.texts) >= 5 and "join" not in order:
            order.append("join")
            return completion("Tell me about the history of the city. " * 180, joiner, greedy(4))
        return None

    engine.run_parallel(next_request, n_parallel=2)  # type: ignore[arg-type]
    assert "join" in order and joiner.stats.prompt_tokens > 1000
    joined = order.index("join")
    first = order.index("joiner") if "joiner" in order else len(order)
    assert order[joined + 1 : first].count("running") >= 10, order
