"""Text from model files, the Hub and imported chats is shown as text on the real window, never as Qt
rich text: a label, message box or tooltip that rendered it as HTML would read every `<img src>` in
it (a file, /dev/zero, a Windows share) while laying itself out.

Each test walks every label, button, tooltip and item-view tooltip of the window (and its dialogs) and
requires the hostile strings to be plain text or escaped. The model's name also points an image at a
64 MiB "trap" file: the process's read counter (/proc/self/io) shows whether anything opened it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QAbstractItemModel, QAbstractListModel, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QMessageBox,
    QWidget,
)

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.errors import ModelFileError
from desktop_app.core.library import LibraryModel
from desktop_app.core.paths import app_paths
from desktop_app.ui.error_dialog import show_error
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.plain_text import SafeTextBrowser, SafeTextDocument
from tests.tiny_gguf import write_tiny_model

OFFSCREEN_DIALOGS = pytest.mark.qt_log_ignore(r"^This plugin does not support ")  # on showing a dialog
TRAP_BYTES = 64 << 20
DEV_ZERO = '<img src="file:///dev/zero">'
UNC = '<img src="\\\\host\\share\\x.png">'
MARKERS = ("<img", "<a ")  # every hostile string has one; the app's own markup (<b>, <p>) has neither


def _hostile(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in MARKERS)


def _trap(tmp_path: Path) -> Path:
    """A sparse file as big as TRAP_BYTES: reading it once shows in the read counter."""
    path = tmp_path / "trap.png"
    with path.open("wb") as f:
        f.truncate(TRAP_BYTES)
    return path


def _bytes_read() -> int | None:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("rchar:")), None)


def _widgets() -> Iterator[QWidget]:
    seen: set[int] = set()
    for top in QApplication.topLevelWidgets():
        for widget in (top, *top.findChildren(QWidget)):
            if id(widget) not in seen:
                seen.add(id(widget))
                yield widget


def _cells(model: QAbstractItemModel) -> Iterator[tuple[int, int]]:
    columns = 1 if isinstance(model, QAbstractListModel) else model.columnCount(QModelIndex())
    for row in range(min(model.rowCount(QModelIndex()), 200)):
        for column in range(columns):
            yield row, column


def _offenders() -> list[str]:
    """Every place in every window where hostile text would be rendered as HTML."""
    found: list[str] = []
    for widget in _widgets():
        name = f"{type(widget).__name__} {widget.objectName() or widget.accessibleName()!r}"
        plain = isinstance(widget, QLabel) and widget.textFormat() == Qt.TextFormat.PlainText
        if isinstance(widget, QLabel) and not plain and _hostile(widget.text()):
            found.append(f"rich-text label {name}: {widget.text()[:120]!r}")
        if _hostile(widget.toolTip()):
            found.append(f"tooltip of {name}: {widget.toolTip()[:120]!r}")
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            for row, column in _cells(model):
                tip = model.index(row, column).data(Qt.ItemDataRole.ToolTipRole)
                if isinstance(tip, str) and _hostile(tip):
                    found.append(f"item tooltip in {name} ({row}, {column}): {tip[:120]!r}")
    return found


def _shown_texts() -> str:
    """What the window shows as text: labels, buttons, combo box items, item views."""
    parts: list[str] = []
    for widget in _widgets():
        if isinstance(widget, QLabel | QAbstractButton):
            parts.append(widget.text())
        if isinstance(widget, QComboBox):
            parts += [widget.itemText(i) for i in range(widget.count())]
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            for row, column in _cells(model):
                parts.append(str(model.index(row, column).data() or ""))
    return "\n".join(parts)


def _show_every_page(qtbot, window: MainWindow) -> None:
    """Lay out and paint each page (and the Models tabs), as a user clicking through would."""
    for index in range(window.pages.count()):
        window.show_page(index)
        if window.pages.currentWidget() is window.models:
            for tab in range(window.models.tabs.count()):
                window.models.tabs.setCurrentIndex(tab)
                window.grab()
        window.grab()
    qtbot.wait(50)


def _screenshot(window: MainWindow, name: str) -> None:
    """With HEARTH_TEST_SCREENSHOTS=DIR, save the window as DIR/name.png, to look at by eye."""
    if folder := os.environ.get("HEARTH_TEST_SCREENSHOTS"):
        window.grab().save(str(Path(folder) / f"{name}.png"))


@pytest.fixture
def window(qtbot, monkeypatch) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    SafeTextDocument.refused = 0
    win = build_window(app_paths().ensure())
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.close()


def _import(qtbot, window: MainWindow, source: Path) -> LibraryModel:
    model = window.library_store.import_file(source)
    window.models.my_models.refresh()
    qtbot.waitUntil(lambda: window.models.my_models.model.rowCount() == 1, timeout=10_000)
    return model


def _load(qtbot, window: MainWindow, model: LibraryModel) -> None:
    window.load_model(model)
    qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=60_000)


def test_a_model_with_html_in_its_name_and_metadata_shows_it_as_text(qtbot, window, tmp_path) -> None:
    trap = _trap(tmp_path)
    name = f'<img src="{trap.as_uri()}"><b>bold</b>{UNC} Tiny'
    folder = tmp_path / "in"
    folder.mkdir()
    source = write_tiny_model(
        folder / "<img src=trap.png><b>bold<b>.gguf",
        name=name,
        extra_kv={"general.description": DEV_ZERO, "general.author": "<b>author</b>"},
    )
    before = _bytes_read()
    model = _import(qtbot, window, source)
    _load(qtbot, window, model)
    _show_every_page(qtbot, window)
    window.show_page(window.chat_index)
    _screenshot(window, "hostile")

    shown = _shown_texts()
    assert name in shown  # the name is on screen, character for character (picker, table, status)
    assert name in window.status_message.text()
    assert _offenders() == []
    after = _bytes_read()
    if before is not None and after is not None:
        assert after - before < TRAP_BYTES // 2, "something read the image the model's name points at"
    assert SafeTextDocument.refused == 0


def test_a_very_long_model_name_is_elided_not_stretching_the_window(qtbot, window, tmp_path) -> None:
    name = "<b>" + "W" * 3000 + "</b>"
    model = _import(qtbot, window, write_tiny_model(tmp_path / "long.gguf", name=name))
    _load(qtbot, window, model)
    _show_every_page(qtbot, window)
    window.show_page(window.chat_index)
    _screenshot(window, "hostile-long")
    assert window.minimumSizeHint().width() < 1600
    assert window.width() <= 1600
    assert name in window.status_message.text()  # kept whole; only its painting is elided
    assert _offenders() == []


def test_hub_repo_ids_file_names_and_cards_show_as_text(qtbot, window, fake_hub, tmp_path) -> None:
    trap = _trap(tmp_path)
    model = write_tiny_model(tmp_path / "m.gguf", name="Tiny Chat").read_bytes()
    evil_id = "evil/<img src=trap.png>Chat-GGUF"  # listed by a search; opening it says it is invalid
    fake_hub.add_repo(evil_id, {"chat-Q4_K_M.gguf": model}, downloads=9)
    card = (
        f"---\nlicense: '<img src=\"{trap.as_uri()}\">'\n---\n\n"
        "A small chat model &lt;img src=x&gt; with enough words to be a description.\n"
    )
    file_name = "&lt;b&gt;chat-Q4_K_M.gguf"  # Hearth refuses < and > in file names, but not this
    fake_hub.add_repo("org/Plain-Chat-GGUF", {file_name: model}, downloads=5, card=card)
    discover = window.models.discover
    window.show_page(window.models_index)
    window.models.tabs.setCurrentWidget(discover)
    before = _bytes_read()
    discover.query.setText("chat")
    discover.search()
    qtbot.waitUntil(lambda: discover.results.rowCount() == 2, timeout=20_000)
    assert [repo.id for repo in discover.results.items()] == [evil_id, "org/Plain-Chat-GGUF"]

    discover.results_view.selectRow(0)
    qtbot.waitUntil(lambda: "not a valid name" in discover.message.text(), timeout=20_000)
    assert discover.repo_title.text() == evil_id and evil_id in discover.message.text()
    window.grab()
    assert _offenders() == []

    discover.results_view.selectRow(1)
    qtbot.waitUntil(lambda: discover.options.rowCount() == 1, timeout=20_000)
    qtbot.waitUntil(lambda: file_name in discover.options.fit, timeout=20_000)  # its tooltip too
    window.grab()
    assert discover.repo_info.text().startswith("A small chat model &lt;img src=x&gt; with")
    assert f'License: <img src="{trap.as_uri()}">' in discover.repo_info.text()
    assert file_name in _shown_texts()
    assert _offenders() == []
    after = _bytes_read()
    if before is not None and after is not None:
        assert after - before < TRAP_BYTES // 2


@OFFSCREEN_DIALOGS
def test_an_imported_chat_with_html_shows_it_as_text_and_loads_nothing(qtbot, window, tmp_path) -> None:
    trap = _trap(tmp_path)
    img = f'<img src="{trap.as_uri()}">'
    chat: dict[str, Any] = {
        "title": f"{img}<b>Title</b>",
        "messages": [
            {"role": "user", "content": f"{img} {DEV_ZERO} {UNC} <a href='file:///etc'>x</a>"},
            {
                "role": "assistant",
                "content": f"{img}\n\n**bold** <table><tr><td>{DEV_ZERO}</td></tr></table>",
                "reasoning": f"thinking {img}",
                "model": f"<b>{img}model</b>",
            },
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": f"half {img}", "state": "failed", "error": f"{img} broke"},
        ],
    }
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(chat))
    before = _bytes_read()
    conversation_id = window.chat_list.import_chat(path)
    window.open_conversation(conversation_id)
    window.chat.view.doItemsLayout()
    window.grab()
    shown = _shown_texts()
    assert chat["title"] in shown  # the sidebar list's display text
    window.chat_list.ask_delete(conversation_id)
    box = window.chat_list.findChild(QMessageBox, "DeleteChatDialog")
    assert box is not None and chat["title"] in box.text()
    assert _offenders() == []
    box.reject()
    after = _bytes_read()
    if before is not None and after is not None:
        assert after - before < TRAP_BYTES // 2
    assert SafeTextDocument.refused == 0


@OFFSCREEN_DIALOGS
def test_an_error_dialog_quoting_a_model_name_shows_it_as_text(qtbot, window) -> None:
    name = f"{DEV_ZERO}<b>evil</b>"
    error = ModelFileError(
        f"{name} is not a GGUF file.", hint=f"Download {name} again.", details=f"read {name}"
    )
    seen: list[list[str]] = []

    def inspect() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(_offenders())
        seen.append([box.text(), box.informativeText()])
        box.reject()

    QTimer.singleShot(0, inspect)
    show_error(window, error)
    assert seen[0] == []
    assert seen[1] == [error.message, error.hint]


def test_a_load_failure_banner_escapes_the_file_name(qtbot, window, tmp_path) -> None:
    missing = tmp_path / "<img src=trap.png><b>gone<b>.gguf"
    window.load_model(missing)
    qtbot.waitUntil(window.chat.banner.isVisible, timeout=30_000)
    text = window.chat.banner_text.text()  # rich text (a bold title): the name inside is escaped
    assert "&lt;img src=trap.png&gt;&lt;b&gt;gone&lt;b&gt;.gguf" in text
    assert _offenders() == []


def test_safe_documents_read_no_file_even_when_their_html_names_one(qtbot, tmp_path) -> None:
    """The second lock: should an <img> ever reach a chat document or the message viewer, nothing
    is read (not through a file: URL, nor through the path Qt's image handler retries by itself)."""
    trap = _trap(tmp_path)
    html = f'<p>x <img src="{trap.as_uri()}"> <img src="{trap}"></p>'
    SafeTextDocument.refused = 0
    before = _bytes_read()
    document = SafeTextDocument()
    document.setHtml(html)
    document.setTextWidth(300)
    assert document.size().width() > 0  # laid out: its images were asked for
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    browser.setHtml(html)
    browser.show()
    browser.grab()
    assert SafeTextDocument.refused >= 4
    after = _bytes_read()
    if before is not None and after is not None:
        assert after - before < TRAP_BYTES // 2
