"""The message box: it grows with its text up to MAX_LINES, then scrolls; its button never shows a
mnemonic underscore where the label has an ampersand (issue #18, items 4 and 10)."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWidget

from desktop_app.ui.composer import MAX_LINES, MIN_LINES, Composer


def _composer(qtbot) -> tuple[QWidget, Composer]:
    # hosted without a layout, as the chat page hosts it: a top-level widget whose layout sets a
    # minimum size makes the offscreen platform warn ("propagateSizeHints")
    host = QWidget()
    host.resize(600, 400)
    composer = Composer(host)
    composer.setGeometry(0, 0, 600, 400)
    composer.set_ready(True, "Message…")
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    return host, composer  # the host too: it owns the composer


def test_the_box_grows_with_its_text_then_scrolls(qtbot) -> None:
    _host, composer = _composer(qtbot)
    box = composer.input
    line = box.fontMetrics().lineSpacing()
    empty = box.height()
    assert MIN_LINES * line <= empty < (MIN_LINES + 1) * line + 16
    box.setPlainText("one line")
    assert box.height() == empty  # short text: the minimum
    box.setPlainText("\n".join(f"line {n}" for n in range(5)))
    assert box.height() >= empty + 3 * line - 2  # five lines shown, no scrolling
    assert box.verticalScrollBar().maximum() == 0
    box.setPlainText("\n".join(f"line {n}" for n in range(30)))
    tallest = box.height()
    assert tallest < (MAX_LINES + 1) * line + 16  # capped…
    assert box.verticalScrollBar().maximum() > 0  # …and the rest scrolls
    box.setPlainText("word " * 400)  # one paragraph that wraps: its wrapped lines count
    assert box.height() == tallest
    box.clear()  # sent: back to the minimum
    assert box.height() == empty


def test_save_and_send_shows_an_ampersand_not_a_mnemonic(qtbot) -> None:
    _host, composer = _composer(qtbot)
    composer.set_editing(True)
    text = composer.action.text()
    assert text == "Save && send"
    assert QKeySequence.mnemonic(text).isEmpty()  # "Save & send" would underline the s (Alt+S)
    assert composer.action.accessibleName() == "Save & send"
    composer.set_generating(True)
    assert composer.action.text() == "Stop"
    composer.set_generating(False)
    assert composer.action.text() == "Save && send"
    composer.set_editing(False)
    assert composer.action.text() == "Send"
