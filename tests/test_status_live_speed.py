"""The status bar shows tok/s while a reply streams (issue #18: what LM Studio users look for first),
then the reply's final figure from its stats.

The real window and inference thread with a scripted engine that streams a word every 15 ms, so the
worker sends live speeds (one per ~40 ms text batch) before the reply finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from desktop_app.core import starter
from desktop_app.core.engine import GenerationStats, Message
from desktop_app.core.errors import GenerationError
from desktop_app.core.generation import SamplingSettings
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.status_bar import LIVE_SPEED_TIP, SPEED_TIP
from tests.chat_window import load, open_window, send
from tests.fake_engine import ScriptedEngine

WORDS = 40


def _long_reply(messages: Sequence[Message], _sampling: SamplingSettings) -> str:
    if messages[-1].get("content") == "fail":
        raise GenerationError("The model ran out of memory.", hint="Try a shorter context.")
    return " ".join(f"word{i}" for i in range(WORDS))


@pytest.fixture
def window(qtbot, monkeypatch, tiny_gguf: Callable[..., Path]) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = open_window(qtbot, ScriptedEngine(_long_reply, delay_s=0.015))
    load(qtbot, win, tiny_gguf("speedy.gguf", context_length=4096))
    yield win
    win.close()


def test_the_status_bar_shows_the_speed_while_a_reply_streams_then_the_final_figure(qtbot, window) -> None:
    speed = window.status.speed
    assert speed.text() == "— tok/s"
    shown: list[tuple[str, str, bool]] = []  # (text, tooltip, still generating) at each live figure
    # connected after the status bar: it has shown the figure when this runs
    window.inference.live_speed.connect(
        lambda _rid, _tps: shown.append((speed.text(), speed.toolTip(), window.chat.generating))
    )
    finals: list[GenerationStats] = []
    window.inference.finished.connect(lambda _rid, stats: finals.append(stats))
    reply = send(qtbot, window, "Tell me a lot")
    assert reply.message.content.endswith(f"word{WORDS - 1}")
    assert shown, "no live speed arrived while the reply streamed"
    for text, tip, generating in shown:
        assert generating and text.endswith(" tok/s") and text != "— tok/s"
        assert float(text.removesuffix(" tok/s")) > 0 and tip == LIVE_SPEED_TIP
    assert len(finals) == 1
    assert speed.text() == f"{finals[0].generation_tps:.1f} tok/s" and speed.toolTip() == SPEED_TIP


def test_a_failed_reply_brings_back_the_last_finished_figure(qtbot, window) -> None:
    status = window.status
    send(qtbot, window, "Tell me a lot")
    final = status.speed.text()
    status.show_live_speed(0, 999.0)  # a live figure left from a reply that then fails
    window.chat.composer.input.setPlainText("fail")
    with qtbot.waitSignal(window.inference.failed, timeout=10_000):
        window.chat.composer._on_submit()
    qtbot.waitUntil(lambda: not window.chat.generating, timeout=10_000)
    assert status.speed.text() == final and status.speed.toolTip() == SPEED_TIP
