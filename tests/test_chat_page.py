"""The minimal chat on the real window: load with progress, send, stream, stop, errors inline."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from desktop_app.ui.message_bubble import MessageBubble


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure())
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _bubbles(window) -> list[MessageBubble]:
    bubbles: list[MessageBubble] = window.chat.findChildren(MessageBubble)
    return bubbles


@pytest.mark.gemma
def test_send_streams_a_reply_and_stop_cancels(qtbot, window, gemma_path: Path) -> None:
    chat = window.chat
    assert not chat.composer.input.isEnabled()  # nothing loaded yet
    window.load_model(gemma_path)
    assert chat.progress.isVisibleTo(chat)  # load progress while the worker loads
    qtbot.waitUntil(chat.composer.input.isEnabled, timeout=60_000)
    assert not chat.progress.isVisibleTo(chat)
    assert "gemma3" in " ".join(w.text() for w in chat.findChildren(type(chat.model_title)))

    chat.sampling = SamplingSettings(temperature=0.0, max_tokens=12)
    chat.composer.input.setPlainText("The capital of France is")
    with qtbot.waitSignal(window.inference.finished, timeout=180_000):
        chat.composer._on_submit()
        assert chat.composer.action.text() == "Stop"
    user, reply = _bubbles(window)[-2:]
    assert user.text == "The capital of France is"
    assert reply.text.strip() and "12 tokens" in reply.footer.text()
    assert chat.history[-1] == {"role": "assistant", "content": reply.text}
    assert chat.composer.action.text() == "Send"

    chat.sampling = SamplingSettings(temperature=0.8, max_tokens=2000, seed=1)
    chat.composer.input.setPlainText("Tell me a very long story about the sea.")
    chat.composer._on_submit()
    qtbot.waitUntil(lambda: bool(_bubbles(window)[-1].text), timeout=180_000)
    with qtbot.waitSignal(window.inference.finished, timeout=60_000):
        chat.composer.stop_requested.emit()  # what Esc and the Stop button do
    assert "stopped" in _bubbles(window)[-1].footer.text()
    assert chat.composer.input.isEnabled()


def test_a_bad_model_file_is_explained_inline(qtbot, window, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 32)
    window.load_model(bad)
    qtbot.waitUntil(lambda: window.chat.banner.isVisibleTo(window.chat), timeout=30_000)
    text = window.chat.banner_text.text()
    assert "cannot be used" in text or "not" in text
    assert "Traceback" not in text
    assert not window.chat.composer.input.isEnabled()
    assert window.chat.model_title.text() == "No model loaded"
