"""Indexing speed of the documents index (a benchmark, not a test).

Writes a corpus (text, Markdown and multi-page PDF files of plain English sentences) and indexes it:

- keyword only: walk, extract, chunk, FTS5, one transaction per file; files/s and chunks/s;
- with an embedding model (`--model PATH`, any GGUF llama.cpp can embed with): the same pipeline on
  `--embed-files` of the files, against raw llama.cpp throughput on the very same chunk texts (the
  model's document prefix applied), embedded by `Llama.embed` on the same loaded model in the same
  batches. The ratio is raw time / pipeline time; the goal (issue #15) is >= 0.8. The model is loaded
  once, before both, and its load time counts in neither. The raw run goes before and after the
  pipeline and their mean is used, so a machine that gets busier in the middle favours neither.

    python -m tests.benchmarks.docs_indexing [--files 300] [--model PATH] [--embed-files 12]

Use an embedding model (bge, nomic-embed, e5) or tests/tiny_embedding.py's. A chat model such as the
Gemma 3 270M test model embeds too, but so slowly it says nothing (3 files did not finish in 10 min on
the busy 2-core machine).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from desktop_app.core.documents.embeddings import DOCUMENT_BATCH, Embedder
from desktop_app.core.documents.indexer import add_paths
from desktop_app.core.documents.store import DocumentStore
from tests.doc_fixtures import write_pdf

GOAL_RATIO = 0.8
_SUBJECTS = ["the committee", "our team", "the engine", "a ferry", "the garden", "this report", "a sensor"]
_VERBS = ["measures", "describes", "replaces", "inspects", "delays", "funds", "records", "improves"]
_OBJECTS = ["the quarterly budget", "every valve", "the north wing", "its schedule", "the tide tables"]


def _sentence(rng: random.Random) -> str:
    subject, verb, thing = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    return f"{subject.capitalize()} {verb} {thing} in {rng.randint(1900, 2030)}."


def _paragraphs(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(3, 8)))
        out.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(out)


def write_corpus(folder: Path, files: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        kind = i % 5
        if kind == 4:
            write_pdf(folder / f"report{i:04}.pdf", [_paragraphs(rng, 2500) for _ in range(6)])
        else:
            suffix = ".md" if kind == 3 else ".txt"
            (folder / f"notes{i:04}{suffix}").write_text(_paragraphs(rng, rng.randint(2000, 12000)))
    return folder


def keyword_only(corpus: Path, tmp: Path) -> None:
    store = DocumentStore(tmp / "keyword.sqlite3")
    started = time.perf_counter()
    report = add_paths(store, [corpus])
    took = time.perf_counter() - started
    store.close()
    print(
        f"keyword only: {report.indexed} files, {report.chunks} chunks in {took:.2f} s: "
        f"{report.indexed / took:.1f} files/s, {report.chunks / took:.0f} chunks/s"
    )


def raw_embed(embedder: Embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), DOCUMENT_BATCH):
        embedder.llama.embed(texts[start : start + DOCUMENT_BATCH], truncate=True)
    return time.perf_counter() - started


def with_embeddings(corpus: Path, tmp: Path, model: Path, files: int) -> None:
    subset = tmp / "subset"
    subset.mkdir()
    for path in sorted(corpus.iterdir())[:files]:
        (subset / path.name).symlink_to(path)
    store = DocumentStore(tmp / "embedded.sqlite3")
    with Embedder(model) as embedder:
        # the same texts the pipeline embeds: first chunked without a model (a separate index)
        plain = DocumentStore(tmp / "plain.sqlite3")
        add_paths(plain, [subset])
        texts = [
            embedder.prefixes.document + str(r[0])
            for r in plain.db.read("SELECT text FROM chunks ORDER BY id")
        ]
        plain.close()
        embedder.embed_documents(texts[:2])  # warm up
        raw_before = raw_embed(embedder, texts)
        started = time.perf_counter()
        report = add_paths(store, [subset], embedder=embedder)
        pipeline = time.perf_counter() - started
        raw_after = raw_embed(embedder, texts)
    store.close()
    assert report.chunks == len(texts), (report.chunks, len(texts))
    raw = (raw_before + raw_after) / 2
    ratio = raw / pipeline
    print(
        f"with {model.name} ({embedder.dims} dims, n_batch {embedder.n_ctx}): {report.indexed} files, "
        f"{report.chunks} chunks in {pipeline:.2f} s: {report.indexed / pipeline:.2f} files/s, "
        f"{report.chunks / pipeline:.1f} chunks/s"
    )
    print(
        f"raw Llama.embed on the same {len(texts)} chunks, batches of {DOCUMENT_BATCH}: "
        f"{raw_before:.2f} s before, {raw_after:.2f} s after ({len(texts) / raw:.1f} chunks/s)"
    )
    verdict = "meets" if ratio >= GOAL_RATIO else "misses"
    print(f"pipeline / raw throughput: {ratio:.2f} ({verdict} the {GOAL_RATIO} goal)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--model", type=Path, help="a GGUF model to embed with")
    parser.add_argument("--embed-files", type=int, default=12, help="files indexed with the model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = write_corpus(tmp / "corpus", args.files)
        size = sum(p.stat().st_size for p in corpus.iterdir())
        print(f"corpus: {args.files} files (1 in 5 a 6-page PDF), {size / 1e6:.1f} MB")
        keyword_only(corpus, tmp)
        if args.model is not None:
            with_embeddings(corpus, tmp, args.model, args.embed_files)


if __name__ == "__main__":
    main()
