"""The inference worker under pytest-qt: signal order, batching, cancel, clean shutdown."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.chat_session import ChatSession, NewConversation
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.errors import ModelFileError
from desktop_app.core.generation import SamplingSettings
from desktop_app.workers.inference import BATCH_INTERVAL_S, InferenceController


class Recorder:
    def __init__(self, controller: InferenceController) -> None:
        self.events: list[tuple[str, object]] = []
        worker = controller  # the GUI-thread re-emitters
        worker.load_started.connect(lambda p: self.events.append(("load_started", p)))
        worker.loaded.connect(lambda m: self.events.append(("loaded", m)))
        worker.load_failed.connect(lambda e: self.events.append(("load_failed", e)))
        worker.generation_started.connect(lambda r: self.events.append(("started", r)))
        worker.text.connect(lambda r, k, t: self.events.append(("text", (r, k, t))))
        worker.finished.connect(lambda r, s: self.events.append(("finished", (r, s))))
        worker.failed.connect(lambda r, e: self.events.append(("failed", (r, e))))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def finished(self, request_id: int) -> GenerationStats | None:
        for kind, payload in self.events:
            if kind == "finished" and isinstance(payload, tuple) and payload[0] == request_id:
                stats = payload[1]
                assert isinstance(stats, GenerationStats)
                return stats
        return None


@pytest.fixture
def controller(qtbot):
    ctl = InferenceController()
    yield ctl
    assert ctl.shutdown(), "the inference thread did not stop"
    qtbot.wait(10)  # deliver the queued signals of the shutdown before the next test
    assert not ctl.inference_thread.isRunning()


def _load(qtbot, controller: InferenceController, path: Path) -> LoadedModel:
    with qtbot.waitSignal(controller.loaded, timeout=60_000) as blocker:
        controller.load(path)
    model = blocker.args[0]
    assert isinstance(model, LoadedModel)
    return model


@pytest.mark.gemma
def test_signal_order_and_batched_text(qtbot, controller, gemma_path: Path) -> None:
    rec = Recorder(controller)
    _load(qtbot, controller, gemma_path)
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        rid = controller.generate(
            [{"role": "user", "content": "Write a long story about the sea."}],
            SamplingSettings(max_tokens=96, temperature=0.0),
        )
    stats = rec.finished(rid)
    assert stats is not None and stats.completion_tokens == 96
    kinds = rec.kinds()
    assert kinds[:2] == ["load_started", "loaded"]
    assert kinds[2] == "started" and kinds[-1] == "finished"
    texts = [p for k, p in rec.events if k == "text"]
    assert set(kinds[3:-1]) == {"text"}
    assert len(texts) <= stats.total_s / BATCH_INTERVAL_S + 2
    assert all(isinstance(p, tuple) and p[0] == rid for p in texts)


def test_text_is_coalesced_not_one_signal_per_token(qtbot, controller, tiny_gguf) -> None:
    """The tiny model produces tokens far faster than the batch interval: many tokens per signal."""
    rec = Recorder(controller)
    _load(qtbot, controller, tiny_gguf())
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        rid = controller.generate(
            [{"role": "user", "content": "hello"}], SamplingSettings(max_tokens=150, temperature=1.0, seed=3)
        )
    stats = rec.finished(rid)
    assert stats is not None and stats.completion_tokens > 0
    texts = [p for k, p in rec.events if k == "text"]
    assert 1 <= len(texts) <= stats.total_s / BATCH_INTERVAL_S + 2
    assert len(texts) < stats.completion_tokens


@pytest.mark.gemma
def test_cancel_stops_generation_and_the_next_request_works(qtbot, controller, gemma_path: Path) -> None:
    rec = Recorder(controller)
    _load(qtbot, controller, gemma_path)
    long = SamplingSettings(max_tokens=2000, temperature=0.8, seed=1)
    rid = controller.generate([{"role": "user", "content": "Tell a very long story."}], long)
    qtbot.waitUntil(lambda: "text" in rec.kinds(), timeout=60_000)
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        controller.cancel()
    stats = rec.finished(rid)
    assert stats is not None and stats.stop_reason == "cancelled"
    assert 0 < stats.completion_tokens < 2000
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        rid2 = controller.generate([{"role": "user", "content": "Hello"}], SamplingSettings(max_tokens=4))
    second = rec.finished(rid2)
    assert second is not None and second.stop_reason in ("max_tokens", "eos")


@pytest.mark.gemma
def test_cancel_before_the_request_starts_is_not_lost(qtbot, controller, gemma_path: Path) -> None:
    rec = Recorder(controller)
    _load(qtbot, controller, gemma_path)
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        rid = controller.generate([{"role": "user", "content": "Hi"}], SamplingSettings(max_tokens=500))
        controller.cancel()  # queued behind nothing yet, or racing with the start: either way cancelled
    stats = rec.finished(rid)
    assert stats is not None and stats.stop_reason == "cancelled"


def test_load_failure_is_a_signal_not_a_crash(qtbot, controller, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 64)
    with qtbot.waitSignal(controller.load_failed, timeout=30_000) as blocker:
        controller.load(bad)
    assert isinstance(blocker.args[0], ModelFileError)


def test_generate_without_a_model_fails_cleanly(qtbot, controller) -> None:
    with qtbot.waitSignal(controller.failed, timeout=30_000) as blocker:
        controller.generate([{"role": "user", "content": "Hi"}])
    assert "No model is loaded" in str(blocker.args[1])


def _session_turn(tmp_path: Path, text: str = "hello", sampling: SamplingSettings | None = None):
    """A ChatSession turn on a store that notes which threads write replies."""

    class NotingStore(ConversationStore):
        threads: set[int] = set()

        def _save_reply(self, *args: Any, **kwargs: Any) -> None:
            NotingStore.threads.add(threading.get_ident())
            super()._save_reply(*args, **kwargs)

    store = NotingStore(Database(tmp_path / "hearth.db"))
    turn = ChatSession(store).begin(NewConversation(), text, sampling or SamplingSettings(max_tokens=40))
    return store, turn


def test_the_worker_saves_the_turns_reply_on_the_inference_thread(
    qtbot, controller, tiny_gguf, tmp_path
) -> None:
    rec = Recorder(controller)
    _load(qtbot, controller, tiny_gguf())
    store, turn = _session_turn(tmp_path, sampling=SamplingSettings(max_tokens=40, temperature=1.0, seed=3))
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        rid = controller.generate_turn(turn)
    stats = rec.finished(rid)
    assert stats is not None
    streamed = "".join(
        p[2] for k, p in rec.events if k == "text" and isinstance(p, tuple) and p[1] == "answer"
    )
    reply = store.get_message(turn.reply.id)  # final when `finished` arrives: no wait, no race
    assert (reply.content, reply.state) == (streamed, "complete")
    assert reply.stats and reply.stats["completion_tokens"] == stats.completion_tokens
    assert store.threads and threading.main_thread().ident not in store.threads  # never the GUI thread


def test_a_failed_turn_is_saved_as_failed_before_the_signal(qtbot, controller, tmp_path) -> None:
    store, turn = _session_turn(tmp_path)
    with qtbot.waitSignal(controller.failed, timeout=30_000):
        controller.generate_turn(turn)  # no model loaded
    reply = store.get_message(turn.reply.id)
    assert reply.state == "failed" and reply.error and "No model is loaded" in reply.error


def test_a_turn_cancelled_before_it_starts_is_saved_as_cancelled(qtbot, controller, tmp_path) -> None:
    store, turn = _session_turn(tmp_path)
    rid = controller.new_request_id()
    controller.cancel()
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        controller.generate(turn.messages, turn.sampling, request_id=rid, writer=turn.writer)
    reply = store.get_message(turn.reply.id)
    assert reply.state == "cancelled" and reply.stats and reply.stats["stop_reason"] == "cancelled"


def test_the_governor_stepping_in_reaches_the_status_bar(qtbot, tiny_gguf, monkeypatch) -> None:
    """A simulated busy CPU (an injected clock makes 2-thread steps slow) lowers the threads; the
    worker carries the state to the GUI thread and the status bar says why."""
    from desktop_app.core import generation
    from desktop_app.core.engine import Engine, native
    from desktop_app.core.engine.governor import ThreadState
    from desktop_app.ui.status_bar import StatusBar

    monkeypatch.setattr(generation, "default_threads", lambda: 2)
    costs = {1: 0.04, 2: 1.6}  # seconds per token: 2 threads collapse, 1 thread does fine
    handles: list[Any] = []
    now = [0.0]

    def clock() -> float:  # each read advances by a step at the context's thread count
        threads = int(native.lib().llama_n_threads(handles[0])) if handles else 2
        now[0] += costs[threads]
        return now[0]

    engine = Engine(clock=clock)
    ctl = InferenceController(engine=engine)
    try:
        bar = StatusBar(ctl)
        qtbot.addWidget(bar)
        _load(qtbot, ctl, tiny_gguf())
        handles.append(engine.native_handles()[0])
        states: list[ThreadState] = []
        ctl.threads_changed.connect(states.append)
        with qtbot.waitSignal(ctl.finished, timeout=30_000) as blocker:
            ctl.generate([{"role": "user", "content": "hi"}], SamplingSettings(max_tokens=24, seed=1))
        stats = blocker.args[1]
        assert isinstance(stats, GenerationStats) and stats.n_threads == 1
        assert states and states[-1].n_threads == 1 and states[-1].reason == "the CPU is busy"
        bar.show_stats(stats)
        assert bar.threads.text() == "1 thread: the CPU is busy" and not bar.threads.isHidden()
    finally:
        assert ctl.shutdown()
        qtbot.wait(10)
