"""Text the app did not write is shown as text, never as Qt rich text.

Model files (names, metadata, templates, file names), the Hub (repo ids, file names, model cards, error
bodies), imported chats and API requests are untrusted. Qt guesses a string's format: a QLabel or
QMessageBox left at Qt.AutoText, and every tooltip, renders anything that *looks* like HTML
(`Qt.mightBeRichText`) as HTML, and the rich-text engine then reads each `<img src>` it meets,
synchronously: `<img src="file:///dev/zero">` in a GGUF's name freezes the window while memory grows,
and on Windows a `\\\\host\\share` source sends the user's credentials to that host.

So every widget that may show such text comes from here with its format fixed to plain text, tooltips
are escaped (`tooltip`), HTML the app builds itself escapes each untrusted piece (`escape`), and the
documents that do render HTML (finished Markdown replies, search snippets) are `SafeTextDocument`s,
which load no resource at all should an `<img>` ever slip through.
"""

from __future__ import annotations

import html
import logging
from typing import ClassVar

from PySide6.QtCore import QByteArray, QSize, Qt, QUrl
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox, QTextBrowser, QWidget

log = logging.getLogger(__name__)

ELIDED_MIN_CHARS = 12  # an ElidedLabel may shrink to about this many characters


def escape(text: str) -> str:
    """`text` as HTML that reads as the same characters, line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def tooltip(text: str) -> str:
    """A tooltip that shows `text` literally. Tooltips have no format setting (QToolTip always
    guesses), so the text is escaped inside a paragraph: rich text, which also makes a long tooltip
    wrap instead of running off the screen."""
    if not text:
        return ""
    return f'<p style="white-space:pre-wrap">{html.escape(text)}</p>'


def set_tooltip(widget: QWidget, text: str) -> None:
    widget.setToolTip(tooltip(text))


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


class ElidedLabel(QLabel):
    """One line of plain text that is elided to the width it gets instead of widening its layout
    (a model's name can be thousands of characters long); `text()` stays the whole text."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        *,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
    ) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)
        self._mode = mode

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        narrow = self.fontMetrics().averageCharWidth() * ELIDED_MIN_CHARS
        margins = self.contentsMargins()
        return QSize(min(hint.width(), narrow + margins.left() + margins.right()), hint.height())

    def shown_text(self) -> str:
        """The text as painted now, elided to the label's width."""
        first_line = self.text().split("\n", 1)[0]
        return self.fontMetrics().elidedText(first_line, self._mode, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.drawFrame(painter)  # the stylesheet's badge background and border
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            self.shown_text(),
            self.foregroundRole(),
        )
        painter.end()


def message_box(
    parent: QWidget | None,
    title: str,
    text: str,
    *,
    icon: QMessageBox.Icon = QMessageBox.Icon.Warning,
    informative: str = "",
    detailed: str = "",
) -> QMessageBox:
    """A QMessageBox whose text and informative text are plain text (the detailed text always is)."""
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
        make_plain(box)
    if detailed:
        box.setDetailedText(detailed)
    return box


def make_plain(box: QMessageBox) -> None:
    """Set every label of a message box to plain text: QMessageBox.setTextFormat covers only the main
    text, and the informative text's label is created at Qt.AutoText."""
    box.setTextFormat(Qt.TextFormat.PlainText)
    for child in box.findChildren(QLabel):
        if child.pixmap().isNull():
            child.setTextFormat(Qt.TextFormat.PlainText)


def ask(parent: QWidget | None, title: str, text: str) -> bool:
    """Yes or No, in place of QMessageBox.question (which shows its text at Qt.AutoText)."""
    box = message_box(parent, title, text, icon=QMessageBox.Icon.Question)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.Yes)
    try:
        return box.exec() == QMessageBox.StandardButton.Yes
    finally:
        box.deleteLater()


class SafeTextDocument(QTextDocument):
    """A QTextDocument that loads nothing: no file, no share, no URL, whatever its HTML names.

    The HTML it is given escapes untrusted text already; this is the second lock. An image gets a
    1x1 transparent stand-in, not an empty answer, because Qt's image handler retries a missing
    image by reading the path itself. `refused` counts the requests, so tests can assert there were
    none."""

    refused: ClassVar[int] = 0
    _BLANK: ClassVar[QImage | None] = None

    def loadResource(self, type: int, name: QUrl | str) -> object:
        SafeTextDocument.refused += 1
        shown = name.toString() if isinstance(name, QUrl) else name
        log.warning("refused to load %s (resource type %d) for rich text", shown[:200], type)
        if type == QTextDocument.ResourceType.ImageResource.value:
            if SafeTextDocument._BLANK is None:
                blank = QImage(1, 1, QImage.Format.Format_ARGB32)
                blank.fill(Qt.GlobalColor.transparent)
                SafeTextDocument._BLANK = blank
            return SafeTextDocument._BLANK
        return QByteArray()


class SafeTextBrowser(QTextBrowser):
    """A read-only rich-text view over a SafeTextDocument: QTextBrowser would otherwise read local
    files named by links and images relative to its source."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocument(SafeTextDocument(self))
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)

    def loadResource(self, type: int, name: QUrl | str) -> object:
        document = self.document()
        if isinstance(document, SafeTextDocument):
            return document.loadResource(type, name)
        return QByteArray()
