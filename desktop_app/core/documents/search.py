"""Retrieval pieces the store puts together: a user's words as a safe FTS5 query, reciprocal-rank
fusion of the keyword and vector rankings, and the vector matrix kept in memory for exact cosine
search (numpy is imported on first use: the window must not wait for it)."""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
else:
    FloatArray = Any

#: RRF's constant, as in Cormack et al. and GPT4All's LocalDocs: damps the weight of the top ranks
RRF_K = 60
#: how many candidates each ranking contributes to a fused one
CANDIDATES = 50
MAX_QUERY_CHARS = 2000
MAX_QUERY_TOKENS = 24
#: an index this large leaves out of a query the words in more than COMMON_FRACTION of its chunks
PRUNE_FROM_CHUNKS = 20_000
COMMON_FRACTION = 0.05
_TOKEN = re.compile(r"\w+")
#: question words and glue dropped from a query that has other words: they match most chunks, so
#: they cost time at 100k chunks, and in a small collection a rare "how" can outrank the topic words
_STOPWORD_TEXT = (
    "a an and are as at be by can could did do does for from had has have how i if in into is it its "
    "me my of on or our so than that the their them then there these they this those to was we were "
    "what when where which who whom why will with would you your"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class QueryEmbedder(Protocol):
    """What search needs from an embedding model: a key naming the vectors it writes, and a query's
    unit vector (with the model's query prefix applied)."""

    @property
    def key(self) -> str: ...

    def embed_query(self, text: str) -> FloatArray: ...


def query_words(text: str) -> list[str]:
    """The words of a query, lowercased, each once, in order; common English words are dropped
    unless the query has nothing else."""
    words: list[str] = []
    for match in _TOKEN.finditer(text[:MAX_QUERY_CHARS]):
        word = match.group(0).lower()
        if word not in words:
            words.append(word)
    words = [w for w in words if w not in STOPWORDS] or words
    return words[:MAX_QUERY_TOKENS]


def match_expression(words: Sequence[str]) -> str | None:
    """Words as an FTS5 query that cannot be a syntax error: each one quoted (a word is a run of
    letters and digits, so it holds no quote), OR-ed, so any one of them matches and BM25 ranks the
    passages holding the rarer ones first. None when there is no word."""
    return " OR ".join(f'"{word}"' for word in words) if words else None


def fts_query(text: str) -> str | None:
    """The user's text as a safe FTS5 query (see `query_words` and `match_expression`)."""
    return match_expression(query_words(text))


def selective_words(words: Sequence[str], doc_counts: Mapping[str, int], total: int) -> list[str]:
    """In a large index, leave out words that are in more than COMMON_FRACTION of the chunks: their
    BM25 weight is near zero, and each matching row costs a score (a word in every one of 100k
    chunks took a query from milliseconds to a second). When every word is that common, the rarest
    two stay. Words the index does not know are kept (they cost nothing)."""
    if total < PRUNE_FROM_CHUNKS or len(words) < 2:
        return list(words)
    limit = total * COMMON_FRACTION
    kept = [w for w in words if doc_counts.get(w, 0) <= limit]
    if kept:
        return kept
    return sorted(words, key=lambda w: doc_counts.get(w, 0))[:2]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Ids by the sum of 1/(k + rank) over the rankings they appear in (rank from 1), best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


@dataclass(frozen=True)
class VectorMatrix:
    """Unit vectors of a scope's chunks, one row per chunk id.

    `files` (the file id of each row) lets the store patch the matrix file by file while a collection
    is being indexed instead of reading it all again; `alive` marks the rows still in the index (None:
    all). The arrays may be the head of larger buffers whose spare rows a patch fills: a patch never
    writes a row an existing matrix reads, so one being searched is never changed."""

    ids: Any  # np.ndarray of int64
    matrix: FloatArray
    files: Any = None  # np.ndarray of int64, or None
    alive: Any = None  # np.ndarray of bool, or None
    buffers: tuple[Any, Any, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def live_rows(self) -> int:
        return len(self.ids) if self.alive is None else int(self.alive.sum())

    def nearest(self, query: FloatArray, n: int) -> list[tuple[int, float]]:
        """The `n` chunk ids with the highest cosine similarity to `query` (a unit vector)."""
        import numpy as np

        live = self.live_rows
        if live == 0 or query.shape[0] != self.matrix.shape[1]:
            return []
        scores = self.matrix @ query
        if self.alive is not None:
            scores = np.where(self.alive, scores, -np.inf)
        n = min(n, live)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top]


def patch_matrix(
    old: VectorMatrix, drop_files: Collection[int], added: VectorMatrix, *, compact_at: float = 0.25
) -> VectorMatrix:
    """`old` without the rows of `drop_files`, plus `added`'s rows (with their `files`). Dropped rows
    are only marked dead until they are more than `compact_at` of the rows; new rows go into the
    spare rows of `old`'s buffers when they fit, else into new buffers with room to grow."""
    import numpy as np

    if old.files is None or added.files is None:
        raise ValueError("a patch needs the file of every row")
    n, k, dims = len(old.ids), len(added.ids), old.matrix.shape[1]
    if k and added.matrix.shape[1] != dims:
        raise ValueError("the new rows are not the matrix's width")
    alive = np.ones(n, dtype=bool) if old.alive is None else old.alive.copy()
    if drop_files:
        alive &= ~np.isin(old.files, np.fromiter(drop_files, dtype=np.int64))
    dead = n - int(alive.sum())
    buffers = old.buffers or (old.matrix, old.ids, old.files)
    if dead and dead > compact_at * n:  # copy the live rows into fresh buffers
        head = (old.matrix[alive], old.ids[alive], old.files[alive])
        buffers, n, alive = _grown(head, len(head[1]) + k), len(head[1]), np.ones(len(head[1]), dtype=bool)
    elif n + k > len(buffers[1]):
        buffers = _grown((old.matrix, old.ids, old.files), n + k)
    matrix, ids, files = buffers
    matrix[n : n + k] = added.matrix
    ids[n : n + k] = added.ids
    files[n : n + k] = added.files
    size = n + k
    alive = np.concatenate([alive, np.ones(k, dtype=bool)])
    return VectorMatrix(
        ids[:size], matrix[:size], files[:size], None if alive.all() else alive, buffers=buffers
    )


def _grown(head: tuple[Any, Any, Any], need: int) -> tuple[Any, Any, Any]:
    """New buffers holding `head` with room for `need` rows and a quarter more."""
    import numpy as np

    matrix, ids, files = head
    capacity = need + need // 4 + 64
    out = (
        np.empty((capacity, matrix.shape[1]), dtype=np.float32),
        np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.int64),
    )
    n = len(ids)
    out[0][:n], out[1][:n], out[2][:n] = matrix, ids, files
    return out


def unit_rows(matrix: FloatArray) -> FloatArray:
    """Rows scaled to length 1 (a zero row stays zero), so a dot product is the cosine."""
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: FloatArray = (matrix / norms).astype(np.float32, copy=False)
    return out


def matrix_from_blobs(
    ids: Sequence[int], blobs: Sequence[bytes], dims: int, files: Sequence[int] | None = None
) -> VectorMatrix:
    """Stored float32 BLOBs (already unit length) as one matrix; a BLOB of the wrong size is dropped.
    `files`, when given, is each row's file id."""
    import numpy as np

    width = dims * 4
    keep = [i for i, blob in enumerate(blobs) if len(blob) == width]
    if len(keep) != len(blobs):
        ids = [ids[i] for i in keep]
        blobs = [blobs[i] for i in keep]
        files = None if files is None else [files[i] for i in keep]
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dims)
    file_ids = None if files is None else np.asarray(files, dtype=np.int64)
    return VectorMatrix(np.asarray(ids, dtype=np.int64), matrix, file_ids)


class VectorCache:
    """Matrices loaded from SQLite, one per scope and model, each with the revision of the data it was
    read at (the store bumps a collection's revision on every write) and what the store needs to patch
    it (`signature`: each file's indexed_at). `get` never returns a stale entry; `latest` does, for the
    store to patch. An entry is replaced, not kept beside the new one; the oldest go beyond `limit`."""

    def __init__(self, limit: int = 2) -> None:
        self._limit = limit
        self._entries: dict[Hashable, tuple[Hashable, VectorMatrix, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, revision: Hashable) -> VectorMatrix | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            return entry[1]

    def latest(self, key: Hashable) -> tuple[VectorMatrix, Any] | None:
        """The entry whatever its revision: (matrix, signature)."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else (entry[1], entry[2])

    def put(self, key: Hashable, revision: Hashable, value: VectorMatrix, signature: Any = None) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (revision, value, signature)
            while len(self._entries) > self._limit:
                del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
