"""Small building blocks so every page uses the same spacing and text roles."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QEvent, QPointF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

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


def page_layout(page: QWidget) -> tuple[QScrollArea, QVBoxLayout]:
    """A page's content in a vertical scroll area, with the page margins: in a short window (or at a
    large text size) the page scrolls instead of squeezing its widgets until they overlap. Returns the
    scroll area and the content's layout."""
    page.setObjectName("Page")
    area, layout = vertical_scroll(page)
    content = area.widget()
    assert content is not None
    content.setObjectName("Page")
    layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
    layout.setSpacing(SPACING)
    return area, layout


def vertical_scroll(host: QWidget) -> tuple[QScrollArea, QVBoxLayout]:
    """`host` filled by a frameless scroll area that scrolls only vertically; returns it and the
    layout of its content (a QWidget made here)."""
    outer = QVBoxLayout(host)
    outer.setContentsMargins(0, 0, 0, 0)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    outer.addWidget(area)
    content = QWidget()
    area.setWidget(content)
    return area, QVBoxLayout(content)


class CompactTable(QTableView):
    """A table whose preferred height is its minimum: it grows with its layout's stretch, but never
    makes a page in a scroll area taller than the page needs (a page there is as tall as its parts'
    preferred heights, since its wrapped labels make it height-for-width)."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(hint.width(), max(hint.height(), self.minimumHeight()))


class CompactStack(QStackedWidget):
    """A stack whose preferred height is its minimum, for the same reason as CompactTable (an empty
    state's wrapped text otherwise asks for the height of its longest line wrapped at nothing). It
    always answers height-for-width (Qt's stack asks only its pages that wrap text, and the hidden
    ones do not count), so a page's wrapped text gets its height at the stack's width."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())

    def hasHeightForWidth(self) -> bool:
        return True

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(hint.width(), max(hint.height(), self.minimumHeight()))


class CompactScrollArea(QScrollArea):
    """A scroll area whose preferred height is its minimum, for the same reason as CompactTable."""

    def sizeHint(self) -> QSize:
        return QSize(
            super().sizeHint().width(), max(self.minimumHeight(), super().minimumSizeHint().height())
        )


class Card(QFrame):
    """A rounded surface; its layout is a QVBoxLayout with the standard padding."""

    def __init__(self, parent: QWidget | None = None, *, object_name: str = "Card") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(16, 14, 16, 14)
        self.body.setSpacing(6)


class ChevronCombo(QComboBox):
    """A combo box with a drawn chevron (the app stylesheet hides the platform's arrow image) whose
    text is elided at the chevron instead of being cut under it, mid-letter. It may shrink to
    `min_chars` characters; it asks for its longest item when `fit_items` (a short list of our own
    choices), else for `min_chars` too (a model's name can be very long) and gets more from its
    layout's stretch."""

    def __init__(
        self, parent: QWidget | None = None, *, min_chars: int = 10, fit_items: bool = False
    ) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(min_chars)
        self._fit_items = fit_items

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        if not self._fit_items or not self.count():
            return hint
        metrics = self.fontMetrics()
        chrome = hint.width() - metrics.horizontalAdvance("x") * self.minimumContentsLength()
        widest = max(metrics.horizontalAdvance(self.itemText(i)) for i in range(self.count()))
        return QSize(max(hint.width(), widest + chrome), hint.height())

    def minimumSizeHint(self) -> QSize:
        return super().sizeHint()

    def shown_text(self) -> str:
        """The current text as painted: elided to the space left of the chevron."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, field.width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        role = QPalette.ColorRole.Text if self.isEnabled() else QPalette.ColorRole.PlaceholderText
        pen = QPen(self.palette().color(role), 1.6)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        x, y = self.width() - 16.0, self.height() / 2.0
        painter.drawPolyline([QPointF(x - 4, y - 2), QPointF(x, y + 2), QPointF(x + 4, y - 2)])
        painter.end()


class BadgeRow(QWidget):
    """Badges in a row that never cut a badge's text: when the row is too narrow for all of them, the
    least important are hidden (its tooltip still lists every one). It takes only the room its layout
    has left, so it can never push or overlap its neighbours."""

    def __init__(self, parent: QWidget | None = None, *, spacing: int = 6) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(spacing)
        self._row.setAlignment(Qt.AlignmentFlag.AlignLeft)  # no trailing stretch: its spacing would count
        self._badges: list[tuple[int, QLabel]] = []  # (priority: lower shows first, badge)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_badges(self, badges: Iterable[tuple[str, str, int]]) -> None:
        """(text, role, priority) per badge, in display order; priority 0 is kept longest."""
        self.clear()
        for text, role, priority in badges:
            badge = label(text, role)  # read from the model file: plain text, never elided
            badge.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            self._row.addWidget(badge, 0, Qt.AlignmentFlag.AlignVCenter)
            self._badges.append((priority, badge))
        set_tooltip(self, "  ·  ".join(self.texts()))
        self._fit()

    def clear(self) -> None:
        for _priority, badge in self._badges:
            self._row.removeWidget(badge)
            badge.deleteLater()
        self._badges = []
        self.setToolTip("")

    def texts(self) -> list[str]:
        """Every badge's text, shown or hidden."""
        return [badge.text() for _priority, badge in self._badges]

    def shown_texts(self) -> list[str]:
        return [badge.text() for _priority, badge in self._badges if not badge.isHidden()]

    def sizeHint(self) -> QSize:
        widths = [badge.sizeHint().width() for _p, badge in self._badges]
        height = max((badge.sizeHint().height() for _p, badge in self._badges), default=0)
        return QSize(sum(widths) + self._row.spacing() * max(0, len(widths) - 1), height)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # the text size changed
            self._fit()

    def _fit(self) -> None:
        """Show the most important badges that fit in the width, in their display order."""
        room, spacing = self.width(), self._row.spacing()
        keep: set[int] = set()
        used = 0
        for _priority, badge in sorted(self._badges, key=lambda entry: entry[0]):
            badge.ensurePolished()  # the badge style's padding counts, even before the first paint
            need = badge.sizeHint().width() + (spacing if keep else 0)
            if used + need <= room:
                keep.add(id(badge))
                used += need
        for _priority, badge in self._badges:
            badge.setVisible(id(badge) in keep)
        self.updateGeometry()


class ResponsiveRow(QWidget):
    """Widgets side by side when the row is at least `wide_from` pixels wide, else one above the other:
    two cards that share a wide window stack in a narrow one instead of being squeezed until their
    buttons are cut."""

    def __init__(self, wide_from: int, parent: QWidget | None = None, *, spacing: int = SPACING) -> None:
        super().__init__(parent)
        self.wide_from = wide_from
        self.box = QBoxLayout(QBoxLayout.Direction.TopToBottom, self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.setSpacing(spacing)

    def add(self, widget: QWidget, stretch: int = 0) -> None:
        self.box.addWidget(widget, stretch)

    def minimumSizeHint(self) -> QSize:
        """As narrow as the widest child when stacked: the row must be allowed to shrink below the
        side-by-side width, or it could never get narrow enough to stack."""
        hint = self.box.totalMinimumSize()
        items = [self.box.itemAt(i) for i in range(self.box.count())]
        widest = max((item.minimumSize().width() for item in items if item is not None), default=0)
        return QSize(min(hint.width(), widest), hint.height())

    @property
    def side_by_side(self) -> bool:
        return self.box.direction() == QBoxLayout.Direction.LeftToRight

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        wide = event.size().width() >= self.wide_from
        if wide != self.side_by_side:
            direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
            self.box.setDirection(direction)
