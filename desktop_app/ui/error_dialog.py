"""Showing errors: a HearthError's own message and hint, never a bare traceback (that goes in Details)."""

from __future__ import annotations

from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.logs import format_exception, install_excepthooks


def describe(exc: BaseException) -> tuple[str, str, str]:
    """(title, message, hint) for any exception."""
    if isinstance(exc, HearthError):
        return exc.title, exc.message, exc.hint
    return (
        "Hearth hit an unexpected problem",
        f"{type(exc).__name__}: {exc}",
        "Your chats are saved. If this keeps happening, please report it with the log file.",
    )


def show_error(parent: QWidget | None, exc: BaseException, details: str = "") -> None:
    title, message, hint = describe(exc)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if hint:
        box.setInformativeText(hint)
    extra = details or (exc.details if isinstance(exc, HearthError) else "")
    if extra:
        box.setDetailedText(extra)
    box.exec()


class CrashReporter(QObject):
    """Turns uncaught exceptions from any thread into a dialog on the GUI thread."""

    _raised = Signal(object, str)

    def __init__(self, window: QWidget | None = None) -> None:
        super().__init__()
        self._window = window
        self._raised.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        install_excepthooks(self._sink)

    def _sink(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        self._raised.emit(exc, format_exception(exc_type, exc, tb))

    @Slot(object, str)
    def _show(self, exc: object, trace: str) -> None:
        if isinstance(exc, BaseException):
            show_error(self._window, exc, details=trace)
