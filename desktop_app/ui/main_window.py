"""The main window: a sidebar for navigation and a stack of pages."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import __version__
from desktop_app.core.paths import AppPaths
from desktop_app.resources import icon_path
from desktop_app.ui.chat_page import ChatPage
from desktop_app.ui.library_page import LibraryPage
from desktop_app.ui.widgets import button, label
from desktop_app.workers.inference import InferenceController

WINDOW_TITLE = "Hearth"


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
        privacy = label("● Private · runs offline", "muted")
        privacy.setToolTip(
            "Hearth has no telemetry. It uses the network only when you search for or download a model."
        )
        layout.addWidget(privacy)
        layout.addWidget(label(f"Version {__version__}", "muted"))

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
        self.library = LibraryPage(paths.models, can_load=True)
        self.chat_index = self.add_page("Chat", self.chat, "Ctrl+1")
        self.library_index = self.add_page("Models", self.library, "Ctrl+2")
        self.sidebar.group.idClicked.connect(self.pages.setCurrentIndex)
        self.library.load_requested.connect(self.load_model)
        self.chat.choose_model.connect(lambda: self.show_page(self.library_index))

        self.status_message = label("Ready", "muted")
        self.statusBar().addWidget(self.status_message, 1)
        self.statusBar().setSizeGripEnabled(False)
        self.chat.status_changed.connect(self.status_message.setText)

    def load_model(self, path: Path) -> None:
        self.show_page(self.chat_index)
        self.chat.load(path)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.inference.shutdown()
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
