"""The main window: a sidebar for navigation and a stack of pages."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import __version__
from desktop_app.core import network
from desktop_app.core.db import Database
from desktop_app.core.downloads import CompletedDownload, DownloadManager
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.library import Library, LibraryModel
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import (
    AppSettings,
    load_settings,
    read_token,
    save_settings,
    write_token,
)
from desktop_app.resources import icon_path
from desktop_app.ui.chat_page import ChatPage
from desktop_app.ui.error_dialog import show_error
from desktop_app.ui.models_page import ModelsPage
from desktop_app.ui.widgets import button, label
from desktop_app.workers.inference import InferenceController

WINDOW_TITLE = "Hearth"
log = logging.getLogger(__name__)


class Sidebar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFixedWidth(232)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 18, 14, 14)
        layout.setSpacing(6)

        brand = QHBoxLayout()
        brand.setSpacing(10)
        logo = QLabel()
        logo.setPixmap(QIcon(str(icon_path())).pixmap(QSize(28, 28)))
        brand.addWidget(logo)
        brand.addWidget(label(WINDOW_TITLE, "brand"))
        brand.addStretch(1)
        layout.addLayout(brand)
        layout.addSpacing(14)
        self.nav_layout = layout
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self._stretch_index = layout.count()
        layout.addStretch(1)
        self.offline = QCheckBox("Offline mode")
        self.offline.setToolTip(
            "Guarantee that Hearth makes no network request: search and downloads are off."
        )
        self.offline.setAccessibleName("Offline mode")
        layout.addWidget(self.offline)
        self.privacy = label("● Private · runs offline", "muted")
        self.privacy.setToolTip(
            "Hearth has no telemetry. It uses the network only when you search for or download a model."
        )
        layout.addWidget(self.privacy)
        layout.addWidget(label(f"Version {__version__}", "muted"))

    def show_offline(self, offline: bool) -> None:
        self.privacy.setText("● Offline mode: no network at all" if offline else "● Private · runs offline")
        self.privacy.setProperty("role", "badge-accent" if offline else "muted")
        self.privacy.style().unpolish(self.privacy)
        self.privacy.style().polish(self.privacy)

    def add_section(self, title: str) -> None:
        self.nav_layout.insertWidget(self._stretch_index, label(title.upper(), "section"))
        self._stretch_index += 1

    def add_nav(self, text: str, page_index: int, shortcut_hint: str = "") -> None:
        nav = button(text, "nav", tooltip=shortcut_hint or text)
        nav.setCheckable(True)
        self.group.addButton(nav, page_index)
        self.nav_layout.insertWidget(self._stretch_index, nav)
        self._stretch_index += 1
        if page_index == 0:
            nav.setChecked(True)


class MainWindow(QMainWindow):
    def __init__(self, paths: AppPaths) -> None:
        super().__init__()
        self.paths = paths
        self.settings, settings_problem = load_settings(paths)
        network.apply_offline(self.settings.offline)
        self.db = Database(paths.database)
        self.library_store = Library(self.db, paths)
        self.downloads = DownloadManager(
            self.db,
            paths,
            on_complete=self._register_download,  # reads the token per download
        )
        self.downloads.start()
        self.setAcceptDrops(True)
        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(QIcon(str(icon_path())))
        self.resize(1180, 760)
        self.setMinimumSize(820, 540)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.sidebar = Sidebar()
        self.pages = QStackedWidget()
        row.addWidget(self.sidebar)
        row.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.inference = InferenceController(self)
        self.chat = ChatPage(self.inference)
        self.models = ModelsPage(
            self.library_store, self.downloads, lambda: read_token(paths), lambda t: write_token(paths, t)
        )
        self.chat_index = self.add_page("Chat", self.chat, "Ctrl+1")
        self.models_index = self.add_page("Models", self.models, "Ctrl+2")
        self.sidebar.group.idClicked.connect(self.pages.setCurrentIndex)
        QShortcut(QKeySequence.StandardKey.Quit, self, self.close)
        self.models.my_models.load_requested.connect(self.load_model)
        self.chat.choose_model.connect(lambda: self.show_page(self.models_index))
        self.sidebar.offline.setChecked(self.settings.offline)
        self.sidebar.show_offline(self.settings.offline)
        self.sidebar.offline.toggled.connect(self.set_offline)

        self.status_message = label("Ready", "muted")
        self.statusBar().addWidget(self.status_message, 1)
        self.statusBar().setSizeGripEnabled(False)
        self.chat.status_changed.connect(self.status_message.setText)
        self.models.my_models.status.connect(self.status_message.setText)
        if settings_problem is not None:
            self.status_message.setText(str(settings_problem))

    def load_model(self, model: LibraryModel | Path) -> None:
        self.show_page(self.chat_index)
        if isinstance(model, Path):
            self.chat.load(model)
            return
        try:
            settings = LoadSettings.from_dict(dict(model.settings.get("load", {})))
            self.chat.sampling = SamplingSettings.from_dict(dict(model.settings.get("sampling", {})))
        except HearthError as exc:  # a malformed saved setting: say so, use defaults
            show_error(self, exc)
            settings = LoadSettings()
            self.chat.sampling = SamplingSettings()
        self.chat.load(model.path, settings, model.settings.get("template_override"))

    def _register_download(self, done: CompletedDownload) -> None:
        """Runs on the download thread; the library page picks the model up on its next refresh."""
        try:
            self.library_store.register_download(done)
        except HearthError:
            log.warning("downloaded %s but could not register it", done.path, exc_info=True)

    def set_offline(self, offline: bool) -> None:
        network.apply_offline(offline)
        self.settings = AppSettings(offline=offline, font_size=self.settings.font_size)
        save_settings(self.paths, self.settings)
        self.models.discover.set_offline(offline)
        self.sidebar.show_offline(offline)
        self.status_message.setText(
            "Offline mode: Hearth makes no network requests." if offline else "Online"
        )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.toLocalFile().lower().endswith(".gguf") for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls()]
        self.show_page(self.models_index)
        self.models.tabs.setCurrentWidget(self.models.my_models)
        self.models.my_models.import_paths(paths)
        event.acceptProposedAction()

    def shutdown(self) -> None:
        """Stop generation, free the model on its thread, pause the download worker. Idempotent:
        runs from closeEvent and from QApplication.aboutToQuit, whichever comes first."""
        self.inference.shutdown()
        self.downloads.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def add_page(self, title: str, page: QWidget, shortcut: str = "") -> int:
        index = self.pages.addWidget(page)
        self.sidebar.add_nav(title, index, f"{title} ({shortcut})" if shortcut else title)
        if shortcut:
            QShortcut(QKeySequence(shortcut), self, lambda: self.show_page(index))
        return index

    def show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        nav = self.sidebar.group.button(index)
        if nav is not None:
            nav.setChecked(True)
