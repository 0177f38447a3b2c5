"""Retrieval quality on the committed evaluation set (a benchmark, not a test): recall@5, keyword only
and hybrid (issue #15).

The corpus is tests/data/docs_eval (11 made-up documents in txt, md, html, pdf and docx; the PDFs and
Word files are written by its build.py into a temporary folder) and questions.jsonl (51 questions with
the expected file and page; `kind` tells the exact-keyword ones from the paraphrased ones, which share
no content word with their passage). A question is found when one of the top five passages comes from
the expected file and, for a PDF, the expected page.

    python -m tests.benchmarks.docs_retrieval [--embedding-model PATH] [--show-misses]

Keyword search (FTS5 BM25) needs no model. Hybrid (BM25 fused with cosine similarity by reciprocal
rank) needs a GGUF embedding model; without one it prints "hybrid: skipped (no embedding model)".
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.data.docs_eval.build import HERE as EVAL_DIR
from tests.data.docs_eval.build import build

COLLECTION = "eval"
TOP_K = 5


@dataclass(frozen=True)
class Question:
    question: str
    file: str
    page: int | None
    kind: str


def load_questions(path: Path = EVAL_DIR / "questions.jsonl") -> list[Question]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            questions.append(Question(row["question"], row["file"], row["page"], row.get("kind", "")))
    return questions


def first_hit(question: Question, passages: list[Any]) -> int | None:
    """1-based rank of the first passage from the expected file and page, None when none is."""
    for rank, passage in enumerate(passages, start=1):
        if Path(passage.file).name == question.file and (
            question.page is None or passage.page == question.page
        ):
            return rank
    return None


@dataclass
class Scores:
    ranks: list[tuple[Question, int | None]]

    def recall(self, k: int, kind: str | None = None) -> tuple[int, int]:
        chosen = [r for q, r in self.ranks if kind is None or q.kind == kind]
        return sum(1 for r in chosen if r is not None and r <= k), len(chosen)

    def mrr(self) -> float:
        return sum(1 / r for _, r in self.ranks if r) / max(len(self.ranks), 1)


def evaluate(store: Any, questions: list[Question], embedder: Any = None) -> tuple[Scores, float]:
    ranks = []
    started = time.perf_counter()
    for question in questions:
        passages = store.search(question.question, collection=COLLECTION, top_k=TOP_K, embedder=embedder)
        ranks.append((question, first_hit(question, passages)))
    return Scores(ranks), (time.perf_counter() - started) / max(len(questions), 1)


def report(label: str, scores: Scores, per_query_s: float, show_misses: bool) -> None:
    found, total = scores.recall(TOP_K)
    parts = []
    for kind in ("keyword", "paraphrase"):
        k_found, k_total = scores.recall(TOP_K, kind)
        parts.append(f"{kind} {k_found}/{k_total}")
    top1, _ = scores.recall(1)
    print(
        f"{label}: recall@{TOP_K} {found / total:.2f} ({found}/{total}; {', '.join(parts)}), "
        f"recall@1 {top1 / total:.2f}, MRR {scores.mrr():.2f}, {per_query_s * 1000:.1f} ms/query"
    )
    if show_misses:
        for question, rank in scores.ranks:
            if rank is None:
                where = question.file + (f" p.{question.page}" if question.page else "")
                print(f"  missed ({question.kind}): {question.question}  [{where}]")


def index_corpus(folder: Path, db: Path, embedder: Any = None) -> tuple[Any, Any]:
    from desktop_app.core.documents.indexer import add_paths
    from desktop_app.core.documents.store import DocumentStore

    store = DocumentStore(db)
    started = time.perf_counter()
    result = add_paths(store, [folder], collection=COLLECTION, embedder=embedder)
    elapsed = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"indexing the evaluation corpus failed: {result.failed}")
    print(
        f"indexed {result.indexed} files, {result.chunks} chunks in {elapsed:.2f} s"
        + (" (with embeddings)" if embedder is not None else "")
    )
    return store, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding-model", type=Path, help="a GGUF embedding model for the hybrid figure")
    parser.add_argument("--show-misses", action="store_true", help="list the questions not found")
    args = parser.parse_args()
    questions = load_questions()
    print(
        f"{len(questions)} questions "
        f"({sum(q.kind == 'paraphrase' for q in questions)} paraphrased), top {TOP_K} passages"
    )
    with tempfile.TemporaryDirectory(prefix="hearth-docs-eval-") as tmp:
        corpus = Path(tmp) / "corpus"
        build(corpus)
        store, _ = index_corpus(corpus, Path(tmp) / "keyword.sqlite3")
        try:
            scores, per_query = evaluate(store, questions)
        finally:
            store.close()
        report("keyword", scores, per_query, args.show_misses)

        if args.embedding_model is None:
            print("hybrid: skipped (no embedding model)")
            return
        from desktop_app.core.documents.embeddings import Embedder

        with Embedder(args.embedding_model) as embedder:
            store, _ = index_corpus(corpus, Path(tmp) / "hybrid.sqlite3", embedder)
            try:
                scores, per_query = evaluate(store, questions, embedder)
            finally:
                store.close()
        report(f"hybrid ({args.embedding_model.name})", scores, per_query, args.show_misses)


if __name__ == "__main__":
    main()
