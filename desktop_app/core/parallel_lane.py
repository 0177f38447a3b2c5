"""The parallel lane: requests that share the engine's parallel sequences (API requests with
`--parallel N`, batch rows), behind one host job on the engine thread.

A backend runs its jobs one at a time on the engine thread, so N requests cannot each be a job. Each
goes into this lane instead, with its own request id; the first one queues a host job that runs
`Engine.run_parallel` and admits the lane's requests whenever a sequence is free. When something else
waits for the engine (the GUI's chat, a model load), `pause` turns true: the host parks the running
sequences, ends its turn, and queues itself again behind that work, so the chat goes first and the
parked streams resume after it.

Each request is reported to the backend's activity listener as if it were a job of its own (started
when it is admitted, finished with its stats or error), and is cancelled on its own.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from desktop_app.core.engine import GenerationStats
from desktop_app.core.engine.events import Event
from desktop_app.core.jobs import ActivityListener, JobResult

if TYPE_CHECKING:
    from desktop_app.core.engine import Engine
    from desktop_app.core.engine.sequences import SequenceRequest

log = logging.getLogger(__name__)


def _never() -> bool:
    return False


@dataclass
class _Entry:
    request_id: int
    description: str
    request: SequenceRequest
    cancelled: threading.Event = field(default_factory=threading.Event)
    started: bool = False


class ParallelLane:
    """Thread-safe. `submit_host(job, description)` queues a job on the backend's engine thread."""

    def __init__(
        self,
        n_parallel: int,
        submit_host: Callable[[_HostJob, str], int],
        *,
        pause: Callable[[], bool] = _never,
        listener: ActivityListener | None = None,
    ) -> None:
        self.n_parallel = n_parallel
        self._submit_host = submit_host
        self._pause = pause
        self.listener = listener
        self._lock = threading.Lock()
        self._queue: collections.deque[_Entry] = collections.deque()
        self._entries: dict[int, _Entry] = {}  # queued or running
        self._host_queued = False
        self._closed = False

    def add(self, request_id: int, description: str, request: SequenceRequest) -> None:
        entry = _Entry(request_id, description, request)
        with self._lock:
            self._entries[request_id] = entry
            self._queue.append(entry)
            host = not self._host_queued
            self._host_queued = True
        if host:
            self._submit_host(_HostJob(self), "parallel requests")

    def owns(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self._entries

    def cancel(self, request_id: int) -> bool:
        """Cancel one request, queued or running; False when the lane does not know it."""
        with self._lock:
            entry = self._entries.get(request_id)
        if entry is None:
            return False
        entry.cancelled.set()
        return True

    def cancel_all(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            entry.cancelled.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- on the engine thread ------------------------------------------------------------------------

    def _next(self) -> SequenceRequest | None:
        while True:
            with self._lock:
                if not self._queue:
                    return None
                entry = self._queue.popleft()
            if entry.cancelled.is_set():
                self._end(entry, None)  # cancelled while queued: never started
                continue
            entry.started = True
            if self.listener is not None:
                self.listener.job_started(entry.request_id, entry.description)
            return self._wrapped(entry)

    def _wrapped(self, entry: _Entry) -> SequenceRequest:
        inner = entry.request

        def on_event(item: Event | BaseException) -> object:
            if not isinstance(item, GenerationStats | BaseException):
                return inner.on_event(item)
            result: JobResult = item
            try:
                answered = inner.on_event(item)
                if isinstance(answered, BaseException):
                    result = answered  # what the request was answered with (the API's mapped error)
            finally:
                self._end(entry, result)
            return None

        def cancelled() -> bool:
            return entry.cancelled.is_set() or inner.cancelled()

        return replace(inner, on_event=on_event, cancelled=cancelled)

    def _end(self, entry: _Entry, result: JobResult) -> None:
        with self._lock:
            self._entries.pop(entry.request_id, None)
        if not entry.started:
            try:
                entry.request.on_event(CancelledBeforeStartError())
            except Exception:
                log.warning("a parallel request's receiver failed", exc_info=True)
        elif self.listener is not None:
            self.listener.job_finished(entry.request_id, entry.description, result)

    def _host(self, engine: Engine, cancelled: Callable[[], bool]) -> None:
        """Run the lane until it is empty, or park it behind waiting work and queue the host again."""
        while True:
            drained = engine.run_parallel(
                self._next, n_parallel=self.n_parallel, pause=lambda: self._pause() or cancelled()
            )
            if cancelled():
                engine.release_parallel()  # the backend is stopping: parked sequences end as cancelled
            with self._lock:
                if cancelled():
                    self._host_queued = False
                    leftover = list(self._queue)
                    self._queue.clear()
                elif drained and not self._queue:
                    self._host_queued = False
                    return
                elif drained:
                    continue  # a request arrived just as the last one ended
                else:
                    break  # paused: go behind the waiting work
            if cancelled():
                for entry in leftover:
                    self._end(entry, None)
                return
        self._submit_host(_HostJob(self), "parallel requests")

    def _skipped(self) -> None:
        """The host job was cancelled while queued (the backend is stopping): end what waits."""
        with self._lock:
            self._host_queued = False
            leftover = list(self._queue)
            self._queue.clear()
        for entry in leftover:
            self._end(entry, None)


class CancelledBeforeStartError(Exception):
    """Delivered to a request cancelled while it waited in the lane (it never started)."""


class _HostJob:
    """The backend job that runs the lane (core.jobs.Job). `quiet`: backends do not list it as a
    request of its own (its requests are listed one by one)."""

    quiet = True

    def __init__(self, lane: ParallelLane) -> None:
        self._lane = lane

    def run(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        self._lane._host(engine, cancelled)
        return None

    def skipped(self) -> None:
        self._lane._skipped()
