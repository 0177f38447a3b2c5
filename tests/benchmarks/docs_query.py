"""Query latency of the documents index at 100k chunks (a benchmark, not a test).

Builds an index straight through the store API: `--chunks` chunks of about 1,000 characters of
Zipf-distributed words (so some words are in most chunks and most are rare, as in real text) in files of
100 chunks, each with a random unit float32 vector of `--dims` dimensions under one model key. Then it
times `DocumentStore.search` for queries of 2 to 8 words (some common, some rare, some absent):

- keyword: FTS5 BM25 alone;
- hybrid: BM25 fused with exact cosine over the collection's vector matrix (loaded on the first
  hybrid query and cached; that first load is reported apart). The query vector is random here, so
  the figure is the index's share; a real model adds its own time to embed the question
  (`--model PATH` measures that too).

    python -m tests.benchmarks.docs_query [--chunks 100000] [--dims 384] [--queries 200] [--model PATH]

Goals (issue #15): keyword p95 <= 50 ms, hybrid p95 <= 150 ms on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.documents.search import FloatArray, unit_rows
from desktop_app.core.documents.store import DocumentStore

GOAL_KEYWORD_MS = 50.0
GOAL_HYBRID_MS = 150.0
CHUNKS_PER_FILE = 100
VOCABULARY = 30_000
MODEL_KEY = "random-vectors#0"


@dataclass(frozen=True)
class _Chunk:
    page: int | None
    start: int
    end: int
    text: str


class RandomQueryEmbedder:
    """A query vector drawn at random: what the index does with it costs the same as with a real one."""

    key = MODEL_KEY

    def __init__(self, dims: int, seed: int = 1) -> None:
        self.dims = dims
        self.rng = np.random.default_rng(seed)

    def embed_query(self, text: str) -> FloatArray:
        row: FloatArray = unit_rows(self.rng.standard_normal((1, self.dims)).astype(np.float32))[0]
        return row


def _words(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    out: set[str] = set()
    while len(out) < VOCABULARY:
        out.add("".join(rng.choice(letters, size=int(rng.integers(3, 10)))))
    return sorted(out)


def build(store: DocumentStore, chunks: int, dims: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = _words(rng)
    collection = store.ensure_collection("bench")
    files = (chunks + CHUNKS_PER_FILE - 1) // CHUNKS_PER_FILE
    started = time.perf_counter()
    for f in range(files):
        n = min(CHUNKS_PER_FILE, chunks - f * CHUNKS_PER_FILE)
        ids = np.minimum(rng.zipf(1.3, size=(n, 160)) - 1, VOCABULARY - 1)
        batch = []
        for i in range(n):
            text = " ".join(words[j] for j in ids[i])[:1000]
            batch.append(
                _Chunk(page=i // 4 + 1, start=(i % 4) * 850, end=(i % 4) * 850 + len(text), text=text)
            )
        vectors = unit_rows(rng.standard_normal((n, dims)).astype(np.float32))
        store.write_file(
            collection.id,
            f"/bench/file{f:05}.pdf",
            size=n * 1000,
            mtime_ns=0,
            sha256=None,
            kind="pdf",
            pages=n // 4 + 1,
            note="",
            chunks=batch,
            vectors=(MODEL_KEY, vectors),
        )
    took = time.perf_counter() - started
    print(f"built {chunks:,} chunks in {files:,} files ({dims}-dim vectors) in {took:.1f} s")
    return words


def queries(words: list[str], count: int, seed: int = 2) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(2, 9))
        picks = [words[int(min(rng.zipf(1.3) - 1, VOCABULARY - 1))] for _ in range(n // 2)]
        picks += [words[int(rng.integers(0, VOCABULARY))] for _ in range(n - n // 2)]
        if rng.random() < 0.1:
            picks.append("zzzznotaword")
        out.append("What does " + " ".join(picks) + " mean?")
    return out


def _time(run: Any, items: list[str]) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        run(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _line(name: str, times: list[float], goal: float) -> str:
    cut = statistics.quantiles(times, n=20)
    p50, p95 = statistics.median(times), cut[18]
    verdict = "meets" if p95 <= goal else "misses"
    return (
        f"{name:8} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(times):7.1f} ms  "
        f"({verdict} the {goal:.0f} ms goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model", type=Path, help="also time embedding the questions with this GGUF model")
    parser.add_argument("--index", type=Path, help="keep the index here (reused when it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.index or Path(tmp) / "documents.sqlite3"
        fresh = not path.exists()
        store = DocumentStore(path)
        words = build(store, args.chunks, args.dims) if fresh else _words(np.random.default_rng(0))
        asked = queries(words, args.queries)
        store.search(asked[0], collection="bench")  # warm the page cache
        keyword = _time(lambda q: store.search(q, collection="bench"), asked)
        embedder = RandomQueryEmbedder(args.dims)
        started = time.perf_counter()
        store.search(asked[0], collection="bench", embedder=embedder)
        first = (time.perf_counter() - started) * 1000
        hybrid = _time(lambda q: store.search(q, collection="bench", embedder=embedder), asked)
        print(f"index: {args.chunks:,} chunks; {args.queries} queries of 2-8 words")
        print(_line("keyword", keyword, GOAL_KEYWORD_MS))
        print(_line("hybrid", hybrid, GOAL_HYBRID_MS))
        print(f"hybrid, first query (loads the {args.dims}-dim matrix into memory): {first:.0f} ms")
        if args.model is not None:
            from desktop_app.core.documents.embeddings import Embedder

            with Embedder(args.model) as model:
                embed = _time(model.embed_query, asked[:50])
            print(f"embedding a question with {args.model.name}: p50 {statistics.median(embed):.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
