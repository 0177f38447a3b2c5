"""Progress of a running download, throttled: callbacks about ten times a second, the row's byte count
twice a second, and an fsync of the partial file every few seconds; speed over the last few seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from desktop_app.core.downloads.control import Control
from desktop_app.core.downloads.partial import sync
from desktop_app.core.downloads.records import DOWNLOADING, Progress

__all__ = ["Reporter"]

_FSYNC_EVERY_S: Final = 5.0  # bounds what a power cut can leave unsynced in the partial file
_DB_EVERY_S: Final = 0.5
_PROGRESS_EVERY_S: Final = 0.1
_SPEED_WINDOW_S: Final = 3.0


class _Meter:
    """Speed over the last few seconds, so a stall shows as a falling number rather than a frozen one."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, downloaded: int) -> float:
        now = time.monotonic()
        self._samples.append((now, downloaded))
        while len(self._samples) > 2 and now - self._samples[0][0] > _SPEED_WINDOW_S:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return (downloaded - b0) / (now - t0) if now > t0 else 0.0

    def reset(self) -> None:
        self._samples.clear()


class Reporter:
    """Throttles progress callbacks (~10/s), database writes (~2/s) and fsyncs (every few seconds)."""

    def __init__(
        self,
        ctrl: Control,
        total: int,
        callback: Callable[[Progress], None] | None,
        save: Callable[[int], None],
    ) -> None:
        self._ctrl = ctrl
        self._save = save  # records the bytes on disk in the queue
        self._total = total
        self._callback = callback
        self._meter = _Meter()
        self._last_emit = 0.0
        self._last_db = time.monotonic()
        self._last_sync = time.monotonic()

    def emit(self, downloaded: int, state: str, *, force: bool = False) -> None:
        now = time.monotonic()
        speed = self._meter.add(downloaded) if state == DOWNLOADING else 0.0
        if state != DOWNLOADING:
            self._meter.reset()
        if not force and now - self._last_emit < _PROGRESS_EVERY_S:
            return
        self._last_emit = now
        eta = (self._total - downloaded) / speed if speed > 0 else None
        update = Progress(downloaded, self._total, speed, eta, state)
        self._ctrl.latest = update
        if self._callback is not None:
            self._callback(update)

    def written(self, downloaded: int, part: IO[bytes], path: Path) -> None:
        self.emit(downloaded, DOWNLOADING)
        now = time.monotonic()
        if now - self._last_sync >= _FSYNC_EVERY_S:
            self._last_sync = now
            sync(part, path, path.name)
        if now - self._last_db >= _DB_EVERY_S:
            self._last_db = now
            self._save(downloaded)
