"""Helpers for the chat UI tests: the real window with a scripted engine, and small readers of what the
chat view paints (the version switcher's "2/3", a row's actions, its footer line)."""

from __future__ import annotations

from pathlib import Path

from desktop_app.app import build_window
from desktop_app.core.paths import app_paths
from desktop_app.ui.chat_model import ChatItem
from desktop_app.ui.main_window import MainWindow
from tests.fake_engine import ScriptedEngine


def open_window(qtbot, engine: ScriptedEngine | None = None) -> MainWindow:
    win = build_window(app_paths().ensure(), engine=engine)
    qtbot.addWidget(win)
    win.show()
    return win


def load(qtbot, window: MainWindow, model: object) -> None:
    with qtbot.waitSignal(window.inference.loaded, timeout=60_000):
        window.load_model(model)  # type: ignore[arg-type]
    qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=10_000)


def items(window: MainWindow) -> list[ChatItem]:
    return window.chat.view.chat_model.items()


def wait_reply(qtbot, window: MainWindow) -> ChatItem:
    qtbot.waitUntil(lambda: not window.chat.generating, timeout=60_000)
    last = items(window)[-1]
    assert last.message.state != "failed", last.message.error
    return last


def send(qtbot, window: MainWindow, text: str) -> ChatItem:
    window.chat.composer.input.setPlainText(text)
    window.chat.composer._on_submit()
    assert window.chat.generating
    return wait_reply(qtbot, window)


def painted(window: MainWindow, message_id: int) -> dict[str, str]:
    """What the row of `message_id` paints under it, from the layout paint() uses: action key ->
    label ("position" -> "2/3"), plus "footer" -> the stats line. The row is painted first."""
    view = window.chat.view
    row = view.chat_model.row_of(message_id)
    assert row is not None
    index = view.chat_model.index(row, 0)
    view.scrollTo(index)
    view.viewport().repaint()
    item = view.chat_model.item(row)
    layout = view.delegate.layout_for(item, view.viewport().width())
    shown = {key: label for key, label, _ in layout.actions}
    shown["footer"] = layout.footer_text
    return shown


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
