"""The Models page: My models, Discover, Downloads."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QProgressBar, QTabWidget, QVBoxLayout, QWidget

from desktop_app.core.downloads import DownloadManager
from desktop_app.core.library import Library
from desktop_app.ui.discover_tab import DiscoverTab
from desktop_app.ui.downloads_tab import DownloadsTab
from desktop_app.ui.my_models_tab import MyModelsTab
from desktop_app.ui.widgets import MARGIN, SPACING, Card, label


class ModelsPage(QWidget):
    def __init__(
        self,
        library: Library,
        downloads: DownloadManager,
        token: Callable[[], str | None],
        save_token: Callable[[str | None], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(label("Models", "title"))
        layout.addWidget(
            label(
                "Everything runs on this computer. Downloads are verified against the Hub's checksums.",
                "muted",
            )
        )
        self.notice = Card(object_name="Notice")
        self.notice_text = label("", wrap=True)
        self.notice_progress = QProgressBar()
        self.notice_progress.setRange(0, 0)
        self.notice_progress.setTextVisible(False)
        self.notice.body.addWidget(self.notice_text)
        self.notice.body.addWidget(self.notice_progress)
        self.notice.hide()
        layout.addWidget(self.notice)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.my_models = MyModelsTab(library)
        self.discover = DiscoverTab(downloads, token, save_token)
        self.downloads = DownloadsTab(downloads)
        self.tabs.addTab(self.my_models, "My models")
        self.tabs.addTab(self.discover, "Discover")
        self.tabs.addTab(self.downloads, "Downloads")
        layout.addWidget(self.tabs, 1)
        self.downloads.finished_one.connect(self.my_models.refresh)
        self.downloads.active_count.connect(self._show_active)
        self.discover.download_started.connect(lambda _n: self.tabs.setCurrentWidget(self.downloads))

    def _show_active(self, count: int) -> None:
        self.tabs.setTabText(2, f"Downloads ({count})" if count else "Downloads")

    def show_busy(self, text: str) -> None:
        self.notice_text.setText(text)
        self.notice_progress.show()
        self.notice.show()

    def show_message(self, text: str) -> None:
        self.notice_text.setText(text)
        self.notice_progress.hide()
        self.notice.setVisible(bool(text))
