"""The chat's top bar: the model picker, load progress, and the model's badges.

The picker lists the library's models, then each remote provider's (set_remote_models): a remote one
says where it runs, and once chosen its badge says that your messages leave this computer.

It must fit the window's minimum width: the picker elides its text, the badges that do not fit are
hidden (least important first) rather than cut, and the load progress shrinks before the buttons do."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QProgressBar, QSizePolicy, QWidget

from desktop_app.core import starter
from desktop_app.core.library import LibraryModel
from desktop_app.core.providers.records import LEAVES, RemoteModel
from desktop_app.core.units import human_size
from desktop_app.ui.plain_text import set_tooltip, tooltip
from desktop_app.ui.widgets import MARGIN, BadgeRow, ChevronCombo, button, label

if TYPE_CHECKING:  # annotations only: the engine package is not the header's to import at start-up
    from desktop_app.core.engine import LoadedModel

PLACEHOLDER = "Select a model to load"
PICKER_TIP = "Choose which of your models to chat with (it loads on this computer)"
NO_MODELS = "No models yet: download one in Models"
PICKER_MIN_WIDTH = 150
PICKER_MAX_WIDTH = 420


class ChatHeader(QFrame):
    model_chosen = Signal(object)  # LibraryModel
    remote_chosen = Signal(object)  # RemoteModel: a provider's model, which runs on another computer
    open_file = Signal()
    unload = Signal()
    toggle_settings = Signal()
    cancel_load = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatHeader")
        row = QHBoxLayout(self)
        row.setContentsMargins(MARGIN, 12, MARGIN, 12)
        row.setSpacing(10)
        self.picker = ChevronCombo(min_chars=12)
        self.picker.setObjectName("ModelPicker")
        self.picker.setAccessibleName("Model")
        self.picker.setToolTip(PICKER_TIP)
        self.picker.setMinimumWidth(PICKER_MIN_WIDTH)
        self.picker.setMaximumWidth(PICKER_MAX_WIDTH)
        self.picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.picker.activated.connect(self._picked)
        row.addWidget(self.picker, 3)
        self.badges = BadgeRow()
        self.badges.setAccessibleName("About the loaded model")
        row.addWidget(self.badges, 2)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMinimumWidth(48)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Loading progress")
        self.progress.hide()
        row.addWidget(self.progress, 1)
        self.progress_label = label("", "muted", elide=True)  # "Loading <the file's name>…"
        self.progress_label.setMaximumWidth(360)
        self.progress_label.hide()
        row.addWidget(self.progress_label, 1)
        self.cancel_button = button("Cancel", "ghost", tooltip="Stop loading this model")
        self.cancel_button.setAccessibleName("Cancel loading")
        self.cancel_button.clicked.connect(self.cancel_load)
        self.cancel_button.hide()
        row.addWidget(self.cancel_button)
        self.open_button = button("Open file…", "ghost", tooltip="Load a .gguf file from anywhere")
        self.open_button.clicked.connect(self.open_file)
        row.addWidget(self.open_button)
        self.unload_button = button("Eject", "ghost", tooltip="Unload the model and free its memory")
        self.unload_button.setAccessibleName("Unload model")
        self.unload_button.clicked.connect(self.unload)
        self.unload_button.hide()
        row.addWidget(self.unload_button)
        self.settings_button = button(
            "Settings", tooltip="System prompt, sampling and load settings (Ctrl+,)"
        )
        self.settings_button.setCheckable(True)
        self.settings_button.setAccessibleName("Chat settings")
        self.settings_button.clicked.connect(self.toggle_settings)
        row.addWidget(self.settings_button)
        self._models: list[LibraryModel] = []
        self._remote: list[RemoteModel] = []
        self._remote_selected: RemoteModel | None = None
        self._empty_text = NO_MODELS
        self._loaded_path: str | None = None
        self._loading_since = 0.0
        self._elapsed = QTimer(self)
        self._elapsed.setInterval(250)
        self._elapsed.timeout.connect(self._tick)
        self.set_models([])

    # -- the picker --------------------------------------------------------------------------------

    def set_models(self, models: list[LibraryModel]) -> None:
        self._models = [m for m in models if not m.missing]
        with QSignalBlocker(self.picker):
            self.picker.clear()
            self.picker.addItem(PLACEHOLDER if self._models or self._remote else self._empty_text)
            for model in self._models:
                text = f"{model.display_name}  ·  {model.quant}  ·  {human_size(model.size_bytes)}"
                self.picker.addItem(text, model.id)
            if self._remote:
                self.picker.insertSeparator(self.picker.count())
            for remote in self._remote:
                self.picker.addItem(f"{remote.model}  ·  on {remote.host}", f"remote:{remote.label}")
                tip = tooltip(remote.badge)  # the host is the user's text, the model id the server's: literal
                self.picker.setItemData(self.picker.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self._select_loaded()

    def set_remote_models(self, models: list[RemoteModel]) -> None:
        """The remote providers' models, listed after the library's (the chat page fetches them off the
        GUI thread: listing them is a network call)."""
        self._remote = list(models)
        self.set_models(self._models)

    def _remote_index(self, remote: RemoteModel) -> int:
        """The picker row of `remote` (after the local models and the separator), or 0."""
        for i, known in enumerate(self._remote):
            if known == remote:
                return len(self._models) + 2 + i
        return 0

    def set_empty_text(self, text: str | None) -> None:
        """What the picker says while the library is empty (None: the usual "No models yet"), e.g. that
        the starter model is being prepared."""
        self._empty_text = text or NO_MODELS
        self.set_models(self._models)

    def _select_loaded(self) -> None:
        index = 0
        for i, model in enumerate(self._models, start=1):
            if str(model.path) == self._loaded_path:
                index = i
        if self._remote_selected is not None:
            index = self._remote_index(self._remote_selected)
        with QSignalBlocker(self.picker):
            self.picker.setCurrentIndex(index)
        set_tooltip(self.picker, self.picker.currentText() if index else PICKER_TIP)  # a model's name

    @Slot(int)
    def _picked(self, index: int) -> None:
        remote_at = index - len(self._models) - 2  # past the local models and the separator
        if self._remote and 0 <= remote_at < len(self._remote):
            remote = self._remote[remote_at]
            if remote != self._remote_selected:
                self.remote_chosen.emit(remote)
            return
        if index <= 0 or index > len(self._models):
            self._select_loaded()
            return
        model = self._models[index - 1]
        if str(model.path) != self._loaded_path or self._remote_selected is not None:
            self.model_chosen.emit(model)

    # -- load state -------------------------------------------------------------------------------

    def show_loading(self, name: str) -> None:
        if self.progress.isVisibleTo(self) and name in self.progress_label.text():
            return  # already shown when the load was asked for; keep its clock
        self._loading_since = time.monotonic()
        self.clear_badges()
        self.progress.setRange(0, 0)  # busy until llama.cpp reports how far it is
        self.progress.show()
        self.cancel_button.show()
        self.progress_label.setText(f"Loading {name}…")
        self.progress_label.show()
        self._elapsed.start()
        self.unload_button.hide()

    def show_progress(self, percent: int) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 100)
        self.progress.setValue(percent)
        self.progress.setAccessibleDescription(f"{percent}% loaded")

    def _tick(self) -> None:
        text = self.progress_label.text().split(" · ")[0]
        self.progress_label.setText(f"{text} · {time.monotonic() - self._loading_since:.1f} s")

    def _loading_done(self) -> None:
        self._elapsed.stop()
        self.progress.hide()
        self.cancel_button.hide()
        self.progress_label.setText("")
        self.progress_label.hide()

    def show_remote(self, remote: RemoteModel) -> None:
        """A provider's model is the chat's model: its badge says where it runs and what that means."""
        self._loading_done()
        self._remote_selected = remote
        self._select_loaded()
        # Read together: "runs on HOST" "your messages leave this computer". The second is kept longest
        # when the bar is narrow (the picker's item already says where the model runs).
        self.badges.set_badges([(f"runs on {remote.host}", "badge-accent", 1), (LEAVES, "badge-accent", 0)])
        self._give_badges_room(True)
        set_tooltip(self.picker, f"{remote.model} on {remote.provider}: {remote.badge}")
        self.unload_button.hide()

    def _give_badges_room(self, remote: bool) -> None:
        """A remote model's badges are a privacy notice: they get the larger share of the bar."""
        row = self.layout()
        assert isinstance(row, QHBoxLayout)
        row.setStretchFactor(self.picker, 1 if remote else 3)
        row.setStretchFactor(self.badges, 4 if remote else 2)

    def show_loaded(self, model: LoadedModel) -> None:
        self._loading_done()
        self._remote_selected = None
        self._give_badges_room(False)
        self._loaded_path = str(model.summary.path)
        summary = model.summary
        if starter.is_starter(summary.path) and not any(
            str(m.path) == self._loaded_path for m in self._models
        ):
            with QSignalBlocker(self.picker):
                self.picker.setItemText(0, starter.DISPLAY_NAME)
        elif not any(str(m.path) == self._loaded_path for m in self._models):
            with QSignalBlocker(self.picker):
                self.picker.setItemText(0, summary.name)
        self._select_loaded()
        # Shown in this order; when the bar is narrow the context goes last, the architecture first.
        badges = [(summary.architecture, "badge", 3), (summary.file_type, "badge", 2)]
        badges.append((f"{model.n_ctx:,} ctx", "badge", 1))
        if model.chat_format.source == "builtin":  # the file has no usable template: worth knowing
            badges.append((f"{model.chat_format.family} template", "badge-accent", 0))
        self.badges.set_badges(badges)
        self.unload_button.show()

    def show_unloaded(self) -> None:
        self._loading_done()
        self._loaded_path = None
        self._remote_selected = None
        self._give_badges_room(False)
        self.clear_badges()
        self.unload_button.hide()
        self.set_models(self._models)

    def clear_badges(self) -> None:
        self.badges.clear()

    def badge_texts(self) -> list[str]:
        """Every badge's text, whether the bar has room to show it or not."""
        return self.badges.texts()
