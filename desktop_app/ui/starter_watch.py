"""Follows the first-run preparation of the starter model, so the chat can say it is on its way.

The preparation runs elsewhere (app.py starts it after the first paint, on a worker); this only reads
the file system four times a second: the partial file's size against the model's, and the marker
`starter.install` writes last. It reports `progress` (a fraction, or None before the file exists),
then `finished(ok)`: ok when the marker appears, not ok when the partial file vanished without it (the
install failed and cleaned up) or when nothing appeared at all for GIVE_UP_S (it failed before writing;
the Models page says why).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_app.core import starter
from desktop_app.core.paths import AppPaths

POLL_MS = 250
GIVE_UP_S = 30.0


class StarterWatch(QObject):
    progress = Signal(object)  # float in 0..1, or None while nothing is written yet
    finished = Signal(bool)  # True: the starter model is ready

    def __init__(self, paths: AppPaths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths = paths
        self._partial = starter.installed_path(paths).with_name(starter.FILE_NAME + ".part")
        self._seen_partial = False
        self._started = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> bool:
        """Watch if the starter model still has to be prepared; False (and nothing happens) if not."""
        if not starter.needs_install(self._paths):
            return False
        self._started = time.monotonic()
        self._timer.start()
        self.poll()
        return True

    def stop(self) -> None:
        self._timer.stop()

    def poll(self) -> None:
        if not starter.needs_install(self._paths):  # the marker: installed
            self._end(True)
            return
        try:
            size: int | None = self._partial.stat().st_size
        except OSError:
            size = None
        if size is not None:
            self._seen_partial = True
            self.progress.emit(min(1.0, size / starter.SIZE_BYTES))
        elif starter.installed_path(self._paths).exists():
            self.progress.emit(1.0)  # assembled; the marker follows in a moment
        elif self._seen_partial or time.monotonic() - self._started > GIVE_UP_S:
            self._end(False)
        else:
            self.progress.emit(None)

    def _end(self, ok: bool) -> None:
        self._timer.stop()
        self.finished.emit(ok)
