"""Parallel sequences on the real Gemma model: continuous batching in one context (Engine.run_parallel).

Greedy text from a batch can differ from the same prompt decoded alone: llama.cpp's kernels differ with
the batch size (ARCHITECTURE.md), so these tests compare a batched reply with the same request in the
same batch shape, or allow the documented difference where they must compare across shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from desktop_app.core.engine import Engine, GenerationStats, TextDelta
from desktop_app.core.engine.events import Event
from desktop_app.core.engine.sequences import SequenceRequest
from desktop_app.core.errors import GenerationError
from desktop_app.core.generation import LoadSettings, SamplingSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROMPTS = [
    "The capital of France is",
    "Once upon a time",
    "def fibonacci(n):",
    "The three primary colors are",
]


@pytest.fixture(scope="module")
def engine(gemma_path: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(gemma_path, LoadSettings(n_ctx=2048, n_threads=2))
    yield engine
    engine.unload()


@dataclass
class Recorder:
    """One request's events, as the scheduler delivered them."""

    texts: list[str] = field(default_factory=list)
    result: GenerationStats | BaseException | None = None
    name: str = ""
    order: list[str] | None = None  # shared by several recorders: who got each delta, in order

    def on_event(self, item: Event | BaseException) -> None:
        if isinstance(item, TextDelta):
            self.texts.append(item.text)
            if self.order is not None:
                self.order.append(self.name)
        else:
            assert self.result is None, "exactly one final event"
            self.result = item

    @property
    def text(self) -> str:
        return "".join(self.texts)

    @property
    def stats(self) -> GenerationStats:
        assert isinstance(self.result, GenerationStats), self.result
        return self.result


def greedy(max_tokens: int = 24) -> SamplingSettings:
    return SamplingSettings(temperature=0.0, max_tokens=max_tokens, seed=1)


def feed(requests: list[SequenceRequest]) -> Callable[[], SequenceRequest | None]:
    queue = list(requests)
    return lambda: queue.pop(0) if queue else None


def completion(prompt: str, recorder: Recorder, sampling: SamplingSettings | None = None) -> SequenceRequest:
    return SequenceRequest(None, sampling or greedy(), recorder.on_event, prompt=prompt)


def test_four_sequences_each_end_with_their_own_stats(engine: Engine) -> None:
    recorders = [Recorder() for _ in PROMPTS]
    done = engine.run_parallel(
        feed([completion(p, r) for p, r in zip(PROMPTS, recorders, strict=True)]), n_parallel=4
    )
    assert done
    assert engine.parallel_slots == 4
    for recorder in recorders:
        assert recorder.stats.stop_reason == "max_tokens"
        assert recorder.stats.completion_tokens == 24
        assert recorder.text.strip()
    assert "Paris" in recorders[0].text or "France" in recorders[0].text


def test_batched_replies_match_the_same_requests_run_one_at_a_time(engine: Engine) -> None:
    """Same requests one at a time, then 4 at once (fresh slots: no prefix computed by the other
    shape). At temperature 0 a batch can flip a token where two candidates are nearly tied, because
    llama.cpp's kernels differ with the batch size (the batch benchmark measures how often), so one
    reply may part ways late. Broken batching (positions, masks, a sequence reading another's keys)
    changes every reply from its first tokens."""
    engine.release_parallel()
    alone = []
    for prompt in PROMPTS:
        recorder = Recorder()
        engine.run_parallel(feed([completion(prompt, recorder, greedy(10))]), n_parallel=1)
        alone.append(recorder)
    engine.release_parallel()
    batched = [Recorder() for _ in PROMPTS]
    requests = [completion(p, r, greedy(10)) for p, r in zip(PROMPTS, batched, strict=True)]
    engine.run_parallel(feed(requests), n_parallel=4)
    pairs = list(zip(batched, alone, strict=True))
    assert sum(b.text == a.text for b, a in pairs) >= len(PROMPTS) - 1, [(b.text, a.text) for b, a in pairs]
    for b, a in pairs:
        assert b.text[:12] == a.text[:12]


def test_a_sequence_alone_gives_the_chat_loops_text(engine: Engine) -> None:
    """One sequence attends over its own KV stream, laid out as the chat's loop lays out its cache:
    alone, it gives exactly the text `stream_completion` gives."""
    engine.release_parallel()
    for prompt in PROMPTS[:2]:
        recorder = Recorder()
        engine.run_parallel(feed([completion(prompt, recorder)]), n_parallel=2)
        serial = engine.stream_completion(prompt, greedy())
        assert recorder.text == "".join(e.text for e in serial if isinstance(e, TextDelta))


def test_sequences_in_one_batch_do_not_see_each_other(engine: Engine) -> None:
    """Two prompts, each twice, in one batch: each copy gives its twin's text exactly (its own KV
    stream, the same kernels), and the two prompts give different texts."""
    engine.release_parallel()
    recorders = [Recorder() for _ in range(4)]
    prompts = [PROMPTS[0], PROMPTS[1], PROMPTS[0], PROMPTS[1]]
    requests = [completion(p, r) for p, r in zip(prompts, recorders, strict=True)]
    engine.run_parallel(feed(requests), n_parallel=4)
    assert recorders[0].text == recorders[2].text
    assert recorders[1].text == recorders[3].text
    assert recorders[0].text != recorders[1].text


def test_cancelling_one_sequence_leaves_the_others_running(engine: Engine) -> None:
    recorders = [Recorder() for _ in PROMPTS]
    requests = [completion(p, r, greedy(40)) for p, r in zip(PROMPTS, recorders, strict=True)]
    requests[1].cancelled = lambda: len(recorders[1].texts) >= 3
    engine.run_parallel(feed(requests), n_parallel=4)
    assert recorders[1].stats.stop_reason == "cancelled"
    assert recorders[1].stats.completion_tokens < 40
    for i in (0, 2, 3):
        assert recorders[i].stats.stop_reason == "max_tokens"


def test_a_long_prompt_joining_does_not_stop_the_running_streams(engine: Engine) -> None:
    """A 1,500-token prompt joins while a stream runs: it is read in slices between that stream's
    tokens, so the stream keeps getting tokens before the newcomer's first one."""
    order: list[str] = []
    running = Recorder(name="running", order=order)
    joiner = Recorder(name="joiner", order=order)
    long_prompt = "Tell me about the history of the city. " * 180  # ~1,500 tokens
    stages: list[SequenceRequest] = [completion("Once upon a time", running, greedy(80))]

    def next_request() -> SequenceRequest | None:
        if stages:
            return stages.pop(0)
        if len(running.texts) >= 5 and "join" not in order:
            order.append("join")
            return completion(long_prompt, joiner, greedy(4))
        return None

    engine.run_parallel(next_request, n_parallel=2)
    assert "join" in order, "the long prompt never joined"
    assert isinstance(joiner.result, GenerationStats) and joiner.stats.prompt_tokens > 1000
    # the running stream's deltas after the join and before the joiner's first token
    joined = order.index("join")
    first = order.index("joiner") if "joiner" in order else len(order)
    assert order[joined + 1 : first].count("running") >= 10, order
    assert running.stats.stop_reason == "max_tokens"


def test_pause_parks_the_sequences_and_the_next_call_resumes_them(engine: Engine) -> None:
    """The chat's priority: pause() parks the batch between steps, a chat turn runs on the chat's own
    context, and the parked sequences then finish as if nothing happened."""
    reference = [Recorder() for _ in PROMPTS[:2]]
    engine.run_parallel(
        feed([completion(p, r, greedy(30)) for p, r in zip(PROMPTS[:2], reference, strict=True)]),
        n_parallel=4,
    )
    parked = [Recorder() for _ in PROMPTS[:2]]
    queue = feed([completion(p, r, greedy(30)) for p, r in zip(PROMPTS[:2], parked, strict=True)])
    assert not engine.run_parallel(queue, n_parallel=4, pause=lambda: len(parked[0].texts) >= 10)
    assert parked[0].result is None and parked[1].result is None
    chat = "".join(
        e.text
        for e in engine.stream_chat([{"role": "user", "content": "Hi"}], greedy(8))
        if isinstance(e, TextDelta)
    )
    assert chat is not None
    assert engine.run_parallel(queue, n_parallel=4)
    for done, ref in zip(parked, reference, strict=True):
        assert done.stats.stop_reason == "max_tokens"
        assert done.text == ref.text


def test_a_prompt_too_long_fails_alone(engine: Engine) -> None:
    ok, too_long = Recorder(), Recorder()
    huge = "word " * 5000
    engine.run_parallel(feed([completion(huge, too_long), completion("Once upon a time", ok)]), n_parallel=2)
    assert isinstance(too_long.result, GenerationError)
    assert "does not fit" in too_long.result.message
    assert ok.stats.stop_reason == "max_tokens"


def test_a_slot_reuses_the_prefix_it_held(engine: Engine) -> None:
    """Batch rows share their system prompt and template: the second row reads only what differs."""
    shared = "You are a careful assistant. Answer in one short sentence. " * 6
    first, second = Recorder(), Recorder()
    engine.run_parallel(feed([completion(shared + "Question: what is 2+2?", first, greedy(4))]), n_parallel=1)
    engine.run_parallel(
        feed([completion(shared + "Question: what is 3+3?", second, greedy(4))]), n_parallel=1
    )
    assert second.stats.cached_tokens > 40
    assert second.stats.evaluated_tokens < second.stats.prompt_tokens


def test_chat_messages_use_the_models_template(engine: Engine) -> None:
    recorder = Recorder()
    request = SequenceRequest([{"role": "user", "content": "Name a color."}], greedy(12), recorder.on_event)
    engine.run_parallel(feed([request]), n_parallel=2)
    assert recorder.stats.stop_reason in {"max_tokens", "eos", "stop_string"}
    assert "<start_of_turn>" not in recorder.text
