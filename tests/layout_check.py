"""What "this page works at this size" means, checked on real laid-out widgets.

`layout_problems(root)` walks the visible widgets under `root` and reports every one that is cut:
a child that runs past its parent's edge (beyond a scroll area's viewport only sideways, since pages
scroll vertically), a label whose one line of text is wider than the label (an elided label is allowed
to elide: that is its job), a wrapped label too short for its wrapped text, a button narrower than its
text, and a widget squeezed below its own minimum size (which is what makes widgets overlap).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from desktop_app.ui.plain_text import ElidedLabel

SLACK = 1  # pixels of rounding


def _describe(widget: QWidget) -> str:
    text = ""
    if isinstance(widget, (QLabel, QAbstractButton)):
        text = f" {widget.text()[:40]!r}"
    name = widget.objectName() or widget.accessibleName()
    return f"{type(widget).__name__}{'#' + name if name else ''}{text}"


def _inside_complex_control(widget: QWidget, root: QWidget) -> bool:
    """Parts Qt lays out itself (a combo's line edit, a spin box's, a table's header)."""
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent, (QComboBox, QAbstractSpinBox)):
            return True
        parent = parent.parentWidget()
    return False


def _viewport_of(parent: QWidget) -> QAbstractScrollArea | None:
    area = parent.parentWidget()
    if isinstance(area, QAbstractScrollArea) and area.viewport() is parent:
        return area
    return None


def layout_problems(root: QWidget) -> list[str]:
    problems: list[str] = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or widget.isWindow() or _inside_complex_control(widget, root):
            continue
        parent = widget.parentWidget()
        if parent is None:
            continue
        geometry = widget.geometry()
        what = _describe(widget)
        area = _viewport_of(parent)
        if area is not None:
            if area.horizontalScrollBarPolicy().name == "ScrollBarAlwaysOff" and (
                geometry.right() > parent.width() - 1 + SLACK
            ):
                problems.append(f"{what} is {geometry.width()} wide in a {parent.width()} wide scroll area")
            continue
        if isinstance(parent, QAbstractScrollArea):
            continue  # its viewport and scroll bars: Qt's own
        if (
            geometry.left() < -SLACK
            or geometry.top() < -SLACK
            or geometry.right() > parent.width() - 1 + SLACK
            or geometry.bottom() > parent.height() - 1 + SLACK
        ):
            problems.append(
                f"{what} at {geometry.x()},{geometry.y()} {geometry.width()}x{geometry.height()} runs past "
                f"its parent {_describe(parent)} ({parent.width()}x{parent.height()})"
            )
        minimum = widget.minimumSizeHint()
        explicit = widget.minimumSize()
        need_w = explicit.width() if explicit.width() > 0 else minimum.width()
        need_h = explicit.height() if explicit.height() > 0 else minimum.height()
        squeezed = widget.width() + SLACK < need_w or widget.height() + SLACK < need_h
        if squeezed and not isinstance(widget, QProgressBar):
            problems.append(
                f"{what} is squeezed to {widget.width()}x{widget.height()}, below its minimum "
                f"{need_w}x{need_h}"
            )
        if isinstance(widget, QLabel) and not isinstance(widget, ElidedLabel) and widget.text():
            problems.extend(_label_problems(widget, what))
        if (
            isinstance(widget, QPushButton)
            and widget.text()
            and widget.width() + SLACK < widget.sizeHint().width()
        ):
            problems.append(f"{what} is {widget.width()} wide; its text needs {widget.sizeHint().width()}")
    return problems


def _label_problems(label: QLabel, what: str) -> list[str]:
    if label.pixmap() is not None and not label.pixmap().isNull():
        return []
    inner = label.contentsRect()
    if label.wordWrap():
        need = label.heightForWidth(label.width())
        if need > label.height() + SLACK:
            return [f"{what} needs {need} px of height for its wrapped text, has {label.height()}"]
        return []
    metrics = label.fontMetrics()
    widest = max(metrics.horizontalAdvance(line) for line in label.text().split("\n"))
    if widest > inner.width() + SLACK:
        return [f"{what} shows {inner.width()} px of its {widest} px of text"]
    return []
