"""Indexing a collection incrementally: walk its paths, skip what has not changed (size and mtime,
then sha256), extract, chunk and embed the rest, and write each file in one transaction. Files gone
from disk leave the index. A file that cannot be read is recorded with its reason and the rest go on.

Extraction (and PDFium) is imported on first use, so the window can import this module's types at
start-up. The caller gives three hooks, all optional: `progress` (files done of total, chunks, an ETA),
`cancelled` (polled between files and between chunk batches: the file in hand is dropped, every file
written stays) and `pause` (called at the same points; the GUI passes one that blocks while the chat
generates, so indexing never competes with a reply for the cores).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.documents.chunking import Chunk, chunk_pages
from desktop_app.core.documents.embeddings import DOCUMENT_BATCH, Embedder
from desktop_app.core.documents.search import FloatArray
from desktop_app.core.documents.store import (
    DEFAULT_COLLECTION,
    Collection,
    DocumentStore,
    FileRecord,
    normalise_path,
)
from desktop_app.core.documents.walk import Found, walk
from desktop_app.core.errors import HearthError

_log = logging.getLogger(__name__)

HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    chunks: int  # chunks written so far in this run
    eta_s: float | None  # None until there is a rate to go by
    current: str  # the file in hand ("" between files)


@dataclass
class IndexReport:
    indexed: int = 0
    skipped: int = 0
    removed: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, one-line reason)
    warnings: list[str] = field(default_factory=list)
    cancelled: bool = False


@dataclass(frozen=True)
class Hooks:
    progress: Callable[[Progress], None] | None = None
    cancelled: Callable[[], bool] | None = None
    pause: Callable[[], None] | None = None


class _CancelledError(Exception):
    pass


def add_paths(
    store: DocumentStore,
    paths: Sequence[str | os.PathLike[str]],
    *,
    collection: str = DEFAULT_COLLECTION,
    embedder: Embedder | None = None,
    hooks: Hooks | None = None,
) -> IndexReport:
    """Add files and folders to a collection (created when new) and index what changed under them."""
    target = store.ensure_collection(collection)
    roots = [normalise_path(p) for p in paths]
    store.add_roots(target.id, [r for r in roots if os.path.exists(r)])
    return _Run(store, target, embedder, hooks or Hooks()).run(roots)


def refresh_collection(
    store: DocumentStore, collection: str, *, embedder: Embedder | None = None, hooks: Hooks | None = None
) -> IndexReport:
    """Bring a collection up to date with its files on disk (at start-up, or when they change)."""
    target = store.require_collection(collection)
    return _Run(store, target, embedder, hooks or Hooks()).run(list(target.roots))


def open_embedder(collection: Collection) -> Embedder | None:
    """The collection's embedding model, loaded; None when it has none (keyword search only)."""
    if not collection.embedding_model:
        return None
    return Embedder(collection.embedding_model)


def file_sha256(path: str, cancelled: Callable[[], bool] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
            if cancelled is not None and cancelled():
                raise _CancelledError
    return digest.hexdigest()


class _Run:
    def __init__(
        self, store: DocumentStore, collection: Collection, embedder: Embedder | None, hooks: Hooks
    ) -> None:
        self.store = store
        self.collection = collection
        self.embedder = embedder
        self.hooks = hooks
        self.report = IndexReport()
        self.done = 0
        self.total = 0
        self.bytes_left = 0
        self.bytes_done = 0
        self.started = time.monotonic()
        self.current = ""

    def run(self, roots: Sequence[str]) -> IndexReport:
        from desktop_app.core.documents.extract import SUPPORTED_SUFFIXES  # PDFium: on first use

        found = walk(roots, SUPPORTED_SUFFIXES)
        self.report.failed.extend(found.problems)
        if found.truncated:
            self.report.warnings.append(
                f"Only the first {len(found.files):,} files were indexed: add smaller folders."
            )
        known = {r.path: r for r in self.store.files(self.collection.id) if _under(r.path, roots)}
        on_disk = {f.path for f in found.files}
        # a known file the walk did not return was deleted, moved, hidden or made unreadable; after a
        # truncated walk nothing is removed (the files past the limit are still there)
        gone = [] if found.truncated else [r.id for path, r in known.items() if path not in on_disk]
        if gone:
            self.store.delete_files(gone)
            self.report.removed = len(gone)
        work = []
        for f in found.files:
            record = known.get(f.path)
            if record is not None and record.size == f.size and record.mtime_ns == f.mtime_ns:
                if self._needs_vectors(record):
                    work.append(f)
                else:
                    self.report.skipped += 1
                continue
            work.append(f)
        self.total = len(found.files)
        self.done = self.total - len(work)
        self.bytes_left = sum(f.size for f in work)
        self._progress("")
        try:
            for f in work:
                self._wait()
                self._file(f, known.get(f.path))
                self.done += 1
                self.bytes_done += f.size
                self.bytes_left -= f.size
                self._progress("")
        except _CancelledError:
            self.report.cancelled = True
        return self.report

    def _needs_vectors(self, record: FileRecord) -> bool:
        return (
            self.embedder is not None
            and record.status == "indexed"
            and record.chunk_count > 0
            and self.store.vector_count(record.id, self.embedder.key) < record.chunk_count
        )

    def _file(self, found: Found, record: FileRecord | None) -> None:
        from desktop_app.core.documents.extract import DocumentError

        self._progress(found.path)
        try:
            if record is not None and record.size == found.size and record.mtime_ns == found.mtime_ns:
                self._embed_stored(record)
                return
            digest = file_sha256(found.path, self.hooks.cancelled)
            if record is not None and record.sha256 == digest and record.status == "indexed":
                self.store.touch_file(record.id, size=found.size, mtime_ns=found.mtime_ns)
                if self._needs_vectors(record):
                    self._embed_stored(record)
                else:
                    self.report.skipped += 1
                return
            self._index(found, digest)
        except DocumentError as exc:
            self._failed(found, exc.message, record)
        except OSError as exc:
            self._failed(found, f"cannot read the file: {exc.strerror or exc.__class__.__name__}", record)
        except (_CancelledError, KeyboardInterrupt):
            raise
        except HearthError as exc:
            self._failed(found, str(exc), record)
        except Exception as exc:  # a library choking on a hostile file: that file fails, not the run
            _log.exception("Indexing %s failed", found.path)
            self._failed(found, f"could not be read ({exc.__class__.__name__})", record)

    def _index(self, found: Found, digest: str) -> None:
        from desktop_app.core.documents.extract import open_document

        chunks: list[Chunk] = []
        with open_document(Path(found.path)) as reader:
            for chunk in chunk_pages(reader.pages()):
                chunks.append(chunk)
                if len(chunks) % DOCUMENT_BATCH == 0:  # a 500-page PDF shows it is moving
                    self._wait()
                    if self.embedder is None:
                        self._progress_chunks(len(chunks))
            info = reader.info
        vectors = None
        if self.embedder is not None and chunks:
            vectors = (self.embedder.key, self._embed([c.text for c in chunks]))
        self.store.write_file(
            self.collection.id,
            found.path,
            size=found.size,
            mtime_ns=found.mtime_ns,
            sha256=digest,
            kind=info.kind,
            pages=info.pages,
            note=info.note if info.capped else "",
            chunks=chunks,
            vectors=vectors,
        )
        if info.capped and info.note:
            self.report.warnings.append(f"{found.path}: {info.note}")
        self.report.indexed += 1
        self.report.chunks += len(chunks)

    def _embed_stored(self, record: FileRecord) -> None:
        """Vectors for a file already chunked (the collection got an embedding model since)."""
        assert self.embedder is not None
        rows = self.store.chunk_texts(record.id)
        matrix = self._embed([text for _, text in rows])
        self.store.write_vectors(record.id, self.embedder.key, [cid for cid, _ in rows], matrix)
        self.report.indexed += 1
        self.report.chunks += len(rows)

    def _embed(self, texts: Sequence[str]) -> FloatArray:
        import numpy as np

        assert self.embedder is not None
        parts = []
        for start in range(0, len(texts), DOCUMENT_BATCH):
            self._wait()
            parts.append(self.embedder.embed_documents(texts[start : start + DOCUMENT_BATCH]))
            self._progress_chunks(start + DOCUMENT_BATCH)
        return np.concatenate(parts) if parts else np.zeros((0, self.embedder.dims), dtype=np.float32)

    def _failed(self, found: Found, reason: str, record: FileRecord | None) -> None:
        reason = " ".join(reason.split())[:300] or "could not be read"
        self.store.write_failure(
            self.collection.id,
            found.path,
            size=found.size,
            mtime_ns=found.mtime_ns,
            sha256=None,
            error=reason,
        )
        self.report.failed.append((found.path, reason))

    def _wait(self) -> None:
        if self.hooks.cancelled is not None and self.hooks.cancelled():
            raise _CancelledError
        if self.hooks.pause is not None:
            self.hooks.pause()
            if self.hooks.cancelled is not None and self.hooks.cancelled():
                raise _CancelledError

    def _progress(self, current: str, extra_chunks: int = 0) -> None:
        self.current = current
        if self.hooks.progress is None:
            return
        elapsed = time.monotonic() - self.started
        eta = None
        if self.bytes_done > 0 and elapsed > 0:
            eta = self.bytes_left * elapsed / self.bytes_done
        elif self.bytes_left == 0:
            eta = 0.0
        self.hooks.progress(Progress(self.done, self.total, self.report.chunks + extra_chunks, eta, current))

    def _progress_chunks(self, embedded: int) -> None:
        self._progress(self.current, extra_chunks=embedded)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)
