"""Hybrid query latency while files are being indexed (a benchmark, not a test).

The GUI indexes in a worker with its own DocumentStore while the chat searches with another. Every
file written bumps the collection's revision, so each hybrid query after a write finds its cached
vector matrix out of date. This times such queries: one store writes a file of 100 chunks (with
vectors), the other then answers one hybrid query; repeated `--rounds` times on an index built as
tests/benchmarks/docs_query.py builds it (`--index PATH` reuses one; it is copied, not changed).

    python -m tests.benchmarks.docs_query_while_indexing [--chunks 100000] [--dims 384] [--rounds 30]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from desktop_app.core.documents.search import unit_rows
from desktop_app.core.documents.store import DocumentStore
from tests.benchmarks.docs_query import (
    CHUNKS_PER_FILE,
    MODEL_KEY,
    RandomQueryEmbedder,
    _Chunk,
    _words,
    build,
    queries,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--index", type=Path, help="an index built by docs_query --index (copied)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "documents.sqlite3"
        if args.index is not None and args.index.exists():
            shutil.copyfile(args.index, path)
            words = None
        else:
            with_build = DocumentStore(path)
            words = build(with_build, args.chunks, args.dims)
            with_build.close()
        searcher, writer = DocumentStore(path), DocumentStore(path)
        asked = queries(words or _words(np.random.default_rng(0)), args.rounds + 1)
        embedder = RandomQueryEmbedder(args.dims)
        started = time.perf_counter()
        searcher.search(asked[0], collection="bench", embedder=embedder)
        first = (time.perf_counter() - started) * 1000
        collection = writer.require_collection("bench")
        rng = np.random.default_rng(7)
        times = []
        for r in range(args.rounds):
            chunks = [_Chunk(None, i * 10, i * 10 + 9, f"fresh{r} chunk {i}") for i in range(CHUNKS_PER_FILE)]
            vectors = unit_rows(rng.standard_normal((CHUNKS_PER_FILE, args.dims)).astype(np.float32))
            writer.write_file(
                collection.id, f"/bench/new{r:04}.txt", size=1, mtime_ns=r, sha256=None, kind="txt",
                pages=None, note="", chunks=chunks, vectors=(MODEL_KEY, vectors),
            )  # fmt: skip
            started = time.perf_counter()
            searcher.search(asked[r + 1], collection="bench", embedder=embedder)
            times.append((time.perf_counter() - started) * 1000)
        print(f"first hybrid query (loads the matrix): {first:.0f} ms")
        p50 = statistics.median(times)
        print(
            f"hybrid query right after each of {args.rounds} file writes: "
            f"p50 {p50:.1f} ms  max {max(times):.1f} ms"
        )
        searcher.close()
        writer.close()


if __name__ == "__main__":
    main()
