"""Showing errors: a HearthError's own message and hint, never a bare traceback (that goes in Details)."""

from __future__ import annotations

from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.logs import format_exception, install_excepthooks
from desktop_app.ui.plain_text import message_box


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
    """A modal dialog; its texts are plain text, as messages often quote a model's name or a path."""
    title, message, hint = describe(exc)
    extra = details or (exc.details if isinstance(exc, HearthError) else "")
    box = message_box(parent, title, message, informative=hint, detailed=extra)
    box.setObjectName("ErrorDialog")
    box.exec()
    box.deleteLater()


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
