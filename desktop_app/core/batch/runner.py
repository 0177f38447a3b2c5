"""Runs a batch's rows on the engine's parallel sequences and writes each result as it ends.

Everything here runs on the engine's thread (the CLI's main thread, or the GUI's inference thread
inside a Job). A row is written once its sequence ends: answered, or failed (a prompt too long, a row
the template could not fill). A cancelled sequence writes nothing, so a rerun answers it again; that
is also all a kill -9 can lose.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from desktop_app.core.batch.inputs import BatchRow
from desktop_app.core.batch.progress import BatchProgress
from desktop_app.core.batch.results import ResultWriter, RowResult
from desktop_app.core.engine import Event, GenerationStats, Message, TextDelta
from desktop_app.core.engine.sequences import SequenceRequest
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import SamplingSettings

if TYPE_CHECKING:
    from desktop_app.core.engine import Engine

RowCallback = Callable[[BatchRow, RowResult], None]


def _never() -> bool:
    return False


class BatchRun:
    """The rows still to answer (`rows` minus those already in the output) and where results go.

    `on_row` is told about each row written (on the engine thread). Call `run` again after it
    returned False (paused) to carry on; `cancel()` (any thread) ends it at the next step, without
    writing the rows in flight."""

    def __init__(
        self,
        rows: Sequence[BatchRow],
        writer: ResultWriter,
        sampling: SamplingSettings,
        *,
        system: str | None = None,
        skipped: int = 0,
        on_row: RowCallback | None = None,
    ) -> None:
        self._todo: deque[BatchRow] = deque(rows)
        self.writer = writer
        self.sampling = sampling
        self.system = system or None
        self.on_row = on_row
        self.progress = BatchProgress(total=len(rows) + skipped, skipped=skipped)
        self._cancel = threading.Event()
        self.fatal: HearthError | None = None  # the output could not be written: the run stops

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set() or self.fatal is not None

    @property
    def pending(self) -> int:
        """Rows not yet admitted."""
        return len(self._todo)

    def run(self, engine: Engine, n_parallel: int, *, pause: Callable[[], bool] = _never) -> bool:
        """Answer the rows, `n_parallel` at a time. True once every row has ended (or the run was
        cancelled), False when `pause()` parked it. Raises the output's error if a write failed."""
        self.progress.start()
        try:
            finished = engine.run_parallel(self._next_request, n_parallel=n_parallel, pause=pause)
        finally:
            self.progress.stop()
        if self.fatal is not None:
            raise self.fatal
        return finished

    def messages(self, prompt: str) -> list[Message]:
        system: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": prompt}]

    def _next_request(self) -> SequenceRequest | None:
        while self._todo and not self.cancelled:
            row = self._todo.popleft()
            if row.prompt is None:  # could not be filled: its error is its result
                self._write(row, RowResult(row.id, None, "", 0, "error", row.error or "no prompt"))
                continue
            return SequenceRequest(
                messages=self.messages(row.prompt),
                sampling=self.sampling,
                on_event=self._collector(row),
                cancelled=lambda: self.cancelled,
            )
        return None

    def _collector(self, row: BatchRow) -> Callable[[Event | BaseException], None]:
        parts: list[str] = []
        assert row.prompt is not None
        prompt = row.prompt

        def on_event(event: Event | BaseException) -> None:
            if isinstance(event, TextDelta):
                if event.kind == "answer":
                    parts.append(event.text)
            elif isinstance(event, GenerationStats):
                if event.stop_reason != "cancelled":  # a cancelled row is answered again by a rerun
                    text = "".join(parts)
                    self._write(
                        row, RowResult(row.id, prompt, text, event.completion_tokens, event.stop_reason)
                    )
            else:
                self._write(row, RowResult(row.id, prompt, "", 0, "error", _describe(event)))

        return on_event

    def _write(self, row: BatchRow, result: RowResult) -> None:
        if self.fatal is not None:
            return
        try:
            self.writer.write(result)
        except HearthError as exc:
            self.fatal = exc  # the next step cancels the rest; run() raises it
            return
        self.progress.row_done(result.completion_tokens, failed=result.failed)
        if self.on_row is not None:
            self.on_row(row, result)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HearthError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
