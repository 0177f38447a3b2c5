"""The list view both sidebar lists use (the chats, and the search hits).

It draws nothing of its own over the Sidebar colour, tracks hover, and turns the keys the panel handles
itself (Enter opens, Delete deletes, F2 renames, Menu / Shift+F10 opens the menu) into signals, so the
panel wires one set of gestures for either list.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QKeyEvent, QPalette
from PySide6.QtWidgets import QAbstractItemView, QFrame, QListView, QWidget


class SidebarListView(QListView):
    """A sidebar list: transparent over the Sidebar colour, hover tracking, and the keys the panel
    handles itself (Enter opens, Delete deletes, F2 renames, Menu / Shift+F10 opens the menu)."""

    open_requested = Signal(QModelIndex)
    delete_requested = Signal(QModelIndex)
    rename_requested = Signal(QModelIndex)
    menu_requested = Signal(QModelIndex, QPoint)  # the item, and a global position

    def __init__(self, accessible_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(accessible_name)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # F2 is handled below
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setMouseTracking(True)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover, True)
        self.setAutoFillBackground(False)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, Qt.GlobalColor.transparent)
        self.setPalette(palette)
        self.viewport().setAutoFillBackground(False)

    def minimumSizeHint(self) -> QSize:
        """Two rows: below that the sidebar scrolls as a whole (a list view's own hint is taller)."""
        return QSize(0, 2 * (self.fontMetrics().height() + 16))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        index = self.currentIndex()
        if self.state() != QAbstractItemView.State.EditingState and index.isValid():
            menu_key = key == Qt.Key.Key_Menu or (
                key == Qt.Key.Key_F10 and event.modifiers() == Qt.KeyboardModifier.ShiftModifier
            )
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_requested.emit(index)
            elif key == Qt.Key.Key_Delete:
                self.delete_requested.emit(index)
            elif key == Qt.Key.Key_F2:
                self.rename_requested.emit(index)
            elif menu_key:
                self.menu_requested.emit(index, self.viewport().mapToGlobal(self.visualRect(index).center()))
            else:
                super().keyPressEvent(event)
                return
            event.accept()
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Keyboard:
            index = self.currentIndex()
            pos = self.viewport().mapToGlobal(self.visualRect(index).center())
        else:
            index = self.indexAt(self.viewport().mapFromGlobal(event.globalPos()))
            pos = event.globalPos()
        if index.isValid() and index.flags() & Qt.ItemFlag.ItemIsEnabled:
            self.menu_requested.emit(index, pos)
            event.accept()
