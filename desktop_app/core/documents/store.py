"""The documents index: collections, their files, chunks, FTS5 and vectors in `documents.sqlite3`,
and retrieval over them (FTS5 BM25, fused by reciprocal rank with exact cosine search when the scope
has vectors for the query's embedding model).

Each file is written in one transaction (its old chunks deleted, the new ones inserted with their
vectors), so a process killed mid-index leaves every file either as it was or complete.
`score` in a returned Passage is -bm25 for keyword search (higher is better) and the fused RRF score
for hybrid search.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from desktop_app.core.documents.embeddings import model_key
from desktop_app.core.documents.passages import PageText, Passage
from desktop_app.core.documents.schema import DocumentsDatabase
from desktop_app.core.documents.search import (
    CANDIDATES,
    FloatArray,
    QueryEmbedder,
    VectorCache,
    VectorMatrix,
    match_expression,
    matrix_from_blobs,
    patch_matrix,
    query_words,
    reciprocal_rank_fusion,
    selective_words,
)
from desktop_app.core.errors import HearthError
from desktop_app.core.paths import AppPaths

DEFAULT_COLLECTION = "default"
DB_NAME = "documents.sqlite3"
MAX_COLLECTION_NAME = 80
MAX_TOP_K = 100
MAX_CACHED_COUNTS = 50_000
#: a cached vector matrix is patched when at most this many files (or a quarter of them) changed
PATCH_MAX_FILES = 64


class UnknownCollectionError(HearthError):
    title = "No such collection"
    exit_code = 2


class ChunkLike(Protocol):
    """A chunk as chunking.py makes it (page, offsets in the page's text, text)."""

    @property
    def page(self) -> int | None: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    embedding_model: str | None
    roots: tuple[str, ...]
    files: int
    failed: int
    chunks: int


@dataclass(frozen=True)
class FileRecord:
    id: int
    collection_id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str  # "indexed" or "failed"
    error: str | None
    kind: str | None
    pages: int | None
    chunk_count: int
    note: str
    indexed_at: float


def normalise_path(path: str | os.PathLike[str]) -> str:
    """The form paths are stored and looked up in: absolute, normalised, symlinks kept (the user's
    path is what a citation shows)."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def check_collection_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_COLLECTION_NAME or any(ord(c) < 32 for c in cleaned):
        raise HearthError(
            f"{name[:MAX_COLLECTION_NAME]!r} cannot name a collection.",
            hint=f"Use 1 to {MAX_COLLECTION_NAME} printable characters, such as 'work'.",
        )
    return cleaned


class DocumentStore:
    """The index. Safe to share between threads (each thread gets its own SQLite connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = DocumentsDatabase(path)
        self._vectors = VectorCache()
        self._matrix_lock = threading.Lock()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._counts_revision: Hashable = None

    @classmethod
    def open(cls, paths: AppPaths) -> DocumentStore:
        return cls(paths.data / DB_NAME)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------------------- collections

    def collection(self, name: str) -> Collection | None:
        row = self.db.read("SELECT id FROM collections WHERE name = ?", (name.strip(),)).fetchone()
        return None if row is None else self._collection(int(row["id"]))

    def require_collection(self, name: str) -> Collection:
        found = self.collection(name)
        if found is None:
            known = ", ".join(c.name for c in self.collections()) or "none yet"
            raise UnknownCollectionError(
                f"There is no collection named {name[:MAX_COLLECTION_NAME]!r} (collections: {known}).",
                hint="Add files to it first: hearth docs add PATH --collection NAME",
            )
        return found

    def ensure_collection(self, name: str, *, embedding_model: str | None = None) -> Collection:
        """The collection `name`, created when new; `embedding_model` (a .gguf path), when given,
        becomes its embedding model."""
        name = check_collection_name(name)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO collections (name, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO NOTHING",
                (name, now, now),
            )
            if embedding_model is not None:
                model = normalise_path(embedding_model)
                row = conn.execute(
                    "SELECT id, embedding_model FROM collections WHERE name = ?", (name,)
                ).fetchone()
                if row["embedding_model"] != model:
                    conn.execute(
                        "UPDATE collections SET embedding_model = ?, updated_at = ? WHERE id = ?",
                        (model, now, row["id"]),
                    )
                    self._drop_other_vectors(conn, int(row["id"]), model)
        return self.require_collection(name)

    def _drop_other_vectors(self, conn: sqlite3.Connection, collection_id: int, model_path: str) -> None:
        """A new embedding model: the collection's vectors from any other model are never searched
        again, so they go (the next index run embeds its chunks with the new one)."""
        try:
            key = model_key(model_path)
        except OSError:
            return
        conn.execute(
            "DELETE FROM vectors WHERE model != ? AND chunk_id IN (SELECT c.id FROM chunks c "
            "JOIN files f ON f.id = c.file_id WHERE f.collection_id = ?)",
            (key, collection_id),
        )
        conn.execute("UPDATE files SET indexed_at = ? WHERE collection_id = ?", (time.time(), collection_id))
        self._vectors.clear()
        self._bump(conn, collection_id)

    def collections(self) -> list[Collection]:
        rows = self.db.read("SELECT id FROM collections ORDER BY name").fetchall()
        return [self._collection(int(row["id"])) for row in rows]

    def _collection(self, collection_id: int) -> Collection:
        row = self.db.read(
            "SELECT c.id, c.name, c.embedding_model, "
            "(SELECT count(*) FROM files f WHERE f.collection_id = c.id AND f.status = 'indexed') AS files, "
            "(SELECT count(*) FROM files f WHERE f.collection_id = c.id AND f.status = 'failed') AS failed, "
            "(SELECT coalesce(sum(chunk_count), 0) FROM files f WHERE f.collection_id = c.id) AS chunks "
            "FROM collections c WHERE c.id = ?",
            (collection_id,),
        ).fetchone()
        roots = self.db.read(
            "SELECT path FROM roots WHERE collection_id = ? ORDER BY path", (collection_id,)
        ).fetchall()
        return Collection(
            id=int(row["id"]),
            name=str(row["name"]),
            embedding_model=row["embedding_model"],
            roots=tuple(str(r["path"]) for r in roots),
            files=int(row["files"]),
            failed=int(row["failed"]),
            chunks=int(row["chunks"]),
        )

    def remove_collection(self, name: str) -> Collection:
        found = self.require_collection(name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM collections WHERE id = ?", (found.id,))
        self._vectors.clear()
        return found

    def add_roots(self, collection_id: int, paths: Iterable[str]) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO roots (collection_id, path, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(collection_id, normalise_path(p), now) for p in paths],
            )

    def remove_path(self, path: str | os.PathLike[str], *, collection: str | None = None) -> int:
        """Forget a path added earlier (a file, or a folder and everything under it) in one collection
        or all; returns how many files left the index."""
        target = normalise_path(path)
        under = target.rstrip(os.sep) + os.sep
        scope, params = self._collection_filter(collection)
        with self.db.transaction() as conn:
            conn.execute(
                f"DELETE FROM roots WHERE (path = ? OR substr(path, 1, ?) = ?) AND {scope}",
                (target, len(under), under, *params),
            )
            gone = conn.execute(
                f"DELETE FROM files WHERE (path = ? OR substr(path, 1, ?) = ?) AND {scope}",
                (target, len(under), under, *params),
            ).rowcount
            self._bump(conn, None if collection is None else self.require_collection(collection).id)
        return int(gone)

    def _collection_filter(self, collection: str | None) -> tuple[str, tuple[Any, ...]]:
        if collection is None:
            return "1", ()
        return "collection_id = ?", (self.require_collection(collection).id,)

    def _bump(self, conn: sqlite3.Connection, collection_id: int | None) -> None:
        """Mark the collection's data changed: cached vector matrices of it are no longer used."""
        if collection_id is None:
            conn.execute("UPDATE collections SET revision = revision + 1, updated_at = ?", (time.time(),))
        else:
            conn.execute(
                "UPDATE collections SET revision = revision + 1, updated_at = ? WHERE id = ?",
                (time.time(), collection_id),
            )

    # ------------------------------------------------------------------------------------- files

    def file_record(self, collection_id: int, path: str) -> FileRecord | None:
        row = self.db.read(
            "SELECT * FROM files WHERE collection_id = ? AND path = ?", (collection_id, path)
        ).fetchone()
        return None if row is None else _file(row)

    def files(self, collection_id: int | None = None) -> list[FileRecord]:
        if collection_id is None:
            rows = self.db.read("SELECT * FROM files ORDER BY path").fetchall()
        else:
            rows = self.db.read(
                "SELECT * FROM files WHERE collection_id = ? ORDER BY path", (collection_id,)
            ).fetchall()
        return [_file(row) for row in rows]

    def write_file(
        self,
        collection_id: int,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        sha256: str | None,
        kind: str | None,
        pages: int | None,
        note: str,
        chunks: Sequence[ChunkLike],
        vectors: tuple[str, FloatArray] | None = None,
    ) -> int:
        """Replace the file's chunks (and vectors: `(model key, unit rows in chunk order)`) in one
        transaction; returns the file's id."""
        with self.db.transaction() as conn:
            file_id = self._upsert_file(
                conn,
                collection_id,
                path,
                size=size,
                mtime_ns=mtime_ns,
                sha256=sha256,
                status="indexed",
                error=None,
                kind=kind,
                pages=pages,
                chunk_count=len(chunks),
                note=note,
            )
            conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            ids: list[int] = []
            for chunk in chunks:
                cursor = conn.execute(
                    "INSERT INTO chunks (file_id, page, start, end, text) VALUES (?, ?, ?, ?, ?)",
                    (file_id, chunk.page, chunk.start, chunk.end, chunk.text),
                )
                ids.append(int(cursor.lastrowid or 0))
            if vectors is not None:
                model, matrix = vectors
                conn.executemany(
                    "INSERT INTO vectors (chunk_id, model, vector) VALUES (?, ?, ?)",
                    [(cid, model, matrix[i].tobytes()) for i, cid in enumerate(ids)],
                )
            self._bump(conn, collection_id)
        return file_id

    def write_failure(
        self, collection_id: int, path: str, *, size: int, mtime_ns: int, sha256: str | None, error: str
    ) -> None:
        """Record why a file could not be indexed (its old chunks, if any, leave the index)."""
        with self.db.transaction() as conn:
            file_id = self._upsert_file(
                conn,
                collection_id,
                path,
                size=size,
                mtime_ns=mtime_ns,
                sha256=sha256,
                status="failed",
                error=error,
                kind=None,
                pages=None,
                chunk_count=0,
                note="",
            )
            conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            self._bump(conn, collection_id)

    def touch_file(self, file_id: int, *, size: int, mtime_ns: int) -> None:
        """The file's size or time changed but not its content: remember the new ones."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, file_id))

    def delete_files(self, file_ids: Sequence[int]) -> None:
        with self.db.transaction() as conn:
            for file_id in file_ids:
                row = conn.execute("SELECT collection_id FROM files WHERE id = ?", (file_id,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
                    self._bump(conn, int(row["collection_id"]))

    def chunk_texts(self, file_id: int) -> list[tuple[int, str]]:
        rows = self.db.read("SELECT id, text FROM chunks WHERE file_id = ? ORDER BY id", (file_id,))
        return [(int(r["id"]), str(r["text"])) for r in rows.fetchall()]

    def vector_count(self, file_id: int, model: str) -> int:
        row = self.db.read(
            "SELECT count(*) FROM vectors v JOIN chunks c ON c.id = v.chunk_id "
            "WHERE c.file_id = ? AND v.model = ?",
            (file_id, model),
        ).fetchone()
        return int(row[0])

    def write_vectors(self, file_id: int, model: str, chunk_ids: Sequence[int], matrix: FloatArray) -> None:
        """Vectors for chunks already stored (the collection's embedding model changed)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT collection_id FROM files WHERE id = ?", (file_id,)).fetchone()
            if row is None:
                return
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (chunk_id, model, vector) VALUES (?, ?, ?)",
                [(cid, model, matrix[i].tobytes()) for i, cid in enumerate(chunk_ids)],
            )
            # indexed_at is when the file's chunks or vectors last changed: a cached matrix re-reads it
            conn.execute("UPDATE files SET indexed_at = ? WHERE id = ?", (time.time(), file_id))
            self._bump(conn, int(row["collection_id"]))

    def _upsert_file(self, conn: sqlite3.Connection, collection_id: int, path: str, **values: Any) -> int:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in [*values, "indexed_at"])
        row = conn.execute(
            f"INSERT INTO files (collection_id, path, {columns}, indexed_at) VALUES (?, ?, {marks}, ?) "
            f"ON CONFLICT(collection_id, path) DO UPDATE SET {updates} RETURNING id",
            (collection_id, path, *values.values(), time.time()),
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------------------------ search

    def search(
        self,
        query: str,
        *,
        collection: str | None = None,
        files: Sequence[str] | None = None,
        top_k: int = 5,
        embedder: QueryEmbedder | None = None,
    ) -> list[Passage]:
        """The passages that best answer `query`, in one collection, some files, or everything.
        Keyword (BM25) always; fused with cosine similarity when `embedder` is given and the scope
        has vectors from the same model. Never raises on what the user typed."""
        top_k = max(1, min(int(top_k), MAX_TOP_K))
        scope_sql, scope_params, scope_key = self._scope(collection, files)
        if scope_sql is None:
            return []
        matrix = None if embedder is None else self._matrix(embedder.key, scope_sql, scope_params, scope_key)
        hybrid = embedder is not None and matrix is not None and matrix.live_rows > 0
        # a file in two collections has its chunks twice: ask for more, keep each passage once
        spare = top_k if collection is None else 0
        want = max(top_k, CANDIDATES) if hybrid else top_k + spare
        keyword = self._keyword(query, scope_sql, scope_params, want)
        if not hybrid:
            return self._passages([(cid, -score) for cid, score in keyword], top_k)
        assert embedder is not None and matrix is not None
        semantic = matrix.nearest(embedder.embed_query(query), want)
        fused = reciprocal_rank_fusion([[cid for cid, _ in keyword], [cid for cid, _ in semantic]])
        return self._passages(fused[: top_k + spare], top_k)

    def _scope(
        self, collection: str | None, files: Sequence[str] | None
    ) -> tuple[str | None, tuple[Any, ...], Hashable]:
        """SQL over `f` (files) for the scope, its parameters and a key naming it; None when empty."""
        clauses = ["f.status = 'indexed'"]
        params: list[Any] = []
        key: list[Hashable] = []
        if collection is not None:
            found = self.collection(collection)
            if found is None:
                return None, (), None
            clauses.append("f.collection_id = ?")
            params.append(found.id)
            key.append(("collection", found.id))
        if files is not None:
            paths = sorted({normalise_path(p) for p in files})
            if not paths:
                return None, (), None
            clauses.append(f"f.path IN ({', '.join('?' for _ in paths)})")
            params.extend(paths)
            key.append(("files", tuple(paths)))
        return " AND ".join(clauses), tuple(params), tuple(key)

    def _keyword(
        self, query: str, scope_sql: str, params: tuple[Any, ...], n: int
    ) -> list[tuple[int, float]]:
        words = query_words(query)
        if len(words) > 1:
            total = int(self.db.read("SELECT coalesce(sum(chunk_count), 0) FROM files").fetchone()[0])
            words = selective_words(words, self._doc_counts(words), total)
        match = match_expression(words)
        if match is None:
            return []
        rows = self.db.read(
            "SELECT c.id, bm25(chunks_fts) AS score FROM chunks_fts "
            "JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id "
            f"WHERE chunks_fts MATCH ? AND {scope_sql} ORDER BY score LIMIT ?",
            (match, *params, n),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _doc_counts(self, words: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each word, remembered until the index changes: fts5vocab counts a
        word by reading its whole list of rows (15 ms for a word in most of 100k chunks)."""
        revision = self._revision()
        with self._lock:
            if self._counts_revision != revision:
                self._counts, self._counts_revision = {}, revision
            missing = [w for w in words if w not in self._counts]
        found = {}
        for word in missing:  # one lookup each: fts5vocab uses `term = ?`, but scans for `term IN`
            row = self.db.read("SELECT doc FROM chunks_vocab WHERE term = ?", (word,)).fetchone()
            found[word] = 0 if row is None else int(row[0])
        with self._lock:
            if len(self._counts) > MAX_CACHED_COUNTS:
                self._counts.clear()
            self._counts.update(found)
            return {w: self._counts.get(w, found.get(w, 0)) for w in words}

    def _revision(self) -> tuple[tuple[int, int], ...]:
        rows = self.db.read("SELECT id, revision FROM collections ORDER BY id").fetchall()
        return tuple((int(r[0]), int(r[1])) for r in rows)

    def _matrix(
        self, model: str, scope_sql: str, params: tuple[Any, ...], scope_key: Hashable
    ) -> VectorMatrix | None:
        """The scope's vectors from `model`, cached until the index changes. While a collection is
        being indexed (a file written between two queries) the cached matrix is patched: the rows of
        the files whose indexed_at changed or that left are dropped and their new vectors read, not
        the whole matrix again (2-3 s at 100k chunks)."""
        revision = self._revision()
        key = (scope_key, model)
        cached = self._vectors.get(key, revision)
        if cached is not None:
            return cached
        with self._matrix_lock:  # one thread loads or patches; the others then find it done
            revision = self._revision()
            cached = self._vectors.get(key, revision)
            if cached is not None:
                return cached
            signature = self._file_signature(scope_sql, params)
            latest = self._vectors.latest(key)
            matrix = None
            if latest is not None and latest[1] is not None:
                matrix = self._patched(model, latest[0], latest[1], signature)
            if matrix is None:
                matrix = self._load_matrix(model, scope_sql, params)
            if matrix is None:
                return None
            self._vectors.put(key, revision, matrix, signature)
            return matrix if matrix.live_rows else None

    def _file_signature(self, scope_sql: str, params: tuple[Any, ...]) -> dict[int, float]:
        """Each file in the scope and when its chunks or vectors last changed."""
        rows = self.db.read(f"SELECT f.id, f.indexed_at FROM files f WHERE {scope_sql}", params).fetchall()
        return {int(r[0]): float(r[1]) for r in rows}

    def _patched(
        self, model: str, old: VectorMatrix, before: Mapping[int, float], now: Mapping[int, float]
    ) -> VectorMatrix | None:
        """`old` brought up to date file by file; None when too much changed for a patch to pay."""
        changed = [fid for fid, at in now.items() if before.get(fid) != at]
        gone = [fid for fid in before if fid not in now]
        if len(changed) + len(gone) > max(PATCH_MAX_FILES, len(now) // 4):
            return None
        ids: list[int] = []
        files: list[int] = []
        blobs: list[bytes] = []
        for start in range(0, len(changed), 500):
            batch = changed[start : start + 500]
            rows = self.db.read(
                "SELECT c.id, c.file_id, v.vector FROM chunks c JOIN vectors v ON v.chunk_id = c.id "
                f"WHERE v.model = ? AND c.file_id IN ({', '.join('?' for _ in batch)}) ORDER BY c.id",
                (model, *batch),
            ).fetchall()
            for r in rows:
                ids.append(int(r[0]))
                files.append(int(r[1]))
                blobs.append(bytes(r[2]))
        added = matrix_from_blobs(ids, blobs, old.matrix.shape[1], files)
        return patch_matrix(old, {*changed, *gone}, added)

    def _load_matrix(self, model: str, scope_sql: str, params: tuple[Any, ...]) -> VectorMatrix | None:
        # the scope's chunk ids as a subquery, not a join per vector: 1.8 s instead of 4 s at 100k
        rows = self.db.read(
            "SELECT chunk_id, vector FROM vectors WHERE model = ? AND chunk_id IN "
            f"(SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE {scope_sql}) "
            "ORDER BY chunk_id",
            (model, *params),
        ).fetchall()
        if not rows:
            return None
        chunk_files = self.db.read(
            f"SELECT c.id, c.file_id FROM chunks c JOIN files f ON f.id = c.file_id WHERE {scope_sql}",
            params,
        ).fetchall()
        file_of = dict(chunk_files)
        ids = [int(r[0]) for r in rows]
        dims = len(rows[0][1]) // 4
        # a chunk that left between the two reads: file 0 (none), so the next patch does not keep it
        return matrix_from_blobs(
            ids, [bytes(r[1]) for r in rows], dims, [int(file_of.get(i, 0)) for i in ids]
        )

    def _passages(self, ranked: Sequence[tuple[int, float]], limit: int) -> list[Passage]:
        """The chunks as passages in rank order, each (file, page, offsets) once, at most `limit`."""
        if not ranked:
            return []
        ids = [cid for cid, _ in ranked]
        rows = self.db.read(
            "SELECT c.id, c.page, c.start, c.end, c.text, f.path FROM chunks c "
            f"JOIN files f ON f.id = c.file_id WHERE c.id IN ({', '.join('?' for _ in ids)})",
            ids,
        ).fetchall()
        by_id = {int(r["id"]): r for r in rows}
        out: list[Passage] = []
        seen: set[tuple[Any, ...]] = set()
        for cid, score in ranked:
            row = by_id.get(cid)
            if row is None:
                continue
            place = (row["path"], row["page"], row["start"], row["end"])
            if place not in seen and len(out) < limit:
                seen.add(place)
                out.append(
                    Passage(
                        file=str(row["path"]),
                        page=row["page"],
                        text=str(row["text"]),
                        score=float(score),
                        start=int(row["start"]),
                        end=int(row["end"]),
                        chunk_id=cid,
                    )
                )
        return out

    # -------------------------------------------------------------------------- whole documents

    def document_chars(self, file: str, *, collection: str | None = None) -> int | None:
        """About how many characters the file's text has (its last chunk's end, summed over pages);
        None when it is not indexed."""
        file_id = self._file_id(file, collection)
        if file_id is None:
            return None
        row = self.db.read(
            "SELECT coalesce(sum(m), 0) FROM (SELECT max(end) AS m FROM chunks WHERE file_id = ? "
            "GROUP BY page)",
            (file_id,),
        ).fetchone()
        return int(row[0])

    def document_pages(self, file: str, *, collection: str | None = None) -> list[PageText]:
        """The file's text page by page, rebuilt from its chunks (their overlaps removed by offset),
        for inlining a whole small document into a prompt. Empty when the file is not indexed."""
        file_id = self._file_id(file, collection)
        if file_id is None:
            return []
        rows = self.db.read(
            "SELECT page, start, end, text FROM chunks WHERE file_id = ? ORDER BY page, start, id",
            (file_id,),
        ).fetchall()
        pages: list[PageText] = []
        current: int | None = None
        parts: list[str] = []
        covered = 0
        for index, row in enumerate(rows):
            page, start, text = row["page"], int(row["start"]), str(row["text"])
            if index == 0 or page != current:
                if parts:
                    pages.append(PageText(current, "".join(parts)))
                current, parts, covered = page, [], 0
            if start >= covered:
                parts.append((" " if parts and start > covered else "") + text)
            elif start + len(text) > covered:
                parts.append(text[covered - start :])
            covered = max(covered, start + len(text))
        if parts:
            pages.append(PageText(current, "".join(parts)))
        return pages

    def full_text(
        self, files: Sequence[str], *, max_chars: int, collection: str | None = None
    ) -> dict[str, list[PageText]] | None:
        """The pages of every file when together they hold at most `max_chars` characters, else None
        (then the chat uses top passages instead)."""
        total = 0
        for file in files:
            total += self.document_chars(file, collection=collection) or 0
            if total > max_chars:
                return None
        return {normalise_path(f): self.document_pages(f, collection=collection) for f in files}

    def _file_id(self, file: str, collection: str | None) -> int | None:
        path = normalise_path(file)
        if collection is None:
            row = self.db.read(
                "SELECT id FROM files WHERE path = ? AND status = 'indexed' ORDER BY indexed_at DESC",
                (path,),
            ).fetchone()
        else:
            found = self.collection(collection)
            if found is None:
                return None
            row = self.db.read(
                "SELECT id FROM files WHERE path = ? AND collection_id = ? AND status = 'indexed'",
                (path, found.id),
            ).fetchone()
        return None if row is None else int(row[0])


def _file(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        id=int(row["id"]),
        collection_id=int(row["collection_id"]),
        path=str(row["path"]),
        size=int(row["size"]),
        mtime_ns=int(row["mtime_ns"]),
        sha256=row["sha256"],
        status=str(row["status"]),
        error=row["error"],
        kind=row["kind"],
        pages=row["pages"],
        chunk_count=int(row["chunk_count"]),
        note=str(row["note"]),
        indexed_at=float(row["indexed_at"]),
    )
