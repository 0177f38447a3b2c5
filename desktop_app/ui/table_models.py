"""Qt table models: thin adapters over lists the core returns. They are refreshed from the GUI thread
(by a signal or a timer, as qutebrowser's download list is) and never do I/O in data()."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from desktop_app.core.downloads import DownloadInfo
from desktop_app.core.hub import ModelOption, RepoSummary
from desktop_app.core.library import LibraryModel
from desktop_app.core.units import human_size
from desktop_app.ui.plain_text import tooltip

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex
Column = tuple[str, Callable[[Any], object]]


class ListTableModel(QAbstractTableModel, Generic[T]):
    """Rows are items of type T; each column is (header, item -> display value)."""

    columns: Sequence[Column] = ()

    def __init__(self) -> None:
        super().__init__()
        self._items: list[T] = []

    def set_items(self, items: Sequence[T]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def update_items(self, items: Sequence[T]) -> None:
        """Same rows in the same order: repaint values without resetting selection or scroll."""
        if len(items) != len(self._items):
            self.set_items(items)
            return
        self._items = list(items)
        if self._items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._items) - 1, len(self.columns) - 1))

    def item(self, row: int) -> T | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[T]:
        return list(self._items)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(self.columns[index.column()][1](item))
        if role == Qt.ItemDataRole.ToolTipRole:
            text = self.tooltip(item)  # paths, repo and file names: escaped, as tooltips guess HTML
            return tooltip(text) if text else None
        if role == Qt.ItemDataRole.UserRole:
            return self.sort_value(item, index.column())
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(self.columns):
            return self.columns[section][0]
        return None

    def tooltip(self, item: T) -> str | None:
        return None

    def sort_value(self, item: T, column: int) -> object:
        return self.columns[column][1](item)


def ago(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    seconds = max(0.0, time.time() - timestamp)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def _state_suffix(model: LibraryModel) -> str:
    if model.missing:
        return "  (missing)"
    return "  (unusable)" if model.error else ""


class LibraryTableModel(ListTableModel[LibraryModel]):
    columns = (
        ("Name", lambda m: m.display_name + _state_suffix(m)),
        ("Architecture", lambda m: m.architecture),
        ("Quant", lambda m: m.quant),
        ("Size", lambda m: human_size(m.size_bytes)),
        ("Context", lambda m: f"{m.context_length:,}" if m.context_length else "?"),
        ("Last used", lambda m: ago(m.last_used_at)),
    )

    def tooltip(self, item: LibraryModel) -> str:
        origin = (
            f"{item.origin_repo}/{item.origin_file}"
            if item.origin_repo
            else (item.imported_from or "models folder")
        )
        return (
            f"{item.path}\nFrom: {origin}"
            + ("\nLinked: the file stays where it is" if item.is_link else "")
            + (f"\nUnusable: {item.error}" if item.error else "")
        )


class SearchTableModel(ListTableModel[RepoSummary]):
    columns = (
        ("Repository", lambda r: r.id + ("  🔒" if r.gated or r.private else "")),
        ("Downloads", lambda r: f"{r.downloads:,}"),
        ("Likes", lambda r: f"{r.likes:,}"),
        ("Updated", lambda r: r.last_modified.strftime("%Y-%m-%d") if r.last_modified else ""),
    )


class OptionTableModel(ListTableModel[ModelOption]):
    """A repo's quantizations; `fit` maps option name -> (verdict, reason), filled in when known."""

    columns = (
        ("Quant", lambda o: o.quant or "?"),
        ("File", lambda o: o.name + (f"  (+{len(o.files) - 1} parts)" if len(o.files) > 1 else "")),
        ("Size", lambda o: human_size(o.size)),
    )

    def __init__(self) -> None:
        super().__init__()
        self.fit: dict[str, tuple[str, str]] = {}

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns) + 1

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if (
            section == len(self.columns)
            and role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
        ):
            return "Fits?"
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if index.isValid() and index.column() == len(self.columns):
            option = self.item(index.row())
            if option is None:
                return None
            verdict, reason = self.fit.get(
                option.name, ("", "Checking the model's size against your memory…")
            )
            if role == Qt.ItemDataRole.DisplayRole:
                return {"green": "● Fits", "yellow": "● Tight", "red": "● Too big"}.get(verdict, "…")
            if role == Qt.ItemDataRole.ToolTipRole:
                return tooltip(reason)
            if role == Qt.ItemDataRole.ForegroundRole:
                from PySide6.QtGui import QColor

                return QColor(
                    {"green": "#2b8a3e", "yellow": "#e67700", "red": "#c92a2a"}.get(verdict, "#868e96")
                )
            return None
        return super().data(index, role)

    def set_fit(self, fit: dict[str, tuple[str, str]]) -> None:
        self.fit = fit
        if self.rowCount():
            column = len(self.columns)
            self.dataChanged.emit(self.index(0, column), self.index(self.rowCount() - 1, column))


def download_status(d: DownloadInfo) -> str:
    total = d.size_bytes or 0
    if d.state == "downloading":
        speed = f"{d.speed_bps / 1e6:.1f} MB/s" if d.speed_bps else "starting…"
        eta = f", {int(d.eta_s // 60)}:{int(d.eta_s % 60):02d} left" if d.eta_s else ""
        return f"{d.fraction:.0%} of {human_size(total)} · {speed}{eta}"
    if d.state in ("failed", "cancelled") and d.error:
        return f"{d.state}: {d.error}"
    if d.state == "done":
        return f"done · {human_size(total)} · verified"
    return f"{d.state} · {human_size(d.downloaded_bytes)} of {human_size(total)}"


class DownloadTableModel(ListTableModel[DownloadInfo]):
    columns = (
        ("File", lambda d: d.filename),
        ("Repository", lambda d: d.repo),
        ("Progress", lambda d: f"{d.fraction:.0%}"),
        ("Status", download_status),
    )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if index.isValid() and index.column() == 2 and role == Qt.ItemDataRole.UserRole + 1:
            item = self.item(index.row())
            return item.fraction if item else 0.0
        return super().data(index, role)
