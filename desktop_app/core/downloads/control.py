"""The switches of a running download, shared between the thread that runs it and the threads that
pause, cancel or stop it: the transfer checks them between chunks and during its backoff sleeps, and
stops at once, also when offline mode is switched on mid-download.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from desktop_app.core.downloads.records import PAUSED, QUEUED, Progress
from desktop_app.core.network import is_offline

__all__ = ["Control", "StopError"]


class StopError(Exception):
    """Raised inside the transfer loop when the download must stop; carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Control:
    """Per-running-download switches, shared between run() and pause/cancel/stop from other threads."""

    download_id: int
    external: threading.Event | None
    worker: bool = False
    event: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    latest: Progress | None = None

    @property
    def offline_state(self) -> str:
        """The worker's downloads wait in the queue for the network; a direct run() is paused."""
        return QUEUED if self.worker else PAUSED

    def request(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def check(self) -> None:
        if self.event.is_set():
            raise StopError(self.reason)
        if is_offline():  # switched offline mid-download: not one more byte
            raise StopError(self.offline_state)
        if self.external is not None and self.external.is_set():
            raise StopError(PAUSED)

    def sleep(self, seconds: float) -> None:
        """Backoff that wakes up at once when asked to stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check()
            self.event.wait(min(left, 0.1))
        self.check()
