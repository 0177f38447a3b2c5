"""My models: the library as a table, with load, settings, show in folder, delete, and import."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import starter
from desktop_app.core.errors import HearthError
from desktop_app.core.library import Library, LibraryModel
from desktop_app.core.units import human_size
from desktop_app.ui.error_dialog import show_error
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog
from desktop_app.ui.plain_text import ask
from desktop_app.ui.table_models import LibraryTableModel
from desktop_app.ui.widgets import SPACING, Card, CompactStack, CompactTable, button, label
from desktop_app.workers.tasks import run_in_background

TABLE_MIN_HEIGHT = 110  # a few rows; the page scrolls below that
NARROW = 720  # below this width the table drops its least useful columns
EMPTY_TEXT = (
    "Pick one in Discover: “Recommended for this computer” lists chat models that fit here, one click "
    "each. Or drop a .gguf file onto this window, or press “Import .gguf…”."
)


def configure_table(view: QTableView) -> None:
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name gets the room
    header.setStretchLastSection(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setHighlightSections(False)
    view.verticalHeader().setDefaultSectionSize(36)
    view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class MyModelsTab(QWidget):
    load_requested = Signal(object)  # LibraryModel
    status = Signal(str)
    refreshed = Signal()
    settings_saved = Signal(str)  # a model's id: its stored settings changed (the drawer shows them)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.model = LibraryTableModel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SPACING, 0, 0)
        layout.setSpacing(SPACING)

        top = QHBoxLayout()
        self.usage = label("", "muted", wrap=True)
        top.addWidget(self.usage, 1)
        self.import_button = button(
            "Import .gguf…", tooltip="Copy a model file into your library (or drop it here)"
        )
        self.import_button.clicked.connect(self._choose_import)
        top.addWidget(self.import_button)
        open_folder = button(
            "Open folder", "ghost", tooltip=f"Open the models folder: {library.paths.models}"
        )
        open_folder.clicked.connect(lambda: self._open(library.paths.models))
        top.addWidget(open_folder)
        layout.addLayout(top)

        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.hide()
        layout.addWidget(self.progress)
        layout.addWidget(self._notice_card())

        self.stack = CompactStack()
        self.stack.setMinimumHeight(TABLE_MIN_HEIGHT)
        self.table = CompactTable()
        self.table.setModel(self.model)
        configure_table(self.table)
        self.table.doubleClicked.connect(lambda _i: self._load())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.stack.addWidget(self.table)
        self.stack.addWidget(self._empty_state())
        layout.addWidget(self.stack, 1)
        self.note = Card(object_name="Notice")
        self.note.body.addWidget(label(f"{starter.DISPLAY_NAME}: {starter.NOTE}", wrap=True))
        self.note.hide()
        layout.addWidget(self.note)

        actions = QHBoxLayout()
        self.load_button = button("Load", "primary", tooltip="Load this model and chat")
        self.settings_button = button("Settings…", tooltip="Context length, GPU layers, chat template")
        self.show_button = button("Show in folder", "ghost")
        self.delete_button = button("Delete…", "danger", tooltip="Delete the model's file and entry")
        self.load_button.clicked.connect(self._load)
        self.settings_button.clicked.connect(self._edit_settings)
        self.show_button.clicked.connect(self._open_selected_folder)
        self.delete_button.clicked.connect(self._delete)
        for widget in (self.load_button, self.settings_button, self.show_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        actions.addWidget(self.delete_button)
        layout.addLayout(actions)
        self._import_cancel: threading.Event | None = None
        self._select_next: str | None = None
        self._preparing = False
        self._refreshing = False
        self._refresh_again = False
        self.refresh()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """In a narrow window the table keeps the name, quant, size and context."""
        super().resizeEvent(event)
        narrow = event.size().width() < NARROW
        for column in (1, 5):  # architecture, last used
            self.table.setColumnHidden(column, narrow)

    def _empty_state(self) -> QWidget:
        card = Card()
        card.body.setContentsMargins(32, 32, 32, 32)
        self.empty_title = label("No models yet", "title", wrap=True)
        card.body.addWidget(self.empty_title)
        self.empty_text = label(EMPTY_TEXT, "muted", wrap=True)
        card.body.addWidget(self.empty_text)
        card.body.addStretch(1)
        return card

    def _notice_card(self) -> Card:
        """What an import did ("… is already in your library"), until dismissed or the next one."""
        self.notice = Card(object_name="Notice")
        row = QHBoxLayout()
        row.setSpacing(8)
        self.notice_text = label("", wrap=True)  # quotes model names: plain text
        row.addWidget(self.notice_text, 1)
        dismiss = button("Dismiss", "ghost", tooltip="Hide this message")
        dismiss.clicked.connect(lambda: self.show_notice(""))
        row.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.notice.body.addLayout(row)
        self.notice.hide()
        return self.notice

    def show_notice(self, text: str) -> None:
        self.notice_text.setText(text)
        self.notice.setVisible(bool(text))

    # -- the starter model, first run --------------------------------------------------------------

    def show_preparing(self, preparing: bool) -> None:
        """While the starter model is being prepared, the empty list says it is on its way (the page's
        notice shows how far along it is) instead of "No models yet"."""
        self._preparing = preparing
        self.empty_title.setText("Your first model is on its way" if preparing else "No models yet")
        self.empty_text.setText(
            f"{starter.DISPLAY_NAME} is being prepared: a small model that runs offline, to try Hearth "
            "with. It appears here in a moment. " + EMPTY_TEXT
            if preparing
            else EMPTY_TEXT
        )

    @property
    def is_preparing(self) -> bool:
        return self._preparing

    def selected(self) -> LibraryModel | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.item(rows[0].row()) if rows else None

    def refresh(self, select: str | None = None) -> None:
        """Rescan the folder and reload the list off the GUI thread (validation reads files);
        a refresh asked for while one runs is coalesced into one more run. `select`: the model id to
        select (and scroll to) once the list is shown."""
        if select is not None:
            self._select_next = select
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        library = self.library

        def work() -> tuple[list[LibraryModel], int, int]:
            library.scan()
            used, free = library.disk_usage()
            return library.list(include_unusable=True), used, free  # bad files show with why

        run_in_background(work, parent=self, on_success=self._show, on_failure=self._refresh_failed)

    def _refresh_done(self) -> None:
        self._refreshing = False
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _refresh_failed(self, exc: BaseException) -> None:
        self.status.emit(str(exc))
        self._refresh_done()

    def _show(self, result: object) -> None:
        assert isinstance(result, tuple)
        models: list[LibraryModel] = result[0]
        used, free = result[1], result[2]
        current = self.selected()
        wanted = self._select_next or (current.id if current is not None else None)
        self._select_next = None
        self.model.set_items(models)
        self.stack.setCurrentIndex(0 if models else 1)
        self.usage.setText(
            f"{len(models)} model{'s' if len(models) != 1 else ''} · "
            f"{human_size(used)} on disk · {human_size(free)} free"
        )
        rows = [i for i, item in enumerate(models) if item.id == wanted]
        if rows or models:
            self.table.selectRow(rows[0] if rows else 0)
            self.table.scrollTo(self.model.index(rows[0] if rows else 0, 0))
        if self.is_preparing and any(is_starter_model(m) for m in models):
            self.show_preparing(False)
        self._update_actions()
        self.refreshed.emit()
        self._refresh_done()

    def _update_actions(self) -> None:
        model = self.selected()
        self.note.setVisible(model is not None and is_starter_model(model))
        for widget in (self.load_button, self.settings_button, self.show_button, self.delete_button):
            widget.setEnabled(model is not None)
        if model is not None and (model.missing or model.error is not None):
            self.load_button.setEnabled(False)
            self.settings_button.setEnabled(model.error is None)  # an unusable file has no settings row

    def _load(self) -> None:
        model = self.selected()
        if model is not None and not model.missing and model.error is None:
            self.library.touch(model.id)
            self.load_requested.emit(model)

    def _edit_settings(self) -> None:
        """The dialog opens on the settings as stored now (the drawer may have changed them since the
        list was read) and saves its changes onto the settings as stored when Save is pressed."""
        selected = self.selected()
        if selected is None or selected.error is not None:
            return
        try:
            model = self.library.get(selected.id)
        except HearthError as exc:
            show_error(self, exc)
            self.refresh()
            return
        dialog = ModelSettingsDialog(model, self)
        try:
            if not dialog.exec():
                return
            self.library.update_settings(
                model.id, dialog.result_settings(self.library.get(model.id).settings)
            )
        except HearthError as exc:
            show_error(self, exc)
            return
        finally:
            dialog.deleteLater()
        self.settings_saved.emit(model.id)
        self.status.emit(f"Settings saved for {model.display_name}.")
        self.refresh()

    def _delete(self) -> None:
        model = self.selected()
        if model is None:
            return
        what = (
            "Its entry is removed; the linked file stays where it is."
            if model.is_link
            else (f"The file ({human_size(model.size_bytes)}) is deleted from your disk.")
        )
        if not ask(self, "Delete model", f"Delete {model.display_name}?\n\n{what}"):
            return
        try:
            self.library.delete(model.id)
        except HearthError as exc:
            show_error(self, exc)
        self.refresh()

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", "", "GGUF models (*.gguf)")
        if path:
            self.import_paths([Path(path)])

    def import_paths(self, paths: list[Path]) -> None:
        """Validate, copy and hash off the GUI thread; the bar shows the copy's progress."""
        ggufs = [p for p in paths if p.suffix.lower() == ".gguf"]
        if not ggufs:
            self.status.emit("Only .gguf model files can be imported.")
            return
        done = [0, 1]
        self._import_cancel = threading.Event()
        cancel = self._import_cancel

        def work() -> tuple[list[LibraryModel], list[LibraryModel]]:
            def progress(n: int, total: int) -> None:
                done[0], done[1] = n, max(total, 1)

            known = {m.id for m in self.library.list()}
            models = [self.library.import_file(p, progress=progress, cancel=cancel) for p in ggufs]
            return [m for m in models if m.id not in known], [m for m in models if m.id in known]

        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        self.import_button.setEnabled(False)
        timer_id = self.startTimer(100)

        def finish() -> None:
            self.killTimer(timer_id)
            self.progress.hide()
            self.import_button.setEnabled(True)

        def ok(result: object) -> None:
            finish()
            assert isinstance(result, tuple)
            added, already = result
            names = ", ".join(m.display_name for m in added)
            there = ", ".join(m.display_name for m in already)
            text = " ".join(
                part
                for part in (
                    f"Imported {names}." if added else "",
                    f"{there} {'is' if len(already) == 1 else 'are'} already in your library."
                    if already
                    else "",
                )
                if part
            )
            self.show_notice(text)
            self.status.emit(text)
            focus = (added or already)[-1] if added or already else None
            self.refresh(select=focus.id if focus is not None else None)

        def failed(exc: BaseException) -> None:
            finish()
            self.refresh()
            show_error(self, exc)

        self._progress_source = done
        run_in_background(work, parent=self, on_success=ok, on_failure=failed)

    def timerEvent(self, event: object) -> None:
        done = getattr(self, "_progress_source", [0, 1])
        self.progress.setValue(int(1000 * done[0] / done[1]))

    def _open_selected_folder(self) -> None:
        model = self.selected()
        if model is not None:
            self._open(model.path.parent)

    @staticmethod
    def _open(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def is_starter_model(model: LibraryModel) -> bool:
    return starter.is_starter(model.path)
