"""Small building blocks so every page uses the same spacing and text roles."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop_app.ui.plain_text import ElidedLabel, plain_label, set_tooltip

SPACING = 12
MARGIN = 24


def label(
    text: str,
    role: str | None = None,
    *,
    wrap: bool = False,
    elide: bool = False,
    parent: QWidget | None = None,
) -> QLabel:
    """A plain-text label (see plain_text: labels often show names from model files and the Hub).
    `elide` keeps it to one line that shrinks with its layout rather than widening it; a `wrap` label
    may get narrower than a word too long to wrap (the word is cut at the edge)."""
    widget = ElidedLabel(text, parent) if elide else plain_label(text, parent)
    if role:
        widget.setProperty("role", role)
    widget.setWordWrap(wrap)
    if wrap:  # else its minimum width is its longest word's, and a name can be one 3000-letter word
        widget.setMinimumWidth(1)
    widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return widget


def button(
    text: str, kind: str | None = None, *, tooltip: str = "", parent: QWidget | None = None
) -> QPushButton:
    widget = QPushButton(text, parent)
    if kind:
        widget.setProperty("kind", kind)
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    if tooltip:
        set_tooltip(widget, tooltip)  # it may name a path: shown literally
    widget.setAccessibleName(text.strip() or tooltip)
    return widget


class Card(QFrame):
    """A rounded surface; its layout is a QVBoxLayout with the standard padding."""

    def __init__(self, parent: QWidget | None = None, *, object_name: str = "Card") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(16, 14, 16, 14)
        self.body.setSpacing(6)


class ChevronCombo(QComboBox):
    """A combo box with a drawn chevron: the app stylesheet hides the platform's arrow image."""

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        role = QPalette.ColorRole.Text if self.isEnabled() else QPalette.ColorRole.PlaceholderText
        pen = QPen(self.palette().color(role), 1.6)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        x, y = self.width() - 16.0, self.height() / 2.0
        painter.drawPolyline([QPointF(x - 4, y - 2), QPointF(x, y + 2), QPointF(x + 4, y - 2)])
        painter.end()
