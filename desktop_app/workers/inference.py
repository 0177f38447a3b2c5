"""The inference thread: one QObject on one long-lived QThread owns the Engine (and so the Llama).

Requests arrive as queued signals, so they run in order on that thread. Results leave as signals
carrying small batches of text (one per ~40 ms, never one per token), which the GUI thread receives
through queued connections. Cancel is the exception: it is a plain thread-safe method, because a
queued cancel would wait behind the very generation it is meant to stop.

A chat request may name another backend for that one reply: a remote provider's model
(core/providers, a RemoteChat). It streams the same events, so it takes exactly this path (batches,
live speed, the writer, Stop); the local model, if one is loaded, stays loaded meanwhile.

A chat request may carry a `prepare` step: a chat with documents attached retrieves its sources here,
on the inference thread (never the GUI's), for local and remote models alike; `sources` then tells the
GUI what the reply is being shown before any of its text arrives.

A chat request may carry the ReplyWriter of its turn (core/chat_session.py). The worker feeds it every
engine event right here, on the inference thread, before the matching signal leaves: the writer saves at
most once a second, so the GUI thread never waits on SQLite, a crash loses at most about a second of the
reply, and by the time `finished` or `failed` reaches the GUI the final state is already on disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from desktop_app.core.chat_session import ChatTurn
from desktop_app.core.engine import Event, GenerationStats, LoadedModel, Message, TextDelta
from desktop_app.core.engine.governor import ThreadState
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.jobs import Job, JobTracker
from desktop_app.core.reply_writer import ReplyWriter

if TYPE_CHECKING:
    from desktop_app.core.documents.context import DocumentContext, TokenCounter
    from desktop_app.core.engine import Engine
    from desktop_app.core.engine.state_cache import StateCache
    from desktop_app.core.providers.backend import ChatBackend

log = logging.getLogger(__name__)

BATCH_INTERVAL_S = 0.04

#: a chat request's step before it generates (documents): given the engine's token counter (None for
#: a remote backend), it returns the messages to send and what they were built from
Prepare = Callable[["TokenCounter | None"], tuple[list[Message], "DocumentContext"]]


def cancelled_stats() -> GenerationStats:
    return GenerationStats(
        prompt_tokens=0, cached_tokens=0, evaluated_tokens=0, completion_tokens=0, ttft_s=0.0,
        prefill_tps=0.0, generation_tps=0.0, stop_reason="cancelled",
    )  # fmt: skip


class InferenceWorker(QObject):
    """Lives on the inference thread. Only its slots touch the engine."""

    load_started = Signal(str)
    load_progress = Signal(int)  # percent, sent when it changes
    loaded = Signal(object)  # LoadedModel
    load_failed = Signal(object)  # exception
    unloaded = Signal()
    still_loaded = Signal(object)  # after a failed load: the LoadedModel the engine still has, or None
    generation_started = Signal(int)  # request id
    sources = Signal(int, object)  # request id, DocumentContext: what a chat with documents was shown
    text = Signal(int, str, str)  # request id, kind ("answer" | "reasoning"), text batch
    live_speed = Signal(int, float)  # request id, tokens per second so far (sent before a text batch)
    finished = Signal(int, object)  # request id, GenerationStats
    failed = Signal(int, object)  # request id, exception
    # Jobs from the API server (desktop_app/server), queued with the GUI's requests:
    external_started = Signal(int, str)  # request id, description ("POST /v1/chat/completions")
    external_finished = Signal(int, object)  # request id, JobResult (GenerationStats | exception | None)
    # The thread governor lowered or restored llama.cpp's threads (checked once per text batch)
    threads_changed = Signal(object)  # ThreadState

    def __init__(self, engine: Engine | None = None, state_cache: StateCache | None = None) -> None:
        """`state_cache`: where the engine saves each chat's KV state after a reply (instant reopen)."""
        super().__init__()
        self._engine = engine
        self._state_cache = state_cache
        self._engine_lock = threading.Lock()
        self._lock = threading.Lock()
        self._next_id = 0
        self._cancel_up_to = 0  # every request id <= this is cancelled
        self._active = 0  # the chat generation running, if any
        self._active_backend: ChatBackend | None = None  # what runs it, when not the engine
        self._chats_waiting = 0  # chat requests queued and not started: long jobs step aside for them
        self.jobs = JobTracker(lambda: self.engine)  # server jobs queued or running; cancel() leaves them be
        self._loads_requested = 0
        self._loads_cancelled_up_to = 0  # every load number <= this stops at its next progress report
        self._threads: ThreadState | None = None  # the last state sent

    @property
    def engine(self) -> Engine:
        """Made on first use (a load, usually): the engine's modules load after the window paints."""
        with self._engine_lock:
            if self._engine is None:
                from desktop_app.core.engine.session import Engine

                self._engine = Engine(state_cache=self._state_cache)
            return self._engine

    # -- called from any thread -------------------------------------------------------------------

    def new_load_number(self) -> int:
        with self._lock:
            self._loads_requested += 1
            return self._loads_requested

    def cancel_loads(self) -> None:
        """Stop the model load under way and any queued: llama.cpp aborts at its next progress
        report (a fraction of a second), and nothing is loaded afterwards."""
        with self._lock:
            self._loads_cancelled_up_to = self._loads_requested

    def _load_cancelled(self, number: int) -> bool:
        with self._lock:
            return number <= self._loads_cancelled_up_to

    def new_request_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def chat_queued(self) -> None:
        """A chat request was queued (the controller says so before it queues it)."""
        with self._lock:
            self._chats_waiting += 1

    def chat_waiting(self) -> int:
        """How many chat requests are queued and not started yet: a batch job or a parallel lane
        running on this thread yields to them, so a user's turn never waits behind a long job."""
        with self._lock:
            return self._chats_waiting

    def chat_busy(self) -> bool:
        """A chat reply is being generated or waits to be: indexing pauses meanwhile (the CPU is the
        reply's)."""
        with self._lock:
            return bool(self._active) or self._chats_waiting > 0

    def cancel(self) -> None:
        """Cancel the running request and every request queued so far."""
        with self._lock:
            self._cancel_up_to = self._next_id
            active = self._active  # Stop is for the chat; server jobs are tracked apart
            backend = self._active_backend
        if backend is not None:
            backend.cancel()  # a remote reply: closes its connection
        elif active:
            self.engine.cancel()

    def new_external_id(self) -> int:
        request_id = self.new_request_id()
        self.jobs.add(request_id)
        return request_id

    def cancel_request(self, request_id: int) -> None:
        """Cancel one server job, queued or running; an unknown or finished id is ignored."""
        self.jobs.cancel(request_id)

    def cancel_external(self) -> None:
        """Cancel every server job (shutdown)."""
        self.jobs.cancel_all()

    def _is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id <= self._cancel_up_to

    # -- slots: run on the inference thread ---------------------------------------------------------

    @Slot(str, object, object, int)
    def load(self, path: str, settings: object, template_override: object, number: int = 0) -> None:
        self.load_started.emit(path)
        last = -1

        def progress(fraction: float) -> bool:  # ~240 calls per load: send only whole-percent changes
            nonlocal last
            percent = int(fraction * 100)
            if percent != last:
                last = percent
                self.load_progress.emit(percent)
            return not (number and self._load_cancelled(number))

        try:
            model = self.engine.load(
                Path(path),
                settings if isinstance(settings, LoadSettings) else None,
                template_override=template_override if isinstance(template_override, str) else None,
                progress=progress,
            )
        except Exception as exc:
            log.warning("load of %s failed: %s", path, exc)
            self.still_loaded.emit(self.engine.model)  # usually None: a load first frees the old model
            self.load_failed.emit(exc)
            return
        self.loaded.emit(model)

    @Slot()
    def unload(self) -> None:
        self.engine.unload()
        self.unloaded.emit()

    @Slot(int, object, str)
    def run_job(self, request_id: int, job: Job, description: str) -> None:
        """Run a server job in its turn; one cancelled while queued is skipped. A `quiet` job (the
        parallel lane's host) is not listed: it reports its requests one by one."""
        quiet = bool(getattr(job, "quiet", False))

        def started() -> None:
            if not quiet:
                self.external_started.emit(request_id, description)

        ran, result = self.jobs.run(request_id, job, started)
        if ran and not quiet:
            self.external_finished.emit(request_id, result)

    @Slot(int, object, object, bool, object, object, object)
    def generate(  # noqa: PLR0917 - a queued slot takes the signal's arguments in order
        self,
        request_id: int,
        messages: object,
        sampling: object,
        continue_last: bool = False,
        writer: object = None,
        backend: object = None,
        prepare: object = None,
    ) -> None:
        """Run a chat request; `writer` (a ReplyWriter, optional) is fed and finished here; `backend`
        (a ChatBackend such as a RemoteChat, optional) generates it instead of the engine; `prepare`
        (optional) builds the messages first, here (documents: see Prepare)."""
        saver = writer if isinstance(writer, ReplyWriter) else None
        source = cast("ChatBackend | None", backend)  # queued as an object: a RemoteChat, or None
        with self._lock:
            self._chats_waiting = max(0, self._chats_waiting - 1)
        if self._is_cancelled(request_id):
            stats = cancelled_stats()
            _save(saver, stats)
            self.finished.emit(request_id, stats)
            return
        with self._lock:
            self._active = request_id
            self._active_backend = source
        try:
            if callable(prepare):
                messages = self._prepare(request_id, cast("Prepare", prepare), source)
            self._generate(request_id, messages, sampling, continue_last, writer=saver, backend=source)  # type: ignore[arg-type]
        except Exception as exc:
            log.warning("generation %d failed: %s", request_id, exc, exc_info=True)
            _save_failure(saver, exc)
            self.failed.emit(request_id, exc)
        finally:
            with self._lock:
                self._active = 0
                self._active_backend = None

    def _prepare(self, request_id: int, prepare: Prepare, backend: ChatBackend | None) -> list[Message]:
        """Run the request's prepare step with the loaded model's tokenizer (a local reply), and
        tell the GUI what the reply is shown."""
        counter: TokenCounter | None = None
        if backend is None and self.engine.model is not None:
            engine = self.engine
            try:
                engine.tokenize("a", add_bos=False, special=False)
            except HearthError:  # an engine without a tokenizer (tests' scripted one): estimated
                pass
            else:
                counter = lambda text: len(engine.tokenize(text, add_bos=False, special=False))  # noqa: E731
        messages, context = prepare(counter)
        self.sources.emit(request_id, context)
        return messages

    def _generate(
        self,
        request_id: int,
        messages: Sequence[Message],
        sampling: SamplingSettings | None,
        continue_last: bool = False,
        *,
        writer: ReplyWriter | None = None,
        backend: ChatBackend | None = None,
    ) -> None:
        self.generation_started.emit(request_id)
        source: ChatBackend = backend if backend is not None else self.engine
        pending: list[str] = []
        pending_kind = "answer"
        last_emit = time.monotonic()
        deltas = 0  # about one per token: the live speed is an estimate until the stats arrive
        first_at = 0.0
        tag = str(writer.conversation_id) if writer is not None else None  # saved state belongs to the chat
        for event in source.stream_chat(messages, sampling, continue_last=continue_last, state_tag=tag):
            if self._is_cancelled(request_id):
                source.cancel()  # a cancel that raced with the start of this request
            _save(writer, event)  # before the signals: when `finished` arrives, the reply is on disk
            if isinstance(event, TextDelta):
                if event.kind != pending_kind and pending:
                    self.text.emit(request_id, pending_kind, "".join(pending))
                    pending.clear()
                    last_emit = time.monotonic()
                pending_kind = event.kind
                pending.append(event.text)
                now = time.monotonic()
                deltas += 1
                if deltas == 1:
                    first_at = now
                if now - last_emit >= BATCH_INTERVAL_S:
                    if deltas > 1 and now > first_at:
                        self.live_speed.emit(request_id, (deltas - 1) / (now - first_at))
                    self.text.emit(request_id, pending_kind, "".join(pending))
                    pending.clear()
                    last_emit = now
                    if backend is None:  # llama.cpp's threads: only the local engine has them
                        self._check_threads()
            elif isinstance(event, GenerationStats):
                if pending:
                    self.text.emit(request_id, pending_kind, "".join(pending))
                    pending.clear()
                if backend is None:
                    self._check_threads()
                self.finished.emit(request_id, event)

    def _check_threads(self) -> None:
        """Send the governor's state when it changed (a property read per text batch, not per token)."""
        state = getattr(self.engine, "thread_state", None)  # test engines may not have a governor
        if isinstance(state, ThreadState) and state != self._threads:
            self._threads = state
            self.threads_changed.emit(state)


def _save(writer: ReplyWriter | None, event: Event) -> None:
    """Feed the turn's writer; a failed save (a full disk) is logged, and the reply goes on on screen."""
    if writer is None or writer.finished:
        return
    try:
        writer.feed(event)
    except HearthError:
        log.warning("could not save the reply %d", writer.message_id, exc_info=True)


def _save_failure(writer: ReplyWriter | None, exc: BaseException) -> None:
    if writer is None or writer.finished:
        return
    try:
        writer.fail(exc)
    except HearthError:
        log.warning("could not save the failed reply %d", writer.message_id, exc_info=True)


class InferenceController(QObject):
    """GUI-thread handle: starts the thread, forwards requests as queued signals, shuts down cleanly.

    It re-emits the worker's signals on the GUI thread (signal-to-signal connections are queued to the
    receiver's thread). Connect the UI to these, never to the worker: a plain callable connected to a
    worker signal runs on the inference thread.
    """

    load_started = Signal(str)
    load_progress = Signal(int)  # percent, sent when it changes
    loaded = Signal(object)
    load_failed = Signal(object)
    unloaded = Signal()
    generation_started = Signal(int)
    sources = Signal(int, object)
    text = Signal(int, str, str)
    live_speed = Signal(int, float)
    finished = Signal(int, object)
    failed = Signal(int, object)
    external_started = Signal(int, str)
    external_finished = Signal(int, object)
    threads_changed = Signal(object)  # ThreadState

    _load = Signal(str, object, object, int)
    _run_job = Signal(int, object, str)
    _generate = Signal(int, object, object, bool, object, object, object)
    _unload = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        engine: Engine | None = None,
        state_cache: StateCache | None = None,
    ) -> None:
        super().__init__(parent)
        self.inference_thread = QThread()
        self.inference_thread.setObjectName("hearth-inference")
        self.worker = InferenceWorker(engine, state_cache)
        self.worker.moveToThread(self.inference_thread)
        self._load.connect(self.worker.load)
        self._generate.connect(self.worker.generate)
        self._unload.connect(self.worker.unload)
        # Queued even when emitted on the inference thread (the parallel lane queueing its host again
        # behind a chat turn): a direct call would run the job nested inside the one still running.
        self._run_job.connect(self.worker.run_job, Qt.ConnectionType.QueuedConnection)
        self.worker.external_started.connect(self.external_started)
        self.worker.external_finished.connect(self.external_finished)
        for name in ("load_started", "load_progress", "loaded", "load_failed", "unloaded",
                     "generation_started", "sources", "text", "live_speed", "finished", "failed",
                     "threads_changed"):  # fmt: skip
            getattr(self.worker, name).connect(getattr(self, name))
        self.loaded_model: LoadedModel | None = None
        self.loaded.connect(self._remember)
        self.unloaded.connect(self._forget)
        self.worker.still_loaded.connect(self._remember)  # queued before load_failed: in sync by then
        self.inference_thread.start()

    @Slot(object)
    def _remember(self, model: object) -> None:
        self.loaded_model = model if isinstance(model, LoadedModel) else None

    @Slot()
    def _forget(self) -> None:
        self.loaded_model = None

    def load(
        self, path: Path | str, settings: LoadSettings | None = None, template_override: str | None = None
    ) -> None:
        self._load.emit(str(path), settings, template_override, self.worker.new_load_number())

    def cancel_load(self) -> None:
        """Thread-safe: stop the load under way (and queued ones); `load_failed` then carries a
        LoadCancelledError."""
        self.worker.cancel_loads()

    def generate(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        continue_last: bool = False,
        request_id: int | None = None,
        writer: ReplyWriter | None = None,
        backend: ChatBackend | None = None,
        prepare: Prepare | None = None,
    ) -> int:
        """Queue a chat generation; `continue_last` extends the last (assistant) message. Pass a
        `request_id` from new_request_id() to set up receivers of its output before it can start.
        `writer` is then fed and finished on the inference thread: do not touch it afterwards.
        `backend` (a remote provider's RemoteChat) generates this reply instead of the loaded model.
        `prepare` runs on the inference thread first and replaces `messages` (documents)."""
        if request_id is None:
            request_id = self.worker.new_request_id()
        self.worker.chat_queued()
        self._generate.emit(
            request_id, [dict(m) for m in messages], sampling, continue_last, writer, backend, prepare
        )
        return request_id

    def generate_turn(
        self, turn: ChatTurn, backend: ChatBackend | None = None, prepare: Prepare | None = None
    ) -> int:
        """Queue a ChatSession turn: its messages and sampling, its reply saved as it streams;
        `backend` and `prepare` as for `generate`."""
        return self.generate(
            turn.messages,
            turn.sampling,
            continue_last=turn.continue_last,
            writer=turn.writer,
            backend=backend,
            prepare=prepare,
        )

    def new_request_id(self) -> int:
        return self.worker.new_request_id()

    def cancel(self) -> None:
        self.worker.cancel()

    def submit_job(self, job: Job, description: str) -> int:
        """Thread-safe (the API server calls it from its own thread): queue a job behind the
        requests already queued. Returns its request id."""
        request_id = self.worker.new_external_id()
        self._run_job.emit(request_id, job, description)
        return request_id

    def cancel_request(self, request_id: int) -> None:
        """Thread-safe: cancel one server job, queued or running."""
        self.worker.cancel_request(request_id)

    def unload(self) -> None:
        self._unload.emit()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel, free the model on its own thread, stop the thread. True if it stopped in time."""
        if not self.inference_thread.isRunning():
            return True
        self.worker.cancel()
        self.worker.cancel_external()
        self.worker.cancel_loads()  # quitting during a long load does not wait for it to finish
        self._unload.emit()
        self.inference_thread.quit()
        return bool(self.inference_thread.wait(timeout_ms))
