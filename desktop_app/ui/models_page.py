"""The Models page: My models, Discover, Downloads; and, on the first run, the starter model on its way.

`show_busy` and `show_message` are how first-run work reports (app.py prepares the starter model): while
the starter's file is being assembled the notice shows how far along it is, read from the size of its
partial file, and My models says the model is coming instead of "No models yet"."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressBar, QTabWidget, QWidget

from desktop_app.core import starter
from desktop_app.core.downloads import DownloadManager
from desktop_app.core.library import Library
from desktop_app.core.units import human_size
from desktop_app.ui.discover_tab import DiscoverTab
from desktop_app.ui.downloads_tab import DownloadsTab
from desktop_app.ui.my_models_tab import MyModelsTab
from desktop_app.ui.widgets import Card, label, page_layout

STARTER_POLL_MS = 250


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
        self.scroll_area, layout = page_layout(self)
        layout.addWidget(label("Models", "title"))
        layout.addWidget(
            label(
                "Everything runs on this computer. Downloads are verified against the Hub's checksums.",
                "muted",
                wrap=True,
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
        self._library = library
        self._starter_timer = QTimer(self)
        self._starter_timer.setInterval(STARTER_POLL_MS)
        self._starter_timer.timeout.connect(self._show_starter_progress)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.tabBar().setDrawBase(False)  # the style's base line ran across the page in dark mode
        self.my_models = MyModelsTab(library)
        self.discover = DiscoverTab(downloads, token, save_token, library=library)
        self.downloads = DownloadsTab(downloads)
        self.tabs.addTab(self.my_models, "My models")
        self.tabs.addTab(self.discover, "Discover")
        self.tabs.addTab(self.downloads, "Downloads")
        layout.addWidget(self.tabs, 1)
        self.downloads.finished_one.connect(self.my_models.refresh)
        self.my_models.refreshed.connect(self.discover.refresh_marks)
        self.tabs.currentChanged.connect(lambda i: self.discover.refresh_marks() if i == 1 else None)
        self.downloads.active_count.connect(self._show_active)
        self.discover.download_started.connect(lambda _n: self.tabs.setCurrentWidget(self.downloads))

    def _show_active(self, count: int) -> None:
        self.tabs.setTabText(2, f"Downloads ({count})" if count else "Downloads")

    def show_busy(self, text: str) -> None:
        """First-run work has started; while it is the starter model, its progress is shown too."""
        self.notice_text.setText(text)
        self.notice_progress.setRange(0, 0)
        self.notice_progress.show()
        self.notice.show()
        if starter.needs_install(self._library.paths):
            self.my_models.show_preparing(True)
            self._starter_timer.start()
            self._show_starter_progress()

    def show_message(self, text: str) -> None:
        """First-run work ended: "" when it went well, else what went wrong."""
        self._starter_timer.stop()
        self.my_models.show_preparing(False)
        self.notice_text.setText(text)
        self.notice_progress.hide()
        self.notice.setVisible(bool(text))

    def _show_starter_progress(self) -> None:
        """The starter's partial file against its full size; "checking" while it is verified."""
        try:
            done = (
                starter.installed_path(self._library.paths)
                .with_name(starter.FILE_NAME + ".part")
                .stat()
                .st_size
            )
        except OSError:
            done = 0
        fraction = min(1.0, done / starter.SIZE_BYTES)
        text = f"{starter.DISPLAY_NAME} is on its way: your first model, ready to use offline."
        if 0 < fraction < 1.0:
            self.notice_progress.setRange(0, 1000)
            self.notice_progress.setValue(int(1000 * fraction))
            text += f" {fraction:.0%} of {human_size(starter.SIZE_BYTES)}."
        else:
            self.notice_progress.setRange(0, 0)
            text += " Checking the file…" if fraction >= 1.0 else " Starting…"
        self.notice_text.setText(text)
