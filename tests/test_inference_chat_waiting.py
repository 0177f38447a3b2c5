"""The inference worker counts the chat requests queued behind the running one (`chat_waiting`): a
batch job or a parallel lane on that thread reads it to step aside for a user's turn."""

from __future__ import annotations

from desktop_app.core.generation import SamplingSettings
from desktop_app.workers.inference import InferenceController
from tests.fake_engine import ScriptedEngine


def test_chat_waiting_counts_queued_chat_requests_until_they_start(qtbot, tiny_gguf) -> None:
    controller = InferenceController(engine=ScriptedEngine(delay_s=0.05))
    try:
        with qtbot.waitSignal(controller.loaded, timeout=60_000):
            controller.load(tiny_gguf())
        worker = controller.worker
        assert worker.chat_waiting() == 0 and not worker.chat_busy()
        started: list[int] = []
        controller.generation_started.connect(started.append)
        sampling = SamplingSettings(max_tokens=20)
        first = controller.generate([{"role": "user", "content": "one two three four five six"}], sampling)
        qtbot.waitUntil(lambda: started == [first], timeout=10_000)
        second = controller.generate([{"role": "user", "content": "again"}], sampling)
        assert worker.chat_waiting() == 1  # queued behind the first, which is still streaming
        assert worker.chat_busy()
        with qtbot.waitSignal(controller.finished, timeout=10_000, check_params_cb=lambda r, _s: r == second):
            pass
        assert worker.chat_waiting() == 0
        qtbot.waitUntil(lambda: not worker.chat_busy(), timeout=10_000)  # the slot returns just after
    finally:
        assert controller.shutdown()
        qtbot.wait(10)
