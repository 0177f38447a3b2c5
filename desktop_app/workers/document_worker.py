"""Indexing documents off the GUI thread: one worker thread runs the core indexer (core/documents/
indexer.py) job after job, and reports progress, results and the collections as signals.

The store and any embedding model live on that thread only. Cancelling takes effect between files or
chunk batches (the file in hand is dropped, every file written stays); `set_paused(True)` (the window
calls it while the chat generates) parks the indexer at the same points, so indexing never competes
with a reply for the cores. The signals are emitted on the worker thread; receivers on the GUI thread
get them queued, so only the GUI thread touches widgets.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_app.core.documents import indexer
from desktop_app.core.documents.embeddings import Embedder
from desktop_app.core.documents.store import DB_NAME, Collection, DocumentStore
from desktop_app.core.errors import HearthError
from desktop_app.core.paths import AppPaths

log = logging.getLogger(__name__)

#: failed files listed per collection (the rest are counted)
MAX_ERRORS_SHOWN = 50
PAUSE_POLL_S = 0.05


@dataclass(frozen=True)
class CollectionView:
    """A copy of one collection for the GUI thread."""

    name: str
    files: int
    failed: int
    chunks: int
    roots: tuple[str, ...]
    embedding_model: str | None
    #: (file, one-line reason) for the first MAX_ERRORS_SHOWN failed files
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Job:
    kind: str  # "list", "add", "refresh", "remove"
    collection: str = ""
    paths: tuple[str, ...] = ()
    generation: int = 0


@dataclass
class _State:
    cancel_up_to: int = 0  # every job queued at or before this generation is cancelled
    #: per collection: its jobs queued at or before this generation are cancelled
    cancel_collection: dict[str, int] = field(default_factory=dict)
    next_generation: int = 0
    paused: threading.Event = field(default_factory=threading.Event)


class DocumentIndexer(QObject):
    """GUI-thread handle of the indexing thread. Call `shutdown()` before it is destroyed."""

    #: list[CollectionView], after `reload()` and after every job
    collections_changed = Signal(object)
    #: collection name, core.documents.indexer.Progress
    progress = Signal(str, object)
    #: collection name, core.documents.indexer.IndexReport (its `cancelled` says whether it was stopped)
    finished = Signal(str, object)
    #: collection name, a message a user can act on (the job could not run at all)
    failed = Signal(str, str)
    #: True while a job runs or waits
    busy_changed = Signal(bool)

    def __init__(self, paths: AppPaths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths = paths
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._state = _State()
        self._lock = threading.Lock()
        self._pending = 0
        self._wake = threading.Event()  # never set: a sleep that is not time.sleep
        self._thread = threading.Thread(target=self._run, name="document-indexer", daemon=False)
        self._thread.start()

    # -- GUI thread --------------------------------------------------------------------------------

    def reload(self) -> None:
        self._submit(_Job("list"))

    def add(self, collection: str, paths: Sequence[str | Path]) -> None:
        self._submit(_Job("add", collection, tuple(str(p) for p in paths)))

    def refresh(self, collection: str) -> None:
        self._submit(_Job("refresh", collection))

    def remove(self, collection: str) -> None:
        self._submit(_Job("remove", collection))

    def cancel(self, collection: str | None = None) -> None:
        """Stop the job running and drop the ones waiting: all of them, or one collection's."""
        with self._lock:
            if collection is None:
                self._state.cancel_up_to = self._state.next_generation
            else:
                self._state.cancel_collection[collection] = self._state.next_generation

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._state.paused.set()
        else:
            self._state.paused.clear()

    def is_busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel everything, end the thread and close the store; True when it ended in time."""
        self.cancel()
        self._state.paused.clear()
        self._queue.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _submit(self, job: _Job) -> None:
        with self._lock:
            self._state.next_generation += 1
            job = _Job(job.kind, job.collection, job.paths, self._state.next_generation)
            self._pending += 1
            first = self._pending == 1
        if first:
            self.busy_changed.emit(True)
        self._queue.put(job)

    # -- worker thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        store: DocumentStore | None = None
        embedders: dict[str, Embedder] = {}
        try:
            while (job := self._queue.get()) is not None:
                try:
                    if store is None:
                        store = DocumentStore(self._paths.data / DB_NAME)
                    self._do(store, embedders, job)
                except HearthError as exc:
                    self.failed.emit(job.collection, f"{exc.message} {exc.hint}".strip())
                except Exception as exc:  # a bug: logged in full, the thread goes on with the next job
                    log.exception("document job %s failed", job.kind)
                    self.failed.emit(job.collection, f"Indexing failed unexpectedly ({type(exc).__name__}).")
                finally:
                    self._emit_views(store)
                    with self._lock:
                        self._pending -= 1
                        idle = self._pending == 0
                    if idle:
                        self.busy_changed.emit(False)
        finally:
            for embedder in embedders.values():
                embedder.close()
            if store is not None:
                store.close()

    def _cancelled_check(self, job: _Job) -> Callable[[], bool]:
        state = self._state
        return lambda: (
            job.generation <= state.cancel_up_to
            or job.generation <= state.cancel_collection.get(job.collection, 0)
        )

    def _emit_views(self, store: DocumentStore | None) -> None:
        if store is None:
            return
        try:
            views = _views(store)
        except HearthError as exc:  # the index cannot be read: say so, keep the thread
            self.failed.emit("", f"{exc.message} {exc.hint}".strip())
        else:
            self.collections_changed.emit(views)

    def _do(self, store: DocumentStore, embedders: dict[str, Embedder], job: _Job) -> None:
        cancelled = self._cancelled_check(job)
        if job.kind in ("add", "refresh") and cancelled():
            # dropped before it started: still reported, so the page does not wait for it
            self.finished.emit(job.collection, indexer.IndexReport(cancelled=True))
            return
        if job.kind in ("add", "refresh"):

            def pause() -> None:  # parked while the chat generates; a cancel still gets through
                while self._state.paused.is_set() and not cancelled():
                    self._wake.wait(PAUSE_POLL_S)

            hooks = indexer.Hooks(
                progress=lambda p: self.progress.emit(job.collection, p), cancelled=cancelled, pause=pause
            )
            existing = store.collection(job.collection)
            embedder = self._embedder(existing, embedders) if existing is not None else None
            if job.kind == "add":
                report = indexer.add_paths(
                    store, list(job.paths), collection=job.collection, embedder=embedder, hooks=hooks
                )
            else:
                report = indexer.refresh_collection(store, job.collection, embedder=embedder, hooks=hooks)
            self.finished.emit(job.collection, report)
        elif job.kind == "remove" and store.collection(job.collection) is not None:
            store.remove_collection(job.collection)

    @staticmethod
    def _embedder(collection: Collection, embedders: dict[str, Embedder]) -> Embedder | None:
        """The collection's embedding model, loaded once per thread (None: keyword search only)."""
        model = collection.embedding_model
        if not model:
            return None
        if model not in embedders:
            embedders[model] = Embedder(model)
        return embedders[model]


def _views(store: DocumentStore) -> list[CollectionView]:
    views = []
    for c in store.collections():
        errors: tuple[tuple[str, str], ...] = ()
        if c.failed:
            failed = [f for f in store.files(c.id) if f.status == "failed"]
            errors = tuple((f.path, f.error or "could not be indexed") for f in failed[:MAX_ERRORS_SHOWN])
        views.append(CollectionView(c.name, c.files, c.failed, c.chunks, c.roots, c.embedding_model, errors))
    return views
