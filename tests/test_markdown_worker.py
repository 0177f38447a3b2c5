"""The end of a reply: its Markdown is rendered off the GUI thread and swapped into the row, and a render
that arrives after the row moved on (regenerated, continued) is dropped.

The real window with the scripted engine (tests/fake_engine.py): the inference thread, the stores and the
delegate are the real ones. The render function is wrapped to record the thread it runs on and, for the
staleness tests, held until the row has changed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PySide6.QtGui import QTextCharFormat

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.paths import app_paths
from desktop_app.ui import markdown_worker
from desktop_app.ui.chat_delegate import SYNC_MARKDOWN_CHARS, Layout
from desktop_app.ui.main_window import MainWindow
from tests.fake_engine import ScriptedEngine

REPLY = "Here is **bold** text:\n\n```python\nprint('hi')\n```\n\nDone."


@dataclass
class Recorder:
    """Wraps markdown_worker.render_markdown: which thread rendered which text; optionally holds the
    first render of a text containing `hold_text` until `release` is set."""

    calls: list[tuple[int, str]] = field(default_factory=list)
    hold_text: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    rec = Recorder()
    real = markdown_worker.render_markdown

    def wrapped(text: str, *, dark: bool) -> Any:
        rec.calls.append((threading.get_ident(), text))
        if rec.hold_text is not None and rec.hold_text in text and not rec.held.is_set():
            rec.held.set()
            rec.release.wait(20)
        return real(text, dark=dark)

    monkeypatch.setattr(markdown_worker, "render_markdown", wrapped)
    yield rec
    rec.release.set()  # never leave a pool thread waiting


@pytest.fixture
def window(qtbot: Any, monkeypatch: pytest.MonkeyPatch, tiny_gguf: Any) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    takes = iter(range(1, 100))
    engine = ScriptedEngine(lambda _messages, _sampling: f"{REPLY} Take {next(takes)}.")
    win = build_window(app_paths().ensure(), engine=engine)
    qtbot.addWidget(win)
    win.show()
    model = win.library_store.import_file(tiny_gguf(context_length=4096), link=True)
    win._refresh_model_picker()
    win.load_model(model)
    qtbot.waitUntil(win.chat.composer.input.isEnabled, timeout=60_000)
    yield win
    delegate = win.chat.view.delegate
    qtbot.waitUntil(lambda: delegate.renders_in_flight() == 0, timeout=20_000)
    win.close()


def _send(qtbot: Any, window: MainWindow, text: str) -> int:
    chat = window.chat
    chat.composer.input.setPlainText(text)
    chat.composer._on_submit()
    qtbot.waitUntil(lambda: not chat.generating, timeout=30_000)
    return chat.view.chat_model.items()[-1].id


def _layout(window: MainWindow, message_id: int) -> Layout:
    view = window.chat.view
    item = view.chat_model.item_by_id(message_id)
    assert item is not None
    return view.delegate.layout_for(item, view.viewport().width())


def _has_bold(layout: Layout, word: str) -> bool:
    for doc in layout.documents():
        found = doc.find(word)
        if not found.isNull():
            fmt: QTextCharFormat = found.charFormat()
            return fmt.fontWeight() >= 600
    return False


def test_the_final_render_runs_off_the_gui_thread_and_lands_in_the_row(
    qtbot: Any, window: MainWindow, recorder: Recorder
) -> None:
    delegate = window.chat.view.delegate
    with qtbot.waitSignal(delegate.markdown_ready, timeout=20_000) as ready:
        reply_id = _send(qtbot, window, "Show me")
    assert ready.args == [reply_id]
    rendered = [ident for ident, text in recorder.calls if "print('hi')" in text]
    assert rendered and threading.get_ident() not in rendered  # never on the GUI thread
    layout = _layout(window, reply_id)
    assert layout.markdown and not layout.pending
    assert _has_bold(layout, "bold")  # the rendered Markdown, not the streamed "**bold**"
    assert "**" not in "".join(doc.toPlainText() for doc in layout.documents())
    item = window.chat.view.chat_model.item_by_id(reply_id)
    assert item is not None and delegate.code_block(item, 0) == "print('hi')"


def test_until_the_render_arrives_the_row_shows_the_plain_text(
    qtbot: Any, window: MainWindow, recorder: Recorder
) -> None:
    recorder.hold_text = "print('hi')"
    reply_id = _send(qtbot, window, "Show me")
    qtbot.waitUntil(recorder.held.is_set, timeout=20_000)
    layout = _layout(window, reply_id)
    assert layout.markdown and layout.pending
    assert layout.body.toPlainText() == f"{REPLY} Take 1."  # the live document, kept as it was
    with qtbot.waitSignal(window.chat.view.delegate.markdown_ready, timeout=20_000):
        recorder.release.set()
    assert not _layout(window, reply_id).pending


@pytest.mark.parametrize("action", ["regenerate", "continue"])
def test_a_render_for_a_row_that_moved_on_is_dropped(
    qtbot: Any, window: MainWindow, recorder: Recorder, action: str
) -> None:
    """The first reply's render is held on the worker while the reply is regenerated (a new row) or
    continued (the same row, longer text); when it is let go, it must not replace what the row shows."""
    chat, delegate = window.chat, window.chat.view.delegate
    recorder.hold_text = "print('hi')"
    first = _send(qtbot, window, "Show me")
    qtbot.waitUntil(recorder.held.is_set, timeout=20_000)
    swapped: list[int] = []
    delegate.markdown_ready.connect(swapped.append)
    if action == "regenerate":
        chat.regenerate(first)
    else:
        chat.continue_reply(first)
    qtbot.waitUntil(lambda: not chat.generating, timeout=30_000)
    latest = chat.view.chat_model.items()[-1]
    assert (latest.id != first) == (action == "regenerate")
    qtbot.waitUntil(lambda: latest.id in swapped, timeout=20_000)  # the new text's render, not held
    recorder.release.set()
    qtbot.waitUntil(lambda: delegate.renders_in_flight() == 0, timeout=20_000)  # the held one included
    assert swapped == [latest.id]  # the held render was dropped
    layout = _layout(window, latest.id)
    assert layout.source == latest.content and not layout.pending
    text = "".join(doc.toPlainText() for doc in layout.documents())
    assert "Take 2." in text and ("Take 1." in text) == (action == "continue")


def test_a_long_stored_message_is_rendered_on_the_worker_and_a_short_one_in_place(
    qtbot: Any, window: MainWindow, recorder: Recorder
) -> None:
    store = window.conversations
    conversation = store.create_conversation("Long")
    store.add_message(conversation.id, "user", "long?")
    long_text = ("A paragraph with **bold** words in it. " * 40 + "\n\n") * (SYNC_MARKDOWN_CHARS // 1000 + 2)
    long = store.add_message(conversation.id, "assistant", long_text)
    short = store.add_message(conversation.id, "assistant", "Short **one**.")
    delegate = window.chat.view.delegate
    with qtbot.waitSignal(delegate.markdown_ready, timeout=20_000, check_params_cb=lambda i: i == long.id):
        window.open_conversation(conversation.id)
        window.chat.view.doItemsLayout()
        _layout(window, long.id)
    threads = {text: ident for ident, text in recorder.calls}
    assert threads[long_text.strip()] != threading.get_ident()
    assert threads["Short **one**."] == threading.get_ident()
    layout = _layout(window, long.id)
    assert len(layout.documents()) > 1  # built in chunks, stacked in one row
    assert _has_bold(layout, "bold")
    assert not _layout(window, short.id).pending


def test_closing_the_window_while_a_render_runs_is_safe(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """The result of a render whose row, view and window are gone goes nowhere: no crash, no warning."""
    import shiboken6
    from PySide6.QtCore import QThreadPool

    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure())
    win.show()
    store = win.conversations
    conversation = store.create_conversation("Long")
    store.add_message(conversation.id, "user", "long?")
    text = "Some **bold** words. " * (SYNC_MARKDOWN_CHARS // 10)
    reply = store.add_message(conversation.id, "assistant", text)
    recorder.hold_text = "Some **bold**"
    win.open_conversation(conversation.id)
    _layout(win, reply.id)
    qtbot.waitUntil(recorder.held.is_set, timeout=20_000)
    win.close()
    win.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(win), timeout=5_000)
    recorder.release.set()
    assert QThreadPool.globalInstance().waitForDone(20_000)
    qtbot.wait(50)
