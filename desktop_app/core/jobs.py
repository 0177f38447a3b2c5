"""Engine jobs: units of work queued to the one thread that owns the Engine, and their tracker.

The Engine (and the Llama under it) is not thread-safe, so nothing but its own thread ever touches it.
Other threads (HTTP handlers, batch runners) hand it a `Job`, which runs in its turn, in order, and
streams its events back to whoever queued it. `JobTracker` knows which jobs are queued or running and
which are cancelled, for both owners of an engine thread: `ThreadBackend` here (a plain thread and a
queue: `hearth serve`, tests) and the GUI's inference worker (a QThread, where chat and API requests
share the model and wait their turn).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.generation import LoadSettings

if TYPE_CHECKING:
    from desktop_app.core.engine import Engine
    from desktop_app.core.engine.sequences import SequenceRequest
    from desktop_app.core.parallel_lane import ParallelLane

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What a job reports when it ends: its stats, the error it met, or None (skipped, or no generation).
JobResult = GenerationStats | BaseException | None


class Job(Protocol):
    """One unit of work for the engine thread."""

    def run(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        """Runs on the engine thread. `cancelled()` turns true once the request is cancelled; poll it
        between events (and call `engine.cancel()`) to catch a cancel that raced with the start."""
        ...

    def skipped(self) -> None:
        """Called (on the engine thread) instead of `run` when the job was cancelled while queued."""
        ...


class ActivityListener(Protocol):
    """Told about each job (on the engine thread): the CLI prints it, tests record it."""

    def job_started(self, request_id: int, description: str) -> None: ...

    def job_finished(self, request_id: int, description: str, result: JobResult) -> None: ...


class JobTracker:
    """Which server jobs are queued or running, and which are cancelled. Shared by both backends
    (ThreadBackend here, the Qt inference worker in the GUI): cancelling one request must stop it
    whether it is still queued (it is skipped) or running (the engine is told at once)."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        """`engine` returns the engine the jobs run on (its owner may create it on first use)."""
        self._engine = engine
        self._lock = threading.Lock()
        self._pending: set[int] = set()  # submitted, not finished
        self._cancelled: set[int] = set()
        self._running = 0

    def add(self, request_id: int) -> None:
        """Track a job before it is queued, so a cancel can never miss it."""
        with self._lock:
            self._pending.add(request_id)

    def cancel(self, request_id: int) -> None:
        """Any thread. An unknown or finished id is ignored."""
        with self._lock:
            if request_id not in self._pending:
                return
            self._cancelled.add(request_id)
            running = self._running == request_id
        if running:
            self._engine().cancel()

    def cancel_all(self) -> None:
        with self._lock:
            self._cancelled.update(self._pending)
            running = self._running != 0
        if running:
            self._engine().cancel()

    def is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self._cancelled

    def run(
        self, request_id: int, job: Job, started: Callable[[], None], *, refuse: bool = False
    ) -> tuple[bool, JobResult]:
        """On the engine thread: run `job` in its turn, or call `job.skipped()` if it was cancelled
        while queued (or `refuse`). Returns (whether it ran, its result)."""
        with self._lock:
            skip = refuse or request_id in self._cancelled
            if not skip:
                self._running = request_id
        result: JobResult = None
        try:
            if skip:
                job.skipped()
                return False, None
            started()
            try:
                result = job.run(self._engine(), lambda: self.is_cancelled(request_id))
            except Exception as exc:  # a job should report its own errors; never kill the thread
                log.error("server job %d failed", request_id, exc_info=True)
                result = exc
        finally:
            with self._lock:
                self._running = 0
                self._pending.discard(request_id)
                self._cancelled.discard(request_id)
        return True, result


@dataclass
class _Item:
    request_id: int
    description: str
    job: Job | None = None
    call: Callable[[Engine], object] | None = None
    future: Future[object] | None = None


class ThreadBackend:
    """An Engine owned by one plain thread, fed by a FIFO queue (used by `hearth serve`)."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        listener: ActivityListener | None = None,
        name: str = "hearth-engine",
        parallel: int = 1,
    ) -> None:
        """`parallel` > 1: requests given to `submit_sequence` are decoded together, up to that many."""
        if engine is None:
            from desktop_app.core.engine.session import Engine

            engine = Engine()
        self.engine = engine
        self._listener = listener
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._next_id = 0
        self._jobs = JobTracker(lambda: self.engine)
        self._model: LoadedModel | None = None
        self._thread = threading.Thread(target=self._loop, name=name)
        self._closed = False
        self.parallel = parallel
        self._lane: ParallelLane | None = None
        if parallel > 1:
            from desktop_app.core.parallel_lane import ParallelLane

            self._lane = ParallelLane(
                parallel, self.submit, pause=lambda: not self._queue.empty(), listener=listener
            )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> ThreadBackend:
        self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> bool:
        """Cancel everything, free the model on its thread, stop the thread. True if it stopped."""
        if not self._thread.is_alive():
            return True
        self._closed = True
        self.cancel_all()
        self._queue.put(_Item(0, "unload", call=self._unload))
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> ThreadBackend:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, fn: Callable[[Engine], T], timeout: float | None = None) -> T:
        """Run `fn(engine)` on the engine thread, after the jobs queued before it; wait; re-raise."""
        future: Future[object] = Future()
        self._queue.put(_Item(0, "call", call=fn, future=future))
        return future.result(timeout)  # type: ignore[return-value]

    def load(
        self, path: str | Path, settings: LoadSettings | None = None, template_override: str | None = None
    ) -> LoadedModel:
        """Load on the engine thread (raises the engine's HearthErrors here)."""
        return self.call(lambda engine: engine.load(path, settings, template_override=template_override))

    def _unload(self, engine: Engine) -> None:
        engine.unload()
        self._model = None

    # -- InferenceBackend --------------------------------------------------------------------------

    def model(self) -> LoadedModel | None:
        return self._model

    def submit(self, job: Job, description: str) -> int:
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
        self._jobs.add(request_id)
        self._queue.put(_Item(request_id, description, job=job))
        return request_id

    def submit_sequence(self, request: SequenceRequest, description: str) -> int:
        """Queue a request for the parallel sequences (requires `parallel` > 1)."""
        assert self._lane is not None, "this backend was made without parallel sequences"
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
        self._lane.add(request_id, description, request)
        return request_id

    def cancel(self, request_id: int) -> None:
        if self._lane is None or not self._lane.cancel(request_id):
            self._jobs.cancel(request_id)

    def cancel_all(self) -> None:
        if self._lane is not None:
            self._lane.cancel_all()
        self._jobs.cancel_all()

    # -- the engine thread -------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item.call is not None:
                self._run_call(item)
            elif item.job is not None:
                self._run_job(item.request_id, item.job, item.description)

    def _run_call(self, item: _Item) -> None:
        assert item.call is not None
        try:
            result = item.call(self.engine)
        except BaseException as exc:
            if item.future is not None:
                item.future.set_exception(exc)
            else:
                log.warning("engine call failed", exc_info=True)
            return
        finally:
            self._model = self.engine.model
        if item.future is not None:
            item.future.set_result(result)

    def _run_job(self, request_id: int, job: Job, description: str) -> None:
        listener = None if getattr(job, "quiet", False) else self._listener

        def started() -> None:
            if listener is not None:
                listener.job_started(request_id, description)

        try:
            ran, result = self._jobs.run(request_id, job, started, refuse=self._closed)
        finally:
            self._model = self.engine.model
        if ran and listener is not None:
            listener.job_finished(request_id, description, result)
