"""The start page: the models on this computer, what to do when there are none, and the starter model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import starter
from desktop_app.core.model_files import ModelFile, find_model_files
from desktop_app.ui.widgets import MARGIN, SPACING, Card, button, human_size, label


class ModelCard(Card):
    load_clicked = Signal(Path)

    def __init__(self, model: ModelFile, *, can_load: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        is_starter = starter.is_starter(model.path)
        top = QHBoxLayout()
        top.setSpacing(8)
        name = starter.DISPLAY_NAME if is_starter else model.display_name
        top.addWidget(label(name, "heading"))
        if is_starter:
            top.addWidget(label("base model", "badge-accent"))
        if len(model.parts) > 1:
            top.addWidget(label(f"{len(model.parts)} parts", "badge"))
        top.addWidget(label(human_size(model.size_bytes), "badge"))
        top.addStretch(1)
        if can_load:
            load = button("Load", "primary", tooltip=f"Load {name} and start chatting")
            load.clicked.connect(lambda: self.load_clicked.emit(model.path))
            top.addWidget(load)
        self.body.addLayout(top)
        self.body.addWidget(label(str(model.path), "muted"))
        if is_starter:
            self.body.addWidget(label(starter.NOTE, "muted", wrap=True))
        if not model.complete:
            self.body.addWidget(label("Some parts of this split model are missing.", "error"))


class LibraryPage(QWidget):
    """Lists local models. `load_requested` is emitted with the path to load."""

    load_requested = Signal(Path)

    def __init__(self, models_dir: Path, *, can_load: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self._models_dir = models_dir
        self._can_load = can_load
        outer = QVBoxLayout(self)
        outer.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        outer.setSpacing(SPACING)

        outer.addWidget(label("Your models", "title"))
        outer.addWidget(
            label("Everything runs on this computer. Nothing you type leaves it.", "muted", wrap=True)
        )

        self.notice = Card(object_name="Notice")
        self.notice_text = label("", wrap=True)
        self.notice_progress = QProgressBar()
        self.notice_progress.setRange(0, 0)
        self.notice_progress.setTextVisible(False)
        self.notice.body.addWidget(self.notice_text)
        self.notice.body.addWidget(self.notice_progress)
        self.notice.hide()
        outer.addWidget(self.notice)

        self._list_host = QWidget()
        self._list = QVBoxLayout(self._list_host)
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(SPACING)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._list_host)
        outer.addWidget(scroll, 1)

        actions = QHBoxLayout()
        open_folder = button("Open models folder", tooltip=str(models_dir))
        open_folder.clicked.connect(self._open_folder)
        refresh = button("Refresh", "ghost", tooltip="Look for new .gguf files in the models folder")
        refresh.clicked.connect(self.refresh)
        actions.addWidget(open_folder)
        actions.addWidget(refresh)
        actions.addStretch(1)
        outer.addLayout(actions)
        self.refresh()

    def models(self) -> list[ModelFile]:
        return find_model_files(self._models_dir)

    def set_can_load(self, can_load: bool) -> None:
        self._can_load = can_load
        self.refresh()

    def show_busy(self, text: str) -> None:
        self.notice_text.setText(text)
        self.notice_progress.show()
        self.notice.show()

    def show_message(self, text: str) -> None:
        self.notice_text.setText(text)
        self.notice_progress.hide()
        self.notice.setVisible(bool(text))

    def refresh(self) -> None:
        while (item := self._list.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.deleteLater()
        models = self.models()
        for model in models:
            card = ModelCard(model, can_load=self._can_load)
            card.load_clicked.connect(self.load_requested)
            self._list.addWidget(card)
        if not models:
            self._list.addWidget(self._empty_state())
        self._list.addStretch(1)

    def _empty_state(self) -> QWidget:
        card = Card()
        card.body.setContentsMargins(28, 28, 28, 28)
        card.body.addWidget(label("No models yet", "heading"), alignment=Qt.AlignmentFlag.AlignHCenter)
        text = (
            f"Copy a .gguf model file into {self._models_dir} and press Refresh. "
            "Want something to try right away? Install the starter model with "
            "`pip install 'hearth-desktop[starter]'` (a tiny, fully offline base model)."
        )
        body = label(text, "muted", wrap=True)
        body.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        card.body.addWidget(body)
        return card

    def _open_folder(self) -> None:
        self._models_dir.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._models_dir)))
