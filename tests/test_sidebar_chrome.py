"""The sidebar's footer: the privacy line tells the truth about the network, it is never cut at any
text size, and Ctrl+0 returns to the size the app started at (issue #18, items 3 and 7)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from desktop_app.core import starter
from desktop_app.core.settings import load_settings
from desktop_app.ui.main_window import START_FONT_PROPERTY, MainWindow
from desktop_app.ui.theme import apply_theme
from tests.chat_window import open_window


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(starter, "is_available", lambda: False)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.font().pointSizeF()
    win = open_window(qtbot)
    yield win
    win.close()
    apply_theme(app, original)


def _cut(widget: QWidget) -> str | None:
    """Why `widget`'s text does not fit the space it was given, or None when it fits."""
    if isinstance(widget, QLabel) and widget.wordWrap():
        needed = widget.heightForWidth(widget.width())
        return None if needed <= widget.height() else f"{widget.text()!r} needs {needed} px high"
    needed = widget.minimumSizeHint().width()
    if isinstance(widget, QAbstractButton | QLabel):
        needed = max(needed, widget.sizeHint().width())
    text = widget.text() if isinstance(widget, QAbstractButton | QLabel) else type(widget).__name__
    return None if needed <= widget.width() else f"{text!r} needs {needed} px"


def _footer(window: MainWindow) -> list[QWidget]:
    bar = window.sidebar
    return [bar.offline, bar.smaller, bar.larger, bar.privacy, bar.version]


def test_the_privacy_line_says_offline_only_when_offline_mode_is_on(qtbot, window) -> None:
    badge = window.sidebar.privacy
    assert not window.sidebar.offline.isChecked()
    assert "offline" not in badge.text().lower()  # it used to say "runs offline" while online
    assert "download" in badge.toolTip()  # and the tooltip says when it goes online
    window.sidebar.offline.setChecked(True)
    assert "no network" in badge.text()
    window.sidebar.offline.setChecked(False)
    assert "offline" not in badge.text().lower()


@pytest.mark.parametrize("step", [0, 4, 8, 15])
def test_the_footer_is_never_cut(qtbot, window, step: int) -> None:
    window.resize(820, 540)
    if step:
        window.change_font_size(step)  # one restyle, not one per point (each restyles every widget)
    window.sidebar.offline.setChecked(True)  # the longer text
    for bar_state in (True, False):
        window.sidebar.offline.setChecked(bar_state)
        QApplication.processEvents()
        window.sidebar.layout().activate()
        problems = [why for w in _footer(window) if (why := _cut(w)) is not None]
        assert not problems, problems


def test_ctrl_0_returns_to_the_size_the_app_started_at(qtbot, window) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    start = float(app.property(START_FONT_PROPERTY))
    assert start == pytest.approx(app.font().pointSizeF())
    window.change_font_size(+2)
    assert app.font().pointSizeF() == pytest.approx(start + 2)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    if app.font().pointSizeF() != pytest.approx(start):  # no active window offscreen: call it
        window.change_font_size(0)
    assert app.font().pointSizeF() == pytest.approx(start)  # not a fixed 10 pt
    assert window.chat.view.font().pointSizeF() == pytest.approx(start)
    saved, _ = load_settings(window.paths)
    assert saved.font_size is None  # the app follows the system's size again


def test_at_the_default_size_the_sidebar_fits_the_minimum_window_without_scrolling(qtbot, window) -> None:
    store = window.conversations
    for n in range(12):  # more chats than fit: the chat list scrolls, not the sidebar
        chat = store.create_conversation(f"Chat {n}")
        store.add_message(chat.id, "user", "hello")
    window.chat_list.refresh()
    window.resize(820, 540)
    QApplication.processEvents()
    assert window.sidebar_scroll.verticalScrollBar().maximum() == 0
    assert window.sidebar.privacy.isVisibleTo(window) and window.sidebar.version.isVisibleTo(window)
    bottom = window.sidebar.version.mapTo(window.sidebar_scroll, window.sidebar.version.rect().bottomLeft())
    assert bottom.y() <= window.sidebar_scroll.viewport().height()
