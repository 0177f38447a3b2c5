"""Downloads: the queue with a progress bar per file, and pause, resume, cancel. A thin view over
DownloadManager.list(), polled twice a second while anything is active."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.downloads import DownloadManager
from desktop_app.core.errors import HearthError
from desktop_app.ui.my_models_tab import configure_table
from desktop_app.ui.table_models import DownloadTableModel
from desktop_app.ui.widgets import SPACING, CompactTable, button, label

ACTIVE = {"queued", "downloading", "verifying"}


class ProgressDelegate(QStyledItemDelegate):
    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        fraction = index.data(Qt.ItemDataRole.UserRole + 1)
        bar = QStyleOptionProgressBar()
        rect: QRect = option.rect
        bar.rect = rect.adjusted(6, 10, -6, -10)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(1000 * float(fraction or 0))
        bar.textVisible = False
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class DownloadsTab(QWidget):
    finished_one = Signal()
    active_count = Signal(int)

    def __init__(self, downloads: DownloadManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self.model = DownloadTableModel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SPACING, 0, 0)
        layout.setSpacing(SPACING)
        self.summary = label("No downloads yet. Find a model in Discover.", "muted", wrap=True)
        layout.addWidget(self.summary)
        self.table = CompactTable()
        self.table.setModel(self.model)
        configure_table(self.table)
        self.table.setItemDelegateForColumn(2, ProgressDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(2, header.ResizeMode.Fixed)
        header.setSectionResizeMode(3, header.ResizeMode.Stretch)
        header.setSectionResizeMode(0, header.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(2, 180)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        layout.addWidget(self.table, 1)
        actions = QHBoxLayout()
        self.pause_button = button("Pause")
        self.resume_button = button("Resume")
        self.cancel_button = button("Cancel", "danger")
        self.pause_button.clicked.connect(lambda: self._act(self.downloads.pause))
        self.resume_button.clicked.connect(lambda: self._act(self.downloads.resume))
        self.cancel_button.clicked.connect(lambda: self._act(self.downloads.cancel))
        for widget in (self.pause_button, self.resume_button, self.cancel_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        layout.addLayout(actions)
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self._done_ids: set[int] | None = None
        self.refresh()

    def refresh(self) -> None:
        items = self.downloads.list()
        self.model.update_items(items)
        active = sum(1 for d in items if d.state in ACTIVE)
        done = {d.id for d in items if d.state == "done"}
        if self._done_ids is not None and done - self._done_ids:
            self.finished_one.emit()
        self._done_ids = done
        self.active_count.emit(active)
        if items and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        if items:
            self.summary.setText(
                f"{active} active · {len(done)} finished · files are verified with the Hub's sha256"
            )
        self._update_actions()

    def _selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        item = self.model.item(rows[0].row()) if rows else None
        return item.id if item else None

    def _update_actions(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        item = self.model.item(rows[0].row()) if rows else None
        state = item.state if item else ""
        self.pause_button.setEnabled(state in ("queued", "downloading"))
        self.resume_button.setEnabled(state in ("paused", "failed"))
        self.cancel_button.setEnabled(state in ("queued", "downloading", "paused", "failed"))

    def _act(self, action: object) -> None:
        download_id = self._selected_id()
        if download_id is None or not callable(action):
            return
        try:
            action(download_id)
        except HearthError as exc:
            self.summary.setText(str(exc))
        self.refresh()
