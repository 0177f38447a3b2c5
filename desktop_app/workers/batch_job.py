"""A batch run in the app: a `Job` on the inference thread, driven from the Batch page.

The rows are decoded by the engine's parallel sequences on the inference thread, in turn with the
chat's requests and the API's jobs (core/jobs.py). Pausing parks the run between steps and ends the
job, so the thread is free for a chat turn meanwhile; continuing queues a new job over the same run,
which picks its parked sequences up. Each finished row is already on disk (core/batch/results.py) when
its signal leaves, so the page can show it and a crash loses only rows in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop_app.core.batch.inputs import BatchRow
from desktop_app.core.batch.plan import BatchPlan
from desktop_app.core.batch.results import ResultWriter, RowResult
from desktop_app.core.batch.runner import BatchRun
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.jobs import JobResult

if TYPE_CHECKING:
    from desktop_app.core.engine import Engine
    from desktop_app.workers.inference import InferenceController

log = logging.getLogger(__name__)

Ending = Literal["done", "paused", "cancelled", "failed"]


@dataclass(frozen=True)
class ProgressInfo:
    """A copy of the run's progress for the GUI thread (the live object belongs to the engine thread)."""

    total: int
    finished: int
    failed: int
    tokens_per_s: float
    eta_s: float | None
    line: str


def _never() -> bool:
    return False


class BatchSignals(QObject):
    """Emitted on the inference thread; connected receivers on the GUI thread get them queued."""

    row_done = Signal(object, object)  # BatchRow, RowResult (already written)
    progress = Signal(object)  # ProgressInfo
    ended = Signal(str, object)  # Ending, the error (failed) or None
    requeue = Signal()  # the run stepped aside for a chat turn: queue it again (on the GUI thread)


class BatchJob:
    """One stretch of a batch run on the engine thread (a `Job`): until the rows are done, or it is
    paused or cancelled. The run itself (the output file, the rows left) outlives the job."""

    def __init__(self, owner: BatchController) -> None:
        self._owner = owner

    def run(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        return self._owner.run_on_engine(engine, cancelled)

    def skipped(self) -> None:
        self._owner.finish("cancelled", None)


class BatchController(QObject):
    """GUI-thread handle of one batch run: start, pause, continue, cancel. Its `signals` report."""

    def __init__(
        self,
        inference: InferenceController,
        plan: BatchPlan,
        output: Path,
        sampling: SamplingSettings,
        *,
        system: str | None,
        n_parallel: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.inference = inference
        self.plan = plan
        self.output = output
        self.sampling = sampling
        self.system = system
        self.n_parallel = n_parallel
        self.signals = BatchSignals(self)
        self.signals.requeue.connect(self.start, Qt.ConnectionType.QueuedConnection)
        self._pause = threading.Event()
        self._cancel = threading.Event()
        self._run: BatchRun | None = None  # made on the engine thread by the first job
        self._request_id = 0
        self._ended = False
        # The chat goes first: when the inference worker says a chat turn is queued, the run parks
        # between steps, the job ends, and a new one is queued behind that turn.
        self._chat_waiting: Callable[[], bool] = getattr(inference.worker, "chat_waiting", _never)
        self.yields = 0  # how often the run stepped aside for the chat

    # -- GUI thread --------------------------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        if self._ended:
            return
        self._pause.clear()
        self._request_id = self.inference.submit_job(BatchJob(self), f"batch: {self.output.name}")

    def pause(self) -> None:
        """Park the run at the next step; `ended("paused")` follows."""
        self._pause.set()

    def resume(self) -> None:
        self.start()

    def cancel(self, *, paused: bool = False) -> None:
        """Stop: the rows in flight are not written (continuing later answers them again). `paused`:
        no job is running, so one is queued to end the parked sequences."""
        self._cancel.set()
        if self._run is not None:
            self._run.cancel()
        if paused:
            self.start()
        elif self._request_id:
            self.inference.cancel_request(self._request_id)

    # -- inference thread --------------------------------------------------------------------------

    def run_on_engine(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        if self._run is None:
            try:
                writer = ResultWriter(self.output, self.plan.existing)
            except Exception as exc:
                self.finish("failed", exc)
                return exc
            self._run = BatchRun(
                self.plan.todo, writer, self.sampling, system=self.system, skipped=self.plan.done,
                on_row=self._on_row,
            )  # fmt: skip
        run = self._run
        if self._cancel.is_set():
            run.cancel()

        yielded = False

        def pause() -> bool:
            nonlocal yielded
            if cancelled() or self._cancel.is_set():
                run.cancel()  # not a pause: the sequences end as cancelled at the next step
                return False
            if self._pause.is_set():
                return True
            yielded = bool(self._chat_waiting())
            return yielded

        try:
            finished = run.run(engine, self.n_parallel, pause=pause)
        except Exception as exc:
            log.warning("batch run failed: %s", exc, exc_info=True)
            self.finish("failed", exc)
            return exc
        self._emit_progress()
        if not finished:
            if yielded and not self._pause.is_set():
                self.yields += 1
                self.signals.requeue.emit()  # via the GUI thread: queued behind the waiting chat turn
            else:
                self.signals.ended.emit("paused", None)
            return None
        self.finish("cancelled" if run.cancelled else "done", None)
        return None

    def finish(self, ending: Ending, error: BaseException | None) -> None:
        """The run is over: close the output and say how it ended (once)."""
        if self._ended:
            return
        self._ended = True
        if self._run is not None:
            self._run.writer.close()
        self.signals.ended.emit(ending, error)

    def _on_row(self, row: BatchRow, result: RowResult) -> None:
        self.signals.row_done.emit(row, result)
        self._emit_progress()

    def _emit_progress(self) -> None:
        run = self._run
        if run is None:
            return
        p = run.progress
        info = ProgressInfo(p.total, p.finished, p.failed, p.tokens_per_s, p.eta_s(), p.line())
        self.signals.progress.emit(info)
