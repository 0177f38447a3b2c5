"""Run one blocking call off the GUI thread and get its result back on the GUI thread.

Like Anki's QueryOp: the caller gives a function plus success and failure callbacks; the function runs
on Qt's thread pool and only emits signals; the callbacks run on the GUI thread, so they may touch
widgets. Used for anything slow that is not inference (hashing, assembling the starter model, I/O).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _Signals(QObject):
    succeeded = Signal(object)
    failed = Signal(object)


class _Relay(QObject):
    """Lives on the GUI thread; its slots therefore run there, whatever thread emitted."""

    def __init__(
        self,
        parent: QObject,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        super().__init__(parent)
        self._on_success = on_success
        self._on_failure = on_failure
        # Parented, so Qt owns it and destroys it with the relay on the GUI thread. Owned by Python,
        # the pool thread could drop the last reference when the job ends and destroy a GUI-thread
        # QObject from the wrong thread: a segfault seen under load in the window tests.
        self.signals = _Signals(self)

    @Slot(object)
    def succeed(self, result: object) -> None:
        try:
            self._on_success(result)
        finally:
            self.deleteLater()

    @Slot(object)
    def fail(self, exc: object) -> None:
        try:
            assert isinstance(exc, BaseException)
            self._on_failure(exc)
        finally:
            self.deleteLater()


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self._fn = fn
        self._signals = signals

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:
            log.debug("background task failed", exc_info=True)
            self._emit(self._signals.failed, exc)
            return
        self._emit(self._signals.succeeded, result)

    @staticmethod
    def _emit(signal: Any, value: object) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the widget that asked was closed meanwhile: nobody left to tell
            log.debug("background task finished after its receiver was deleted")


def run_in_background(
    fn: Callable[[], Any],
    *,
    parent: QObject,
    on_success: Callable[[Any], None],
    on_failure: Callable[[BaseException], None],
) -> None:
    relay = _Relay(parent, on_success, on_failure)
    relay.signals.succeeded.connect(relay.succeed, Qt.ConnectionType.QueuedConnection)
    relay.signals.failed.connect(relay.fail, Qt.ConnectionType.QueuedConnection)
    QThreadPool.globalInstance().start(_Job(fn, relay.signals))
