"""Saves streaming replies to the conversation store from the inference thread.

The GUI thread must never wait on the disk, and a crash must lose at most a second of a reply. So the
ReplyWriter of each tracked request is fed by plain callables connected to the *worker's* signals:
PySide runs a non-QObject callable in the emitting thread, which is the inference thread. A write at most
once a second there costs a few milliseconds per second of generation, and when the inference thread
stops, every reply it produced has been written (shutdown needs no extra draining).
"""

from __future__ import annotations

import logging
import threading
from typing import Literal

from desktop_app.core.conversations import ReplyWriter
from desktop_app.core.engine import GenerationStats
from desktop_app.core.errors import HearthError
from desktop_app.workers.inference import InferenceWorker

log = logging.getLogger(__name__)


class ReplySaver:
    def __init__(self, worker: InferenceWorker) -> None:
        self._lock = threading.Lock()
        self._writers: dict[int, ReplyWriter] = {}
        worker.text.connect(self._on_text)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    def track(self, request_id: int, writer: ReplyWriter) -> None:
        """Call before the request can produce output (that is, right after `generate` returns: the
        inference thread has not seen the request's first event yet, and cannot save before this)."""
        with self._lock:
            self._writers[request_id] = writer

    def tracking(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self._writers

    def _writer(self, request_id: int, *, pop: bool = False) -> ReplyWriter | None:
        with self._lock:
            return self._writers.pop(request_id, None) if pop else self._writers.get(request_id)

    def _on_text(self, request_id: int, kind: str, text: str) -> None:
        writer = self._writer(request_id)
        if writer is None:
            return
        part: Literal["answer", "reasoning"] = "reasoning" if kind == "reasoning" else "answer"
        try:
            writer.append(text, part)
        except HearthError:  # a full disk: the reply stays on screen; the final save says why
            log.warning("could not save the streaming reply %d", writer.message_id, exc_info=True)

    def _on_finished(self, request_id: int, stats: object) -> None:
        writer = self._writer(request_id, pop=True)
        if writer is None:
            return
        try:
            writer.finish(stats if isinstance(stats, GenerationStats) else None)
        except HearthError:
            log.warning("could not save the reply %d", writer.message_id, exc_info=True)

    def _on_failed(self, request_id: int, exc: object) -> None:
        writer = self._writer(request_id, pop=True)
        if writer is None:
            return
        try:
            writer.fail(exc if isinstance(exc, BaseException) else str(exc))
        except HearthError:
            log.warning("could not save the failed reply %d", writer.message_id, exc_info=True)
