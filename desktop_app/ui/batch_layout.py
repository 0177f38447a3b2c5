"""Batch page rows laid out for the width they get, so nothing is cut at the minimum window.

`FitRow`: parts side by side when they fit, else stacked. `SettingsGrid`, the run settings (the
model, then label/field pairs): one row when everything fits at its minimum width (which grows with
the text size); else the model on its own row above the numbers; else a form, one pair per row with
the labels in a column. Squeezing one long row instead would cut the fields at the minimum window.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QGridLayout, QWidget

from desktop_app.ui.widgets import SPACING, ResponsiveRow

Arrangement = Literal["row", "two-rows", "form"]
MODEL_ROOM = 240  # in one row, the model's name gets at least this much (less if it is shorter)


class FitRow(ResponsiveRow):
    """`parts` side by side when they fit at their minimum widths (which grow with the text size and
    with a button's text), else one above the other."""

    def __init__(self, parts: list[tuple[QWidget, int]], parent: QWidget | None = None) -> None:
        super().__init__(0, parent)
        self.parts = [part for part, _ in parts]
        for part, stretch in parts:
            self.add(part, stretch)

    def _fit(self, width: int) -> None:
        self.wide_from = sum(p.minimumSizeHint().width() for p in self.parts) + SPACING * (
            len(self.parts) - 1
        )
        wide = width >= self.wide_from
        if wide != self.side_by_side:
            direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
            self.box.setDirection(direction)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit(event.size().width())
        super().resizeEvent(event)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._fit(self.width())
        return handled


class SettingsGrid(QWidget):
    """`model` (an eliding label) after `model_title`, then `pairs` of (label, field)."""

    def __init__(
        self,
        model_title: QWidget,
        model: QWidget,
        pairs: list[tuple[QWidget, QWidget]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model_title = model_title
        self.model = model
        self.pairs = pairs
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(SPACING)
        self.grid.setVerticalSpacing(8)
        self.arrangement: Arrangement | None = None
        self._arrange("form")

    # -- widths ------------------------------------------------------------------------------------

    @staticmethod
    def _min(widget: QWidget) -> int:
        return max(widget.minimumSizeHint().width(), widget.minimumWidth())

    def _numbers_width(self) -> int:
        cells = [self._min(w) for pair in self.pairs for w in pair]
        return sum(cells) + SPACING * (len(cells) - 1)

    def _row_width(self) -> int:
        room = min(self.model.sizeHint().width(), MODEL_ROOM)
        model = self._min(self.model_title) + SPACING + max(room, self._min(self.model))
        return model + SPACING + self._numbers_width()

    def _form_width(self) -> int:
        titles = [self.model_title, *(title for title, _ in self.pairs)]
        fields = [self.model, *(field for _, field in self.pairs)]
        return max(self._min(w) for w in titles) + SPACING + max(self._min(w) for w in fields)

    def fitting(self, width: int) -> Arrangement:
        """The arrangement for `width` pixels."""
        if width >= self._row_width():
            return "row"
        if width >= max(self._numbers_width(), self._form_width()):
            return "two-rows"
        return "form"

    def minimumSizeHint(self) -> QSize:
        """As narrow as the form: the grid must be allowed below the one-row width, or it could never
        get narrow enough to rearrange."""
        return QSize(self._form_width(), self.grid.totalMinimumSize().height())

    # -- arranging ---------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(self.fitting(event.size().width()))

    def event(self, event: QEvent) -> bool:
        """A child's minimum can change at the same width (styled once shown, a new text size)."""
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._arrange(self.fitting(self.width()))
        return handled

    def _arrange(self, arrangement: Arrangement) -> None:
        if arrangement == self.arrangement:
            return
        self.arrangement = arrangement
        grid = self.grid
        while grid.count():
            grid.takeAt(0)
        for column in range(grid.columnCount()):
            grid.setColumnStretch(column, 0)
        last = 2 * len(self.pairs)  # the columns the pairs take
        if arrangement == "row":
            grid.addWidget(self.model_title, 0, 0)
            grid.addWidget(self.model, 0, 1)
            grid.setColumnStretch(1, 1)
            for index, (title, field) in enumerate(self.pairs):
                grid.addWidget(title, 0, 2 + 2 * index)
                grid.addWidget(field, 0, 3 + 2 * index)
        elif arrangement == "two-rows":
            grid.addWidget(self.model_title, 0, 0)
            grid.addWidget(self.model, 0, 1, 1, last - 1)
            for index, (title, field) in enumerate(self.pairs):
                grid.addWidget(title, 1, 2 * index)
                grid.addWidget(field, 1, 1 + 2 * index, Qt.AlignmentFlag.AlignLeft)
            grid.setColumnStretch(last - 1, 1)  # the last field's cell takes the room left, no column more
        else:
            grid.addWidget(self.model_title, 0, 0)
            grid.addWidget(self.model, 0, 1)
            for index, (title, field) in enumerate(self.pairs, start=1):
                grid.addWidget(title, index, 0)
                grid.addWidget(field, index, 1, Qt.AlignmentFlag.AlignLeft)
            grid.setColumnStretch(1, 1)
        grid.invalidate()
        self.updateGeometry()
