"""The cached vector matrix is patched file by file while a collection is indexed (not read again
whole), on real SQLite with two stores as in the app (the indexing worker's and the chat's): after any
mix of writes, re-writes, failures, deletions and vectors added later it holds exactly what a fresh
load reads, and a matrix being searched is never changed under its reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.documents.search import FloatArray, VectorMatrix, patch_matrix, unit_rows
from desktop_app.core.documents.store import DocumentStore

MODEL = "vectors#1"
DIMS = 8


@dataclass(frozen=True)
class _Chunk:
    page: int | None
    start: int
    end: int
    text: str


class _Embedder:
    key = MODEL

    def __init__(self, vector: FloatArray) -> None:
        self.vector = vector

    def embed_query(self, text: str) -> FloatArray:
        return self.vector


@pytest.fixture
def stores(tmp_path: Path):
    path = tmp_path / "documents.sqlite3"
    writer, searcher = DocumentStore(path), DocumentStore(path)
    yield writer, searcher
    writer.close()
    searcher.close()


def _vectors(seed: int, n: int) -> FloatArray:
    return unit_rows(np.random.default_rng(seed).standard_normal((n, DIMS)).astype(np.float32))


def _write(store: DocumentStore, name: str, seed: int, n: int = 3, *, vectors: bool = True) -> int:
    collection = store.ensure_collection("c")
    chunks = [_Chunk(None, i, i + 1, f"{name} words {i}") for i in range(n)]
    return store.write_file(
        collection.id, f"/docs/{name}.txt", size=n, mtime_ns=seed, sha256=None, kind="txt", pages=None,
        note="", chunks=chunks, vectors=(MODEL, _vectors(seed, n)) if vectors else None,
    )  # fmt: skip


def _matrix(store: DocumentStore) -> VectorMatrix | None:
    scope_sql, params, key = store._scope("c", None)
    assert scope_sql is not None
    return store._matrix(MODEL, scope_sql, params, key)


def _live(matrix: VectorMatrix | None) -> dict[int, tuple[float, ...]]:
    if matrix is None:
        return {}
    alive = np.ones(len(matrix.ids), dtype=bool) if matrix.alive is None else matrix.alive
    return {
        int(i): tuple(np.round(row, 6))
        for i, row, a in zip(matrix.ids, matrix.matrix, alive, strict=True)
        if a
    }


def _fresh(path: Path) -> dict[int, tuple[float, ...]]:
    store = DocumentStore(path)
    try:
        return _live(_matrix(store))
    finally:
        store.close()


def test_the_patched_matrix_is_what_a_fresh_load_reads(stores: tuple[DocumentStore, DocumentStore]) -> None:
    writer, searcher = stores
    ids = [_write(writer, f"f{n}", seed=n) for n in range(6)]
    first = _matrix(searcher)
    assert first is not None and len(_live(first)) == 18
    kept = (first.ids.copy(), first.matrix.copy())

    _write(writer, "f1", seed=101, n=5)  # re-indexed with other text and vectors
    writer.delete_files([ids[5]])  # the newest file goes: its chunk ids can be given out again
    _write(writer, "f6", seed=6, n=4)  # ... to this one
    collection = writer.require_collection("c")
    writer.write_failure(collection.id, "/docs/f2.txt", size=1, mtime_ns=9, sha256=None, error="broken")
    _write(writer, "f7", seed=7, n=2, vectors=False)  # chunks without vectors yet
    patched = _matrix(searcher)
    assert _live(patched) == _fresh(writer.path)
    assert len(_live(patched)) == 3 * 3 + 5 + 4  # f0, f3, f4 (f2 failed, f5 gone), f1 again, f6

    # vectors added later to chunks already stored (the collection's model changed)
    f7 = writer.file_record(collection.id, "/docs/f7.txt")
    assert f7 is not None
    rows = writer.chunk_texts(f7.id)
    writer.write_vectors(f7.id, MODEL, [cid for cid, _ in rows], _vectors(70, len(rows)))
    again = _matrix(searcher)
    assert _live(again) == _fresh(writer.path) and len(_live(again)) == 20

    # the first matrix, which a search could still hold, was never written to
    assert np.array_equal(first.ids, kept[0]) and np.array_equal(first.matrix, kept[1])


def test_small_writes_patch_in_place_instead_of_reloading(
    stores: tuple[DocumentStore, DocumentStore],
) -> None:
    writer, searcher = stores
    for n in range(20):
        _write(writer, f"f{n}", seed=n)
    _matrix(searcher)
    _write(writer, "new0", seed=100)
    one = _matrix(searcher)
    _write(writer, "new1", seed=101)
    two = _matrix(searcher)
    assert one is not None and two is not None and one.buffers is not None and two.buffers is not None
    assert two.buffers[0] is one.buffers[0]  # the new rows went into the spare rows: no copy, no reload
    assert len(two.ids) == len(one.ids) + 3
    assert _live(two) == _fresh(writer.path)


def test_a_hybrid_search_finds_a_chunk_written_after_the_matrix_was_cached(
    stores: tuple[DocumentStore, DocumentStore],
) -> None:
    writer, searcher = stores
    for n in range(5):
        _write(writer, f"f{n}", seed=n)
    searcher.search("words", collection="c", embedder=_Embedder(_vectors(0, 1)[0]))  # cached
    _write(writer, "late", seed=55)
    target = _vectors(55, 3)[2]  # the third chunk of the file just written
    found = searcher.search("nothing matches this", collection="c", embedder=_Embedder(target), top_k=1)
    assert [(p.file, p.text) for p in found] == [("/docs/late.txt", "late words 2")]


def test_dead_rows_are_compacted_once_they_are_a_quarter() -> None:
    ids = np.arange(8, dtype=np.int64)
    base = VectorMatrix(ids, _vectors(1, 8), np.repeat(np.arange(4, dtype=np.int64), 2))
    empty = VectorMatrix(np.empty(0, np.int64), np.empty((0, DIMS), np.float32), np.empty(0, np.int64))
    one_dead = patch_matrix(base, {0}, empty)  # 2 of 8 rows: marked, kept
    assert len(one_dead.ids) == 8 and one_dead.live_rows == 6
    compacted = patch_matrix(one_dead, {1}, empty)  # 4 of 8: copied out
    assert compacted.alive is None and list(compacted.ids) == [4, 5, 6, 7]
    assert np.array_equal(compacted.matrix, base.matrix[4:])
    query = base.matrix[0]
    assert all(cid not in (0, 1) for cid, _ in one_dead.nearest(query, 8))
    with pytest.raises(ValueError, match="width"):
        patch_matrix(base, set(), VectorMatrix(np.array([9]), _vectors(2, 1)[:, :4], np.array([9])))
