"""The Documents page: collections of files and folders to chat with.

"Add files…" and "Add folder…" put paths into the collection named above them (created when new);
each collection is a card with its counts, a progress bar with an ETA while it is indexed, the files
that could not be indexed with their reasons (plain text: names and reasons come from the user's
files), and Update, Cancel and Remove. Indexing runs on the DocumentIndexer's thread
(workers/document_worker.py); this page only shows what it reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.documents.extract import SUPPORTED_SUFFIXES
from desktop_app.core.documents.indexer import IndexReport, Progress
from desktop_app.core.documents.store import DEFAULT_COLLECTION
from desktop_app.ui.plain_text import message_box
from desktop_app.ui.theme import set_role
from desktop_app.ui.widgets import SPACING, Card, ResponsiveRow, button, label, page_layout
from desktop_app.workers.document_worker import CollectionView, DocumentIndexer

if TYPE_CHECKING:
    from desktop_app.core.services import AppServices

ERROR_LINES = 8  # failed files listed on a card; the rest are counted
NAME_CHARS = 120


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def counts_text(view: CollectionView) -> str:
    parts = [
        f"{view.files:,} file" + ("" if view.files == 1 else "s"),
        f"{view.chunks:,} passage" + ("" if view.chunks == 1 else "s"),
    ]
    if view.failed:
        parts.append(f"{view.failed:,} could not be indexed")
    parts.append(
        f"keyword and meaning search ({Path(view.embedding_model).name})"
        if view.embedding_model
        else "keyword search"
    )
    return " · ".join(parts)


def report_text(report: IndexReport) -> str:
    head = "Stopped. Files indexed so far are kept; Update continues." if report.cancelled else "Up to date."
    parts = [f"{report.indexed:,} indexed", f"{report.skipped:,} unchanged"]
    if report.removed:
        parts.append(f"{report.removed:,} removed")
    if report.failed:
        parts.append(f"{len(report.failed):,} failed")
    return f"{head} {', '.join(parts)}."


class CollectionCard(Card):
    """One collection: counts, progress while indexing, failed files, and its actions."""

    update_requested = Signal(str)
    cancel_requested = Signal(str)
    remove_requested = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.busy = False
        layout = self.body
        head = QHBoxLayout()
        head.setSpacing(SPACING)
        self.title = label(name[:NAME_CHARS], "heading", elide=True)
        head.addWidget(self.title, 1)
        self.update_button = button("Update", tooltip="Index what changed in this collection's files")
        self.cancel_button = button("Cancel", tooltip="Stop indexing; files done so far are kept")
        self.remove_button = button("Remove", "danger", tooltip="Remove the collection from the index")
        for widget in (self.update_button, self.cancel_button, self.remove_button):
            head.addWidget(widget)
        layout.addLayout(head)
        self.counts = label("", "muted", wrap=True)
        layout.addWidget(self.counts)
        self.roots = label("", "muted", wrap=True)
        layout.addWidget(self.roots)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName(f"Indexing {name}")
        layout.addWidget(self.bar)
        self.status = label("", "muted", wrap=True)
        layout.addWidget(self.status)
        self.errors = label("", "error", wrap=True)
        layout.addWidget(self.errors)
        self.update_button.clicked.connect(lambda: self.update_requested.emit(self.name))
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.name))
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.name))
        self.set_busy(False)
        for hidden in (self.counts, self.roots, self.errors, self.status):
            hidden.hide()  # until there is something to say (a new collection has no counts yet)

    def show_view(self, view: CollectionView) -> None:
        self.counts.setText(counts_text(view))
        self.counts.show()
        shown = ", ".join(view.roots[:3]) + (
            f" and {len(view.roots) - 3} more" if len(view.roots) > 3 else ""
        )
        self.roots.setText(f"From {shown}" if shown else "")
        self.roots.setVisible(bool(shown))
        lines = [f"{os.path.basename(path)}: {reason}" for path, reason in view.errors[:ERROR_LINES]]
        if view.failed > len(lines):
            lines.append(f"… and {view.failed - len(lines):,} more")
        self.errors.setText("\n".join(lines))
        self.errors.setVisible(bool(lines))

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.update_button.setEnabled(not busy)
        if busy:
            self.bar.setRange(0, 0)  # busy until the first progress says how many files
            self.status.setText("Waiting to start…")
            self.status.show()

    def show_progress(self, progress: Progress) -> None:
        self.set_busy(True)
        total = max(progress.files_total, 1)
        self.bar.setRange(0, total)
        self.bar.setValue(min(progress.files_done, total))
        current = os.path.basename(progress.current) if progress.current else ""
        parts = [
            f"{progress.files_done:,} of {progress.files_total:,} files",
            f"{progress.chunks:,} passages",
        ]
        eta = eta_text(progress.eta_s)
        if eta:
            parts.append(eta)
        self.status.setText((f"Indexing {current} · " if current else "Indexing · ") + " · ".join(parts))

    def show_report(self, report: IndexReport) -> None:
        self.set_busy(False)
        text = report_text(report)
        if report.warnings:
            text += "\n" + "\n".join(report.warnings)
        self.status.setText(text)
        self.status.show()


class _FitRow(ResponsiveRow):
    """Side by side when the parts fit at their minimum widths (which grow with the text size),
    else stacked."""

    def __init__(self, parts: list[QWidget]) -> None:
        super().__init__(0)
        self.parts = parts
        for index, part in enumerate(parts):
            self.add(part, 1 if index == 0 else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.wide_from = sum(p.minimumSizeHint().width() for p in self.parts) + SPACING * (
            len(self.parts) - 1
        )
        super().resizeEvent(event)


class DocumentsPage(QWidget):
    """Collections, adding files and folders, and indexing progress. Call `shutdown()` before the
    window closes: it stops the indexing thread."""

    #: list[CollectionView], whenever the collections change (for the chat's attach menu)
    collections_changed = Signal(object)
    #: True while any indexing job runs or waits
    indexing_changed = Signal(bool)

    def __init__(self, services: AppServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.services = services
        self.indexer = DocumentIndexer(services.paths, self)
        self.cards: dict[str, CollectionCard] = {}
        self.views: list[CollectionView] = []

        self.scroll_area, layout = page_layout(self)
        layout.addWidget(label("Documents", "title"))
        layout.addWidget(
            label(
                "Chat with your own files. Add files or folders to a collection, then attach it to a "
                "chat: replies cite the file and page. Files are read, indexed and searched on this "
                "computer only.",
                "muted",
                wrap=True,
            )
        )
        layout.addWidget(self._build_add_card())
        layout.addWidget(label("Collections", "heading"))
        self.empty = label("No collections yet. Add files or a folder above.", "muted", wrap=True)
        layout.addWidget(self.empty)
        self.list_layout = QVBoxLayout()
        self.list_layout.setSpacing(SPACING)
        layout.addLayout(self.list_layout)
        layout.addStretch(1)

        self.indexer.collections_changed.connect(self._on_collections)
        self.indexer.progress.connect(self._on_progress)
        self.indexer.finished.connect(self._on_finished)
        self.indexer.failed.connect(self._on_failed)
        self.indexer.busy_changed.connect(self.indexing_changed)
        self.indexer.reload()

    def _build_add_card(self) -> Card:
        card = Card()
        layout = card.body
        field = QWidget()
        row = QHBoxLayout(field)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACING)
        row.addWidget(label("Collection", "muted"))
        self.collection_box = QComboBox()
        self.collection_box.setEditable(True)
        self.collection_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.collection_box.setAccessibleName("Collection name")
        self.collection_box.setToolTip("Pick a collection or type a new name")
        self.collection_box.addItem(DEFAULT_COLLECTION)
        self.collection_box.setMinimumContentsLength(10)
        row.addWidget(self.collection_box, 1)
        actions = QWidget()
        buttons = QHBoxLayout(actions)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(SPACING)
        self.add_files_button = button("Add files…", "primary")
        self.add_folder_button = button("Add folder…")
        buttons.addWidget(self.add_files_button)
        buttons.addWidget(self.add_folder_button)
        buttons.addStretch(1)
        self.add_row = _FitRow([field, actions])
        layout.addWidget(self.add_row)
        layout.addWidget(
            label(
                "PDF, Word (.docx), HTML, Markdown, text and source code. Folders are searched for "
                "these files; changed files are indexed again when you press Update.",
                "muted",
                wrap=True,
            )
        )
        self.add_error = label("", "error", wrap=True)
        self.add_error.hide()
        layout.addWidget(self.add_error)
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button.clicked.connect(self._choose_folder)
        return card

    # -- actions -----------------------------------------------------------------------------------

    def collection_name(self) -> str:
        return self.collection_box.currentText().strip() or DEFAULT_COLLECTION

    def add_paths(self, paths: Sequence[str | Path], collection: str | None = None) -> None:
        """Index `paths` into `collection` (the one named in the box when None), off the GUI thread."""
        if not paths:
            return
        name = collection or self.collection_name()
        self.add_error.hide()
        self._card(name).set_busy(True)
        self.indexer.add(name, paths)

    def update_collection(self, name: str) -> None:
        self._card(name).set_busy(True)
        self.indexer.refresh(name)

    def refresh_all(self) -> None:
        """Index what changed in every collection (the window calls it once after start-up)."""
        for view in self.views:
            self.update_collection(view.name)

    def cancel_collection(self, name: str) -> None:
        self.indexer.cancel(name)

    def remove_collection(self, name: str) -> None:
        """Stop indexing it and remove it from the index (the files themselves are not touched)."""
        self.indexer.cancel(name)
        self.indexer.remove(name)

    def shutdown(self) -> bool:
        return self.indexer.shutdown()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.indexer.reload()  # `hearth docs` may have changed the index meanwhile

    def _choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(SUPPORTED_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add files", str(Path.home()), f"Documents ({patterns});;All files (*)"
        )
        self.add_paths(files)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add folder", str(Path.home()))
        if folder:
            self.add_paths([folder])

    def _confirm_remove(self, name: str) -> None:
        box = message_box(
            self,
            "Remove collection",
            f"Remove the collection “{name[:NAME_CHARS]}”?",
            informative="Its index is deleted. Your files stay where they are.",
        )
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)

        def done() -> None:
            if box.clickedButton() is remove:
                self.remove_collection(name)
            box.deleteLater()

        box.finished.connect(done)
        box.open()

    # -- reports from the indexing thread ----------------------------------------------------------

    def _card(self, name: str) -> CollectionCard:
        card = self.cards.get(name)
        if card is None:
            card = CollectionCard(name)
            card.update_requested.connect(self.update_collection)
            card.cancel_requested.connect(self.cancel_collection)
            card.remove_requested.connect(self._confirm_remove)
            self.cards[name] = card
            self.list_layout.addWidget(card)
            self.empty.hide()
        return card

    @Slot(object)
    def _on_collections(self, views: list[CollectionView]) -> None:
        self.views = list(views)
        names = {v.name for v in views}
        for name in [n for n in self.cards if n not in names]:
            card = self.cards.pop(name)
            if card.busy:
                self.cards[name] = card  # a new collection its first job has not written yet
                continue
            card.setParent(None)
            card.deleteLater()
        for view in views:
            self._card(view.name).show_view(view)
        self.empty.setVisible(not self.cards)
        current = self.collection_box.currentText()
        self.collection_box.blockSignals(True)
        self.collection_box.clear()
        self.collection_box.addItems(sorted(names | {DEFAULT_COLLECTION}))
        self.collection_box.setCurrentText(current)
        self.collection_box.blockSignals(False)
        self.collections_changed.emit(self.views)

    @Slot(str, object)
    def _on_progress(self, name: str, progress: Progress) -> None:
        self._card(name).show_progress(progress)

    @Slot(str, object)
    def _on_finished(self, name: str, report: IndexReport) -> None:
        self._card(name).show_report(report)

    @Slot(str, str)
    def _on_failed(self, name: str, message: str) -> None:
        card = self.cards.get(name)
        if card is not None:
            card.set_busy(False)
            card.status.setText(message)
            set_role(card.status, "error")
            card.status.show()
        else:
            self.add_error.setText(message)
            self.add_error.show()
